"""`collect_garbage`: after the switch and the readers' grace period, what only the old generation held."""

from __future__ import annotations

from typing import Any

from sourcesync.pipeline.context import JobContext, set_cleanup
from sourcesync.records import RecordKind
from sourcesync.store import work_items
from sourcesync.store.jobs import get_job_store
from sourcesync.store.manifests import Entry, get_manifest_store
from sourcesync.store.records import get_record_store, placement

#: How long a clean-up waits before looking again at the previous job's clean-up it must follow.
CLEANUP_POLL_SECONDS = 2


def collect_garbage(job: JobContext, partitions: list[dict[str, Any]]) -> dict[str, Any]:
    """After the switch and the readers' grace period: remove the versions only the old generation could
    see (superseded versions, vanished records and their tombstones) and the old manifests.

    The job has succeeded already; its `cleanup` goes pending -> running -> done (`finish`). Clean-ups of
    one source run in the order of their switches: this one reads the manifests of the generation it
    replaced, which the previous job's clean-up reads too and this one deletes, so it waits (`"waiting"`)
    while the clean-up of the job whose switch it followed has not ended. Nothing here reads or writes the
    new generation, so the source's next job may run meanwhile."""
    assert job.generation is not None
    plan_item = work_items.read(job.job_id, "PLAN") or {}
    before = plan_item.get("after_cleanup_of")
    if before and _cleanup_pending(job.account_id, str(before)):
        return {"waiting": True, "poll_seconds": CLEANUP_POLL_SECONDS}
    set_cleanup(job, "running")
    if job.previous_generation is None:
        return {"waiting": False, "removed": 0}
    manifests, records = get_manifest_store(), get_record_store()
    removed = 0
    # the kinds reconcile found unchanged (nothing new, changed or vanished) left no version to remove
    unchanged = set((work_items.read(job.job_id, "COUNTS") or {}).get("unchanged_kinds") or ())
    for kind in sorted({p["kind"] for p in partitions} - unchanged):
        new = manifests.load(job.account_id, job.data_source_uuid, job.generation, kind)
        old = manifests.load(job.account_id, job.data_source_uuid, job.previous_generation, kind)
        keys = []
        for uuid, entry in old.items():
            current = new.get(uuid)
            if current is not None and current.generation == entry.generation:
                continue
            keys.append(_version_key(job, RecordKind(kind), uuid, entry, entry.generation))
            if current is None:
                keys.append(_version_key(job, RecordKind(kind), uuid, entry, job.generation))
        removed += records.delete(keys)
    manifests.delete_generation(job.account_id, job.data_source_uuid, job.previous_generation)
    return {"waiting": False, "removed": removed}


def _cleanup_pending(account_id: str, job_id: str) -> bool:
    """Whether a job's clean-up of its old generation has yet to end (a purged job's has nothing left)."""
    previous = get_job_store().get(account_id, job_id)
    if previous is None or not previous.get("committed"):
        return False
    return (previous.get("cleanup") or {}).get("status") in ("pending", "running")


def _version_key(job: JobContext, kind: RecordKind, uuid: str, entry: Entry, generation: int) -> dict[str, str]:
    return placement(job.data_source_uuid, kind, uuid, entry.customer_uuid).key(generation)
