"""The one dispatcher of the two worker functions (pipeline/dispatch.py): a state's action -> its step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from sourcesync.pipeline import dispatch, handler, purge_handler
from sourcesync.pipeline.dispatch import Task, WorkerJob

JOB = {"account_id": "acc_1", "data_source_uuid": "ds_1", "job_id": "job_1", "ignored": "extra field"}


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 12_500


def test_the_named_action_runs_with_the_validated_job_the_event_and_the_time_left() -> None:
    seen: list[Task[WorkerJob]] = []

    def step(task: Task[WorkerJob]) -> dict[str, Any]:
        seen.append(task)
        return {"ran": task.job.job_id}

    event = {"action": "go", "job": JOB, "partition": {"key": "p"}}
    assert dispatch.run({"go": step}, WorkerJob, event, Context()) == {"ran": "job_1"}
    assert seen[0].job == WorkerJob(account_id="acc_1", data_source_uuid="ds_1", job_id="job_1")
    assert seen[0].event["partition"] == {"key": "p"}
    assert seen[0].remaining_seconds() == 12.5


def test_an_unknown_action_or_a_job_without_its_ids_is_refused_before_any_step() -> None:
    ran: list[str] = []
    actions: dict[str, dispatch.Action[WorkerJob]] = {"go": lambda task: ran.append("go") or {}}
    with pytest.raises(ValueError, match="Unknown action 'stop'"):
        dispatch.run(actions, WorkerJob, {"action": "stop", "job": JOB}, Context())
    with pytest.raises(ValidationError):
        dispatch.run(actions, WorkerJob, {"action": "go", "job": {"job_id": "job_1"}}, Context())
    assert ran == []


def test_a_failing_step_is_reported_to_on_error_and_raised_again() -> None:
    reported: list[tuple[str, str]] = []

    def failing(task: Task[WorkerJob]) -> dict[str, Any]:
        raise RuntimeError("provider down")

    with pytest.raises(RuntimeError, match="provider down"):
        dispatch.run(
            {"go": failing},
            WorkerJob,
            {"action": "go", "job": JOB},
            Context(),
            on_error=lambda job, exc: reported.append((job.job_id, str(exc))),
        )
    assert reported == [("job_1", "provider down")]


def test_both_worker_functions_serve_every_action_of_their_state_machine() -> None:
    machines = Path(__file__).resolve().parents[2] / "infra" / "statemachine"

    def actions(name: str) -> set[str]:
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in ("action", "action.$") and isinstance(value, str):
                        found.add(value)
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(json.loads((machines / name).read_text()))
        return found

    assert actions("resync_source.asl.json") <= set(handler.ACTIONS)
    assert actions("purge_source.asl.json") <= set(purge_handler.ACTIONS)
    assert actions("resync_source.asl.json") and actions("purge_source.asl.json")
