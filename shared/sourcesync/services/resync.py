"""Re-syncing a data source (SPEC 2.2): the API's side. The work itself is the re-sync state machine's."""

from __future__ import annotations

from typing import Any

from sourcesync.errors import UnprocessableError
from sourcesync.services.data_sources import live_source
from sourcesync.services.jobs import start_source_job
from sourcesync.store.accounts import Principal
from sourcesync.store.dynamo import Item
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
    from sourcesync.services.overlays import overlays_removed_by_resync

    source = _resyncable(principal, uuid)
    return {"overlays_removed": overlays_removed_by_resync(principal.account_id, source["uuid"], "resync_source")}


def start(principal: Principal, uuid: str) -> Item:
    source = _resyncable(principal, uuid)
    return start_source_job(principal.account_id, source["uuid"], "resync_source", principal.key_id)
