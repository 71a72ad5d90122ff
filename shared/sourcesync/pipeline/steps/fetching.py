"""`fetch`: one partition's pages, until the time budget; what changed is written, the rest only noted in
the generation's manifest; a checkpoint (the work item `PART#<partition>`) makes it resumable.

The checkpoint also says whether the partition found anything new or changed (`changed`, the versions it
made) and which of the previous generation's records it saw unchanged (`matched`, with their fingerprint
`matched_sum`), beside the previous generation's count and fingerprint for the kind (`old_count`,
`old_sum`). When no partition of a kind changed anything and together they saw exactly the previous
generation's records, nothing of the kind changed or vanished: `reconcile` and the clean-up then skip
reloading that kind's manifests (`unchanged_kind`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sourcesync.clock import now_iso
from sourcesync.config import get_settings
from sourcesync.pipeline.context import JobContext, ensure_live
from sourcesync.records import AnyRecord, RecordKind
from sourcesync.services import connections
from sourcesync.store import work_items
from sourcesync.store.manifests import (
    FINGERPRINT_MODULUS,
    Entry,
    Manifest,
    ManifestStore,
    fingerprint,
    get_manifest_store,
)
from sourcesync.store.records import (
    Version,
    canonical,
    compress,
    customer_external_id,
    get_record_store,
    uuid_for,
)

WRITE_BATCH = 100
#: Every `checkpoint_seconds` the worker checks that its job may go on (a purge waits that long for it to
#: notice); it checkpoints then (a manifest chunk and the work item) only once it has seen this many records
#: since the last checkpoint, or `CHECKPOINT_INTERVALS` times `checkpoint_seconds` have passed: against a
#: slow provider a checkpoint per page would cost more than the page's records (four requests each).
CHECKPOINT_RECORDS = 1000
CHECKPOINT_INTERVALS = 4


@dataclass
class PartitionRun:
    job: JobContext
    partition: dict[str, Any]
    old: Manifest
    checkpoint: dict[str, Any]
    seen: Manifest = field(default_factory=dict)
    pending: list[Version] = field(default_factory=list)
    futures: list[Future[int]] = field(default_factory=list)
    written: int = 0
    changed: int = 0  # versions made since the last checkpoint (new or changed records)
    matched: list[str] = field(default_factory=list)  # the previous generation's records seen unchanged since

    @property
    def kind(self) -> RecordKind:
        return RecordKind(self.partition["kind"])


def version_for(run: PartitionRun, record: AnyRecord, generation: int) -> tuple[str, Entry, Version | None]:
    job, kind = run.job, run.kind
    uuid = uuid_for(job.account_id, job.data_source_uuid, kind, record.external_id)
    owner_external = customer_external_id(kind, record)
    owner = (
        None
        if kind is RecordKind.PLANS or owner_external is None
        else uuid_for(job.account_id, job.data_source_uuid, RecordKind.CUSTOMERS, owner_external)
    )
    body, content_hash = canonical(record)
    previous = run.old.get(uuid)
    if previous is not None and previous.content_hash == content_hash and previous.customer_uuid == owner:
        return uuid, previous, None  # unchanged: still valid from its generation, nothing to write (or compress)
    version = Version(
        kind=kind,
        uuid=uuid,
        customer_uuid=owner,
        external_id=record.external_id,
        generation=generation,
        record=record,
        payload=compress(body),
        content_hash=content_hash,
    )
    return uuid, Entry(content_hash, generation, owner), version


def fetch(
    job: JobContext,
    partition: dict[str, Any],
    iterations: int,
    max_iterations: int,
    remaining_seconds: Callable[[], float],
) -> dict[str, Any]:
    """Fetch pages of one partition until the time budget, writing what changed; checkpoint and return."""
    settings = get_settings()
    key = f"PART#{partition['key']}"
    checkpoint = work_items.read(job.job_id, key) or {
        "cursor": None,
        "seq": 0,
        "done": 0,
        "finished": False,
        "kind": partition["kind"],
        "written": 0,
        "total": None,
        "changed": 0,
        "matched": 0,
        "matched_sum": "0",
    }
    if checkpoint["finished"]:
        return {"done": True, "iterations": iterations + 1, "yield": False}
    source = ensure_live(job)
    assert job.generation is not None
    connector = connections.connector_for(source)
    # imported here, not at the top: the connectors' HTTP stack (requests, urllib3) loads on the first fetch,
    # not at the cold start of every worker invocation (a purge or a reconcile never fetches)
    from sourcesync.connectors.kit.streams import Partition

    typed_partition = Partition.model_validate(partition)
    # The first page is asked for before the previous generation's manifest loads (S3, as large as the kind):
    # the provider answers while it loads.
    fetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetcher")
    upcoming = fetcher.submit(connector.fetch_page, typed_partition, checkpoint["cursor"])
    try:
        manifests = get_manifest_store()
        old = manifests.load(job.account_id, job.data_source_uuid, job.previous_generation, partition["kind"])
    except BaseException:
        fetcher.shutdown(wait=True, cancel_futures=True)
        raise
    if "old_sum" not in checkpoint and checkpoint["seq"] == 0 and checkpoint["done"] == 0:
        # once, as the partition starts (the previous generation never changes); a checkpoint written
        # before these figures existed never gets them, and its kind's manifests are compared as before
        checkpoint.update(old_count=len(old), old_sum=str(fingerprint(old)))
    run = PartitionRun(job=job, partition=partition, old=old, checkpoint=checkpoint)
    # One page may retry for max_retry_seconds during a provider outage: stop starting pages early enough.
    reserve = 30.0 + float((source.get("options") or {}).get("max_retry_seconds", 300))
    budget_end = time.monotonic() + min(settings.fetch_budget_seconds, max(5.0, remaining_seconds() - reserve))
    records = get_record_store()
    # Three threads: this one hashes and checkpoints, one fetches the next page meanwhile (the provider is
    # never left waiting for us), and two write what changed.
    with fetcher, ThreadPoolExecutor(max_workers=2, thread_name_prefix="writer") as writer:
        every = settings.checkpoint_seconds
        last_checkpoint = time.monotonic()
        next_live = last_checkpoint + every
        cursor, finished = checkpoint["cursor"], False
        while True:
            page = upcoming.result()
            if page.next_cursor is not None and time.monotonic() < budget_end:
                upcoming = fetcher.submit(connector.fetch_page, typed_partition, page.next_cursor)
            _take(run, page.records, job.generation)
            if len(run.pending) >= WRITE_BATCH or page.next_cursor is None:
                batch, run.pending = run.pending, []
                run.futures.append(writer.submit(records.write, job.data_source_uuid, batch))
            cursor, finished = page.next_cursor, page.next_cursor is None
            if page.total is not None:
                checkpoint["total"] = page.total
            now = time.monotonic()
            if finished or now >= budget_end:
                _checkpoint(run, cursor, finished, manifests)
                break  # a page fetched ahead is dropped: the checkpoint's cursor is before it
            if now >= next_live:
                if len(run.seen) >= CHECKPOINT_RECORDS or now >= last_checkpoint + CHECKPOINT_INTERVALS * every:
                    _checkpoint(run, cursor, finished, manifests)
                    last_checkpoint = now
                next_live = now + every
                ensure_live(job)
    iterations += 1
    return {"done": finished, "iterations": iterations, "yield": not finished and iterations >= max_iterations}


def _take(run: PartitionRun, page_records: list[AnyRecord], generation: int) -> None:
    """Compare a page's records with the previous generation: what changed waits to be written."""
    for record in page_records:
        uuid, entry, version = version_for(run, record, generation)
        run.seen[uuid] = entry
        if version is not None:
            run.pending.append(version)
            run.changed += 1
        else:
            run.matched.append(uuid)


def _checkpoint(run: PartitionRun, cursor: str | None, finished: bool, manifests: ManifestStore) -> None:
    """Make everything fetched so far durable (writes, manifest chunk), then move the cursor."""
    if run.pending:
        run.written += get_record_store().write(run.job.data_source_uuid, run.pending)
        run.pending = []
    for future in run.futures:
        run.written += future.result()
    run.futures = []
    job, checkpoint = run.job, run.checkpoint
    assert job.generation is not None
    if run.seen:
        manifests.put_chunk(
            job.account_id,
            job.data_source_uuid,
            job.generation,
            run.partition["kind"],
            run.partition["key"],
            checkpoint["seq"],
            run.seen,
        )
        checkpoint["seq"] += 1
    checkpoint.update(
        cursor=cursor,
        finished=finished,
        done=checkpoint["done"] + len(run.seen),
        written=checkpoint["written"] + run.written,
        updated_at=now_iso(),
    )
    if "old_sum" in checkpoint:
        checkpoint.update(
            changed=int(checkpoint["changed"]) + run.changed,
            matched=int(checkpoint["matched"]) + len(run.matched),
            matched_sum=str((int(checkpoint["matched_sum"]) + fingerprint(run.matched)) % FINGERPRINT_MODULUS),
        )
    work_items.write(job.job_id, f"PART#{run.partition['key']}", checkpoint)
    run.seen, run.written, run.changed, run.matched = {}, 0, 0, []


def unchanged_kind(checkpoints: list[dict[str, Any]]) -> int | None:
    """The previous generation's count of a kind if its partitions' finished checkpoints show that nothing of
    it changed or vanished: no new or changed record, every previous record seen unchanged and nothing seen
    twice (the counts and fingerprints add up to the previous generation's). None otherwise, or when a
    checkpoint predates these figures: then the caller compares the manifests."""
    if not checkpoints or any("old_sum" not in c or "matched_sum" not in c for c in checkpoints):
        return None
    old_count, old_sum = int(checkpoints[0]["old_count"]), int(checkpoints[0]["old_sum"])
    if any(int(c["old_count"]) != old_count or int(c["old_sum"]) != old_sum for c in checkpoints):
        return None
    if any(int(c.get("changed", 1)) for c in checkpoints):
        return None
    matched = sum(int(c["matched"]) for c in checkpoints)
    matched_sum = sum(int(c["matched_sum"]) for c in checkpoints) % FINGERPRINT_MODULUS
    return old_count if matched == old_count and matched_sum == old_sum else None
