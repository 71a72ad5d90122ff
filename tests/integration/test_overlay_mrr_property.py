"""A property of the matrix's "kept" (docs/architecture.md#manual-data-overlays-and-the-policy-matrix): on a
system that keeps all manual data, a re-sync in
which nothing changed at the provider changes nothing a reader sees. Random manual data (merges between
random customers, connections of random subscriptions, MRR edits over random intervals, some of them
overlapping an earlier edit and therefore refused) -> every customer's MRR, on several days, and every
overlay are the same after a source re-sync and after a customer re-sync as before them.

The provider is the recorded Stripe business (tests/fixtures/replay), replayed through the real steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from sourcesync import errors
from sourcesync.api.models import MergeRequest, MrrEditRequest, SubscriptionsRequest
from sourcesync.policy_matrix import Action, OverlayKind, Scope, policy
from sourcesync.records import RecordKind, SubscriptionRecord
from sourcesync.services import accounts, customers
from sourcesync.services import overlays as overlay_service
from sourcesync.store.accounts import Principal
from sourcesync.store.dynamo import Item
from sourcesync.store.overlays import get_overlay_store
from sourcesync.systems import System
from tests.fixtures.replay import (
    Replay,
    customer_uuid_of,
    import_source,
    make_source,
    recorded,
    resync,
    subscription_uuid_of,
)

pytestmark = pytest.mark.integration

SYSTEM = System.STRIPE
DAY = recorded().recorded_on
#: before the business started, its first day, inside the monthly periods, after them (yearly ones only)
DAYS = (DAY - timedelta(days=3), DAY, DAY + timedelta(days=4), DAY + timedelta(days=12), DAY + timedelta(days=40))
CUSTOMERS = [c.external_id for c in recorded().business.of(RecordKind.CUSTOMERS)]
SUBSCRIPTIONS = [
    (s.external_id, s.customer_external_id)
    for s in recorded().business.of(RecordKind.SUBSCRIPTIONS)
    if isinstance(s, SubscriptionRecord)
]
OWNER = dict(SUBSCRIPTIONS)


@pytest.fixture
def replay(deployed_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Replay:
    return Replay().install(monkeypatch)


def test_the_system_keeps_all_manual_data() -> None:
    row = policy(SYSTEM)
    assert row is not None
    assert all(row.action(scope, kind) is Action.KEEP for scope in Scope for kind in OverlayKind)


# ---------------------------------------------------------------------------------------------- strategies
@dataclass(frozen=True)
class Merge:
    merged: int
    into: int


@dataclass(frozen=True)
class Connect:
    """Connect subscriptions by their index in SUBSCRIPTIONS (they may belong to customers never merged)."""

    subscriptions: tuple[int, ...]


@dataclass(frozen=True)
class ConnectOwn:
    """Connect `count` different subscriptions of one customer as a reader sees it (its merged members' ones
    included), from the `first`-th of its detail on."""

    customer: int
    first: int
    count: int


@dataclass(frozen=True)
class EditMrr:
    subscription: int
    mrr: int
    start: int  # days from DAY
    length: int | None  # days after the start (inclusive end); None: open-ended


@dataclass(frozen=True)
class EditTwice:
    """An MRR edit, then another of the same subscription that starts inside the first one's interval
    (refused, as it overlaps; the first may itself overlap an earlier edit)."""

    first: EditMrr
    into: int  # days after the first's start
    mrr: int


customer_index = st.integers(0, len(CUSTOMERS) - 1)
subscription_index = st.integers(0, len(SUBSCRIPTIONS) - 1)
mrr_edits = st.builds(
    EditMrr,
    st.one_of(st.integers(0, 2), subscription_index),  # mostly the same few subscriptions: overlaps come up
    st.integers(0, 500_000),
    st.integers(-6, 14),
    st.one_of(st.none(), st.integers(0, 10)),
)
operations = st.one_of(
    st.builds(Merge, customer_index, customer_index),
    st.builds(Connect, st.lists(subscription_index, min_size=2, max_size=3).map(tuple)),
    st.builds(ConnectOwn, customer_index, st.integers(0, 5), st.integers(2, 3)),
    mrr_edits,
    st.builds(EditTwice, mrr_edits, st.integers(0, 10), st.integers(0, 500_000)),
)


# ---------------------------------------------------------------------------------------------- applying them
@dataclass
class Outcome:
    made: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def refuse(self, code: str) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1


def overlaps(a: tuple[date, date | None], b: tuple[date, date | None]) -> bool:
    return (a[1] is None or b[0] <= a[1]) and (b[1] is None or a[0] <= b[1])


@dataclass
class Maker:
    """Makes each overlay through the services, and checks every refusal is one the rules call for."""

    principal: Principal
    source: Item
    outcome: Outcome = field(default_factory=Outcome)
    edits: dict[str, list[tuple[date, date | None, int]]] = field(default_factory=dict)

    def customer(self, external_id: str) -> str:
        return customer_uuid_of(self.principal, self.source, external_id)

    def primary(self, customer_uuid: str) -> str:
        return str(customers.get(self.principal, customer_uuid, DAY)["uuid"])

    def apply(self, op: Any) -> None:
        if isinstance(op, Merge):
            self.merge(op)
        elif isinstance(op, Connect | ConnectOwn):
            self.connect(op)
        elif isinstance(op, EditTwice):
            self.edit(op.first)
            self.edit(replace(op.first, start=op.first.start + op.into, length=0, mrr=op.mrr))
        else:
            self.edit(op)

    def merge(self, op: Merge) -> None:
        merged, into = self.customer(CUSTOMERS[op.merged]), self.customer(CUSTOMERS[op.into])
        request = MergeRequest.model_validate({"from": {"customer_uuid": merged}, "into": {"customer_uuid": into}})
        try:
            overlay_service.merge(self.principal, request, DAY)
            self.outcome.made += 1
        except errors.UnprocessableError as refused:
            assert refused.code == "merge_into_self"
            assert self.primary(merged) == self.primary(into)
            self.outcome.refuse(refused.code)

    def connect(self, op: Connect | ConnectOwn) -> None:
        if isinstance(op, ConnectOwn):
            owner = self.customer(CUSTOMERS[op.customer])
            theirs = [s["external_id"] for s in customers.get(self.principal, owner, DAY)["subscriptions"]]
            if len(theirs) < 2:
                return
            externals = [theirs[(op.first + k) % len(theirs)] for k in range(min(op.count, len(theirs)))]
        else:
            externals = [SUBSCRIPTIONS[i][0] for i in op.subscriptions]
            owner = self.customer(OWNER[externals[0]])
        uuid = self.source["uuid"]
        request = SubscriptionsRequest.model_validate(
            {"subscriptions": [{"data_source_uuid": uuid, "external_id": e} for e in externals]}
        )
        already = self.already_connected(owner, externals)
        try:
            overlay_service.connect(self.principal, owner, request, DAY)
            self.outcome.made += 0 if already else 1  # connecting what is connected already writes nothing
        except errors.UnprocessableError as refused:  # subscriptions of customers that were not merged
            assert refused.code == "subscriptions_of_different_customers"
            assert len({self.primary(self.customer(OWNER[e])) for e in externals}) > 1
            self.outcome.refuse(refused.code)
        except errors.InvalidRequestError:  # the same subscription twice: fewer than two to connect
            assert len(set(externals)) < 2
            self.outcome.refuse("invalid_request")

    def already_connected(self, owner: str, externals: list[str]) -> bool:
        """The subscriptions count as one already (connections hold them all)."""
        uuids = {subscription_uuid_of(self.principal, self.source, e) for e in externals}
        detail = customers.get(self.principal, owner, DAY)
        groups = [{s["uuid"], *s["connected_to"]} for s in detail["subscriptions"]]
        return len(uuids) >= 2 and any(uuids <= group for group in groups)

    def edit(self, op: EditMrr) -> None:
        external = SUBSCRIPTIONS[op.subscription][0]
        start = DAY + timedelta(days=op.start)
        end = None if op.length is None else start + timedelta(days=op.length)
        clash = any(overlaps((start, end), (other[0], other[1])) for other in self.edits.get(external, []))
        request = MrrEditRequest.model_validate({"mrr": op.mrr, "from": start, "to": end})
        subscription = subscription_uuid_of(self.principal, self.source, external)
        try:
            overlay_service.add_mrr_edit(self.principal, subscription, request)
            assert not clash, "an MRR edit overlapping another of the subscription was taken"
            self.edits.setdefault(external, []).append((start, end, op.mrr))
            self.outcome.made += 1
        except errors.MrrEditOverlapError:
            assert clash, "an MRR edit that overlaps no other was refused"
            self.outcome.refuse("mrr_edit_overlap")


# ---------------------------------------------------------------------------------------------- what readers see
def everything_a_reader_sees(principal: Principal) -> dict[str, Any]:
    """Every (primary) customer's list entry on each day, and every customer's detail on DAY (its
    subscriptions' MRR and edits, its overlays)."""
    seen: dict[str, Any] = {}
    for day in DAYS:
        entries, cursor = customers.list_page(principal, None, None, 200, None, day)
        assert cursor is None
        seen[f"list {day}"] = sorted(entries, key=lambda e: e["uuid"])
    seen["details"] = {e["uuid"]: customers.get(principal, e["uuid"], DAY) for e in seen[f"list {DAY}"]}
    seen["overlays"] = sorted(o.to_item()["id"] for o in get_overlay_store().snapshot(principal.account_id).overlays)
    return seen


#: A few seconds an example (an account, an import, two re-syncs): shrinking a failure would take many
#: minutes, so a failure is reported as found (its ops are short and readable).
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(ops=st.lists(operations, min_size=3, max_size=10), customer=customer_index)
def test_a_resync_with_no_change_at_the_provider_changes_no_mrr_and_keeps_every_overlay(
    replay: Replay, ops: list[Any], customer: int
) -> None:
    key = accounts.create_account("mrr property")
    principal = Principal(key.account_id, key.key_id, key.role)
    source = make_source(principal, SYSTEM, replay)
    import_source(principal, source)
    maker = Maker(principal, source)
    for op in ops:
        maker.apply(op)
    outcome = maker.outcome
    event(f"overlays made: {min(outcome.made, 5)}{'+' if outcome.made >= 5 else ''}")
    for code in outcome.refused:
        event(f"refused: {code}")
    before = everything_a_reader_sees(principal)
    for external, edits in maker.edits.items():  # an edit sets its subscription's MRR on its days
        subscription = subscription_uuid_of(principal, source, external)
        for start, end, mrr in edits:
            for day in (d for d in DAYS if start <= d and (end is None or d <= end)):
                assert overlay_service.get_subscription(principal, subscription, day)["mrr"] == mrr
    assert len(before["overlays"]) == outcome.made
    # the merges are seen: a list shows primaries only
    assert len(before[f"list {DAY}"]) <= len(CUSTOMERS)

    job = resync(principal, source, "resync_source")
    assert job["result"]["overlays_removed"] == [] and job["result"]["overlays_orphaned"] == []
    assert everything_a_reader_sees(principal) == before

    job = resync(principal, source, "resync_customer", CUSTOMERS[customer])
    assert job["result"]["overlays_removed"] == [] and job["result"]["overlays_orphaned"] == []
    assert everything_a_reader_sees(principal) == before
