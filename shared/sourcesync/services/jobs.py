"""Jobs: creating one (and holding its source), starting its workflow, reading and presenting it."""

from __future__ import annotations

from typing import Any

from sourcesync.clock import now_iso
from sourcesync.config import get_settings
from sourcesync.errors import ConflictError, NotFoundError
from sourcesync.ids import is_id, new_id
from sourcesync.services.progress import job_progress
from sourcesync.store.accounts import Principal, get_account_store
from sourcesync.store.dynamo import Item
from sourcesync.store.executions import start_execution
from sourcesync.store.jobs import get_job_store
from sourcesync.store.sources import get_source_store

#: The source's status while a job of each kind runs on it.
SOURCE_STATUS_DURING = {
    "import": "importing",
    "resync_source": "resyncing",
    "resync_customer": "resyncing",
    "reprocess": "resyncing",
}
FINISHED = ("succeeded", "failed", "cancelled")


def execution_name(data_source_uuid: str, job_id: str) -> str:
    """`<source>-<job>`: within Step Functions' rule (at most 80 of letters, digits, - and _)."""
    return f"{data_source_uuid}-{job_id}"


def new_job(
    account_id: str, data_source_uuid: str, kind: str, created_by: str, customer_uuid: str | None = None
) -> Item:
    return {
        "job_id": new_id("job"),
        "account_id": account_id,
        "data_source_uuid": data_source_uuid,
        "kind": kind,
        "status": "queued",
        "phase": None,
        "customer_uuid": customer_uuid,
        "created_at": now_iso(),
        "started_at": None,
        "finished_at": None,
        "created_by": created_by,
        "progress": {"percent": 0, "eta_seconds": None, "kinds": {}},
        "result": None,
        "error": None,
    }


def start_source_job(
    account_id: str,
    data_source_uuid: str,
    kind: str,
    created_by: str,
    customer_uuid: str | None = None,
    customer_external_id: str | None = None,
) -> Item:
    """Create a job that holds the source (409 if another runs) and start its state machine."""
    job = new_job(account_id, data_source_uuid, kind, created_by, customer_uuid)
    jobs = get_job_store()
    jobs.create_holding_source(job, SOURCE_STATUS_DURING[kind])
    execution_input = {
        "job": {
            "account_id": account_id,
            "data_source_uuid": data_source_uuid,
            "job_id": job["job_id"],
            "kind": kind,
            "customer_uuid": customer_uuid,
            "customer_external_id": customer_external_id,
        }
    }
    try:
        start_execution(
            get_settings().resync_state_machine_arn, execution_name(data_source_uuid, job["job_id"]), execution_input
        )
    except Exception:
        fail_job(job, "start_failed", "The job's workflow could not be started.")
        raise
    return job


def fail_job(job: Item, code: str, message: str) -> None:
    """End a job as failed and release its source."""
    get_job_store().update(
        job["account_id"],
        job["job_id"],
        {"status": "failed", "finished_at": now_iso(), "error": {"code": code, "message": message}},
    )
    release_source(job)


def release_source(job: Item) -> None:
    """The job's source is free again: `active` once it has data, `failed` if its first import never
    committed."""
    source = get_source_store().get(job["account_id"], job["data_source_uuid"])
    if source is None:
        return
    status = "active" if source.get("committed_generation") is not None else "failed"
    get_source_store().release(job["account_id"], job["data_source_uuid"], job["job_id"], status)


def visible_job(principal: Principal, job_id: str) -> Item:
    """A job of the caller's account; 404 for others' jobs and for jobs of a deleted source
    (except the delete job itself, which stays readable). A support key sees only the jobs it started
    itself (in any account), and nothing else."""
    if not is_id(job_id, "job"):
        raise NotFoundError("No such job.")
    account_id = principal.account_id
    if principal.role == "support":
        account_id = get_account_store().started_job_account(principal, job_id) or ""
    job = get_job_store().get(account_id, job_id) if account_id else None
    if job is None or (principal.role == "support" and job.get("created_by") != principal.key_id):
        raise NotFoundError("No such job.")
    if job["kind"] != "delete_source":
        source = get_source_store().get(account_id, job["data_source_uuid"])
        if source is None or source.get("status") == "deleting":
            raise NotFoundError("No such job.")
    return job


def present_job(job: Item) -> dict[str, Any]:
    progress = job_progress(job)
    return {
        "id": job["job_id"],
        "kind": job["kind"],
        "status": job["status"],
        "phase": job.get("phase"),
        "data_source_uuid": job["data_source_uuid"],
        "customer_uuid": job.get("customer_uuid"),
        "created_at": job["created_at"],
        "started_at": job.get("started_at"),
        "finished_at": job.get("finished_at"),
        "progress": {
            "percent": int(progress.get("percent", 0)),
            "eta_seconds": progress.get("eta_seconds"),
            "kinds": progress.get("kinds", {}),
        },
        "waiting_for": _waiting_for(job),
        "cleanup": _cleanup(job),
        "result": job.get("result"),
        "error": job.get("error"),
    }


def _waiting_for(job: Item) -> dict[str, str] | None:
    """What a running job waits for and until when (`{"reason", "until"}`), or None."""
    waiting = job.get("waiting_for")
    if job["status"] in FINISHED or not isinstance(waiting, dict) or not waiting.get("reason"):
        return None
    return {"reason": str(waiting["reason"]), "until": str(waiting.get("until") or "")}


CLEANUP_STATUSES = ("pending", "running", "done")


def _cleanup(job: Item) -> dict[str, str | None] | None:
    """A switched job's clean-up of the old generation, its tail after `succeeded`: `pending` until the
    readers' grace period ends (`until`), `running` while it removes, `done`. None for other jobs."""
    cleanup = job.get("cleanup")
    if not isinstance(cleanup, dict) or cleanup.get("status") not in CLEANUP_STATUSES:
        return None
    return {"status": str(cleanup["status"]), "until": str(cleanup["until"]) if cleanup.get("until") else None}


def cancel(principal: Principal, job_id: str) -> Item:
    """Ask a running job to stop: it ends `cancelled` and changes nothing. Too late once it committed."""
    job = visible_job(principal, job_id)
    if job["status"] in FINISHED or job.get("committed"):
        raise ConflictError(
            "This job has finished or already switched the data; it can no longer be cancelled.",
            job_id=job_id,
            status=job["status"],
        )
    if job["kind"] == "delete_source":
        raise ConflictError("A delete cannot be cancelled.", job_id=job_id)
    get_job_store().request_cancel(principal.account_id, job_id)
    return get_job_store().get(principal.account_id, job_id) or job
