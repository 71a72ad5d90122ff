"""The request budget every worker of one source shares: a token bucket in one item of the jobs table.

It implements the connector kit's `RequestBudget`; the pipeline builds it (`services/connections.py`)
and hands it to the connector, which only reads from it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sourcesync.aws import client
from sourcesync.config import get_settings
from sourcesync.connectors.kit.budget import TOKEN_EPSILON, Clock, RequestBudget, check_bucket
from sourcesync.connectors.limits import RateLimit
from sourcesync.store.jobs import budget_key

#: How long a worker may hold tokens it took in a batch (a lease) before they expire unspent.
LEASE_SECONDS = 1.0
#: The shortest life of a batch (a worker that spends its tokens at once frees the bucket's room soon).
MIN_LEASE_SECONDS = 0.05
#: The share of the rate set aside for tokens held in leases: the bucket refills at `rate * (1 - share)`,
#: so that what workers hold plus what the bucket hands out in any one second stays within burst + rate.
HOLD_SHARE = 0.05


@dataclass(frozen=True)
class _BucketState:
    tokens: float
    tokens_raw: str  # the stored numbers as DynamoDB returned them, for the write's condition
    updated_raw: str | None  # None: no item yet
    leases: tuple[tuple[float, int], ...] = ()  # (expires at, tokens) of the batches granted recently


@dataclass
class _Lease:
    tokens: int  # left to spend
    granted: int
    start: float  # the holder's clock, before the write that granted it
    expires: float


class DynamoDBRequestBudget(RequestBudget):
    """A token bucket kept in one DynamoDB item, shared by every worker of a source, granted in batches.

    The item lives in the jobs table: `pk = "BUDGET#<data source uuid>"`, `sk = "BUDGET"`, with `tokens`,
    `updated_at` (epoch seconds, wall clock) and `leases` (the unexpired batches: `"<expires at>:<tokens>
    ..."`). Each grant is one conditional write: refill the tokens by `elapsed * refill rate` (within the
    room the batches leave at each moment), take them, and write the result on the condition that
    `updated_at` and `tokens` are still the values read. (The timestamp alone is not enough: a worker
    whose clock lags keeps `updated_at` as it was, `max(now, updated_at)`, so that time never runs
    backwards; within one timestamp, every grant lowers `tokens`.) A lost race
    (`ConditionalCheckFailedException`) returns the item's current values
    (`ReturnValuesOnConditionCheckFailure`) and the worker tries again.

    Batches: a worker asks for as many tokens as it spent in its last batch's life (doubling while it
    spends them all, shrinking to what it spent when some expired), for a life of twice the time they
    would take at its last pace (at most `LEASE_SECONDS`), and at most a quarter of what the bucket and
    the leases may hold together; all the unexpired batches together hold at most half of it. A worker
    spends its batch locally during that life; what is left then expires (returning it would cost the
    write that batching saves). So that held tokens cannot pile on top of a refilled bucket, the item
    counts them: the bucket holds at most `burst + hold - leased` tokens at any moment, where
    `hold = rate * HOLD_SHARE` and `leased` is the sum of the batches unexpired then, and it refills at
    `rate - hold`. Within any second, the requests sent are at most what was held at its start, plus what
    the bucket held then, plus one second of refill: `leased + (burst + hold - leased) + rate - hold =
    burst + rate`, and over `t >= 1` seconds at most `burst + rate * t` (over a shorter `t`, at most
    `burst + hold + rate * t`). Since the batches hold at most half of the room, the bucket keeps the
    other half and the flow of single tokens never stops. A single token (a batch of one) is spent at
    once and is not counted as held.

    The last state seen is kept between calls, so an uncontended grant costs one write and no read; a
    denial computed from it costs nothing, because other workers only ever take tokens or add leases,
    which makes the cached view an upper bound of what is left. The item goes with the source's other
    items when the source is purged.
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
        lease_seconds: float = LEASE_SECONDS,
        hold_share: float = HOLD_SHARE,
    ) -> None:
        self.rate = rate
        self.burst = check_bucket(rate, burst)
        if not 0 <= hold_share < 1:
            raise ValueError("hold_share must be in [0, 1)")
        self.hold = rate * hold_share
        self.refill_rate = rate - self.hold
        self.lease_seconds = lease_seconds
        #: the largest batch: a quarter of what the bucket and the leases may hold together, so that a
        #: worker's next batch fits beside its last one while that one's entry has not expired
        self.max_batch = max(1, math.floor((self.burst + self.hold) / 4))
        self.table_name = table_name
        self.key = {"pk": {"S": budget_key(key)["pk"]}, "sk": {"S": "BUDGET"}}
        self._client = client
        self._client_factory = client_factory
        self._clock = clock
        self._max_conflicts = max_conflicts
        self._state: _BucketState | None = None
        self._lease: _Lease | None = None
        self._batch = 1
        self._life = lease_seconds  # the next batch's life: what the last one needed, twice over

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
        if self._spend_leased(n):
            return 0.0
        want = max(n, self._batch)
        for _ in range(self._max_conflicts):
            state = self._state if self._state is not None else self._read()
            now = self._clock()
            leases = tuple(lease for lease in state.leases if lease[0] > now)
            leased = sum(tokens for _, tokens in leases)
            capacity = max(0.0, self.burst + self.hold - leased)
            if state.updated_raw is None:
                available = min(self.burst, capacity)
                new_updated = now
            else:
                updated = float(state.updated_raw)
                available = self._refill(state, updated, now)
                new_updated = max(now, updated)
            if available + TOKEN_EPSILON < n:
                self._state = state
                return (n - available) / self.refill_rate
            # leases hold at most half of what bucket and leases may hold together: the bucket keeps room
            # to gather tokens while the workers' writes are under way, and single grants keep flowing
            room = math.floor((self.burst + self.hold) / 2 - leased + TOKEN_EPSILON)
            batch = min(want, math.floor(available + TOKEN_EPSILON), room)
            granted = batch if batch >= 2 and batch >= n else n
            if granted > n:
                leases = (*leases, (new_updated + self._life, granted))
            left = max(0.0, available - granted)
            ok, current = self._write(left, new_updated, leases, state)
            if ok:
                self._state = _BucketState(left, repr(left), repr(new_updated), leases)
                if granted > n:
                    self._lease = _Lease(granted - n, granted, now, now + self._life)
                elif want == n:  # a single token because one was asked for: ask for two next time
                    self._batch = min(self.max_batch, 2)
                return 0.0
            self._state = current
        # Heavy contention: let the caller wait about one token's time and come back.
        return 1.0 / self.refill_rate

    def _refill(self, state: _BucketState, updated: float, now: float) -> float:
        """The tokens in the bucket at `now`: refilled since `updated`, never above the room the batches
        unexpired at each moment leave (a batch expiring does not let the bucket hold, at once, what it
        could not gather while the batch was held)."""
        tokens, since = state.tokens, updated
        leased = sum(count for expires, count in state.leases if expires > since)
        for expires, count in sorted(state.leases):
            if expires <= since:
                continue
            if expires >= now:
                break
            tokens = min(self.burst + self.hold - leased, tokens + (expires - since) * self.refill_rate)
            since, leased = expires, leased - count
        return max(0.0, min(self.burst + self.hold - leased, tokens + max(0.0, now - since) * self.refill_rate))

    def _spend_leased(self, n: int) -> bool:
        """Spend `n` of the tokens this worker holds, if it holds them; size the next batch."""
        lease = self._lease
        if lease is None:
            return False
        now = self._clock()
        expired = now >= lease.expires
        if not expired and lease.tokens >= n:
            lease.tokens -= n
            return True
        self._lease = None
        if expired and lease.tokens > 0:
            self._batch = max(1, lease.granted - lease.tokens)  # some expired: ask for what was spent
            self._life = self.lease_seconds
        else:
            # all spent in time: ask for twice as many, for twice the time they would take at this pace
            self._batch = min(self.max_batch, lease.granted * 2)
            per_token = (now - lease.start) / lease.granted
            self._life = min(self.lease_seconds, max(MIN_LEASE_SECONDS, 2 * per_token * self._batch))
        return False

    def _read(self) -> _BucketState:
        answer = self.client.get_item(TableName=self.table_name, Key=self.key, ConsistentRead=True)
        return self._parse(answer.get("Item"))

    def _parse(self, item: Mapping[str, Any] | None) -> _BucketState:
        if not item or "updated_at" not in item or "tokens" not in item:
            return _BucketState(self.burst, repr(self.burst), None)
        tokens_raw = item["tokens"]["N"]
        leases = tuple(
            (float(expires), int(tokens))
            for expires, tokens in (entry.split(":") for entry in item.get("leases", {}).get("S", "").split())
        )
        return _BucketState(float(tokens_raw), tokens_raw, item["updated_at"]["N"], leases)

    def _write(
        self, tokens: float, updated: float, leases: tuple[tuple[float, int], ...], previous: _BucketState
    ) -> tuple[bool, _BucketState | None]:
        values = {
            ":t": {"N": repr(tokens)},
            ":u": {"N": repr(updated)},
            ":l": {"S": " ".join(f"{expires!r}:{count}" for expires, count in leases)},
        }
        try:
            if previous.updated_raw is None:
                self.client.put_item(
                    TableName=self.table_name,
                    Item={**self.key, "tokens": values[":t"], "updated_at": values[":u"], "leases": values[":l"]},
                    ConditionExpression="attribute_not_exists(pk)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            else:
                self.client.update_item(
                    TableName=self.table_name,
                    Key=self.key,
                    UpdateExpression="SET tokens = :t, updated_at = :u, leases = :l",
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
