"""The request budget every worker of a source shares: one item of the jobs table, one write per request.

It implements the connector kit's `RequestBudget`; the pipeline builds it (`services/connections.py`)
and hands it to the connector, which only reads from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sourcesync.aws import client
from sourcesync.config import get_settings
from sourcesync.connectors.kit.budget import TOKEN_EPSILON, Clock, RequestBudget, check_bucket
from sourcesync.connectors.limits import RateLimit
from sourcesync.store.jobs import budget_key

#: What a grant's update removes from an item the earlier token-bucket layout wrote (`tokens`,
#: `updated_at`, `leases`): a deployment upgraded mid-job keeps one clean item.
_OLD_ATTRIBUTES = "tokens, updated_at, leases"


class DynamoDBRequestBudget(RequestBudget):
    """A token bucket shared by every worker of a source, kept as one number in one DynamoDB item.

    The item lives in the jobs table: `pk = "BUDGET#<data source uuid>"`, `sk = "BUDGET"`, and holds `tat`,
    the bucket's *theoretical arrival time* (epoch seconds, wall clock) of the generic cell rate algorithm:
    each token granted moves it `1 / rate` seconds on, from now if it lies in the past (the bucket is full);
    `n` tokens are granted while `tat` stays within `burst / rate` seconds of now. This is the token bucket
    of `rate` and `burst` stated as one time: `burst - (tat - now) * rate` tokens are in the bucket. Any
    window of `t` seconds then holds at most `burst + rate * t` grants, at every length of window.

    One conditional `UpdateItem` grants, and it commutes with the other workers' grants, so that workers
    of one source do not make each other write twice:
    - a busy bucket (`tat` at or after now, as the worker last saw it): `SET tat = tat + n / rate` on the
      condition that `tat` is between now and `now + (burst - n) / rate`. Another worker's grant in between
      moves `tat` but leaves the condition true: both apply, whatever their order;
    - a full bucket (`tat` in the past, or no item yet): `SET tat = now + n / rate` on the condition that
      `tat` is before now.
    A refused update returns the item as it is (`ReturnValuesOnConditionCheckFailure: ALL_OLD`): the worker
    tries the other form, or is told how long to wait. A granted one returns the new `tat`
    (`ReturnValues: UPDATED_NEW`), which the worker keeps: `tat` never moves back, so what a worker last
    saw is a lower bound of the item's, and a denial computed from it is certain and costs no request. An
    uncontended grant is one write and no read.

    The item goes with the source's other items when the source is purged.
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
        #: how far one token moves the theoretical arrival time
        self.interval = 1.0 / rate
        #: how far ahead of now the theoretical arrival time may run: a full bucket's worth of tokens
        self.tolerance = self.burst / rate
        self.table_name = table_name
        self.key = {"pk": {"S": budget_key(key)["pk"]}, "sk": {"S": "BUDGET"}}
        self._client = client
        self._client_factory = client_factory
        self._clock = clock
        self._max_conflicts = max_conflicts
        self._tat: float | None = None  # the theoretical arrival time last seen (None: never seen)

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
        cost = n * self.interval
        seen = self._tat
        for _ in range(self._max_conflicts):
            now = self._clock()
            latest = now + self.tolerance - cost  # the latest `tat` at which n tokens are still there
            if seen is not None and seen > latest + TOKEN_EPSILON:
                self._tat = seen
                return seen - latest
            granted, seen = self._grant(now, cost, latest, busy=seen is not None and seen >= now)
            if granted:
                self._tat = seen
                return 0.0
        # Heavy contention: let the caller wait about one token's time and come back.
        self._tat = seen
        return self.interval

    def _grant(self, now: float, cost: float, latest: float, *, busy: bool) -> tuple[bool, float | None]:
        """One conditional update: (granted, the item's `tat` after it, or as it stands when refused)."""
        if busy:
            update, condition = "SET tat = tat + :cost", "tat BETWEEN :now AND :latest"
            values = {":cost": {"N": repr(cost)}, ":now": {"N": repr(now)}, ":latest": {"N": repr(latest)}}
        else:
            update = f"SET tat = :next REMOVE {_OLD_ATTRIBUTES}"
            condition = "attribute_not_exists(tat) OR tat < :now"
            values = {":next": {"N": repr(now + cost)}, ":now": {"N": repr(now)}}
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key=self.key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:  # botocore's ClientError, matched by code without importing botocore
            response = getattr(exc, "response", None)
            if not isinstance(response, dict):
                raise
            if response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False, _tat_of(response.get("Item"))
        return True, _tat_of(answer.get("Attributes"))


def _tat_of(item: Mapping[str, Any] | None) -> float | None:
    if not item or "tat" not in item:
        return None
    return float(item["tat"]["N"])


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
