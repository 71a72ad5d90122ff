"""A caller's data source, as every service that acts on one finds it (kept apart from `data_sources`, so
that the functions that only act on a source do not load what creating one needs)."""

from __future__ import annotations

from sourcesync.errors import NotFoundError
from sourcesync.ids import is_id
from sourcesync.store.accounts import Principal
from sourcesync.store.dynamo import Item
from sourcesync.store.sources import get_source_store

#: The kinds a source counts (its `counts`), in the order they are shown.
COUNT_KINDS = ("customers", "plans", "subscriptions", "invoices", "transactions")


def live_source(principal: Principal, uuid: str) -> Item:
    """The caller's source, or 404: unknown, another account's, or deleted — never told apart."""
    source = get_source_store().get(principal.account_id, uuid) if is_id(uuid, "ds") else None
    if source is None or source.get("status") == "deleting":
        raise NotFoundError("No such data source.")
    return source
