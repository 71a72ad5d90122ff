"""The steps of the purge state machine (infra/statemachine/purge_source.asl.json).

The source is already gone for every reader (its item says `deleting`); these steps remove what is
stored, until nothing of it is left but the delete job and the audit record. Every step is idempotent
and resumable: run twice, the result is the same; killed and retried, it continues where it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from sourcesync.clock import iso, now, now_iso, parse_iso
from sourcesync.config import get_settings
from sourcesync.pipeline.manifests import get_manifest_store
from sourcesync.pipeline.steps import work_items
from sourcesync.store.credentials import get_credential_store
from sourcesync.store.dynamo import ddb, delete_keys, from_item, to_item
from sourcesync.store.jobs import get_job_store
from sourcesync.store.records import kind_of_key, partition_keys
from sourcesync.store.sources import get_source_store, source_key

DELETE_THREADS = 2
MAX_WAIT_SECONDS = 1200  # longer than a worker's 900 s Lambda timeout
PAGE = 1000
BATCH = 25


class PurgeJob(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_id: str
    data_source_uuid: str
    job_id: str
    running_job_id: str | None = None


def _put_work(job_id: str, sk: str, values: dict[str, Any]) -> None:
    ddb().put_item(TableName=get_settings().jobs_table, Item=to_item({"pk": f"JOB#{job_id}", "sk": sk, **values}))


def _get_work(job_id: str, sk: str) -> dict[str, Any] | None:
    answer = ddb().get_item(
        TableName=get_settings().jobs_table, Key=to_item({"pk": f"JOB#{job_id}", "sk": sk}), ConsistentRead=True
    )
    return from_item(answer["Item"]) if "Item" in answer else None


#: How the wait reads in the job's `waiting_for.reason`, by the kind of the job the purge waits for.
JOB_NAMES = {"import": "import", "resync_source": "re-sync", "resync_customer": "customer re-sync"}


def await_running_job(job: PurgeJob) -> dict[str, Any]:
    """Wait until the job that held the source when it was deleted has stopped, and then until none of its
    workers can still write: a worker stops at its next checkpoint (it sees `deleting`), but one inside a
    page's retries may still write that page, so the wait covers the source's `max_retry_seconds` too.
    While it waits, the delete job says what for and until when (`waiting_for`)."""
    jobs = get_job_store()
    jobs.update(
        job.account_id, job.job_id, {"status": "running", "started_at": now_iso()}, only_if_status=("queued", "failed")
    )
    source = get_source_store().get(job.account_id, job.data_source_uuid) or {}
    running_id = source.get("current_job_id") or job.running_job_id  # fixed once the source is `deleting`
    deleted = jobs.get(job.account_id, job.job_id) or {}
    waiting = _waiting(job, source, running_id, deleted)
    if waiting is None:
        if deleted.get("waiting_for"):
            jobs.set_waiting_for(job.account_id, job.job_id, None)
        return {"stopped": True, "wait_seconds": 0}
    reason, until, seconds = waiting
    if deleted.get("waiting_for") != {"reason": reason, "until": until}:
        jobs.set_waiting_for(job.account_id, job.job_id, reason, until)
    return {"stopped": False, "wait_seconds": seconds}


def _waiting(
    job: PurgeJob, source: dict[str, Any], running_id: str | None, deleted: dict[str, Any]
) -> tuple[str, str, int] | None:
    """(what for, until when, seconds before looking again), or None when nothing is left to wait for."""
    if not running_id:
        return None
    running = get_job_store().get(job.account_id, running_id) or {}
    created = parse_iso(deleted.get("created_at") or now_iso())
    if (now() - created).total_seconds() >= MAX_WAIT_SECONDS:  # a job whose execution died never reports
        return None
    name = JOB_NAMES.get(str(running.get("kind")), "job")
    if running.get("status") in ("queued", "running"):
        until = iso(created + timedelta(seconds=MAX_WAIT_SECONDS))
        return f"the running {name} to stop", until, 2
    settle = float((source.get("options") or {}).get("max_retry_seconds", 300)) + 3 * get_settings().checkpoint_seconds
    stopped_at = parse_iso(running.get("finished_at") or now_iso())
    since = (now() - stopped_at).total_seconds()
    if since < settle:
        until = iso(min(stopped_at + timedelta(seconds=settle), created + timedelta(seconds=MAX_WAIT_SECONDS)))
        return f"the stopped {name}'s workers", until, int(settle - since) + 1
    return None


def plan(job: PurgeJob) -> dict[str, Any]:
    """The partitions to empty, and the totals the progress bar counts down (from the source's counts)."""
    if _get_work(job.job_id, "PLAN") is None:
        source = get_source_store().get(job.account_id, job.data_source_uuid) or {}
        _put_work(job.job_id, "PLAN", {"previous_counts": source.get("counts") or {}, "planned_at": now_iso()})
    return {"partitions": partition_keys(job.data_source_uuid)}


def purge_partition(job: PurgeJob, pk: str, remaining_seconds: Callable[[], float]) -> dict[str, Any]:
    """Delete a partition's items a page of keys at a time, batches in parallel, until it is empty or
    the time budget ends. Progress (items per kind) goes to the partition's work item."""
    key = f"PART#{pk}"
    progress = _get_work(job.job_id, key) or {"kinds": {}, "finished": False, "partition": pk}
    if progress["finished"]:
        return {"done": True}
    deadline = time.monotonic() + min(get_settings().fetch_budget_seconds, max(5.0, remaining_seconds() - 30.0))
    table = get_settings().records_table
    done = False
    with ThreadPoolExecutor(DELETE_THREADS, thread_name_prefix="purge") as pool:
        while True:  # at least one page per invocation, then until the budget ends
            answer = ddb().query(
                TableName=table,
                KeyConditionExpression="pk = :pk",
                Limit=PAGE,
                ProjectionExpression="pk, sk",
                ExpressionAttributeValues=to_item({":pk": pk}),
            )
            items = answer.get("Items", [])
            if items:
                list(pool.map(_delete_batch, [items[i : i + BATCH] for i in range(0, len(items), BATCH)]))
                for raw in items:
                    kind = kind_of_key(raw["pk"]["S"], raw["sk"]["S"])
                    progress["kinds"][kind] = progress["kinds"].get(kind, 0) + 1
                _put_work(job.job_id, key, progress)
            if not items or ("LastEvaluatedKey" not in answer and len(items) < PAGE):
                done = True
                break
            if time.monotonic() >= deadline:
                break
    progress["finished"] = done
    _put_work(job.job_id, key, progress)
    return {"done": done}


def _delete_batch(items: list[dict[str, Any]]) -> None:
    table = get_settings().records_table
    pending = [{"DeleteRequest": {"Key": {"pk": i["pk"], "sk": i["sk"]}}} for i in items]
    delay = 0.05
    while pending:
        answer = ddb().batch_write_item(RequestItems={table: pending})
        pending = answer.get("UnprocessedItems", {}).get(table, [])
        if pending:
            time.sleep(delay)
            delay = min(2.0, delay * 2)


def purge_rest(job: PurgeJob) -> dict[str, Any]:
    """Everything else of the source: its other jobs and their work items, its request budget, its
    manifests, its secret, its part of the account's overlays, the idempotency records that mention it,
    and finally the source item."""
    settings = get_settings()
    jobs_removed = 0
    request: dict[str, Any] = {
        "TableName": settings.jobs_table,
        "IndexName": "by_source",
        "KeyConditionExpression": "data_source_uuid = :ds",
        "ExpressionAttributeValues": to_item({":ds": job.data_source_uuid}),
    }
    keys: list[dict[str, Any]] = []
    while True:
        answer = ddb().query(**request)
        for raw in answer.get("Items", []):
            item = from_item(raw)
            if item["job_id"] != job.job_id:
                keys.append({"pk": item["pk"], "sk": item["sk"]})
                keys.extend({"pk": w["pk"], "sk": w["sk"]} for w in work_items(item["job_id"]))
                jobs_removed += 1
        if "LastEvaluatedKey" not in answer:
            break
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    keys.append({"pk": f"BUDGET#{job.data_source_uuid}", "sk": "BUDGET"})
    delete_keys(settings.jobs_table, keys)
    manifests = get_manifest_store().delete_source(job.account_id, job.data_source_uuid)
    get_credential_store().delete(job.account_id, job.data_source_uuid)
    from sourcesync.services.overlays import purge_source

    overlays = purge_source(job.account_id, job.data_source_uuid)
    idempotency = _purge_idempotency(job.data_source_uuid)
    ddb().delete_item(TableName=settings.sources_table, Key=source_key(job.account_id, job.data_source_uuid))
    return {"jobs": jobs_removed, "manifests": manifests, "overlays": overlays, "idempotency_records": idempotency}


def _purge_idempotency(data_source_uuid: str) -> int:
    """Saved answers of POSTs that mention the source (they hold its uuid and settings). The table only
    holds the last 24 hours, so a filtered scan of it stays small."""
    table = get_settings().idempotency_table
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "#id",
        "FilterExpression": "contains(#data, :ds)",
        "ExpressionAttributeNames": {"#data": "data", "#id": "id"},
        "ExpressionAttributeValues": to_item({":ds": data_source_uuid}),
    }
    keys: list[dict[str, Any]] = []
    while True:
        answer = ddb().scan(**request)
        keys.extend(from_item(i) for i in answer.get("Items", []))
        if "LastEvaluatedKey" not in answer:
            break
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    delete_keys(table, keys)
    return len(keys)


def finish(job: PurgeJob, rest: dict[str, Any] | None) -> dict[str, Any]:
    items = work_items(job.job_id)
    removed: dict[str, int] = {}
    for item in items:
        for kind, count in (item.get("kinds") or {}).items():
            removed[kind] = removed.get(kind, 0) + int(count)
    kinds = {kind: {"done": count, "total": count} for kind, count in removed.items()}
    get_job_store().update(
        job.account_id,
        job.job_id,
        {
            "status": "succeeded",
            "phase": None,
            "finished_at": now_iso(),
            "progress": {"percent": 100, "eta_seconds": 0, "kinds": kinds},
            "result": {"counts": removed, "overlays_removed": [], "overlays_orphaned": [], "purged": rest or {}},
        },
    )
    delete_keys(get_settings().jobs_table, [{"pk": i["pk"], "sk": i["sk"]} for i in items])
    return {"status": "succeeded"}


def failed(job: PurgeJob, error: dict[str, Any] | None) -> dict[str, Any]:
    """A purge step kept failing: the job says so, and the scheduler restarts the purge (it resumes)."""
    get_job_store().update(
        job.account_id,
        job.job_id,
        {
            "status": "failed",
            "finished_at": now_iso(),
            "error": {
                "code": "purge_failed",
                "message": f"The purge stopped ({(error or {}).get('Error', 'error')}); it is restarted "
                "automatically and continues where it stopped.",
            },
        },
    )
    return {"status": "failed"}
