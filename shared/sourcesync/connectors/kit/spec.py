"""A provider's description as data (`ConnectorSpec`), and the connection settings that make its host
depend on the account (a Chargebee site, a Recurly region, a tenant)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sourcesync.connectors.errors import ConnectorConfigError, CredentialsInvalidError
from sourcesync.connectors.kit.auth import Auth
from sourcesync.connectors.kit.http import Decoder, ErrorPolicy
from sourcesync.connectors.kit.pagination import Pagination
from sourcesync.connectors.kit.partitions import CreatedWindows
from sourcesync.connectors.kit.streams import MappingContext, RequestSpec, Stream
from sourcesync.connectors.limits import RateLimit
from sourcesync.records import AnyRecord, RecordKind


@dataclass(frozen=True)
class ConnectionSetting:
    """A value the account gives with its credentials that is not a secret: a site name, a region.

    `pattern` (a full match) or `choices` (a mapping from what the account writes to what the template
    receives: `{"us": "v3.recurly.com", "eu": "v3.eu.recurly.com"}`) validate it, so that nothing but a
    host label ever reaches the URL; `default` when it may be left out."""

    pattern: str = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    choices: Mapping[str, str] | None = None
    default: str | None = None

    def read(self, name: str, credentials: Mapping[str, Any]) -> str:
        value = credentials.get(name, self.default)
        if not isinstance(value, str) or not value.strip():
            raise CredentialsInvalidError(f"the credentials lack {name!r}")
        value = value.strip()
        if self.choices is not None:
            if value not in self.choices:
                raise CredentialsInvalidError(f"{name!r} must be one of {sorted(self.choices)}")
            return self.choices[value]
        if re.fullmatch(self.pattern, value) is None:
            raise CredentialsInvalidError(f"{name!r} is not a valid value")
        return value


@dataclass(frozen=True)
class ConnectorSpec:
    """Everything SourceSync knows about one provider, as data.

    `pagination` is the provider's list style, used by every stream that does not name its own and for
    nested lists; `page_size` is its largest page. `windows` says how lists split by creation time
    against the provider's real API (None: they never do). `customer_path` fetches one customer
    (`{id}` is replaced); with the streams' `customer_param`, it makes `fetch_customer` work.

    `api_base` may be a template whose fields are connection settings the account gives with its
    credentials (`https://{site}.chargebee.com/api/v2`), declared in `settings`; `settings_headers`
    sends settings as headers too (a tenant id). The filled template is the provider's own API:
    created-time windows stay on.
    """

    system: str
    api_base: str
    auth: Auth
    streams: Mapping[RecordKind, Stream]
    check_credentials: RequestSpec
    rate_limit: RateLimit
    pagination: Pagination
    page_size: int = 100
    error_policy: ErrorPolicy = field(default_factory=ErrorPolicy)
    default_headers: Mapping[str, str] = field(default_factory=dict)
    customer_path: str | None = None
    windows: CreatedWindows | None = None
    settings: Mapping[str, ConnectionSetting] = field(default_factory=dict)
    settings_headers: Mapping[str, str] = field(default_factory=dict)
    decoder: Decoder | None = None  # every answer's decoder (default JSON; a stream's own wins)
    # A provider without a customer endpoint finds one customer's records itself (PayPal).
    customer_fetcher: Callable[[MappingContext, str], list[AnyRecord]] | None = None

    def base_url(self, credentials: Mapping[str, Any]) -> str:
        """`api_base` with its fields filled from the validated connection settings."""
        values = {name: setting.read(name, credentials) for name, setting in self.settings.items()}
        try:
            return self.api_base.format(**values).rstrip("/")
        except (KeyError, IndexError) as exc:
            raise ConnectorConfigError(f"{self.system}: api_base names an undeclared setting {exc}") from None

    def headers(self, credentials: Mapping[str, Any]) -> dict[str, str]:
        """The default headers and the settings' headers (`{"X-Tenant-Id": "{tenant}"}`)."""
        values = {name: setting.read(name, credentials) for name, setting in self.settings.items()}
        return {
            **self.default_headers,
            **{name: value.format(**values) for name, value in self.settings_headers.items()},
        }

    def stream(self, kind: RecordKind) -> Stream:
        try:
            return self.streams[kind]
        except KeyError:
            raise ConnectorConfigError(f"{self.system} has no {kind.value} stream", system=self.system) from None
