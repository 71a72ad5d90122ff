"""Configuration, read once from the environment through a pydantic model (docs/architecture.md#configuration).

The template's `Globals.Function.Environment` sets these in AWS; the local stack sets the same names.
Logic takes plain arguments from `get_settings()`; nothing else reads `os.environ`.

The names of the stack's resources (tables, bucket, event bus, state machines) have no default: a
deployment that lacks one must fail when a function starts, naming the variable, not at its first request.
Each entry point checks at cold start only the settings it reads (`FUNCTION_SETTINGS`, `OPERATOR_SETTINGS`,
through `check_settings`), so that the operator's commands need nothing but the accounts table. The
tuning knobs keep safe defaults.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SettingsError(RuntimeError):
    """A required setting is missing or a setting's value is invalid; the message names the variables."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # The stack's resources: required.
    stack_name: str = Field(alias="STACK_NAME", min_length=1)
    accounts_table: str = Field(alias="ACCOUNTS_TABLE", min_length=1)
    sources_table: str = Field(alias="SOURCES_TABLE", min_length=1)
    jobs_table: str = Field(alias="JOBS_TABLE", min_length=1)
    records_table: str = Field(alias="RECORDS_TABLE", min_length=1)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    audit_event_bus: str = Field(alias="AUDIT_EVENT_BUS", min_length=1)
    resync_state_machine_arn: str = Field(alias="RESYNC_STATE_MACHINE_ARN", min_length=1)
    purge_state_machine_arn: str = Field(alias="PURGE_STATE_MACHINE_ARN", min_length=1)
    manifest_bucket: str = Field(alias="MANIFEST_BUCKET", min_length=1)
    # Tuning: safe defaults.
    allow_api_base: bool = Field(default=False, alias="ALLOW_API_BASE")
    max_body_bytes: int = Field(default=1_048_576, alias="MAX_BODY_BYTES")
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

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # Reached only for a required setting that was not set (the entry point did not check it).
            field = type(self).model_fields.get(name)
            if field is not None:
                raise SettingsError(f"Missing required setting: {field.alias} (an environment variable).")
            return super().__getattr__(name)


def _variable(name: str) -> str:
    alias = Settings.model_fields[name].alias
    assert alias is not None
    return alias


#: The settings each Lambda function reads, by its directory under functions/ (checked at its cold start;
#: tests/infrastructure/test_function_settings.py checks that the template sets them and that the code
#: reachable from the function reads no other).
_TABLES = frozenset({"accounts_table", "sources_table", "jobs_table", "records_table"})
_READS = _TABLES | {"stack_name", "manifest_bucket", "resync_state_machine_arn"}  # what every function reaches
_DELETES = frozenset({"purge_state_machine_arn", "audit_event_bus"})
FUNCTION_SETTINGS: Mapping[str, frozenset[str]] = {
    # every function behind the HTTP API may audit (key operations, support reprocesses, deletes)
    "api": _READS | {"idempotency_table", "audit_event_bus"},
    "delete_source": _READS | {"idempotency_table"} | _DELETES,
    "resync_source": _READS | {"idempotency_table", "audit_event_bus"},
    "resync_customer": _READS | {"idempotency_table", "audit_event_bus"},
    "resync_worker": _READS,
    "purge_worker": _READS | {"idempotency_table"},
    "scheduler": _READS | _DELETES,
}
#: What the operator's commands (`sourcesync account create`, `key create`) read: the accounts table only.
OPERATOR_SETTINGS = frozenset({"accounts_table"})


def required_variables(names: Iterable[str]) -> list[str]:
    """The environment variables behind settings `names` that have no default."""
    return sorted(_variable(name) for name in names if Settings.model_fields[name].is_required())


def check_settings(names: Iterable[str], environ: Mapping[str, str] | None = None) -> Settings:
    """At an entry point's cold start: the settings `names` are all set (and every setting present is
    valid), or `SettingsError` naming each missing variable."""
    environ = os.environ if environ is None else environ
    missing = [variable for variable in required_variables(names) if not environ.get(variable)]
    if missing:
        raise SettingsError(
            f"Missing required setting{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
            "(environment variables; infra/template.yaml sets them for each function)."
        )
    return get_settings() if environ is os.environ else _load(environ)


def _load(environ: Mapping[str, str]) -> Settings:
    """Validate what is set; a required setting that is not set stays absent (reading it raises
    `SettingsError` naming its variable)."""
    unset = {
        name
        for name, field in Settings.model_fields.items()
        if field.is_required() and not environ.get(_variable(name))
    }
    placeholders = {_variable(name): "unset" for name in unset}
    try:
        validated = Settings.model_validate({**environ, **placeholders})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise SettingsError(f"Invalid setting: {problems}") from None
    return Settings.model_construct(
        _fields_set={name for name in validated.model_fields_set if name not in unset},
        **{name: value for name, value in validated if name not in unset},
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return _load(os.environ)
