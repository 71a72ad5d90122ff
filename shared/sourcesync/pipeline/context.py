"""What every step of the re-sync state machine shares: the job it works for (`JobContext`), the check that
the job may go on, and the job's figures as it ends.

Work that outlives one invocation is checkpointed in work items (`store/work_items.py`); the state that
travels between the states stays small (ids and counts), so the console stays readable.
"""

from __future__ import annotations

from typing import Any

from sourcesync.clock import now_iso
from sourcesync.pipeline.dispatch import WorkerJob
from sourcesync.pipeline.failures import JobCancelledError, SourceDeletedError
from sourcesync.records import RecordKind
from sourcesync.services.jobs import release_source
from sourcesync.services.progress import job_progress
from sourcesync.store import work_items
from sourcesync.store.jobs import get_job_store

#: The kinds a customer re-sync fetches and replaces (its plan's partitions, one per kind).
CUSTOMER_KINDS = (RecordKind.CUSTOMERS, RecordKind.SUBSCRIPTIONS, RecordKind.INVOICES, RecordKind.TRANSACTIONS)


class JobContext(WorkerJob):
    """What the re-sync state machine carries: who and what, never data."""

    kind: str
    customer_uuid: str | None = None
    customer_external_id: str | None = None
    execution: int = 1
    generation: int | None = None
    previous_generation: int | None = None


def ensure_live(job: JobContext) -> dict[str, Any]:
    """The source and job as they are now; raises if the source is being deleted or the job cancelled."""
    stored, source = get_job_store().with_source(job.account_id, job.job_id, job.data_source_uuid)
    if source is None or source.get("status") == "deleting" or source.get("current_job_id") != job.job_id:
        raise SourceDeletedError("The data source was deleted while the job ran.")
    if stored is None or stored.get("cancel_requested"):
        raise JobCancelledError("The job was cancelled.")
    return source


def set_job(job: JobContext, values: dict[str, Any]) -> None:
    get_job_store().update(job.account_id, job.job_id, values)


def set_cleanup(job: JobContext, status: str, **more: Any) -> None:
    """The job's clean-up of its old generation goes to `status` (and `more` is set beside it)."""
    stored = get_job_store().get(job.account_id, job.job_id) or {}
    cleanup = dict(stored.get("cleanup") or {"until": now_iso()})
    if cleanup.get("status") != status or more:
        set_job(job, {"cleanup": {**cleanup, "status": status}, **more})


def job_result(job: JobContext) -> dict[str, Any]:
    """The job's result: the counts of the new generation and what the policy matrix did to manual data."""
    counts = (work_items.read(job.job_id, "COUNTS") or {}).get("counts", {})
    overlays = work_items.read(job.job_id, "OVERLAYS") or {"overlays_removed": [], "overlays_orphaned": []}
    result = {
        "counts": counts,
        "overlays_removed": overlays["overlays_removed"],
        "overlays_orphaned": overlays["overlays_orphaned"],
    }
    if overlays.get("overlays_truncated"):
        result["overlays_truncated"] = overlays["overlays_truncated"]
    return result


def frozen_progress(job: JobContext, status: str) -> dict[str, Any]:
    """The figures a job ends with (`status`: how it ends, which the stored job does not say yet)."""
    stored = get_job_store().get(job.account_id, job.job_id) or {}
    return job_progress({**stored, "status": status}, finished=True)


def release(job: JobContext) -> None:
    """The job lets go of its source."""
    release_source(job.model_dump())
