"""Count DynamoDB requests and consumed capacity of everything the product does in this process.

The product's handlers (the API's and the state machines' workers) all run in this process on the local
stack and share one boto3 DynamoDB client (`sourcesync.aws.client`). Two botocore event hooks on that client
ask every call for `ReturnConsumedCapacity=TOTAL` and add up what DynamoDB Local reports.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


@dataclass
class Reading:
    requests: Counter[str] = field(default_factory=Counter)
    write_units: float = 0.0
    read_units: float = 0.0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "total_requests": self.total_requests,
            "write_units": round(self.write_units, 1),
            "read_units": round(self.read_units, 1),
        }


class DynamoMeter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reading = Reading()
        self._installed = False

    def install(self) -> DynamoMeter:
        if not self._installed:
            from sourcesync.aws import client

            events = client("dynamodb").meta.events
            events.register("provide-client-params.dynamodb.*", self._ask_for_capacity)
            events.register("after-call.dynamodb.*", self._count)
            self._installed = True
        return self

    def reset(self) -> Reading:
        with self._lock:
            previous, self.reading = self.reading, Reading()
        return previous

    def _ask_for_capacity(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in WRITES or model.name in READS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _count(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity")
        units = 0.0
        for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            units += float(entry.get("CapacityUnits", 0.0))
        with self._lock:
            self.reading.requests[model.name] += 1
            if model.name in WRITES:
                self.reading.write_units += units
            else:
                self.reading.read_units += units
