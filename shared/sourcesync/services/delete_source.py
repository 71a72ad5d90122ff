"""Erasing a data source (docs/architecture.md#concepts, "Erase"): the API's side.

The delete itself is one conditional write on the source item (status `deleting`): from that write on,
every read treats the source and all of its data as gone, whatever its size, and nothing can commit
into it. The physical purge runs afterwards in the purge state machine.
"""

from __future__ import annotations

from typing import Any

from sourcesync.clock import now_iso
from sourcesync.errors import NotFoundError
from sourcesync.services.audit import publish
from sourcesync.services.jobs import new_job
from sourcesync.services.live_sources import COUNT_KINDS, live_source
from sourcesync.services.purges import PURGE_SHARD, start_purge
from sourcesync.store.accounts import Principal
from sourcesync.store.dynamo import Item
from sourcesync.store.jobs import get_job_store


def _counts(source: Item) -> dict[str, int]:
    stored = source.get("counts") or {}
    return {kind: int(stored.get(kind, 0)) for kind in COUNT_KINDS}


def preview(principal: Principal, uuid: str) -> dict[str, Any]:
    """`?dry_run=true`: what a delete would erase, and nothing erased."""
    from sourcesync.services.overlays import overlays_of_source  # lazily: cold init (dry runs only)

    source = live_source(principal, uuid)
    return {"counts": _counts(source), "overlays_affected": overlays_of_source(principal.account_id, uuid)}


def delete(principal: Principal, uuid: str) -> Item:
    """Mark the source deleted (one conditional write, with the job's creation), audit, start the purge."""
    source = live_source(principal, uuid)
    job = new_job(principal.account_id, uuid, "delete_source", principal.key_id)
    job.update(status="queued", phase="purging", running_job_id=source.get("current_job_id"))
    deleted_at = now_iso()
    if not get_job_store().create_deleting_source(job, deleted_at, PURGE_SHARD):
        raise NotFoundError("No such data source.")
    audit(principal, source, job, deleted_at)
    start_purge(job)
    return job


def audit(principal: Principal, source: Item, job: Item, deleted_at: str) -> None:
    """Every delete leaves an audit record: a structured log line, an EventBridge event on the audit bus,
    and an item of the account's (which outlives the source). No secret in any of them."""
    record = {
        "action": "delete_source",
        "account_id": principal.account_id,
        "data_source_uuid": source["uuid"],
        "data_source_name": source["name"],
        "system": source["system"],
        "key_id": principal.key_id,
        "role": principal.role,
        "at": deleted_at,
        "job_id": job["job_id"],
        "counts": _counts(source),
    }
    publish("DataSourceDeleted", principal.account_id, f"{deleted_at}#{job['job_id']}", record)
