"""A data source's options that concern its connector."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ConnectorOptions(BaseModel):
    """A data source's options (its `options` in the API, docs/api.md) that concern the connector.

    `partitioning`: `auto` splits lists into creation-time windows only against the provider's own
    API (`api_base` unset or equal to the spec's), and by kind against anything else, such as a local
    emulator that rejects the time filters.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    api_base: str | None = None
    requests_per_second: float | None = Field(default=None, gt=0, le=10_000)
    max_retry_seconds: float = Field(default=300, ge=0, le=86_400)
    partitioning: Literal["auto", "by_kind", "created_windows"] = "auto"
    page_size: int | None = Field(default=None, ge=1)
    window_months: int | None = Field(default=None, ge=1, le=120)

    @field_validator("api_base")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("api_base must be an absolute http(s) URL without query")
        return value.rstrip("/")
