"""The per-account request limit on DynamoDB Local: what one request costs, and the window's arithmetic.

The API function's handler runs in this process (as on Lambda), and two botocore hooks on the product's
shared DynamoDB client count every call and ask each for its consumed capacity.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from sourcesync.aws import client
from sourcesync.config import get_settings
from sourcesync.errors import RateLimitedError
from sourcesync.services import accounts
from sourcesync.services.rate_limit import count_request, window_start

pytestmark = pytest.mark.integration

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@dataclass
class Calls:
    """DynamoDB calls made through the product's client: (operation, table), and the capacity units each
    successful write reports (DynamoDB Local reports none for a failed condition; AWS bills it one unit)."""

    made: list[tuple[str, str]] = field(default_factory=list)
    write_units: list[float] = field(default_factory=list)

    def ask_for_capacity(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"
        self.made.append((model.name, str(params.get("TableName", ""))))

    def record(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        capacity = parsed.get("ConsumedCapacity")
        if model.name in WRITES and isinstance(capacity, dict):
            self.write_units.append(float(capacity.get("CapacityUnits") or 0))

    def clear(self) -> None:
        self.made.clear()
        self.write_units.clear()

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.made if call[0] in WRITES]


@pytest.fixture
def limit(dynamodb_local: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Three requests per hour-long window (the window does not end during the test)."""
    monkeypatch.setenv("RATE_LIMIT_REQUESTS", "3")
    monkeypatch.setenv("RATE_LIMIT_WINDOW_SECONDS", "3600")
    get_settings.cache_clear()
    yield 3
    get_settings.cache_clear()


@pytest.fixture
def calls(dynamodb_local: Any) -> Iterator[Calls]:
    seen = Calls()
    events = client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb.*", seen.ask_for_capacity, unique_id="rate-limit-test-ask")
    events.register("after-call.dynamodb.*", seen.record, unique_id="rate-limit-test-count")
    yield seen
    events.unregister("provide-client-params.dynamodb.*", unique_id="rate-limit-test-ask")
    events.unregister("after-call.dynamodb.*", unique_id="rate-limit-test-count")


class _Context:
    function_name = "sourcesync-local-ApiFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sourcesync-local-ApiFunction"
    aws_request_id = "rate-limit-test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def list_sources(api_key: str | None) -> dict[str, Any]:
    """GET /v1/data_sources through the API function's handler, as API Gateway invokes it."""
    from functions.api.app import handler

    path = "/v1/data_sources"
    event = {
        "version": "2.0",
        "routeKey": "GET /v1/data_sources",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"authorization": f"Bearer {api_key}"} if api_key else {},
        "requestContext": {
            "http": {"method": "GET", "path": path, "sourceIp": "127.0.0.1", "protocol": "HTTP/1.1"},
            "requestId": str(uuid.uuid4()),
            "stage": "$default",
            "routeKey": "GET /v1/data_sources",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }
    answer: dict[str, Any] = handler(event, _Context())
    return answer


def test_a_request_costs_one_small_write_counted_or_refused(limit: int, calls: Calls) -> None:
    # Given an account that has not called the API yet
    key = accounts.create_account("metered")
    table = get_settings().idempotency_table
    for number in range(1, limit + 2):
        calls.clear()
        # When it lists its data sources (a route that writes nothing of its own)
        answer = list_sources(key.api_key)
        # Then the limit made exactly one write, the counter's UpdateItem, of one write unit at most; the only
        # other write is the key's last use, stamped on the first request (at most once a minute per key)
        last_use = [("UpdateItem", get_settings().accounts_table)] if number == 1 else []
        assert calls.writes == [*last_use, ("UpdateItem", table)], calls.made
        assert all(units <= 1.0 for units in calls.write_units), calls.write_units
        assert answer["statusCode"] == (200 if number <= limit else 429), answer
        counted = 1 if number <= limit else 0  # counted, or refused by its condition (no write unit)
        assert len(calls.write_units) == counted + len(last_use)
    # and the refused request is the documented answer
    body = json.loads(answer["body"])
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["request_id"]
    assert 1 <= int(answer["headers"]["Retry-After"]) <= 3600


def test_requests_without_a_valid_key_are_not_counted(limit: int, calls: Calls) -> None:
    # Given an account that used up its window
    key = accounts.create_account("flooded")
    for _ in range(limit):
        assert list_sources(key.api_key)["statusCode"] == 200
    assert list_sources(key.api_key)["statusCode"] == 429
    calls.clear()
    # When someone calls without a key, or with a wrong one
    assert list_sources(None)["statusCode"] == 401
    assert list_sources("ssk_" + "x" * 43)["statusCode"] == 401
    # Then nothing was written, and the answer is 401 (not 429: no account is known)
    assert calls.writes == []
    # and another account of the same deployment is not affected
    other = accounts.create_account("neighbour")
    assert list_sources(other.api_key)["statusCode"] == 200


def test_the_window_ends_when_retry_after_says(limit: int) -> None:
    # Given an account's window, from its start
    account_id = accounts.create_account("windowed").account_id
    window = get_settings().rate_limit_window_seconds
    start = window_start(account_id, 2_000_000_000.0, window)
    for offset in range(limit):
        count_request(account_id, now=start + offset)
    # When one more request comes 100.5 s into the window
    with pytest.raises(RateLimitedError) as refused:
        count_request(account_id, now=start + 100.5)
    # Then it is refused until the window's end, rounded up to whole seconds
    assert refused.value.retry_after_seconds == math.ceil(window - 100.5)
    with pytest.raises(RateLimitedError):
        count_request(account_id, now=start + window - 0.01)
    # and the next window counts afresh
    for _ in range(limit):
        count_request(account_id, now=start + window)


def test_windows_of_accounts_are_offset_but_fixed_for_each() -> None:
    starts = {window_start(f"acct_{n}", 1_000_000.0, 60) for n in range(20)}
    assert len(starts) > 1  # the accounts' windows do not all reset on the same second
    for n in range(20):
        start = window_start(f"acct_{n}", 1_000_000.0, 60)
        assert start <= 1_000_000.0 < start + 60
        assert window_start(f"acct_{n}", start + 59.9, 60) == start
        assert window_start(f"acct_{n}", start + 60, 60) == start + 60
