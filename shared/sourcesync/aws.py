"""Lazily created boto3 clients, for `store/` and the API's idempotency wiring (docs/architecture.md#layers).

Nothing here runs at import: the first call creates the client, so a handler's cold start pays for
boto3 only when it needs it, and tests and the local stack can point the endpoints anywhere through
the standard `AWS_ENDPOINT_URL*` environment variables before the first call.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
    session: Any = boto3.session.Session()
    return session.client(service, config=config)


def reset_clients() -> None:
    """Forget every client (tests that move endpoints call this)."""
    client.cache_clear()
