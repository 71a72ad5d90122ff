"""JSON decoded with orjson, and the standard library for what orjson refuses.

A re-sync decodes every page the provider sends (14 MB for 1,000 Stripe customers) and every manifest it
reads back, and writes the manifests; orjson does each in about half the CPU of the standard library
(docs/benchmarks.md). What orjson refuses (`NaN`, lone surrogates, UTF-16 or UTF-32 without a declared
charset) falls back to `json.loads`, which takes it as it always did. One difference remains: an integer
beyond 64 bits decodes as a float (the standard library keeps it whole). No supported provider sends one:
amounts in cents and numeric ids are far within 64 bits. Content hashes are not made here:
`store.records.canonical` keeps the standard library's encoder, whose bytes every stored hash was
computed from.
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
