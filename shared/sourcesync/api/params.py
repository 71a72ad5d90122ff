"""The path ids and query strings of the HTTP API (docs/api.md): what the resolver checks on every request
before any handler runs (`api/contract.py`), kept apart from the request bodies of `api/models.py` so that
a function does not load the domain's models to check an id.

Query strings are strict: unknown parameters are refused, booleans are exactly `true` or `false`, integers
are digits and dates YYYY-MM-DD, so that a typo is a 400 and never a silent default.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from sourcesync import fields
from sourcesync.ids import ID_BODY

# Path ids, one type a kind (`ds_` and 26 base32 characters): checked for shape before any store is asked,
# so that no length or character reaches a key.
DataSourceId = Annotated[str, Field(pattern=f"^ds_{ID_BODY}$", description="A data source's uuid (`ds_…`).")]
JobId = Annotated[str, Field(pattern=f"^job_{ID_BODY}$", description="A job's id (`job_…`).")]
CustomerId = Annotated[str, Field(pattern=f"^cus_{ID_BODY}$", description="A customer's uuid (`cus_…`).")]
SubscriptionId = Annotated[str, Field(pattern=f"^sub_{ID_BODY}$", description="A subscription's uuid (`sub_…`).")]
MrrEditId = Annotated[str, Field(pattern=f"^mre_{ID_BODY}$", description="An MRR edit's id (`mre_…`).")]
ApiKeyId = Annotated[str, Field(pattern=f"^key_{ID_BODY}$", description="An API key's id (`key_…`).")]


def _exact_boolean(value: Any) -> Any:
    """Query-string booleans are exactly `true` or `false`: a typo must never mean "no"."""
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValueError("must be exactly true or false")


def _decimal_digits(value: Any) -> Any:
    """Query-string integers are decimal digits (no sign, spaces, exponent or fraction)."""
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{1,9}", value):
            raise ValueError("must be a whole number written in digits")
        return int(value)
    return value


def _iso_date(value: Any) -> Any:
    """Query-string dates are YYYY-MM-DD (not a number of seconds, not a date-time)."""
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError("must be a date written YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a date written YYYY-MM-DD") from None
    return value


QueryBoolean = Annotated[bool, BeforeValidator(_exact_boolean)]
QueryInteger = Annotated[int, BeforeValidator(_decimal_digits)]
QueryDate = Annotated[date, BeforeValidator(_iso_date)]


class _Query(BaseModel):
    """A query string: unknown parameters are refused like unknown body fields (a misspelt `dry_run`
    must not be ignored). Each builds its validator on first use (`defer_build`): a function validates only
    its own routes' query strings."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class NoQuery(_Query):
    """Routes that take no query parameters."""


class PageQuery(_Query):
    per_page: QueryInteger = Field(default=50, ge=1, le=200)
    cursor: fields.ExternalId | None = None


class CustomerQuery(PageQuery):
    data_source_uuid: DataSourceId | None = None
    external_id: fields.ExternalId | None = None
    as_of: QueryDate | None = None


class AsOfQuery(_Query):
    as_of: QueryDate | None = None


class DryRunQuery(_Query):
    dry_run: QueryBoolean = False
