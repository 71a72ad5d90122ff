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

from sourcesync.clock import iso, now, now_iso, parse_iso
from sourcesync.config import get_settings
from sourcesync.pipeline.dispatch import WorkerJob
from sourcesync.pipeline.ending import end_job
from sourcesync.store import work_items
from sourcesync.store.credentials import get_credential_store
from sourcesync.store.idempotency import forget_source
from sourcesync.store.jobs import get_job_store
from sourcesync.store.manifests import get_manifest_store
from sourcesync.store.records import get_record_store, kind_of_key, partition_keys
from sourcesync.store.sources import get_source_store

DELETE_THREADS = 2
MAX_WAIT_SECONDS = 1200  # longer than a worker's 900 s Lambda timeout
PAGE = 1000
BATCH = 25


class PurgeJob(WorkerJob):
    """What the purge state machine carries."""

    running_job_id: str | None = None


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
    if work_items.read(job.job_id, "PLAN") is None:
        source = get_source_store().get(job.account_id, job.data_source_uuid) or {}
        work_items.write(job.job_id, "PLAN", {"previous_counts": source.get("counts") or {}, "planned_at": now_iso()})
    return {"partitions": partition_keys(job.data_source_uuid)}


def purge_partition(job: PurgeJob, pk: str, remaining_seconds: Callable[[], float]) -> dict[str, Any]:
    """Delete a partition's items a page of keys at a time, batches in parallel, until it is empty or
    the time budget ends. Progress (items per kind) goes to the partition's work item."""
    key_sk = f"PART#{pk}"
    progress = work_items.read(job.job_id, key_sk) or {"kinds": {}, "finished": False, "partition": pk}
    if progress["finished"]:
        return {"done": True}
    deadline = time.monotonic() + min(get_settings().fetch_budget_seconds, max(5.0, remaining_seconds() - 30.0))
    records, done = get_record_store(), False
    with ThreadPoolExecutor(DELETE_THREADS, thread_name_prefix="purge") as pool:
        while True:  # at least one page per invocation, then until the budget ends
            keys, more = records.keys_in(pk, limit=PAGE, consistent=False)
            if keys:
                list(pool.map(records.delete, [keys[i : i + BATCH] for i in range(0, len(keys), BATCH)]))
                for key in keys:
                    kind = kind_of_key(key["pk"], key["sk"])
                    progress["kinds"][kind] = progress["kinds"].get(kind, 0) + 1
                work_items.write(job.job_id, key_sk, progress)
            if not keys or (more is None and len(keys) < PAGE):
                done = True
                break
            if time.monotonic() >= deadline:
                break
    progress["finished"] = done
    work_items.write(job.job_id, key_sk, progress)
    return {"done": done}


def purge_rest(job: PurgeJob) -> dict[str, Any]:
    """Everything else of the source: its other jobs and their work items, its request budget, its
    manifests, its secret, its part of the account's overlays, the idempotency records that mention it,
    and finally the source item."""
    # lazily, for cold init: of the workers, only this step needs the manual-data logic
    from sourcesync.services.overlays import purge_source

    jobs_removed = get_job_store().delete_source_jobs(job.data_source_uuid, keep_job_id=job.job_id)
    manifests = get_manifest_store().delete_source(job.account_id, job.data_source_uuid)
    get_credential_store().delete(job.account_id, job.data_source_uuid)
    overlays = purge_source(job.account_id, job.data_source_uuid)
    idempotency = forget_source(job.data_source_uuid)
    get_source_store().delete(job.account_id, job.data_source_uuid)
    return {"jobs": jobs_removed, "manifests": manifests, "overlays": overlays, "idempotency_records": idempotency}


def finish(job: PurgeJob, rest: dict[str, Any] | None) -> dict[str, Any]:
    """The delete job succeeds with what was removed; its work items go before it says so (`ending`)."""

    def ending(stored: dict[str, Any]) -> dict[str, Any]:
        removed: dict[str, int] = {}
        for item in work_items.of_job(job.job_id):
            for kind, count in (item.get("kinds") or {}).items():
                removed[kind] = removed.get(kind, 0) + int(count)
        kinds = {kind: {"done": count, "total": count} for kind, count in removed.items()}
        return {
            "status": "succeeded",
            "phase": None,
            "waiting_for": None,
            "finished_at": now_iso(),
            "progress": {"percent": 100, "eta_seconds": 0, "kinds": kinds},
            "result": {"counts": removed, "overlays_removed": [], "overlays_orphaned": [], "purged": rest or {}},
        }

    end_job(job.account_id, job.job_id, ending, lambda: work_items.drop(job.job_id))
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
