"""Lazily created boto3 clients, for `store/` and the API's idempotency wiring (docs/architecture.md#layers).

Nothing here runs at import: the first call creates the client, so a handler's cold start pays for
boto3 only when it needs it, and tests and the local stack can point the endpoints anywhere through
the standard `AWS_ENDPOINT_URL*` environment variables before the first call.

One client per service and process, created once even when a worker's threads ask for it at the same
time (a client costs tens of milliseconds of CPU to build). botocore's client-side parameter validation
is off: every request is built by this code, the service validates it anyway, and walking the request
against the service model was a quarter of a re-sync worker's CPU (docs/benchmarks.md). DynamoDB's client
writes BatchWriteItem's body itself (`WireBatchWrites`), byte for byte as botocore would.
"""

from __future__ import annotations

import threading
from typing import Any

_CLIENTS: dict[str, Any] = {}
_LOCK = threading.Lock()


def client(service: str) -> Any:
    found = _CLIENTS.get(service)
    if found is not None:
        return found
    with _LOCK:
        if service not in _CLIENTS:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": 5},
                max_pool_connections=32,
                parameter_validation=False,
            )
            session: Any = boto3.session.Session()
            made = session.client(service, config=config)
            if service == "dynamodb":
                made._serializer = WireBatchWrites(made._serializer)
            _CLIENTS[service] = made
        return _CLIENTS[service]


class WireBatchWrites:
    """botocore's request serializer for DynamoDB, with BatchWriteItem's body written in one `json.dumps`.

    The store hands BatchWriteItem its items already in DynamoDB's wire format (`Version.wire_item`), so
    the JSON botocore's generic serializer makes of them, walking the service model value by value, is
    the parameters themselves with every binary value in base64: 16 µs an item against 5 µs, a twentieth
    of an import's CPU. Every other operation, and everything but the body (the method, the target and
    content-type headers), comes from botocore's serializer. The bytes are botocore's own: a test
    serializes random batches both ways and compares them."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def serialize_to_request(self, parameters: dict[str, Any], operation_model: Any) -> dict[str, Any]:
        if operation_model.name != "BatchWriteItem":
            return self._inner.serialize_to_request(parameters, operation_model)  # type: ignore[no-any-return]
        import json

        serialized: dict[str, Any] = self._inner.serialize_to_request({}, operation_model)
        serialized["body"] = json.dumps(parameters, default=_base64).encode("utf-8")
        return serialized


def _base64(value: Any) -> Any:
    """What botocore's serializer makes of a value `json` cannot write: binary as base64, a set as a list."""
    if isinstance(value, bytes | bytearray):
        import base64

        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def reset_clients() -> None:
    """Forget every client (tests that move endpoints call this)."""
    with _LOCK:
        _CLIENTS.clear()
