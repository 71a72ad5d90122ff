"""What a re-sync does to manual data, as data: one place, versioned per integration version
(docs/architecture.md#manual-data-overlays-and-the-policy-matrix).

`policy(system, version)` answers, for a scope (re-syncing the whole source or one customer) and a kind of
overlay, whether it is kept (re-applied by natural keys), removed (deleted when the re-sync commits and
listed in the job's result) or not applicable (the system has no such data: CRMs have no subscriptions and
no MRR). `custom` sources have no row: they cannot be re-synced at all. Nothing else in the code asks
"which system is this" to decide what happens to manual data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from sourcesync.systems import System


class OverlayKind(StrEnum):
    CONNECTED_SUBSCRIPTIONS = "connected_subscriptions"
    EDITED_MRR = "mrr_edits"
    MERGED_CUSTOMERS = "merges"


class Scope(StrEnum):
    SOURCE = "resync_source"
    CUSTOMER = "resync_customer"


class Action(StrEnum):
    KEEP = "kept"
    REMOVE = "removed"
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class Policy:
    actions: Mapping[tuple[Scope, OverlayKind], Action]

    def action(self, scope: Scope, kind: OverlayKind) -> Action:
        return self.actions[(scope, kind)]


def _uniform(connected: Action, mrr: Action, merged: Action) -> Policy:
    """The same action for both scopes."""
    row = {
        OverlayKind.CONNECTED_SUBSCRIPTIONS: connected,
        OverlayKind.EDITED_MRR: mrr,
        OverlayKind.MERGED_CUSTOMERS: merged,
    }
    return Policy(MappingProxyType({(scope, kind): action for scope in Scope for kind, action in row.items()}))


def _by_scope(source: Action, customer: Action) -> Policy:
    """Every kind: `source` when the source is re-synced, `customer` when one customer is."""
    return Policy(
        MappingProxyType(
            {(scope, kind): source if scope is Scope.SOURCE else customer for scope in Scope for kind in OverlayKind}
        )
    )


KEEP_ALL = _uniform(Action.KEEP, Action.KEEP, Action.KEEP)
REMOVE_CONNECTIONS = _uniform(Action.REMOVE, Action.KEEP, Action.KEEP)
SAASYNC = _by_scope(source=Action.REMOVE, customer=Action.KEEP)
CRM = _uniform(Action.NOT_APPLICABLE, Action.NOT_APPLICABLE, Action.KEEP)

#: The integration version a new source gets (the matrix may differ between versions of an integration).
CURRENT_VERSION: Mapping[System, str] = MappingProxyType(
    {system: "1" for system in System if system is not System.CUSTOM}
)

MATRIX: Mapping[System, Mapping[str, Policy]] = MappingProxyType(
    {
        System.APP_STORE_CONNECT: {"1": KEEP_ALL},
        System.BRAINTREE: {"1": KEEP_ALL},
        System.CHARGEBEE: {"1": KEEP_ALL},
        System.PAYPAL: {"1": KEEP_ALL},
        System.RECURLY: {"1": KEEP_ALL},
        System.STRIPE: {"1": KEEP_ALL},
        System.CHARGEBEE_V1: {"1": REMOVE_CONNECTIONS},
        System.GOCARDLESS: {"1": REMOVE_CONNECTIONS},
        System.GOOGLE_PLAY: {"1": REMOVE_CONNECTIONS},
        System.MAXIO: {"1": SAASYNC},
        System.PADDLE: {"1": SAASYNC},
        System.XERO: {"1": SAASYNC},
        System.HUBSPOT: {"1": CRM},
        System.INTERCOM: {"1": CRM},
        System.SEGMENT: {"1": CRM},
    }
)


def policy(system: System, version: str | None = None) -> Policy | None:
    """The policy of an integration version (its current one by default); None for `custom`."""
    versions = MATRIX.get(system)
    if versions is None:
        return None
    return versions[version or CURRENT_VERSION[system]]
