"""Field helpers for mapping functions: small, total readers of provider objects.

Each returns None (or raises `ValueError` for the `required_*` ones, which the runtime turns into a
`RecordMappingError` naming the object) rather than guessing; a connector's mapping is then a few lines
of `CustomerRecord(external_id=obj["id"], created_at=ts(obj.get("created")), ...)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any


def integer(value: Any) -> int | None:
    """An int, never a bool (JSON `true` is not 1)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ts(value: Any) -> datetime | None:
    """A unix timestamp (seconds) or an ISO 8601 string as an aware UTC datetime."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return None


def required_ts(value: Any, what: str) -> datetime:
    moment = ts(value)
    if moment is None:
        raise ValueError(f"{what} is not a timestamp")
    return moment


def ref_id(value: Any) -> str | None:
    """The id of a reference that may be expanded (`"cus_1"` or `{"id": "cus_1", ...}`)."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def required_id(value: Any, what: str) -> str:
    found = ref_id(value)
    if found is None:
        raise ValueError(f"{what} is missing")
    return found


def currency(value: Any) -> str | None:
    """An ISO 4217 code, upper case (`"usd"` -> `"USD"`); None when absent or not three letters."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    return code if len(code) == 3 and code.isascii() and code.isalpha() else None


def cents(value: Any) -> int | None:
    """An amount in minor units: ints as they are, decimal amounts (`"12.34"`, 12.34) times 100,
    rounded half up (for providers that send major units, such as Recurly and Chargebee v1)."""
    if integer(value) is not None:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, str | float):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def dig(obj: Any, path: str) -> Any:
    """A nested value by dotted path (`"shipping.address.country"`); None when any step is missing."""
    current = obj
    for part in path.split(".") if path else ():
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def first(*values: Any) -> Any:
    """The first value that is neither None nor empty."""
    return next((value for value in values if value not in (None, "", [], {})), None)
