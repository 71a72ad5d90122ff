"""Dispatch a state machine task to its step: `{"action": ..., "job": {...}, ...}` -> the step's output."""

from __future__ import annotations

from typing import Any

from sourcesync.log import logger
from sourcesync.pipeline import steps


def run_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event["action"]
    job = steps.JobContext.model_validate(event["job"])
    logger.append_keys(job_id=job.job_id, data_source_uuid=job.data_source_uuid, action=action)
    if action == "plan":
        return steps.plan(job)
    if action == "fetch":

        def remaining() -> float:
            return float(context.get_remaining_time_in_millis()) / 1000.0

        return steps.fetch(
            job, event["partition"], int(event.get("iterations", 0)), int(event.get("max_iterations", 1000)), remaining
        )
    if action == "reconcile":
        return steps.reconcile(job, event["partitions"])
    if action == "apply_overlays":
        return steps.apply_overlays(job)
    if action == "commit":
        return steps.commit(job)
    if action == "collect_garbage":
        return steps.collect_garbage(job, event["partitions"])
    if action == "finish":
        return steps.finish(job)
    if action == "abort":
        return steps.abort(job, event.get("error"))
    if action == "reprocess":
        from sourcesync.pipeline.reprocess import reprocess

        return reprocess(job)
    if action == "continue":
        return steps.continue_in_new_execution(job)
    raise ValueError(f"Unknown action {action!r}")
