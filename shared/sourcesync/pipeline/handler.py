"""Dispatch a state machine task to its step: `{"action": ..., "job": {...}, ...}` -> the step's output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sourcesync.config import get_settings
from sourcesync.log import logger
from sourcesync.pipeline import failures, steps

Step = Callable[[steps.JobContext, dict[str, Any], Any], dict[str, Any]]


def _remaining(context: Any) -> Callable[[], float]:
    return lambda: float(context.get_remaining_time_in_millis()) / 1000.0


def _reprocess(job: steps.JobContext, event: dict[str, Any], context: Any) -> dict[str, Any]:
    from sourcesync.pipeline.reprocess import reprocess

    return reprocess(job)


ACTIONS: dict[str, Step] = {
    "plan": lambda job, event, context: steps.plan(job),
    "fetch": lambda job, event, context: steps.fetch(
        job,
        event["partition"],
        int(event.get("iterations", 0)),
        int(event.get("max_iterations", 1000)),
        _remaining(context),
    ),
    "fetch_customer": lambda job, event, context: steps.fetch_customer(job),
    "reconcile": lambda job, event, context: steps.reconcile(job, event["partitions"]),
    "apply_overlays": lambda job, event, context: steps.apply_overlays(job),
    "commit": lambda job, event, context: steps.commit(job),
    "collect_garbage": lambda job, event, context: steps.collect_garbage(job, event["partitions"]),
    "finish": lambda job, event, context: steps.finish(job),
    "abort": lambda job, event, context: steps.abort(job, event.get("error")),
    "reprocess": _reprocess,
    "continue": lambda job, event, context: steps.continue_in_new_execution(job),
}


def run_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event["action"]
    job = steps.JobContext.model_validate(event["job"])
    logger.append_keys(job_id=job.job_id, data_source_uuid=job.data_source_uuid, action=action)
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}")
    try:
        return ACTIONS[action](job, event, context)
    except Exception as exc:  # what the job should say about it, for the undo step; then Step Functions' turn
        failures.record(get_settings().jobs_table, job.job_id, exc)
        raise
