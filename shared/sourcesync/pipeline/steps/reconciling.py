"""After every partition is fetched: `reconcile` (tombstones for what vanished at the provider, the counts)
and `apply_overlays` (the policy matrix on the source's manual data)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sourcesync.pipeline.context import JobContext, ensure_live, set_job
from sourcesync.pipeline.steps.fetching import unchanged_kind
from sourcesync.records import RecordKind
from sourcesync.store import work_items
from sourcesync.store.manifests import get_manifest_store
from sourcesync.store.records import Version, get_record_store

#: Up to this many manifest entries (new and old, all kinds), the kinds are reconciled at once.
PARALLEL_RECONCILE_ENTRIES = 200_000


def reconcile(job: JobContext, partitions: list[dict[str, Any]]) -> dict[str, Any]:
    """Once every partition is fetched: tombstone the records that vanished at the provider, and count.

    A kind whose partitions' checkpoints show that nothing of it changed or vanished (`unchanged_kind`) is
    not compared: its count is the previous generation's, its subscription owners are copied as they are,
    and the clean-up is told (`unchanged_kinds` in the `COUNTS` work item) that it has nothing to remove."""
    parts = {
        item["sk"].removeprefix("PART#"): item
        for item in work_items.of_job(job.job_id)
        if item["sk"].startswith("PART#")
    }
    if any(not parts.get(p["key"], {}).get("finished") for p in partitions):
        return {"all_fetched": False}
    assert job.generation is not None
    ensure_live(job)
    kinds = sorted({p["kind"] for p in partitions})
    checkpoints = {kind: [parts[p["key"]] for p in partitions if p["kind"] == kind] for kind in kinds}
    # The kinds are independent: a small source's are reconciled at once (their S3 and DynamoDB round trips
    # overlap); a large one's one at a time, so that only one kind's manifests, old and new, are in memory.
    entries = sum(int(c.get("done", 0)) + int(c.get("old_count", 0)) for cs in checkpoints.values() for c in cs)
    workers = len(kinds) if entries <= PARALLEL_RECONCILE_ENTRIES else 1
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="reconcile") as pool:
        outcomes = list(pool.map(lambda kind: _reconcile_kind(job, kind, checkpoints[kind]), kinds))
    counts = {kind: count for kind, (count, _, _) in zip(kinds, outcomes, strict=True)}
    tombstones = sum(vanished for _, vanished, _ in outcomes)
    unchanged = [kind for kind, (_, _, same) in zip(kinds, outcomes, strict=True) if same]
    work_items.write(job.job_id, "COUNTS", {"counts": counts, "vanished": tombstones, "unchanged_kinds": unchanged})
    return {"all_fetched": True, "vanished": tombstones}


def _reconcile_kind(job: JobContext, kind: str, checkpoints: list[dict[str, Any]]) -> tuple[int, int, bool]:
    """One kind: its count, the tombstones written for what vanished, whether nothing of it changed."""
    assert job.generation is not None
    same = _unchanged(job, kind, checkpoints)
    if same is not None:
        return same, 0, True
    manifests, records = get_manifest_store(), get_record_store()
    new = manifests.load(job.account_id, job.data_source_uuid, job.generation, kind)
    old = manifests.load(job.account_id, job.data_source_uuid, job.previous_generation, kind)
    vanished = [
        Version(
            kind=RecordKind(kind),
            uuid=uuid,
            customer_uuid=entry.customer_uuid,
            external_id="",
            generation=job.generation,
            record=None,
        )
        for uuid, entry in old.items()
        if uuid not in new
    ]
    tombstones = records.write(job.data_source_uuid, vanished)
    if kind == RecordKind.SUBSCRIPTIONS.value:
        manifests.put_all_owners(job.account_id, job.data_source_uuid, job.generation, new)
    return len(new), tombstones, False


def _unchanged(job: JobContext, kind: str, checkpoints: list[dict[str, Any]]) -> int | None:
    """The kind's count if nothing of it changed or vanished (its subscription owners copied to the new
    generation as they are); None if its manifests must be compared."""
    assert job.generation is not None
    if job.previous_generation is None:
        return None
    same = unchanged_kind(checkpoints)
    if same is not None and kind == RecordKind.SUBSCRIPTIONS.value:
        copied = get_manifest_store().copy_owners(
            job.account_id, job.data_source_uuid, job.previous_generation, job.generation
        )
        return same if copied else None
    return same


def apply_overlays(job: JobContext) -> dict[str, Any]:
    """Apply the policy matrix to the source's manual data
    (docs/architecture.md#manual-data-overlays-and-the-policy-matrix)."""
    # lazily, for cold init: of the workers, only this step needs the manual-data logic
    from sourcesync.services.overlays import apply_policy_for_resync

    ensure_live(job)
    set_job(job, {"phase": "applying_overlays"})
    assert job.generation is not None
    outcome = apply_policy_for_resync(
        job.account_id, job.data_source_uuid, job.kind, job.generation, job.job_id, job.customer_uuid
    )
    work_items.write(job.job_id, "OVERLAYS", outcome)
    return {"removed": len(outcome["overlays_removed"]), "orphaned": len(outcome["overlays_orphaned"])}
