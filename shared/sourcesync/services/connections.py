"""The bridge from a data source's settings to its connector: checking credentials, building it.

The connectors and the stores they get are imported inside the two functions, for cold init only: the
API function imports this module at its start but needs a connector only when it checks credentials."""

from __future__ import annotations

from typing import Any

from sourcesync import errors
from sourcesync.systems import System


def check_credentials(system: System, credentials: dict[str, str], options: dict[str, Any]) -> None:
    """One call to the provider: 422 `credentials_invalid` if it refuses them (nothing is created)."""
    from sourcesync.connectors import errors as connector_errors
    from sourcesync.connectors.registry import build_connector, get_connector_spec

    if get_connector_spec(system.value) is None:
        raise errors.UnprocessableError(
            "connector_unavailable",
            f"SourceSync has no connector for {system.value} yet; use a custom source and the Import API.",
        )
    try:  # the check has its own short timeouts and retries (`connectors.kit.runtime.CHECK_RETRY`)
        build_connector(system.value, credentials, options).check_credentials()
    except connector_errors.CredentialsInvalidError:
        # the one class for this meaning; the API's answer keeps a fixed text, not the provider's
        raise connector_errors.CredentialsInvalidError() from None
    except connector_errors.ConnectorError as error:
        raise errors.UnprocessableError(
            "provider_unavailable",
            f"The provider could not be reached to check the credentials ({type(error).__name__}).",
        ) from None


def connector_for(source: dict[str, Any]) -> Any:
    """A connector for a stored source: its credentials from Secrets Manager, its options, the
    request budget that every worker of the source shares (an item of the jobs table), and the token
    store where a refreshed OAuth2 token goes (the source's secret)."""
    from sourcesync.connectors.kit.options import ConnectorOptions
    from sourcesync.connectors.registry import build_connector, get_connector_spec
    from sourcesync.store.credentials import get_credential_store
    from sourcesync.store.request_budget import source_budget
    from sourcesync.store.tokens import token_store_for

    spec = get_connector_spec(source["system"])
    if spec is None:
        raise errors.UnprocessableError("connector_unavailable", f"No connector for {source['system']}.")
    credentials = get_credential_store().get(source["account_id"], source["uuid"])
    options = source.get("options") or {}
    budget = source_budget(
        spec.rate_limit, ConnectorOptions.model_validate(options).requests_per_second, source["uuid"]
    )
    tokens = token_store_for(source["account_id"], source["uuid"])
    return build_connector(source["system"], credentials, options, budget=budget, token_store=tokens)
