"""The purge state machine's worker: each state's action -> its step (`pipeline/purge.py`)."""

from __future__ import annotations

from typing import Any

from sourcesync.pipeline import dispatch, purge
from sourcesync.pipeline.purge import PurgeJob

ACTIONS: dict[str, dispatch.Action[PurgeJob]] = {
    "await_running_job": lambda task: purge.await_running_job(task.job),
    "plan": lambda task: purge.plan(task.job),
    "purge_partition": lambda task: purge.purge_partition(task.job, task.event["partition"], task.remaining_seconds),
    "purge_rest": lambda task: purge.purge_rest(task.job),
    "finish": lambda task: purge.finish(task.job, task.event.get("rest")),
    "failed": lambda task: purge.failed(task.job, task.event.get("error")),
}


def run_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch.run(ACTIONS, PurgeJob, event, context)
