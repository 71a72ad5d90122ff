"""The request budget every worker of one source shares: a token bucket in one item of the jobs table.

It implements the connector kit's `RequestBudget`; the pipeline builds it (`services/connections.py`)
and hands it to the connector, which only reads from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sourcesync.aws import client
from sourcesync.config import get_settings
from sourcesync.connectors.kit.budget import TOKEN_EPSILON, Clock, RequestBudget, check_bucket
from sourcesync.connectors.limits import RateLimit
from sourcesync.store.jobs import budget_key


@dataclass(frozen=True)
class _BucketState:
    tokens: float
    tokens_raw: str  # the stored numbers as DynamoDB returned them, for the write's condition
    updated_raw: str | None  # None: no item yet


class DynamoDBRequestBudget(RequestBudget):
    """A token bucket kept in one DynamoDB item, shared by every worker of a source.

    The item lives in the jobs table: `pk = "BUDGET#<data source uuid>"`, `sk = "BUDGET"`, with
    `tokens` and `updated_at` (epoch seconds, wall clock). Each grant is one conditional write: refill
    the tokens by `elapsed * rate` (at most `burst`), take `n`, and write the result on the condition that
    `updated_at` and `tokens` are still the values read. (The timestamp alone is not enough: a worker
    whose clock lags keeps `updated_at` as it was, `max(now, updated_at)`, so that time never runs
    backwards; within one timestamp, every grant lowers `tokens`.) A lost race
    (`ConditionalCheckFailedException`) returns the item's current values
    (`ReturnValuesOnConditionCheckFailure`) and the worker tries again.

    The last state seen is kept between calls, so an uncontended grant costs one write and no read; a
    denial computed from it costs nothing, because other workers only ever take tokens, which makes the
    cached view an upper bound of what is left. The item goes with the source's other items when the
    source is purged.
    """

    def __init__(
        self,
        table_name: str,
        key: str,
        rate: float,
        burst: float | None = None,
        *,
        client: Any = None,
        client_factory: Callable[[], Any] | None = None,
        clock: Clock = time.time,
        max_conflicts: int = 25,
    ) -> None:
        self.rate = rate
        self.burst = check_bucket(rate, burst)
        self.table_name = table_name
        self.key = {"pk": {"S": budget_key(key)["pk"]}, "sk": {"S": "BUDGET"}}
        self._client = client
        self._client_factory = client_factory
        self._clock = clock
        self._max_conflicts = max_conflicts
        self._state: _BucketState | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            if self._client_factory is not None:
                self._client = self._client_factory()
            else:
                import boto3  # lazily, and from the environment at first use (tests move the endpoint)

                self._client = boto3.client("dynamodb")
        return self._client

    def acquire(self, n: int = 1) -> float:
        if n > self.burst:
            raise ValueError(f"cannot take {n} tokens from a bucket of {self.burst}")
        for _ in range(self._max_conflicts):
            state = self._state if self._state is not None else self._read()
            now = self._clock()
            if state.updated_raw is None:
                available = self.burst
                new_updated = now
            else:
                updated = float(state.updated_raw)
                available = min(self.burst, state.tokens + max(0.0, now - updated) * self.rate)
                new_updated = max(now, updated)
            if available + TOKEN_EPSILON < n:
                self._state = state
                return (n - available) / self.rate
            left = max(0.0, available - n)
            granted, current = self._write(left, new_updated, state)
            if granted:
                self._state = _BucketState(left, repr(left), repr(new_updated))
                return 0.0
            self._state = current
        # Heavy contention: let the caller wait about one token's time and come back.
        return 1.0 / self.rate

    def _read(self) -> _BucketState:
        answer = self.client.get_item(TableName=self.table_name, Key=self.key, ConsistentRead=True)
        return self._parse(answer.get("Item"))

    def _parse(self, item: Mapping[str, Any] | None) -> _BucketState:
        if not item or "updated_at" not in item or "tokens" not in item:
            return _BucketState(self.burst, repr(self.burst), None)
        tokens_raw = item["tokens"]["N"]
        return _BucketState(float(tokens_raw), tokens_raw, item["updated_at"]["N"])

    def _write(self, tokens: float, updated: float, previous: _BucketState) -> tuple[bool, _BucketState | None]:
        values = {":t": {"N": repr(tokens)}, ":u": {"N": repr(updated)}}
        try:
            if previous.updated_raw is None:
                self.client.put_item(
                    TableName=self.table_name,
                    Item={**self.key, "tokens": values[":t"], "updated_at": values[":u"]},
                    ConditionExpression="attribute_not_exists(pk)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            else:
                self.client.update_item(
                    TableName=self.table_name,
                    Key=self.key,
                    UpdateExpression="SET tokens = :t, updated_at = :u",
                    ConditionExpression="updated_at = :prev_u AND tokens = :prev_t",
                    ExpressionAttributeValues={
                        **values,
                        ":prev_u": {"N": previous.updated_raw},
                        ":prev_t": {"N": previous.tokens_raw},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except Exception as exc:  # botocore's ClientError, matched by code without importing botocore
            response = getattr(exc, "response", None)
            if not isinstance(response, dict):
                raise
            if response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            item = response.get("Item")
            return False, (self._parse(item) if item else None)
        return True, None


def shared_budget(
    rate_limit: RateLimit,
    requests_per_second: float | None,
    *,
    table_name: str,
    data_source_uuid: str,
    client: Any = None,
    client_factory: Callable[[], Any] | None = None,
) -> DynamoDBRequestBudget:
    """The budget of one source, `pk = BUDGET#<data_source_uuid>`, at the provider's rate or the
    source's `requests_per_second`."""
    limit = rate_limit.with_rate(requests_per_second)
    return DynamoDBRequestBudget(
        table_name,
        data_source_uuid,
        limit.requests_per_second,
        limit.burst,
        client=client,
        client_factory=client_factory,
    )


def source_budget(
    rate_limit: RateLimit, requests_per_second: float | None, data_source_uuid: str
) -> DynamoDBRequestBudget:
    """The budget every worker of a deployed source shares: `shared_budget` in the jobs table."""
    return shared_budget(
        rate_limit,
        requests_per_second,
        table_name=get_settings().jobs_table,
        data_source_uuid=data_source_uuid,
        client_factory=lambda: client("dynamodb"),
    )
