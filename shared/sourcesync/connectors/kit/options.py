"""A data source's options that concern its connector."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sourcesync.domain.sources import DEFAULT_MAX_RETRY_SECONDS, MaxRetrySeconds, RequestsPerSecond, StoredApiBase


class ConnectorOptions(BaseModel):
    """A data source's options (its `options` in the API, docs/api.md) that concern the connector.

    `partitioning`: `auto` splits lists into creation-time windows only against the provider's own
    API (`api_base` unset or equal to the spec's), and by kind against anything else, such as a local
    emulator that rejects the time filters.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    # the source options, declared once in the domain (sourcesync.domain.sources)
    api_base: StoredApiBase | None = None
    requests_per_second: RequestsPerSecond | None = None
    max_retry_seconds: MaxRetrySeconds = DEFAULT_MAX_RETRY_SECONDS
    partitioning: Literal["auto", "by_kind", "created_windows"] = "auto"
    page_size: int | None = Field(default=None, ge=1)
    window_months: int | None = Field(default=None, ge=1, le=120)
