"""Request and response models of the HTTP API (SPEC section 4).

Requests forbid unknown fields and are strict about types, so that a wrong type is a 400 and never a
silent coercion. Responses are built from stored items by `present_*` in the services.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from sourcesync import fields
from sourcesync.ids import ID_BODY
from sourcesync.schedule import ScheduleError, validate
from sourcesync.systems import System

Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DataSourceOptions(_Request):
    api_base: AnyHttpUrl | None = None
    requests_per_second: float | None = Field(default=None, gt=0, le=10_000)
    max_retry_seconds: int = Field(default=300, ge=0, le=86_400)

    @field_validator("requests_per_second", mode="before")
    @classmethod
    def _int_is_a_number(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _check_schedule(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate(value)
    except ScheduleError as error:
        raise ValueError(str(error)) from None


Credentials = dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(max_length=4096)]]


class DataSourceCreateRequest(_Request):
    name: Name
    system: System
    credentials: Credentials | None = None
    options: DataSourceOptions | None = None
    schedule: str | None = None

    @field_validator("system", mode="before")
    @classmethod
    def _system_from_json(cls, value: Any) -> Any:  # strict mode wants the enum; JSON gives its value
        return System(value) if isinstance(value, str) and value in System._value2member_map_ else value

    _schedule = field_validator("schedule")(lambda cls, v: _check_schedule(v))


class DataSourceOptionsPatch(_Request):
    """PATCH's `options`: only the fields present change, `null` puts one back to its default. No
    defaults here: a field the request does not name must not overwrite the stored one."""

    api_base: AnyHttpUrl | None = None
    requests_per_second: float | None = Field(default=None, gt=0, le=10_000)
    max_retry_seconds: int | None = Field(default=None, ge=0, le=86_400)

    @field_validator("requests_per_second", mode="before")
    @classmethod
    def _int_is_a_number(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class DataSourceUpdateRequest(_Request):
    """PATCH: only the fields present change; `"schedule": null` turns the schedule off; `options` are
    merged into the stored ones."""

    name: Name | None = None
    schedule: str | None = None
    credentials: Credentials | None = None
    options: DataSourceOptionsPatch | None = None

    _schedule = field_validator("schedule")(lambda cls, v: _check_schedule(v))


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


ExternalIdField = fields.ExternalId
UuidField = Annotated[fields.ExternalId, Field(max_length=64)]


class CustomerRef(_Request):
    """A customer by `customer_uuid`, or by its source's natural keys (`data_source_uuid`, `external_id`)."""

    customer_uuid: UuidField | None = None
    data_source_uuid: UuidField | None = None
    external_id: ExternalIdField | None = None

    @model_validator(mode="after")
    def _one_way(self) -> CustomerRef:
        keys = (self.data_source_uuid, self.external_id)
        if self.customer_uuid is not None and keys != (None, None):
            raise ValueError("give either customer_uuid, or data_source_uuid and external_id, not both")
        if self.customer_uuid is None and None in keys:
            raise ValueError("give customer_uuid, or both data_source_uuid and external_id")
        return self


class MergeRequest(_Request):
    from_: CustomerRef = Field(alias="from")
    into: CustomerRef


class SubscriptionRef(_Request):
    """A subscription by (`data_source_uuid`, `uuid`) or (`data_source_uuid`, `external_id`)."""

    data_source_uuid: UuidField
    uuid: UuidField | None = None
    external_id: ExternalIdField | None = None

    @model_validator(mode="after")
    def _one_way(self) -> SubscriptionRef:
        if (self.uuid is None) == (self.external_id is None):
            raise ValueError("give either uuid or external_id")
        return self


class SubscriptionsRequest(_Request):
    subscriptions: list[SubscriptionRef] = Field(min_length=1, max_length=50)


class MrrEditRequest(_Request):
    """An MRR (integer cents) for a subscription from `from` to `to` (inclusive; null: from then on)."""

    mrr: fields.NonNegativeCents
    from_: date = Field(alias="from")
    to: date | None = None


class RotateKeyRequest(_Request):
    """POST /v1/api_keys/{id}/rotate: how long the old key keeps working (0: it stops at once)."""

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
