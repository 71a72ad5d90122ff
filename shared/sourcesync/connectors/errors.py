"""Errors raised by connectors.

The class names are part of the contract: the Step Functions definitions match them in `Retry` and
`Catch` (a Lambda that raises reports the exception's class name as its `errorType`), and the API maps
them to answers in one place. Messages never carry credentials (the HTTP client redacts them).

- `CredentialsInvalidError`: the provider refused the credentials (401/403, or a refused OAuth2
  grant), or they are missing or malformed. Fail the job; the API answers 422 `credentials_invalid`.
- `ProviderUnavailableError`: transient errors (429, 5xx, timeouts, connection errors) went on for
  longer than `max_retry_seconds`. Fail the job (do not Retry it again: the client already has); the
  previous data stays.
- `ProviderRequestError`: the provider refused the request itself (another 4xx): a bug or a provider
  change. `ProviderNotFoundError` (404) is a subclass.
- `ProviderResponseError`: a 2xx answer that cannot be read (not JSON, unexpected shape).
- `RecordMappingError`: a provider object could not be mapped to a record (never dropped silently).
- `ConnectorConfigError`: unusable options or spec (unknown kind, bad partition, no connector).
"""

from __future__ import annotations

from sourcesync.errors import UnprocessableError


class ConnectorError(Exception):
    """Base class of every connector error."""

    def __init__(
        self,
        message: str,
        *,
        system: str | None = None,
        status: int | None = None,
        provider_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        Exception.__init__(self, message)  # not super(): CredentialsInvalidError is also an API error
        self.message = message
        self.system = system
        self.status = status
        self.provider_code = provider_code
        self.request_id = request_id

    def __str__(self) -> str:
        details = [
            f"{name}={value}"
            for name, value in (
                ("system", self.system),
                ("status", self.status),
                ("code", self.provider_code),
                ("request_id", self.request_id),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(details)})" if details else self.message


class CredentialsInvalidError(ConnectorError, UnprocessableError):
    """The provider refused the credentials (401/403), or they are missing or malformed.

    The one class for this meaning: a connector raises it, the pipeline ends the job with
    `credentials_invalid` (`pipeline/failures.py`), and the API answers it as 422 `credentials_invalid`
    (an `UnprocessableError`)."""

    code = "credentials_invalid"

    def __init__(
        self,
        message: str = "The provider refused these credentials.",
        *,
        system: str | None = None,
        status: int | None = None,
        provider_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, system=system, status=status, provider_code=provider_code, request_id=request_id)
        self.extra: dict[str, object] = {}


class ProviderRequestError(ConnectorError):
    """A permanent refusal of the request (a 4xx other than 401/403 and throttling)."""


class ProviderNotFoundError(ProviderRequestError):
    """The requested object does not exist at the provider (404)."""


class ProviderUnavailableError(ConnectorError):
    """Transient errors did not stop within `max_retry_seconds`."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        elapsed_seconds: float,
        system: str | None = None,
        status: int | None = None,
        provider_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, system=system, status=status, provider_code=provider_code, request_id=request_id)
        self.attempts = attempts
        self.elapsed_seconds = elapsed_seconds


class ProviderResponseError(ConnectorError):
    """A successful answer that cannot be read (not JSON, or not the expected shape)."""


class RecordMappingError(ConnectorError):
    """A provider object could not be turned into a record."""


class ConnectorConfigError(ConnectorError):
    """The connector's options or spec are unusable."""
