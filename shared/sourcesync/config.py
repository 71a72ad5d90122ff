"""Configuration, read once from the environment through a pydantic model (STYLE habit 2).

The template's `Globals.Function.Environment` sets these in AWS; the local stack sets the same names.
Logic takes plain arguments from `get_settings()`; nothing else reads `os.environ`.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    stack_name: str = Field(default="sourcesync", alias="STACK_NAME")
    accounts_table: str = Field(default="sourcesync-accounts", alias="ACCOUNTS_TABLE")
    sources_table: str = Field(default="sourcesync-sources", alias="SOURCES_TABLE")
    jobs_table: str = Field(default="sourcesync-jobs", alias="JOBS_TABLE")
    records_table: str = Field(default="sourcesync-records", alias="RECORDS_TABLE")
    idempotency_table: str = Field(default="sourcesync-idempotency", alias="IDEMPOTENCY_TABLE")
    audit_event_bus: str = Field(default="sourcesync-audit", alias="AUDIT_EVENT_BUS")
    resync_state_machine_arn: str = Field(default="", alias="RESYNC_STATE_MACHINE_ARN")
    purge_state_machine_arn: str = Field(default="", alias="PURGE_STATE_MACHINE_ARN")
    allow_api_base: bool = Field(default=False, alias="ALLOW_API_BASE")
    max_body_bytes: int = Field(default=1_048_576, alias="MAX_BODY_BYTES")
    manifest_bucket: str = Field(default="sourcesync-manifests", alias="MANIFEST_BUCKET")
    kms_key_arn: str = Field(default="", alias="KMS_KEY_ARN")
    commit_grace_seconds: int = Field(default=60, alias="COMMIT_GRACE_SECONDS")
    fetch_budget_seconds: float = Field(default=600, alias="FETCH_BUDGET_SECONDS")
    checkpoint_seconds: float = Field(default=5, alias="CHECKPOINT_SECONDS")
    fetch_concurrency: int = Field(default=40, alias="FETCH_CONCURRENCY")
    #: Each account may make this many API requests in each window (docs/api.md, "Rate limits").
    rate_limit_requests: int = Field(default=600, ge=1, alias="RATE_LIMIT_REQUESTS")
    rate_limit_window_seconds: int = Field(default=10, ge=1, le=3600, alias="RATE_LIMIT_WINDOW_SECONDS")

    @property
    def secrets_prefix(self) -> str:
        """Where data source credentials live in Secrets Manager (the IAM policies are scoped to it)."""
        return f"sourcesync/{self.stack_name}/"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
