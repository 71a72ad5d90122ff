"""Request and response models of the HTTP API (docs/api.md).

Requests forbid unknown fields and are strict about types, so that a wrong type is a 400 and never a
silent coercion. Responses are built from stored items by `present_*` in the services.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from sourcesync import fields
from sourcesync.domain.manual_data import Merge, MrrEdit, SubscriptionSet
from sourcesync.domain.sources import DataSourceChanges, NewDataSource
from sourcesync.ids import ID_BODY
from sourcesync.systems import System

# The request bodies below reuse the domain's models (`sourcesync.domain`), which declare each field once;
# the subclasses give them the names the OpenAPI document uses and the descriptions a client reads.


class DataSourceCreateRequest(NewDataSource):
    pass


class DataSourceUpdateRequest(DataSourceChanges):
    """PATCH: only the fields present change; `"schedule": null` turns the schedule off; `options` are
    merged into the stored ones."""


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
    must not be ignored)."""

    model_config = ConfigDict(extra="forbid")


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


class MergeRequest(Merge):
    pass


class SubscriptionsRequest(SubscriptionSet):
    pass


class MrrEditRequest(MrrEdit):
    """An MRR (integer cents) for a subscription from `from` to `to` (inclusive; null: from then on)."""


class RotateKeyRequest(BaseModel):
    """POST /v1/api_keys/{id}/rotate: how long the old key keeps working (0: it stops at once)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    grace_period_seconds: int = Field(default=3600, ge=0, le=7 * 24 * 3600)


class JobProgressKind(BaseModel):
    done: int
    total: int | None
    estimated: bool = False


class JobProgress(BaseModel):
    percent: int = Field(ge=0, le=100)
    eta_seconds: int | None
    kinds: dict[str, JobProgressKind]


class JobWaitingFor(BaseModel):
    reason: str
    until: str | None


class JobCleanup(BaseModel):
    status: Literal["pending", "running", "done"]
    until: str | None


class JobError(BaseModel):
    code: str
    message: str
    provider_status: int | None = None


class JobResponse(BaseModel):
    id: str
    kind: Literal["import", "resync_source", "resync_customer", "delete_source", "reprocess"]
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    phase: Literal["planning", "fetching", "applying_overlays", "committing", "purging"] | None
    data_source_uuid: str
    customer_uuid: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    progress: JobProgress
    waiting_for: JobWaitingFor | None
    cleanup: JobCleanup | None
    result: dict[str, Any] | None
    error: JobError | None


class DataSourceCounts(BaseModel):
    customers: int = 0
    plans: int = 0
    subscriptions: int = 0
    invoices: int = 0
    transactions: int = 0


class DataSourceResponse(BaseModel):
    uuid: str
    name: str
    system: System
    status: Literal["importing", "active", "resyncing", "deleting", "failed"]
    resync_supported: bool
    schedule: str | None
    options: dict[str, Any]
    created_at: str
    last_synced_at: str | None
    current_job: JobResponse | None
    counts: DataSourceCounts


class DataSourceCreatedResponse(BaseModel):
    data_source: DataSourceResponse
    job: JobResponse | None


class PageResponse(BaseModel):
    entries: list[Any]
    has_more: bool
    cursor: str | None
