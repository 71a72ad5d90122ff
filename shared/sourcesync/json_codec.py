"""JSON decoded with orjson, and the standard library for what orjson refuses.

A re-sync decodes every page the provider sends (14 MB for 1,000 Stripe customers) and every manifest it
reads back, and writes the manifests; orjson does each in about half the CPU of the standard library
(docs/benchmarks.md). What orjson refuses (`NaN`, lone surrogates, UTF-16 or UTF-32 without a declared
charset) falls back to `json.loads`, which takes it as it always did. One difference remains: an integer
beyond 64 bits decodes as a float (the standard library keeps it whole). No supported provider sends one:
amounts in cents and numeric ids are far within 64 bits. Content hashes are computed over `canonical`,
the standard library's sorted compact JSON, byte for byte, which orjson writes for most records.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON (for what this code writes and reads back itself: manifests)."""
    return orjson.dumps(value)


def loads(body: bytes | str) -> Any:
    """`body` decoded; `ValueError` (a `json.JSONDecodeError`) when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


#: Sorted keys; a datetime, dataclass or subclass of a JSON type goes to the standard library, as before.
_CANONICAL = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def canonical(value: Any) -> bytes:
    """`json.dumps(value, sort_keys=True, separators=(",", ":")).encode()`, byte for byte: the bytes every
    stored content hash was computed from. For JSON values without floats (whose notation differs), such
    as a record's `model_dump(mode="json")`.

    orjson writes the very same bytes, in about a fifth of the CPU, whenever what it writes is ASCII without
    DEL: for text, integers, booleans, nulls, lists and objects (keys sorted alike), and the two escape `"`,
    `\\` and control characters alike. Otherwise (text beyond ASCII, which the standard library escapes as
    `\\uXXXX`; DEL, which it escapes too; an integer beyond 64 bits, which orjson refuses) the standard
    library writes it."""
    try:
        body = orjson.dumps(value, option=_CANONICAL)
        if body.isascii() and b"\x7f" not in body:
            return body
    except orjson.JSONEncodeError:
        pass
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
