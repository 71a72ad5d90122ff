"""Connectors: each provider described as data (`base.ConnectorSpec`), one runtime (`base.Connector`),
one HTTP client (`kit.http.HttpClient`) with retries and a shared request budget.

Importing this package loads nothing else: its names below are imported on first use (PEP 562), so a
function that only needs `connectors.errors` (every re-sync and purge worker, at cold start) does not pay
for requests, urllib3 and the XML parser. Neither boto3 nor any provider module is loaded here;
`registry.get_connector_spec` imports a provider on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sourcesync.connectors.base import Connector, ConnectorOptions, ConnectorSpec, Page, Partition
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
    from sourcesync.connectors.registry import build_connector, connector_systems, get_connector_spec

#: Where each of the package's names lives.
_WHERE = {
    **dict.fromkeys(("Connector", "ConnectorOptions", "ConnectorSpec", "Page", "Partition"), "base"),
    **dict.fromkeys(
        (
            "ConnectorConfigError",
            "ConnectorError",
            "CredentialsInvalidError",
            "ProviderNotFoundError",
            "ProviderRequestError",
            "ProviderResponseError",
            "ProviderUnavailableError",
            "RecordMappingError",
        ),
        "errors",
    ),
    **dict.fromkeys(("InProcessTokenBucket", "RequestBudget"), "kit.budget"),
    **dict.fromkeys(("build_connector", "connector_systems", "get_connector_spec"), "registry"),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
