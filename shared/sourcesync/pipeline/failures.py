"""How a job that did not commit ends: one table from exception classes to the job's status and error code.

A step that raises reports only the exception's class name to Step Functions (`Error`, which Retry and
Catch match), and a message (`Cause`). The table is keyed by the classes themselves and follows
inheritance, so `ProviderNotFoundError` ends a job as its base `ProviderRequestError` does. The worker that
raised also stores what the job should say (the provider's status and its redacted message) in a work item,
which the undo step reads: the job tells what happened without parsing a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sourcesync.connectors.errors import (
    ConnectorError,
    CredentialsInvalidError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderUnavailableError,
    RecordMappingError,
)
from sourcesync.errors import SourceSyncError
from sourcesync.store import work_items


@dataclass(frozen=True)
class JobEnd:
    status: str  # "failed" or "cancelled"
    code: str
    message: str


class JobCancelledError(SourceSyncError):
    """The job was cancelled (its workers and its commit check the flag)."""

    code = "cancelled"


class SourceDeletedError(SourceSyncError):
    """The source was deleted while the job ran."""

    code = "source_deleted"


class GenerationConflictError(SourceSyncError):
    """Another generation was committed while the job ran."""

    code = "generation_conflict"


#: Exception class -> how the job ends. Looked up along the class's MRO: a subclass ends as its base.
JOB_ERRORS: dict[type[BaseException], JobEnd] = {
    CredentialsInvalidError: JobEnd("failed", "credentials_invalid", "The provider refused the source's credentials."),
    ProviderUnavailableError: JobEnd(
        "failed", "provider_unavailable", "The provider kept failing for longer than max_retry_seconds."
    ),
    ProviderRequestError: JobEnd("failed", "provider_error", "The provider refused a request."),
    ProviderResponseError: JobEnd("failed", "provider_response_invalid", "The provider's answer could not be read."),
    RecordMappingError: JobEnd(
        "failed", "provider_response_invalid", "An object from the provider could not be read as a record."
    ),
    JobCancelledError: JobEnd("cancelled", "cancelled", "The job was cancelled."),
    SourceDeletedError: JobEnd("cancelled", "source_deleted", "The data source was deleted."),
    GenerationConflictError: JobEnd("failed", "generation_conflict", "Another generation was committed meanwhile."),
}
INTERNAL = JobEnd("failed", "internal_error", "The job failed")


def _known_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    pending: list[type[BaseException]] = list(JOB_ERRORS)
    while pending:
        cls = pending.pop()
        found.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    return found


def job_end(error_class: type[BaseException] | None) -> JobEnd | None:
    """How a job ends for an exception of this class (None: not in the table)."""
    for cls in error_class.__mro__ if error_class is not None else ():
        if cls in JOB_ERRORS:
            return JOB_ERRORS[cls]
    return None


def end_for(error_type: str) -> JobEnd:
    """How a job ends for the `Error` Step Functions reports (an exception's class name)."""
    known = job_end(_known_classes().get(error_type))
    if known is not None:
        return known
    return JobEnd(INTERNAL.status, INTERNAL.code, f"{INTERNAL.message} ({error_type}).")


def record(job_id: str, exc: BaseException) -> None:
    """Keep what the job should say about a connector's error (the undo step reads it). Messages of
    connector errors are redacted where they are made; nothing else of the exception is kept."""
    if not isinstance(exc, ConnectorError) or job_end(type(exc)) is None:
        return
    details: dict[str, Any] = {"detail": str(exc)[:1000]}
    if exc.status is not None:
        details["provider_status"] = int(exc.status)
    work_items.write(job_id, f"FAILURE#{type(exc).__name__}", details)


def job_error(job_id: str, error_type: str) -> tuple[str, dict[str, Any]]:
    """The job's end status and its `error` for the `Error` Step Functions reports."""
    end = end_for(error_type)
    error: dict[str, Any] = {"code": end.code, "message": end.message}
    stored = work_items.read(job_id, f"FAILURE#{error_type}")
    if stored is not None:
        error["message"] = f"{end.message.rstrip('.')}: {stored['detail']}"
        if stored.get("provider_status") is not None:
            error["provider_status"] = int(stored["provider_status"])
    return end.status, error
