"""The re-sync state machine's worker: each state's action -> its step (`pipeline/steps/`)."""

from __future__ import annotations

from typing import Any

from sourcesync.pipeline import dispatch, failures, steps
from sourcesync.pipeline.context import JobContext


def _reprocess(task: dispatch.Task[JobContext]) -> dict[str, Any]:
    from sourcesync.pipeline.steps.reprocessing import reprocess  # lazily: cold init (a support action)

    return reprocess(task.job)


ACTIONS: dict[str, dispatch.Action[JobContext]] = {
    "plan": lambda task: steps.plan(task.job),
    "fetch": lambda task: steps.fetch(
        task.job,
        task.event["partition"],
        int(task.event.get("iterations", 0)),
        int(task.event.get("max_iterations", 1000)),
        task.remaining_seconds,
    ),
    "fetch_customer": lambda task: steps.fetch_customer(task.job),
    "reconcile": lambda task: steps.reconcile(task.job, task.event["partitions"]),
    "apply_overlays": lambda task: steps.apply_overlays(task.job),
    "commit": lambda task: steps.commit(task.job),
    # reconcile + apply_overlays + commit; the three single actions stay for the customer re-sync's path and
    # for executions started under an earlier definition of the state machine
    "settle": lambda task: steps.settle(task.job, task.event["partitions"]),
    "collect_garbage": lambda task: steps.collect_garbage(task.job, task.event["partitions"]),
    "finish": lambda task: steps.finish(task.job),
    "abort": lambda task: steps.abort(task.job, task.event.get("error")),
    "reprocess": _reprocess,
    "continue": lambda task: steps.continue_in_new_execution(task.job),
}


def _record_failure(job: JobContext, exc: Exception) -> None:
    """What the job should say about it, for the undo step; then Step Functions' turn."""
    failures.record(job.job_id, exc)


def run_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch.run(ACTIONS, JobContext, event, context, on_error=_record_failure)
