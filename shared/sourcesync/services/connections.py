"""The bridge from a data source's settings to its connector (checking credentials, building it)."""

from __future__ import annotations

from typing import Any

from sourcesync.errors import UnprocessableError
from sourcesync.systems import System


def check_credentials(system: System, credentials: dict[str, str], options: dict[str, Any]) -> None:
    """One call to the provider: 422 credentials_invalid if it refuses them, nothing created."""
    from sourcesync.connectors.registry import get_connector_spec

    spec = get_connector_spec(system.value)
    if spec is None:
        raise UnprocessableError(
            "connector_unavailable",
            f"SourceSync has no connector for {system.value} yet; use a custom source and the Import API.",
        )
    raise NotImplementedError  # wired to the connector runtime once it lands
