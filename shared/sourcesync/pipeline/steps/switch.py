"""`commit`: the switch of readers to the new generation, which ends the job; `settle`: after the fetch,
reconcile, the policy matrix and the switch in one invocation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sourcesync.clock import iso, now_iso
from sourcesync.clock import now as clock_now
from sourcesync.config import get_settings
from sourcesync.log import logger
from sourcesync.pipeline.context import JobContext, ensure_live, frozen_progress, job_result, set_job
from sourcesync.pipeline.failures import GenerationConflictError
from sourcesync.pipeline.steps.reconciling import apply_overlays, reconcile
from sourcesync.records import RecordKind
from sourcesync.store import work_items
from sourcesync.store.jobs import get_job_store
from sourcesync.store.sources import get_source_store


def commit(job: JobContext) -> dict[str, Any]:
    """Switch readers to the new generation, and end the job there: one transaction on the source (the
    new generation is the committed one, the job lets go of the source) and on the job (which must not
    have been cancelled): `succeeded`, its result and counts final, progress 100, and its clean-up of the
    old generation `pending` until the readers' grace period ends. Readers see the old generation before
    the write and the new one after it; the source's next job may start at once."""
    assert job.generation is not None
    stored_job = get_job_store().get(job.account_id, job.job_id)
    if stored_job and stored_job.get("committed"):
        return {"committed": True}
    set_job(job, {"phase": "committing"})
    counts = (work_items.read(job.job_id, "COUNTS") or {}).get("counts", {})
    full_counts = {kind: int(counts.get(kind, 0)) for kind in RecordKind}
    settings = get_settings()
    now = now_iso()
    source_update = get_source_store().commit_and_release_transaction_item(
        job.account_id,
        job.data_source_uuid,
        job.job_id,
        job.generation,
        job.previous_generation,
        {"counts": full_counts, "last_synced_at": now},
    )
    ended = {
        "committed": True,
        "committed_at": now,
        "status": "succeeded",
        "phase": None,
        "waiting_for": None,
        "finished_at": now,
        "result": job_result(job),
        "progress": frozen_progress(job, "succeeded"),
        "cleanup": {"status": "pending", "until": _grace_end(settings.commit_grace_seconds)},
    }
    if not get_job_store().commit_with_source(source_update, job.account_id, job.job_id, ended):
        ensure_live(job)
        raise GenerationConflictError("Another generation was committed during this re-sync.")
    logger.info(
        "Generation committed; the job succeeded",
        data_source_uuid=job.data_source_uuid,
        job_id=job.job_id,
        generation=job.generation,
        previous_generation=job.previous_generation,
    )
    return {"committed": True}


def settle(job: JobContext, partitions: list[dict[str, Any]]) -> dict[str, Any]:
    """After the fetch Map: `reconcile`, then, if every partition is fetched, `apply_overlays` and `commit`,
    one after the other in this one invocation.

    They are the critical path between the last page and fresh data, and always run in this order: as
    three Lambda tasks they cost two more invocations and four more state transitions before the switch
    (each a scheduling delay, and possibly a cold start, on AWS). Each step is idempotent, so a retry of
    the whole task after a crash in any of them is safe: reconcile recomputes the same tombstones and
    counts, the policy matrix marks the same overlays, the switch sees `committed` (and a retry after the
    switch changes nothing)."""
    stored_job = get_job_store().get(job.account_id, job.job_id)
    if stored_job and stored_job.get("committed"):
        return {"all_fetched": True, "vanished": (work_items.read(job.job_id, "COUNTS") or {}).get("vanished", 0)}
    outcome = reconcile(job, partitions)
    if not outcome["all_fetched"]:
        return outcome
    apply_overlays(job)
    commit(job)
    return outcome


def _grace_end(seconds: int) -> str:
    """When the readers' grace period after the switch ends: the old generation stays whole until then."""
    return iso(clock_now() + timedelta(seconds=max(0, seconds)))
