"""Models of the API's answers that only the OpenAPI document needs (kept out of `api/models.py`, which every
function imports, so that they cost no cold start)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from sourcesync.api.models import DataSourceCounts, DataSourceResponse, JobResponse, PageResponse


class _Open(BaseModel):
    """A response whose every field is not modelled here: the named ones are, the rest may follow."""

    model_config = ConfigDict(extra="allow")


class DataSourcePage(PageResponse):
    entries: list[DataSourceResponse]


class JobPage(PageResponse):
    entries: list[JobResponse]


class CustomerResponse(_Open):
    uuid: str


class CustomerPage(PageResponse):
    entries: list[CustomerResponse]


class SubscriptionResponse(_Open):
    uuid: str


class OverlayResponse(_Open):
    id: str
    kind: str


class DeletePreviewResponse(BaseModel):
    counts: DataSourceCounts
    overlays_affected: Any


class ResyncPreviewResponse(BaseModel):
    overlays_removed: Any


class ImportedRecord(BaseModel):
    external_id: str
    uuid: str


class ImportResponse(BaseModel):
    entries: list[ImportedRecord]


class ApiKeyResponse(BaseModel):
    """A key as the API shows it: never the secret, never its hash."""

    id: str
    role: str
    created_at: str
    last_used_at: str | None
    expires_at: str | None


class ApiKeyPage(PageResponse):
    entries: list[ApiKeyResponse]


class RotatedKeyResponse(ApiKeyResponse):
    """The new key of a rotation: its secret, shown this once, and when the old key stops working."""

    api_key: str
    old_key_expires_at: str


class ErrorDetail(BaseModel):
    loc: str
    msg: str


class ErrorInfo(_Open):
    """`code` names the rule (the table in docs/api.md); some codes add fields (`job_id`, `edit_id`)."""

    code: str
    message: str
    request_id: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx the API function answers."""

    error: ErrorInfo
