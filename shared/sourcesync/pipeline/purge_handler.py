"""Dispatch a purge state machine task to its step."""

from __future__ import annotations

from typing import Any

from sourcesync.log import logger
from sourcesync.pipeline import purge


def run_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event["action"]
    job = purge.PurgeJob.model_validate(event["job"])
    logger.append_keys(job_id=job.job_id, data_source_uuid=job.data_source_uuid, action=action)
    if action == "await_running_job":
        return purge.await_running_job(job)
    if action == "plan":
        return purge.plan(job)
    if action == "purge_partition":

        def remaining() -> float:
            return float(context.get_remaining_time_in_millis()) / 1000.0

        return purge.purge_partition(job, event["partition"], remaining)
    if action == "purge_rest":
        return purge.purge_rest(job)
    if action == "finish":
        return purge.finish(job, event.get("rest"))
    if action == "failed":
        return purge.failed(job, event.get("error"))
    raise ValueError(f"Unknown action {action!r}")
