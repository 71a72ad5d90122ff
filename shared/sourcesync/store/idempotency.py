"""The API's idempotency records (the table Powertools' idempotency utility writes): forgetting a source's."""

from __future__ import annotations

from typing import Any

from sourcesync.config import get_settings
from sourcesync.store.dynamo import all_items, delete_keys, to_item


def forget_source(data_source_uuid: str) -> int:
    """Delete the saved answers of POSTs that mention the source (they hold its uuid and settings). The
    table only holds the last 24 hours, so a filtered scan of it stays small. Returns how many went."""
    table = get_settings().idempotency_table
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "#id",
        "FilterExpression": "contains(#data, :ds)",
        "ExpressionAttributeNames": {"#data": "data", "#id": "id"},
        "ExpressionAttributeValues": to_item({":ds": data_source_uuid}),
    }
    keys = list(all_items(request, "scan"))
    delete_keys(table, keys)
    return len(keys)
