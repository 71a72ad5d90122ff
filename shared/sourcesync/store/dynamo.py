"""Item (de)serialisation and the few DynamoDB calls every store shares."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sourcesync.aws import client

Item = dict[str, Any]


@lru_cache(maxsize=1)
def _codecs() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer  # lazily: boto3 costs cold init

    return TypeSerializer(), TypeDeserializer()


def _plain(value: Any) -> Any:
    if type(value).__name__ == "Binary":  # boto3.dynamodb.types.Binary
        return bytes(value.value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    return value


def _wire(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def to_item(values: Item) -> dict[str, Any]:
    """Python values -> DynamoDB wire format (floats become Decimals)."""
    serializer, _ = _codecs()
    return {k: serializer.serialize(_wire(v)) for k, v in values.items()}


def to_value(value: Any) -> dict[str, Any]:
    serializer, _ = _codecs()
    return serializer.serialize(_wire(value))  # type: ignore[no-any-return]


def from_item(item: dict[str, Any]) -> Item:
    """DynamoDB wire format -> plain Python values (integral numbers become ints)."""
    _, deserializer = _codecs()
    return {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}


def ddb() -> Any:
    return client("dynamodb")


def is_condition_failure(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


def pages(request: dict[str, Any], operation: str = "query") -> Iterator[dict[str, Any]]:
    """Every answer of a Query (or a Scan: `operation="scan"`), following `LastEvaluatedKey` to the end.
    The one paging loop of the stores; `request` itself is left as it was."""
    request = dict(request)
    call = getattr(ddb(), operation)
    while True:
        answer: dict[str, Any] = call(**request)
        yield answer
        if "LastEvaluatedKey" not in answer:
            return
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def all_items(request: dict[str, Any], operation: str = "query") -> Iterator[Item]:
    """Every item a Query (or Scan) finds, over all its pages, as plain values."""
    for answer in pages(request, operation):
        yield from (from_item(i) for i in answer.get("Items", []))


def delete_keys(table: str, keys: list[dict[str, Any]]) -> None:
    """Delete items by key with BatchWriteItem, 25 a request, retrying unprocessed ones with backoff."""
    for start in range(0, len(keys), 25):
        pending = [{"DeleteRequest": {"Key": to_item(k)}} for k in keys[start : start + 25]]
        delay = 0.05
        while pending:
            pending = ddb().batch_write_item(RequestItems={table: pending}).get("UnprocessedItems", {}).get(table, [])
            if pending:
                time.sleep(delay)
                delay = min(2.0, delay * 2)
