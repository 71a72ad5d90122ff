"""Overlays (manual data), in the sources table under their own key space, keyed by the source's natural
keys, so that re-syncs never touch them by accident
(docs/architecture.md#manual-data-overlays-and-the-policy-matrix).

``pk=OV#<account_id>``: ``sk=O#<overlay id>`` one item per overlay, and ``sk=VERSION`` a counter that every
write of the account's overlays moves on. A write is one transaction: the counter as it was read (so two
racing writes cannot both pass a check such as "no overlapping MRR edit" or "no merge cycle"), and, for
every data source it touches, a condition that the source is live and runs no job (overlay writes while a
re-sync runs are refused, so the matrix step never races a user's edit: docs/architecture.md#concepts). Overlays are
made by hand, so an account has few of them: readers load them in one Query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sourcesync.config import get_settings
from sourcesync.overlays import Overlay
from sourcesync.store.dynamo import all_items, ddb, is_condition_failure, to_item
from sourcesync.store.sources import source_key

MAX_TRANSACTION = 100


class OverlaysChangedError(Exception):
    """Another write changed the account's overlays since they were read: read again and retry."""


class SourceBusyError(Exception):
    """A touched source runs a job or is gone."""

    def __init__(self, data_source_uuid: str) -> None:
        super().__init__(data_source_uuid)
        self.data_source_uuid = data_source_uuid


@dataclass(frozen=True)
class Snapshot:
    overlays: list[Overlay]
    version: int


def _key(account_id: str, sk: str) -> dict[str, Any]:
    return to_item({"pk": f"OV#{account_id}", "sk": sk})


def _item(account_id: str, overlay: Overlay) -> dict[str, Any]:
    return to_item({"pk": f"OV#{account_id}", "sk": f"O#{overlay.id}", **overlay.to_item()})


class OverlayStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def snapshot(self, account_id: str) -> Snapshot:
        """Every overlay of the account and the counter, strongly consistent (one Query, paginated)."""
        overlays, version = [], 0
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": f"OV#{account_id}"}),
            "ConsistentRead": True,
        }
        for item in all_items(request):
            if item["sk"] == "VERSION":
                version = int(item["version"])
            elif item["sk"].startswith("O#"):
                overlays.append(Overlay.from_item(item))
        return Snapshot(overlays, version)

    def write(
        self,
        account_id: str,
        read_version: int,
        puts: Iterable[Overlay] = (),
        deletes: Iterable[str] = (),
        idle_sources: Iterable[str] = (),
    ) -> None:
        """Put and delete overlays in one transaction, if the counter is still `read_version` and every
        source of `idle_sources` is live and runs no job."""
        settings = get_settings()
        sources = sorted(set(idle_sources))
        items: list[dict[str, Any]] = [
            {
                "ConditionCheck": {
                    "TableName": settings.sources_table,
                    "Key": source_key(account_id, uuid),
                    "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(current_job_id) "
                    "AND #status <> :deleting",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": to_item({":deleting": "deleting"}),
                }
            }
            for uuid in sources
        ]
        items.append(
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _key(account_id, "VERSION"),
                    "UpdateExpression": "SET version = :next",
                    "ConditionExpression": "attribute_not_exists(version) OR version = :read",
                    "ExpressionAttributeValues": to_item({":next": read_version + 1, ":read": read_version}),
                }
            }
        )
        items += [{"Put": {"TableName": self.table, "Item": _item(account_id, o)}} for o in puts]
        items += [{"Delete": {"TableName": self.table, "Key": _key(account_id, f"O#{i}")}} for i in deletes]
        if len(items) > MAX_TRANSACTION:
            raise ValueError(f"An overlay write may touch at most {MAX_TRANSACTION} overlays and sources.")
        try:
            ddb().transact_write_items(TransactItems=items)
        except Exception as error:
            if not is_condition_failure(error):
                raise
            reasons = getattr(error, "response", {}).get("CancellationReasons") or []
            for uuid, reason in zip(sources, reasons, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed":
                    raise SourceBusyError(uuid) from None
            raise OverlaysChangedError() from None


def get_overlay_store() -> OverlayStore:
    return OverlayStore(get_settings().sources_table)
