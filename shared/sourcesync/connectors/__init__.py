"""Connectors: each provider described as data (`base.ConnectorSpec`), one runtime (`base.Connector`),
one HTTP client (`http.HttpClient`) with retries and a shared request budget.

Importing this package loads neither boto3 nor any provider module; `registry.get_connector_spec`
imports a provider on first use.
"""

from sourcesync.connectors.base import (
    Connector,
    ConnectorOptions,
    ConnectorSpec,
    Page,
    Partition,
)
from sourcesync.connectors.errors import (
    ConnectorConfigError,
    ConnectorError,
    CredentialsInvalidError,
    ProviderNotFoundError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderUnavailableError,
    RecordMappingError,
)
from sourcesync.connectors.kit.budget import InProcessTokenBucket, RequestBudget
from sourcesync.connectors.registry import (
    build_connector,
    connector_systems,
    get_connector_spec,
)

__all__ = [
    "Connector",
    "ConnectorConfigError",
    "ConnectorError",
    "ConnectorOptions",
    "ConnectorSpec",
    "CredentialsInvalidError",
    "InProcessTokenBucket",
    "Page",
    "Partition",
    "ProviderNotFoundError",
    "ProviderRequestError",
    "ProviderResponseError",
    "ProviderUnavailableError",
    "RecordMappingError",
    "RequestBudget",
    "build_connector",
    "connector_systems",
    "get_connector_spec",
]
