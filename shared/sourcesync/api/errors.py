"""Domain errors -> HTTP, in one place."""

from __future__ import annotations

from typing import Any

from sourcesync import errors

HTTP_STATUS: dict[type[errors.SourceSyncError], int] = {
    errors.InvalidRequestError: 400,
    errors.UnauthorizedError: 401,
    errors.ForbiddenError: 403,
    errors.NotFoundError: 404,
    errors.MethodNotAllowedError: 405,
    errors.JobRunningError: 409,
    errors.ConflictError: 409,
    errors.IdempotencyInProgressError: 409,
    errors.PayloadTooLargeError: 413,
    errors.UnsupportedMediaTypeError: 415,
    errors.UnprocessableError: 422,
    errors.RateLimitedError: 429,
}


def status_of(error: errors.SourceSyncError) -> int:
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def headers_of(error: errors.SourceSyncError) -> dict[str, str] | None:
    """Headers an error's answer carries besides its body: `Retry-After` on a 429, `Allow` on a 405 (RFC 9110)."""
    if isinstance(error, errors.RateLimitedError):
        return {"Retry-After": str(error.retry_after_seconds)}
    if isinstance(error, errors.MethodNotAllowedError):
        return {"Allow": ", ".join(error.allow)}
    return None


def error_body(code: str, message: str, request_id: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "request_id": request_id, **extra}}


def validation_details(validation_errors: list[Any]) -> list[dict[str, str]]:
    """pydantic's errors as the error envelope's `details` (docs/api.md#errors): where (`options.api_base`,
    `customers.3.name`) and what."""
    details = []
    for error in validation_errors:
        loc = ".".join(str(part) for part in error.get("loc", ())) or "body"
        details.append({"loc": loc, "msg": error.get("msg", "invalid")})
    return details
