"""Identifiers.

* Objects we create (accounts, keys, data sources, jobs) get time-ordered ids: a 48-bit millisecond
  timestamp then 80 random bits, in Crockford base32 (a ULID, lower-cased). Sorting by id is sorting
  by creation time, then by the random part, which is the order the API's lists promise
  (docs/api.md#lists-and-idempotency).
* Source records get deterministic uuids derived from (account, data source, kind, external id), so
  they stay the same across re-syncs (docs/architecture.md#concepts); their first four characters name
  the source.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from functools import lru_cache

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
ID_BODY = r"[0-9a-hjkmnp-tv-z]{26}"


#: Every pair of base32 digits, by the ten bits they stand for: `_b32` takes ten bits a step.
_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]


def _b32(value: int, length: int) -> str:
    """The low `5 * length` bits of `value` as `length` base32 digits, most significant first.

    Two digits a step (an import derives two uuids per record, and this was a fifth of their cost)."""
    chars = []
    for _ in range(length >> 1):
        chars.append(_PAIRS[value & 1023])
        value >>= 10
    if length & 1:
        chars.append(_ALPHABET[value & 31])
    return "".join(reversed(chars))


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """A new time-ordered id such as ``ds_01jbx...``."""
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{prefix}_{_b32(millis, 10)}{_b32(secrets.randbits(80), 16)}"


def is_id(value: str, prefix: str) -> bool:
    return re.fullmatch(f"{re.escape(prefix)}_{ID_BODY}", value) is not None


@lru_cache(maxsize=1024)
def source_tag(account_id: str, data_source_uuid: str) -> str:
    """Four characters derived from the data source alone: the first four of its records' uuids, so
    that a record uuid tells which of an account's sources to look in."""
    digest = hashlib.sha256("\x1f".join((account_id, data_source_uuid)).encode()).digest()
    return _b32(int.from_bytes(digest[:3], "big") >> 4, 4)


def record_uuid(prefix: str, account_id: str, data_source_uuid: str, kind: str, external_id: str) -> str:
    """The deterministic uuid of a source record (same inputs, same uuid, across re-syncs):
    the source's tag, then 110 bits of a hash of (account, data source, kind, external id)."""
    digest = hashlib.sha256("\x1f".join((account_id, data_source_uuid, kind, external_id)).encode()).digest()
    return f"{prefix}_{source_tag(account_id, data_source_uuid)}{_b32(int.from_bytes(digest[:14], 'big'), 22)}"
