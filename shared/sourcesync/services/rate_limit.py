"""The per-account request limit of the HTTP API: each account may make `rate_limit_requests` requests in
each window of `rate_limit_window_seconds` (settings fed by the template's parameters).

A fixed window counted with one conditional UpdateItem per request (`store.request_counters`). Each
account's windows are offset by a stable amount derived from its id, so the accounts' windows do not all
reset on the same second.
"""

from __future__ import annotations

import math
import time
import zlib

from sourcesync.config import get_settings
from sourcesync.errors import RateLimitedError
from sourcesync.store.request_counters import get_request_counter_store


def window_start(account_id: str, now: float, window_seconds: int) -> int:
    """Start (epoch seconds) of the account's window that holds `now`."""
    offset = zlib.crc32(account_id.encode()) % window_seconds
    return math.floor((now - offset) / window_seconds) * window_seconds + offset


def count_request(account_id: str, now: float | None = None) -> None:
    """Count one request of the account; RateLimitedError (with the seconds until its window ends) if the
    account has used up its window."""
    settings = get_settings()
    window = settings.rate_limit_window_seconds
    at = time.time() if now is None else now
    start = window_start(account_id, at, window)
    if not get_request_counter_store().count(account_id, start, window, settings.rate_limit_requests):
        raise RateLimitedError(retry_after_seconds=max(1, math.ceil(start + window - at)))
