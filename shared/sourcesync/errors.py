"""Domain errors. Each names its API error code; `api/errors.py` maps the classes to HTTP statuses in
one place, and the state machines' Retry/Catch match on the same class names."""

from __future__ import annotations

from typing import Any


class SourceSyncError(Exception):
    """Base of every error the product reports to a caller."""

    code = "internal_error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidRequestError(SourceSyncError):
    code = "invalid_request"

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message, details=details or [])


class UnauthorizedError(SourceSyncError):
    code = "unauthorized"


class ForbiddenError(SourceSyncError):
    code = "forbidden"


class NotFoundError(SourceSyncError):
    code = "not_found"


class MethodNotAllowedError(SourceSyncError):
    """A path the API serves, with a method it does not (405); `allow` lists the methods it does."""

    code = "method_not_allowed"

    def __init__(self, method: str, allow: list[str]) -> None:
        super().__init__(f"{method} is not allowed here; allowed: {', '.join(allow)}.")
        self.allow = allow


class UnsupportedMediaTypeError(SourceSyncError):
    """A request body that is not JSON (415)."""

    code = "unsupported_media_type"


class JobRunningError(SourceSyncError):
    code = "job_running"

    def __init__(self, job_id: str) -> None:
        super().__init__("A job is already running on this data source.", job_id=job_id)


class PayloadTooLargeError(SourceSyncError):
    code = "payload_too_large"


class UnprocessableError(SourceSyncError):
    """A well-formed request that the current state forbids (422); `code` says which rule."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.code = code


class ApiBaseNotAllowedError(UnprocessableError):
    def __init__(self) -> None:
        super().__init__(
            "api_base_not_allowed",
            "options.api_base is not allowed by this deployment (template parameter AllowApiBase).",
        )


class IdempotencyKeyReusedError(UnprocessableError):
    def __init__(self) -> None:
        super().__init__(
            "idempotency_key_reused",
            "This Idempotency-Key was used with another request body in the last 24 hours.",
        )


class IdempotencyInProgressError(SourceSyncError):
    code = "idempotency_in_progress"


class RateLimitedError(SourceSyncError):
    """The account made more requests than its limit allows in the current window (429, `Retry-After`)."""

    code = "rate_limited"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"Too many requests for this account; retry after {retry_after_seconds} s.")
        self.retry_after_seconds = retry_after_seconds


class ConflictError(SourceSyncError):
    code = "conflict"


class MrrEditOverlapError(ConflictError):
    code = "mrr_edit_overlap"

    def __init__(self, edit_id: str) -> None:
        super().__init__("This MRR edit overlaps another edit of the subscription.", edit_id=edit_id)
