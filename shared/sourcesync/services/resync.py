"""Re-syncing a data source: the API's side. The work itself is the re-sync state machine's
(docs/architecture.md#the-re-sync-state-machine)."""

from __future__ import annotations

from typing import Any

from sourcesync.clock import now_iso
from sourcesync.errors import ForbiddenError, NotFoundError, UnprocessableError
from sourcesync.services.audit import publish
from sourcesync.services.jobs import start_source_job
from sourcesync.services.live_sources import live_source
from sourcesync.store.accounts import Principal, get_account_store
from sourcesync.store.dynamo import Item
from sourcesync.store.sources import get_source_store
from sourcesync.systems import SYSTEMS, System

RESYNC_NOT_SUPPORTED = (
    "This data source cannot be re-synced: its data was pushed through the Import API. Delete the source and "
    "import the data again, or ask support to reprocess it."
)


def _resyncable(principal: Principal, uuid: str) -> Item:
    source = live_source(principal, uuid)
    if not SYSTEMS[System(source["system"])].resync_source:
        raise UnprocessableError("resync_not_supported", RESYNC_NOT_SUPPORTED)
    return source


def preview(principal: Principal, uuid: str) -> dict[str, Any]:
    """`?dry_run=true`: what a re-sync would remove, and nothing started."""
    from sourcesync.services.overlays import overlays_removed_by_resync  # lazily: cold init (dry runs only)

    source = _resyncable(principal, uuid)
    return {"overlays_removed": overlays_removed_by_resync(principal.account_id, source["uuid"], "resync_source")}


def start(principal: Principal, uuid: str) -> Item:
    source = _resyncable(principal, uuid)
    return start_source_job(principal.account_id, source["uuid"], "resync_source", principal.key_id)


def reprocess(principal: Principal, uuid: str) -> Item:
    """A `support` key rebuilds a source's derived data from its stored records, in any account; the
    call is audited. Member keys get 403 (the route is for operators)."""

    if principal.role != "support":
        raise ForbiddenError("Only a support key may reprocess a data source.")
    source = get_source_store().find(uuid)
    if source is None or source.get("status") == "deleting":
        raise NotFoundError("No such data source.")
    job = start_source_job(source["account_id"], uuid, "reprocess", principal.key_id)
    record = {
        "action": "reprocess",
        "account_id": source["account_id"],
        "data_source_uuid": uuid,
        "key_id": principal.key_id,
        "key_account_id": principal.account_id,
        "role": principal.role,
        "at": now_iso(),
        "job_id": job["job_id"],
    }
    # the same audit path as a delete; and a pointer in the support key's account, so that the key can
    # read the job it started (GET /v1/jobs/{id}) and nothing else of the source's account
    get_account_store().put_started_job(principal, source["account_id"], job["job_id"], record["at"])
    publish("DataSourceReprocessed", source["account_id"], f"{record['at']}#{job['job_id']}", record)
    return job


def start_customer_resync(principal: Principal, uuid: str, customer_uuid: str) -> Item:
    """Re-sync one customer of a source (docs/architecture.md#concepts): 404 for a customer the source does not show."""
    # lazily: cold init (the re-sync function, which imports this module too, never reads records)
    from sourcesync.records import CustomerRecord
    from sourcesync.services.customers import view_of
    from sourcesync.store.records import get_record_store

    source = live_source(principal, uuid)
    if not SYSTEMS[System(source["system"])].resync_customer:
        raise UnprocessableError("resync_not_supported", RESYNC_NOT_SUPPORTED)
    view = view_of(source)
    records = get_record_store().customer(uuid, customer_uuid, view) if view else []
    customer = next((r.record for r in records if isinstance(r.record, CustomerRecord)), None)
    if customer is None:
        raise NotFoundError("No such customer in this data source.")
    return start_source_job(
        principal.account_id, uuid, "resync_customer", principal.key_id, customer_uuid, customer.external_id
    )
