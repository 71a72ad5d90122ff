"""The steps of the re-sync state machine (infra/statemachine/resync_source.asl.json).

Each step is idempotent: Step Functions may run it again after a crash, a timeout or a retry, and
the result is the same. Work that outlives one invocation is checkpointed in the jobs table:

* ``pk=JOB#<job_id>, sk=PLAN``              the attempt's generation, the previous one, the partitions
* ``pk=JOB#<job_id>, sk=PART#<partition>``  a partition's cursor, chunk count, records done, finished

The state that travels between states stays small (ids and counts), so the console stays readable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from sourcesync.aws import client
from sourcesync.clock import iso, now_iso
from sourcesync.clock import now as clock_now
from sourcesync.config import get_settings
from sourcesync.log import logger
from sourcesync.pipeline import failures
from sourcesync.pipeline.failures import GenerationConflictError, JobCancelledError, SourceDeletedError
from sourcesync.pipeline.manifests import Entry, Manifest, get_manifest_store
from sourcesync.records import RECORD_MODEL, AnyRecord, RecordKind
from sourcesync.services import connections
from sourcesync.services.jobs import execution_name, release_source
from sourcesync.store.dynamo import ddb, delete_keys, from_item, is_condition_failure, to_item
from sourcesync.store.jobs import get_job_store, job_key
from sourcesync.store.records import (
    Version,
    customer_external_id,
    encode,
    get_record_store,
    partition_keys,
    uuid_for,
)
from sourcesync.store.sources import get_source_store

#: History events per fetch loop iteration, and how many the loop may use in one execution before it
#: continues in a new one (AWS caps an execution at 25,000 events; moto does not, so we cap ourselves).
EVENTS_PER_ITERATION = 7
ITERATION_BUDGET_PER_EXECUTION = 3000
WRITE_BATCH = 100


class JobContext(BaseModel):
    """What the state machine carries: who and what, never data."""

    model_config = ConfigDict(extra="ignore")

    account_id: str
    data_source_uuid: str
    job_id: str
    kind: str
    customer_uuid: str | None = None
    customer_external_id: str | None = None
    execution: int = 1
    generation: int | None = None
    previous_generation: int | None = None


def _work_key(job_id: str, sk: str) -> dict[str, Any]:
    return to_item({"pk": f"JOB#{job_id}", "sk": sk})


def _get_work(job_id: str, sk: str) -> dict[str, Any] | None:
    table = get_settings().jobs_table
    answer = ddb().get_item(TableName=table, Key=_work_key(job_id, sk), ConsistentRead=True)
    return from_item(answer["Item"]) if "Item" in answer else None


def _put_work(job_id: str, sk: str, values: dict[str, Any]) -> None:
    ddb().put_item(TableName=get_settings().jobs_table, Item=to_item({"pk": f"JOB#{job_id}", "sk": sk, **values}))


def work_items(job_id: str) -> list[dict[str, Any]]:
    return get_job_store().work_items(job_id)


def _ensure_live(job: JobContext) -> dict[str, Any]:
    """The source and job as they are now; raises if the source is being deleted or the job cancelled."""
    source = get_source_store().get(job.account_id, job.data_source_uuid)
    if source is None or source.get("status") == "deleting" or source.get("current_job_id") != job.job_id:
        raise SourceDeletedError("The data source was deleted while the job ran.")
    stored = get_job_store().get(job.account_id, job.job_id)
    if stored is None or stored.get("cancel_requested"):
        raise JobCancelledError("The job was cancelled.")
    return source


def _set_job(job: JobContext, values: dict[str, Any]) -> None:
    get_job_store().update(job.account_id, job.job_id, values)


# ---------------------------------------------------------------------------------------------- plan
def plan(job: JobContext) -> dict[str, Any]:
    """Allocate the attempt's generation and split the source into partitions (once per job)."""
    stored = _get_work(job.job_id, "PLAN")
    if stored is None:
        source = _ensure_live(job)
        get_job_store().update(
            job.account_id,
            job.job_id,
            {"status": "running", "phase": "planning", "started_at": now_iso()},
            only_if_status=("queued",),
        )
        began = get_source_store().begin_generation(job.account_id, job.data_source_uuid, job.job_id)
        if began is None:
            raise SourceDeletedError("The data source was deleted while the job ran.")
        if job.kind == "resync_customer":  # one customer: its kinds, fetched by `fetch_customer`, no Map
            partitions: list[dict[str, Any]] = [{"kind": k.value, "key": k.value, "params": {}} for k in CUSTOMER_KINDS]
        else:
            connector = connections.connector_for(source)
            partitions = [p.model_dump(mode="json") for p in connector.plan_partitions()]
        stored = {
            "generation": int(began["next_generation"]),
            "previous_generation": source.get("committed_generation"),
            "partitions": json.dumps(partitions),
            "planned_at": now_iso(),
            "previous_counts": source.get("counts") or {},
            # the job whose clean-up of its old generation this job's own clean-up must follow, if any
            "after_cleanup_of": source.get("cleanup_job_id"),
        }
        _put_work(job.job_id, "PLAN", stored)
        _set_job(job, {"phase": "fetching"})
    partitions = json.loads(stored["partitions"])
    context = job.model_copy(
        update={"generation": stored["generation"], "previous_generation": stored.get("previous_generation")}
    )
    return {
        "job": context.model_dump(mode="json"),
        "partitions": partitions,
        "max_iterations": max(1, ITERATION_BUDGET_PER_EXECUTION // max(1, len(partitions))),
        "grace_seconds": get_settings().commit_grace_seconds,
        # every partition at once, up to the template's FetchConcurrency (the Map's MaxConcurrencyPath)
        "max_concurrency": max(1, min(len(partitions), get_settings().fetch_concurrency)),
    }


# ---------------------------------------------------------------------------------------------- fetch
@dataclass
class _PartitionRun:
    job: JobContext
    partition: dict[str, Any]
    old: Manifest
    checkpoint: dict[str, Any]
    seen: Manifest = field(default_factory=dict)
    pending: list[Version] = field(default_factory=list)
    futures: list[Future[int]] = field(default_factory=list)
    written: int = 0

    @property
    def kind(self) -> RecordKind:
        return RecordKind(self.partition["kind"])


def _version_for(run: _PartitionRun, record: AnyRecord, generation: int) -> tuple[str, Entry, Version | None]:
    job, kind = run.job, run.kind
    uuid = uuid_for(job.account_id, job.data_source_uuid, kind, record.external_id)
    owner_external = customer_external_id(kind, record)
    owner = (
        None
        if kind is RecordKind.PLANS or owner_external is None
        else uuid_for(job.account_id, job.data_source_uuid, RecordKind.CUSTOMERS, owner_external)
    )
    payload, content_hash = encode(record)
    previous = run.old.get(uuid)
    if previous is not None and previous.content_hash == content_hash and previous.customer_uuid == owner:
        return uuid, previous, None  # unchanged: still valid from its generation, nothing to write
    version = Version(
        kind=kind,
        uuid=uuid,
        customer_uuid=owner,
        external_id=record.external_id,
        generation=generation,
        record=record,
        payload=payload,
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
    checkpoint = _get_work(job.job_id, key) or {
        "cursor": None,
        "seq": 0,
        "done": 0,
        "finished": False,
        "kind": partition["kind"],
        "written": 0,
        "total": None,
    }
    if checkpoint["finished"]:
        return {"done": True, "iterations": iterations + 1, "yield": False}
    source = _ensure_live(job)
    assert job.generation is not None
    connector = connections.connector_for(source)
    manifests = get_manifest_store()
    old = manifests.load(job.account_id, job.data_source_uuid, job.previous_generation, partition["kind"])
    run = _PartitionRun(job=job, partition=partition, old=old, checkpoint=checkpoint)
    from sourcesync.connectors.base import Partition

    typed_partition = Partition.model_validate(partition)
    # One page may retry for max_retry_seconds during a provider outage: stop starting pages early enough.
    reserve = 30.0 + float((source.get("options") or {}).get("max_retry_seconds", 300))
    budget_end = time.monotonic() + min(settings.fetch_budget_seconds, max(5.0, remaining_seconds() - reserve))
    records = get_record_store()
    # Three threads: this one hashes and checkpoints, one fetches the next page meanwhile (the provider is
    # never left waiting for us), and two write what changed.
    with (
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="writer") as writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetcher") as fetcher,
    ):
        next_checkpoint = time.monotonic() + settings.checkpoint_seconds
        cursor, finished = checkpoint["cursor"], False
        upcoming = fetcher.submit(connector.fetch_page, typed_partition, cursor)
        while True:
            page = upcoming.result()
            if page.next_cursor is not None and time.monotonic() < budget_end:
                upcoming = fetcher.submit(connector.fetch_page, typed_partition, page.next_cursor)
            for record in page.records:
                uuid, entry, version = _version_for(run, record, job.generation)
                run.seen[uuid] = entry
                if version is not None:
                    run.pending.append(version)
            if len(run.pending) >= WRITE_BATCH or page.next_cursor is None:
                batch, run.pending = run.pending, []
                run.futures.append(writer.submit(records.write, job.data_source_uuid, batch))
            cursor, finished = page.next_cursor, page.next_cursor is None
            if page.total is not None:
                checkpoint["total"] = page.total
            now = time.monotonic()
            if finished or now >= next_checkpoint or now >= budget_end:
                _checkpoint(run, cursor, finished, manifests)
                next_checkpoint = now + settings.checkpoint_seconds
                if finished or now >= budget_end:
                    break  # a page fetched ahead is dropped: the checkpoint's cursor is before it
                _ensure_live(job)
    iterations += 1
    return {"done": finished, "iterations": iterations, "yield": not finished and iterations >= max_iterations}


def _checkpoint(run: _PartitionRun, cursor: str | None, finished: bool, manifests: Any) -> None:
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
    _put_work(job.job_id, f"PART#{run.partition['key']}", checkpoint)
    run.seen, run.written = {}, 0


# ---------------------------------------------------------------------------------------------- one customer
CUSTOMER_KINDS = (RecordKind.CUSTOMERS, RecordKind.SUBSCRIPTIONS, RecordKind.INVOICES, RecordKind.TRANSACTIONS)
KIND_OF_MODEL = {model: kind for kind, model in RECORD_MODEL.items()}


def fetch_customer(job: JobContext) -> dict[str, Any]:
    """Re-sync one customer (docs/architecture.md#concepts): fetch its records, write what changed and
    tombstones for what vanished into the new generation, whose manifests are the committed ones with this
    customer's entries overridden. Every other record stays valid as it is, so the commit switches this
    customer atomically."""
    assert job.generation is not None and job.previous_generation is not None and job.customer_uuid
    source = _ensure_live(job)
    records = connections.connector_for(source).fetch_customer(job.customer_external_id or "")
    manifests, store = get_manifest_store(), get_record_store()
    if _get_work(job.job_id, "COPIED") is None:
        manifests.copy_generation(job.account_id, job.data_source_uuid, job.previous_generation, job.generation)
        _put_work(job.job_id, "COPIED", {"at": now_iso()})
    counts = {k: int(v) for k, v in (source.get("counts") or {}).items()}
    written = removed_total = 0
    for kind in CUSTOMER_KINDS:
        old = manifests.load(job.account_id, job.data_source_uuid, job.previous_generation, kind.value)
        mine = {
            u
            for u, e in old.items()
            if (u == job.customer_uuid if kind is RecordKind.CUSTOMERS else e.customer_uuid == job.customer_uuid)
        }
        run = _PartitionRun(job=job, partition={"kind": kind.value, "key": kind.value}, old=old, checkpoint={})
        fresh: Manifest = {}
        versions: list[Version] = []
        for record in (r for r in records if KIND_OF_MODEL[type(r)] is kind):
            uuid, entry, version = _version_for(run, record, job.generation)
            fresh[uuid] = entry
            if version is not None:
                versions.append(version)
        gone = mine - set(fresh)
        versions += [
            Version(
                kind=kind,
                uuid=uuid,
                customer_uuid=old[uuid].customer_uuid,
                external_id="",
                generation=job.generation,
                record=None,
            )
            for uuid in gone
        ]
        written += store.write(job.data_source_uuid, versions)
        manifests.put_override(
            job.account_id, job.data_source_uuid, job.generation, kind.value, f"customer-{job.job_id}", fresh, gone
        )
        if kind is RecordKind.SUBSCRIPTIONS:
            owners: dict[str, str | None] = {uuid: entry.customer_uuid for uuid, entry in fresh.items()}
            owners.update(dict.fromkeys(gone))
            manifests.put_owners(job.account_id, job.data_source_uuid, job.generation, owners)
        counts[kind.value] = counts.get(kind.value, 0) - len(gone) + len(set(fresh) - set(old))
        removed_total += len(gone)
    _put_work(job.job_id, "COUNTS", {"counts": counts, "vanished": removed_total})
    return {"written": written, "vanished": removed_total}


# ---------------------------------------------------------------------------------------------- reconcile
def reconcile(job: JobContext, partitions: list[dict[str, Any]]) -> dict[str, Any]:
    """Once every partition is fetched: tombstone the records that vanished at the provider, and count."""
    parts = {
        item["sk"].removeprefix("PART#"): item for item in work_items(job.job_id) if item["sk"].startswith("PART#")
    }
    if any(not parts.get(p["key"], {}).get("finished") for p in partitions):
        return {"all_fetched": False}
    assert job.generation is not None
    _ensure_live(job)
    manifests, records = get_manifest_store(), get_record_store()
    counts: dict[str, int] = {}
    tombstones = 0
    for kind in sorted({p["kind"] for p in partitions}):
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
        tombstones += records.write(job.data_source_uuid, vanished)
        counts[kind] = len(new)
        if kind == RecordKind.SUBSCRIPTIONS.value:
            manifests.put_all_owners(job.account_id, job.data_source_uuid, job.generation, new)
    _put_work(job.job_id, "COUNTS", {"counts": counts, "vanished": tombstones})
    return {"all_fetched": True, "vanished": tombstones}


# ---------------------------------------------------------------------------------------------- overlays
def apply_overlays(job: JobContext) -> dict[str, Any]:
    """Apply the policy matrix to the source's manual data
    (docs/architecture.md#manual-data-overlays-and-the-policy-matrix)."""
    _ensure_live(job)
    _set_job(job, {"phase": "applying_overlays"})
    from sourcesync.services.overlays import apply_policy_for_resync

    assert job.generation is not None
    outcome = apply_policy_for_resync(
        job.account_id, job.data_source_uuid, job.kind, job.generation, job.job_id, job.customer_uuid
    )
    _put_work(job.job_id, "OVERLAYS", outcome)
    return {"removed": len(outcome["overlays_removed"]), "orphaned": len(outcome["overlays_orphaned"])}


# ---------------------------------------------------------------------------------------------- commit
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
    _set_job(job, {"phase": "committing"})
    counts = (_get_work(job.job_id, "COUNTS") or {}).get("counts", {})
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
        "result": _result(job),
        "progress": _frozen_progress(job, "succeeded"),
        "cleanup": {"status": "pending", "until": _grace_end(settings.commit_grace_seconds)},
    }
    names = {f"#e{i}": k for i, k in enumerate(ended)}
    values = {f":e{i}": v for i, v in enumerate(ended.values())}
    job_update = {
        "Update": {
            "TableName": settings.jobs_table,
            "Key": job_key(job.account_id, job.job_id),
            "UpdateExpression": "SET " + ", ".join(f"#e{i} = :e{i}" for i in range(len(ended))),
            "ConditionExpression": "attribute_not_exists(cancel_requested) AND #status = :running",
            "ExpressionAttributeNames": {**names, "#status": "status"},
            "ExpressionAttributeValues": to_item({**values, ":running": "running"}),
        }
    }
    try:
        ddb().transact_write_items(TransactItems=[source_update, job_update])
    except Exception as error:
        if not is_condition_failure(error):
            raise
        _ensure_live(job)
        raise GenerationConflictError("Another generation was committed during this re-sync.") from None
    logger.info(
        "Generation committed; the job succeeded",
        data_source_uuid=job.data_source_uuid,
        job_id=job.job_id,
        generation=job.generation,
        previous_generation=job.previous_generation,
    )
    return {"committed": True}


def _result(job: JobContext) -> dict[str, Any]:
    """The job's result: the counts of the new generation and what the policy matrix did to manual data."""
    counts = (_get_work(job.job_id, "COUNTS") or {}).get("counts", {})
    overlays = _get_work(job.job_id, "OVERLAYS") or {"overlays_removed": [], "overlays_orphaned": []}
    result = {
        "counts": counts,
        "overlays_removed": overlays["overlays_removed"],
        "overlays_orphaned": overlays["overlays_orphaned"],
    }
    if overlays.get("overlays_truncated"):
        result["overlays_truncated"] = overlays["overlays_truncated"]
    return result


def _grace_end(seconds: int) -> str:
    """When the readers' grace period after the switch ends: the old generation stays whole until then."""
    return iso(clock_now() + timedelta(seconds=max(0, seconds)))


# ---------------------------------------------------------------------------------------------- clean up
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
    plan_item = _get_work(job.job_id, "PLAN") or {}
    before = plan_item.get("after_cleanup_of")
    if before and _cleanup_pending(job.account_id, str(before)):
        return {"waiting": True, "poll_seconds": CLEANUP_POLL_SECONDS}
    _set_cleanup(job, "running")
    if job.previous_generation is None:
        return {"waiting": False, "removed": 0}
    manifests, records = get_manifest_store(), get_record_store()
    removed = 0
    for kind in sorted({p["kind"] for p in partitions}):
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


def _set_cleanup(job: JobContext, status: str, **more: Any) -> None:
    stored = get_job_store().get(job.account_id, job.job_id) or {}
    cleanup = dict(stored.get("cleanup") or {"until": now_iso()})
    if cleanup.get("status") != status or more:
        _set_job(job, {"cleanup": {**cleanup, "status": status}, **more})


def _version_key(job: JobContext, kind: RecordKind, uuid: str, entry: Entry, generation: int) -> dict[str, str]:
    from sourcesync.store.records import placement

    return placement(job.data_source_uuid, kind, uuid, entry.customer_uuid).key(generation)


# ---------------------------------------------------------------------------------------------- finish
def _frozen_progress(job: JobContext, status: str) -> dict[str, Any]:
    """The figures a job ends with (`status`: how it ends, which the stored job does not say yet)."""
    from sourcesync.services.progress import job_progress

    stored = get_job_store().get(job.account_id, job.job_id) or {}
    return job_progress({**stored, "status": status}, finished=True)


def _release(job: JobContext) -> None:
    release_source(job.model_dump())


def _drop_work(job: JobContext) -> None:
    keys = [{"pk": item["pk"], "sk": item["sk"]} for item in work_items(job.job_id)]
    delete_keys(get_settings().jobs_table, keys)


def finish(job: JobContext) -> dict[str, Any]:
    """The end of a job's workflow. A committed job succeeded at its switch: this ends its clean-up
    (the overlays the policy matrix removed go, the work items go, `cleanup.status` is `done`). A job
    without a switch (`reprocess`) ends here: `succeeded` with its result, and the source released."""
    from sourcesync.services.overlays import finish_removals

    finish_removals(job.account_id, job.job_id)
    stored_job = get_job_store().get(job.account_id, job.job_id)
    if stored_job is None:  # the source was deleted during the clean-up: its purge removed the job too
        _drop_work(job)
        return {"status": "succeeded"}
    if stored_job.get("committed"):
        _drop_work(job)
        _set_cleanup(job, "done")
        return {"status": "succeeded"}
    if stored_job.get("status") == "succeeded":  # a retried finish: the result is written, its inputs are gone
        _release(job)
        _drop_work(job)
        return {"status": "succeeded"}
    _set_job(
        job,
        {
            "status": "succeeded",
            "phase": None,
            "waiting_for": None,
            "finished_at": now_iso(),
            "result": _result(job),
            "progress": _frozen_progress(job, "succeeded"),
        },
    )
    _release(job)
    _drop_work(job)
    return {"status": "succeeded"}


# ---------------------------------------------------------------------------------------------- abort
def abort(job: JobContext, error: dict[str, Any] | None) -> dict[str, Any]:
    """Undo a failed or cancelled attempt: remove its partial generation (unless the source is being
    deleted: the purge removes everything), end the job, release the source. The previous generation
    is untouched throughout. How the job ends (status, error code, the provider's status) is
    `failures.JOB_ERRORS`'s entry for the exception that stopped it."""
    status, error_body = failures.job_error(job.job_id, (error or {}).get("Error", "States.Runtime"))
    stored_job = get_job_store().get(job.account_id, job.job_id) or {}
    if stored_job.get("committed"):  # the clean-up after the switch failed: the job's data is live
        return _cleanup_failed(job)
    if stored_job.get("status") in ("succeeded", "failed", "cancelled"):  # a retried undo: finish releasing
        _release(job)
        _drop_work(job)
        return {"status": stored_job["status"]}
    plan_item = _get_work(job.job_id, "PLAN")
    generation = plan_item["generation"] if plan_item else job.generation
    source = get_source_store().get(job.account_id, job.data_source_uuid)
    deleting = source is None or source.get("status") == "deleting"
    if generation is not None and not deleting:
        records = get_record_store()
        for pk in partition_keys(job.data_source_uuid):
            start = None
            while True:
                keys, start = records.keys_in(pk, generation=generation, start=start)
                records.delete(keys)
                if start is None:
                    break
        get_manifest_store().delete_generation(job.account_id, job.data_source_uuid, generation)
        # The generation stays pending for good: a sibling worker still finishing a page could write one more
        # version of it after this clean-up, and a pending generation is invisible to every reader.
    from sourcesync.services.overlays import undo_removals

    undo_removals(job.account_id, job.job_id)
    _set_job(
        job,
        {
            "status": status,
            "phase": None,
            "waiting_for": None,
            "finished_at": now_iso(),
            "error": error_body,
            "progress": _frozen_progress(job, status),
        },
    )
    if not deleting:
        _release(job)
    _drop_work(job)
    logger.info("Job ended without committing", job_id=job.job_id, status=status, code=error_body["code"])
    return {"status": status}


def _cleanup_failed(job: JobContext) -> dict[str, Any]:
    """A clean-up that kept failing: the job stays `succeeded` (its data is live, and readers never see
    what is left: versions no committed generation points at), its clean-up ends, and its `error` says
    what was left behind. The execution fails, so the operator sees it."""
    from sourcesync.services.overlays import finish_removals

    finish_removals(job.account_id, job.job_id)  # the matrix's removals are in effect: carry them out
    _set_cleanup(
        job,
        "done",
        error={
            "code": "cleanup_failed",
            "message": "The new data is live; removing what only the old generation held failed, "
            "so some storage is left behind (invisible to readers).",
        },
    )
    _drop_work(job)
    logger.info("The clean-up after the switch failed", job_id=job.job_id)
    return {"status": "failed"}


# ---------------------------------------------------------------------------------------------- continue
def continue_in_new_execution(job: JobContext) -> dict[str, Any]:
    """Hand the job over to a fresh execution (AWS caps one execution's history at 25,000 events);
    the checkpoints make the new one resume where this one stopped."""
    following = job.model_copy(update={"execution": job.execution + 1})
    name = f"{execution_name(job.data_source_uuid, job.job_id)}-{following.execution}"
    client("stepfunctions").start_execution(
        stateMachineArn=get_settings().resync_state_machine_arn,
        name=name,
        input=json.dumps({"job": following.model_dump(mode="json", exclude={"generation", "previous_generation"})}),
    )
    return {"continued_as": name}
