"""Request and response models of the HTTP API (docs/api.md).

Requests forbid unknown fields and are strict about types, so that a wrong type is a 400 and never a
silent coercion. Responses are built from stored items by `present_*` in the services.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sourcesync.domain.manual_data import Merge, MrrEdit, SubscriptionSet
from sourcesync.domain.sources import DataSourceChanges, NewDataSource
from sourcesync.systems import System

# The request bodies below reuse the domain's models (`sourcesync.domain`), which declare each field once;
# the subclasses give them the names the OpenAPI document uses and the descriptions a client reads.


class DataSourceCreateRequest(NewDataSource):
    pass


class DataSourceUpdateRequest(DataSourceChanges):
    """PATCH: only the fields present change; `"schedule": null` turns the schedule off; `options` are
    merged into the stored ones."""


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
