"""A data source's settings and options, each declared once.

A source option (`api_base`, `requests_per_second`, `max_retry_seconds`) is an `Annotated` type here; the
options models below and the API's request models (which reuse them) take the same type, and the
connectors' options model is to take it too when the connector kit replaces connectors/base.py, so that a
bound changes in one place (docs/api.md#data-sources)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from sourcesync.schedule import ScheduleError, validate
from sourcesync.systems import System


def _int_is_a_number(value: Any) -> Any:
    """Strict validation refuses an int for a float; JSON's `2` is a number like `2.0`."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _absolute_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("api_base must be an absolute http(s) URL without query")
    return value.rstrip("/")


#: Where the connector sends its requests instead of the provider's API (a test or a proxy; production
#: refuses it unless the deployment allows it). `ApiBase` is the form a request gives; `StoredApiBase` the
#: form stored with the source (no trailing slash) that connectors read.
ApiBase = AnyHttpUrl
StoredApiBase = Annotated[str, AfterValidator(_absolute_http_url)]
#: The source's own cap on requests per second to the provider (below the connector's declared limit).
RequestsPerSecond = Annotated[float, Field(gt=0, le=10_000), BeforeValidator(_int_is_a_number)]
#: How long a request to the provider may keep being retried (seconds) before the job fails.
MaxRetrySeconds = Annotated[int, Field(ge=0, le=86_400)]
DEFAULT_MAX_RETRY_SECONDS = 300

Name = Annotated[str, Field(min_length=1, max_length=200)]
Credentials = dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(max_length=4096)]]


class _Strict(BaseModel):
    """Unknown fields are refused and types are strict: a wrong type is refused, never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class DataSourceOptions(_Strict):
    api_base: ApiBase | None = None
    requests_per_second: RequestsPerSecond | None = None
    max_retry_seconds: MaxRetrySeconds = DEFAULT_MAX_RETRY_SECONDS


class DataSourceOptionsPatch(_Strict):
    """PATCH's `options`: only the fields present change, `null` puts one back to its default. No
    defaults here: a field the request does not name must not overwrite the stored one."""

    api_base: ApiBase | None = None
    requests_per_second: RequestsPerSecond | None = None
    max_retry_seconds: MaxRetrySeconds | None = None


def _check_schedule(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate(value)
    except ScheduleError as error:
        raise ValueError(str(error)) from None


class NewDataSource(_Strict):
    """A data source to create: its name, system, credentials (a custom source has none), options and
    schedule."""

    name: Name
    system: System
    credentials: Credentials | None = None
    options: DataSourceOptions | None = None
    schedule: str | None = None

    @field_validator("system", mode="before")
    @classmethod
    def _system_from_json(cls, value: Any) -> Any:  # strict mode wants the enum; JSON gives its value
        return System(value) if isinstance(value, str) and value in System._value2member_map_ else value

    _schedule = field_validator("schedule")(lambda cls, v: _check_schedule(v))


class DataSourceChanges(_Strict):
    """Changes to a data source: only the fields present change; `schedule: None` turns the schedule off;
    `options` are merged into the stored ones."""

    name: Name | None = None
    schedule: str | None = None
    credentials: Credentials | None = None
    options: DataSourceOptionsPatch | None = None

    _schedule = field_validator("schedule")(lambda cls, v: _check_schedule(v))
