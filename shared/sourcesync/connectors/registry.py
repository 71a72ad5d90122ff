"""Which systems have a connector, and how the pipeline builds one.

The state machine knows nothing of Stripe: it asks here for a source's connector, plans partitions and
hands them to workers. Connector modules are imported on first use only, so a Lambda that serves one
provider never loads the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from sourcesync.connectors.base import Connector, ConnectorOptions, ConnectorSpec
from sourcesync.connectors.errors import ConnectorConfigError
from sourcesync.connectors.kit.budget import RequestBudget

#: system id -> module whose `SPEC` describes it. `custom` has none by design (data is pushed through
#: the Import API); the other systems of `systems.System` get a row when their connector is written.
CONNECTOR_MODULES: Mapping[str, str] = {
    "braintree": "sourcesync.connectors.braintree",
    "paypal": "sourcesync.connectors.paypal",
    "stripe": "sourcesync.connectors.stripe",
    "chargebee": "sourcesync.connectors.chargebee",
    "chargebee_v1": "sourcesync.connectors.chargebee_v1",
    "recurly": "sourcesync.connectors.recurly",
    "gocardless": "sourcesync.connectors.gocardless",
}


def connector_systems() -> frozenset[str]:
    """The systems that have a connector."""
    return frozenset(CONNECTOR_MODULES)


def get_connector_spec(system: str) -> ConnectorSpec | None:
    """The spec of `system`, or None when it has no connector (yet, or by design: `custom`)."""
    module_name = CONNECTOR_MODULES.get(system)
    if module_name is None:
        return None
    spec = getattr(importlib.import_module(module_name), "SPEC", None)
    if not isinstance(spec, ConnectorSpec) or spec.system != system:
        raise ConnectorConfigError(f"{module_name} does not define the SPEC of {system!r}", system=system)
    return spec


def build_connector(
    system: str,
    credentials: Mapping[str, Any],
    options: ConnectorOptions | Mapping[str, Any] | None = None,
    *,
    budget: RequestBudget | None = None,
    **runtime: Any,
) -> Connector:
    """A ready connector for a source; `ConnectorConfigError` for a system without one.

    `budget`: the source's shared budget (`store.request_budget.shared_budget`) in workers; without
    it, an in-process bucket is used.
    `runtime`: the `Connector` keywords (session, clock, wall_clock, sleep, random) for tests.
    """
    spec = get_connector_spec(system)
    if spec is None:
        raise ConnectorConfigError(f"no connector for system {system!r}", system=system)
    return Connector(spec, credentials, options, budget=budget, **runtime)
