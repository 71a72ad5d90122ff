"""Lazily created boto3 clients, for `store/` and the API's idempotency wiring (docs/architecture.md#layers).

Nothing here runs at import: the first call creates the client, so a handler's cold start pays for
boto3 only when it needs it, and tests and the local stack can point the endpoints anywhere through
the standard `AWS_ENDPOINT_URL*` environment variables before the first call.

One client per service and process, created once even when a worker's threads ask for it at the same
time (a client costs tens of milliseconds of CPU to build). botocore's client-side parameter validation
is off: every request is built by this code, the service validates it anyway, and walking the request
against the service model was a quarter of a re-sync worker's CPU (docs/benchmarks.md).
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
            _CLIENTS[service] = session.client(service, config=config)
        return _CLIENTS[service]


def reset_clients() -> None:
    """Forget every client (tests that move endpoints call this)."""
    with _LOCK:
        _CLIENTS.clear()
