"""The policy matrix, cell by cell, on the real re-sync steps
(docs/architecture.md#manual-data-overlays-and-the-policy-matrix).

One case per cell: every system x every kind of manual data x both re-sync scopes. Each imports a source
(recorded Stripe records, replayed for whatever system: tests/fixtures/replay), makes one overlay of the
kind through the real service functions, re-syncs with the real steps (`apply_overlays` included) and checks
what the matrix data (`policy_matrix.policy`) says for the cell: kept, removed or n/a; `custom` sources are
never re-synced. The expected action comes from the matrix itself; `test_the_matrix_says_what_spec_3_says`
pins a few cells to the documented table, so that a wrong table fails too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from sourcesync import errors
from sourcesync.api.import_models import ImportCustomersRequest, ImportInvoicesRequest, ImportPlansRequest
from sourcesync.api.models import DataSourceCreateRequest, MergeRequest, MrrEditRequest, SubscriptionsRequest
from sourcesync.policy_matrix import Action, OverlayKind, Scope, policy
from sourcesync.records import InvoiceRecord, RecordKind, TransactionRecord
from sourcesync.services import accounts, customers, data_sources, imports, resync
from sourcesync.services import overlays as overlay_service
from sourcesync.store.accounts import Principal
from sourcesync.store.dynamo import Item
from sourcesync.store.jobs import get_job_store
from sourcesync.store.overlays import get_overlay_store
from sourcesync.store.sources import get_source_store
from sourcesync.systems import SYSTEMS, System
from tests.fixtures.replay import (
    Replay,
    customer_uuid_of,
    import_source,
    make_source,
    recorded,
    subscription_uuid_of,
)
from tests.fixtures.replay import resync as run_resync

pytestmark = pytest.mark.integration

DAY = recorded().recorded_on  # every recorded monthly service period covers it
#: the story's customer whose detail lists the overlay `make` makes of each kind
READER = {
    OverlayKind.MERGED_CUSTOMERS: "yearly",
    OverlayKind.CONNECTED_SUBSCRIPTIONS: "two products",
    OverlayKind.EDITED_MRR: "monthly",
}
CELLS = [(system, kind, scope) for system in System for kind in OverlayKind for scope in Scope]


@pytest.fixture
def principal(deployed_stack: Any) -> Principal:
    key = accounts.create_account("matrix")
    return Principal(key.account_id, key.key_id, key.role)


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Replay:
    return Replay().install(monkeypatch)


# ---------------------------------------------------------------------------------------------- overlays
@dataclass(frozen=True)
class Made:
    """An overlay made by hand: its id, the customer whose detail lists it, the customer a customer re-sync
    re-fetches (one the overlay touches), and what other customer it moved (a merge's merged-away one)."""

    id: str
    kind: OverlayKind
    reader: str
    resynced_customer: str
    merged_away: str | None = None


def make(principal: Principal, source: Item, kind: OverlayKind) -> Made:
    """One overlay of `kind` on the recorded business, through the services the API calls."""
    story, uuid = recorded(), source["uuid"]
    if kind is OverlayKind.MERGED_CUSTOMERS:
        monthly, yearly = story.customer("monthly"), story.customer("yearly")
        request = MergeRequest.model_validate(
            {
                "from": {"data_source_uuid": uuid, "external_id": monthly},
                "into": {"customer_uuid": customer_uuid_of(principal, source, yearly)},
            }
        )
        merged = overlay_service.merge(principal, request, DAY)
        assert merged["uuid"] == customer_uuid_of(principal, source, yearly)
        (made,) = merged["overlays"]["merges"]
        return Made(made["id"], kind, merged["uuid"], monthly, customer_uuid_of(principal, source, monthly))
    if kind is OverlayKind.CONNECTED_SUBSCRIPTIONS:
        owner = story.customer("two products")
        first, second = story.subscriptions_of("two products")
        request = SubscriptionsRequest.model_validate(
            {
                "subscriptions": [
                    {"data_source_uuid": uuid, "external_id": first},
                    {"data_source_uuid": uuid, "uuid": subscription_uuid_of(principal, source, second)},
                ]
            }
        )
        connected = overlay_service.connect(principal, customer_uuid_of(principal, source, owner), request, DAY)
        (made,) = connected["overlays"]["connected_subscriptions"]
        return Made(made["id"], kind, connected["uuid"], owner)
    owner = story.customer("monthly")
    (subscription,) = story.subscriptions_of("monthly")
    edit = MrrEditRequest.model_validate({"mrr": 12345, "from": DAY - timedelta(days=2), "to": DAY + timedelta(days=5)})
    made = overlay_service.add_mrr_edit(principal, subscription_uuid_of(principal, source, subscription), edit)
    return Made(made["id"], kind, customer_uuid_of(principal, source, owner), owner)


def listed(detail: dict[str, Any], made: Made) -> list[dict[str, Any]]:
    return [o for o in detail["overlays"][made.kind.value] if o["id"] == made.id]


def stored(principal: Principal, overlay_id: str) -> Any:
    return next((o for o in get_overlay_store().snapshot(principal.account_id).overlays if o.id == overlay_id), None)


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in entries]


# ---------------------------------------------------------------------------------------------- the cells
@pytest.mark.parametrize(
    ("system", "kind", "scope"), CELLS, ids=[f"{s.value}-{k.value}-{c.value}" for s, k, c in CELLS]
)
def test_a_resync_does_to_manual_data_what_the_matrix_says(
    principal: Principal, replay: Replay, system: System, kind: OverlayKind, scope: Scope
) -> None:
    row = policy(system)
    if row is None:
        assert system is System.CUSTOM
        refused_for_a_custom_source(principal, kind, scope)
        return
    source = make_source(principal, system, replay)
    import_source(principal, source)
    action = row.action(scope, kind)
    if action is Action.NOT_APPLICABLE:
        refused_where_not_applicable(principal, source, kind, scope)
        return
    reader = customer_uuid_of(principal, source, recorded().customer(READER[kind]))
    before_overlay = customers.get(principal, reader, DAY)
    made = make(principal, source, kind)
    with_overlay = customers.get(principal, made.reader, DAY)
    assert with_overlay["uuid"] == before_overlay["uuid"] and len(listed(with_overlay, made)) == 1
    if not SYSTEMS[system].crm:  # the overlay shows in the MRR (a CRM has none)
        assert with_overlay["mrr"] != before_overlay["mrr"]
    checks = kept if action is Action.KEEP else removed
    checks(principal, source, made, scope, before_overlay, with_overlay)


def kept(
    principal: Principal,
    source: Item,
    made: Made,
    scope: Scope,
    before_overlay: dict[str, Any],
    with_overlay: dict[str, Any],
) -> None:
    def while_switched() -> None:
        assert customers.get(principal, made.reader, DAY) == with_overlay

    job = run_resync(principal, source, scope.value, made.resynced_customer, while_switched)
    result = job["result"]
    assert made.id not in ids(result["overlays_removed"]) and made.id not in ids(result["overlays_orphaned"])
    after = customers.get(principal, made.reader, DAY)
    assert after == with_overlay  # the same customer, the same MRR, the overlay listed as before
    (shown,) = listed(after, made)
    assert shown["orphaned"] is False
    assert stored(principal, made.id) is not None and stored(principal, made.id).removed is None
    if made.merged_away is not None:  # the merged-away customer still answers as its primary
        assert customers.get(principal, made.merged_away, DAY)["uuid"] == made.reader


def removed(
    principal: Principal,
    source: Item,
    made: Made,
    scope: Scope,
    before_overlay: dict[str, Any],
    with_overlay: dict[str, Any],
) -> None:
    def not_yet_switched() -> None:
        # marked for removal, not committed: readers still see it (a failed re-sync would unmark it)
        marked = stored(principal, made.id)
        assert marked is not None and marked.removed is not None
        assert customers.get(principal, made.reader, DAY) == with_overlay

    def while_switched() -> None:
        # committed, not yet cleaned up: gone for readers, still stored
        assert customers.get(principal, made.reader, DAY) == before_overlay
        assert stored(principal, made.id) is not None

    job = run_resync(principal, source, scope.value, made.resynced_customer, while_switched, not_yet_switched)
    result = job["result"]
    assert ids(result["overlays_removed"]) == [made.id]
    assert result["overlays_removed"][0]["kind"] == made.kind.value
    assert made.id not in ids(result["overlays_orphaned"])
    after = customers.get(principal, made.reader, DAY)
    assert after == before_overlay  # as if the overlay had never been made: the MRR is the imported one
    assert listed(after, made) == []
    assert stored(principal, made.id) is None  # physically deleted once the job finished
    if made.merged_away is not None:  # the merged-away customer is a customer of its own again
        assert customers.get(principal, made.merged_away, DAY)["uuid"] == made.merged_away


def refused_where_not_applicable(principal: Principal, source: Item, kind: OverlayKind, scope: Scope) -> None:
    """A CRM has no subscriptions and no MRR: the write is refused with 422 overlay_not_applicable (the matrix's
    n/a, checked before looking the subscription up) and writes nothing."""
    assert SYSTEMS[System(source["system"])].crm
    stored_source = get_source_store().get(principal.account_id, source["uuid"])
    assert stored_source is not None and stored_source["counts"]["subscriptions"] == 0
    with pytest.raises(errors.UnprocessableError) as refused:
        make(principal, source, kind)
    assert refused.value.code == "overlay_not_applicable"
    assert get_overlay_store().snapshot(principal.account_id).overlays == []
    story = recorded()
    owner = story.customer("two products" if kind is OverlayKind.CONNECTED_SUBSCRIPTIONS else "monthly")
    before = customers.get(principal, customer_uuid_of(principal, source, owner), DAY)
    assert before["subscriptions"] == [] and before["mrr"] == 0
    # and the re-sync of that scope has nothing to remove or report
    job = run_resync(principal, source, scope.value, owner)
    assert job["result"]["overlays_removed"] == [] and job["result"]["overlays_orphaned"] == []
    assert customers.get(principal, before["uuid"], DAY) == before


# ---------------------------------------------------------------------------------------------- custom
def push_recorded_business(principal: Principal, uuid: str) -> None:
    """The recorded business, pushed through the Import API's services (bodies as in the API)."""
    business = recorded().business
    imports.import_customers(
        principal,
        uuid,
        ImportCustomersRequest.model_validate(
            {
                "customers": [
                    {"external_id": c.external_id, "name": c.name, "email": c.email, "country": c.country}
                    for c in business.of(RecordKind.CUSTOMERS)
                ]
            }
        ),
    )
    imports.import_plans(
        principal,
        uuid,
        ImportPlansRequest.model_validate(
            {
                "plans": [
                    p.model_dump(mode="json", include={"external_id", "name", "interval_count", "interval_unit"})
                    for p in business.of(RecordKind.PLANS)
                ]
            }
        ),
    )
    transactions = [t for t in business.of(RecordKind.TRANSACTIONS) if isinstance(t, TransactionRecord)]
    line_fields = {
        "type",
        "subscription_external_id",
        "plan_external_id",
        "service_period_start",
        "service_period_end",
        "amount_in_cents",
        "quantity",
    }
    invoices = [
        {
            "external_id": i.external_id,
            "customer_external_id": i.customer_external_id,
            "date": i.date.isoformat(),
            "currency": i.currency,
            "line_items": [li.model_dump(mode="json", include=line_fields) for li in i.line_items],
            "transactions": [
                t.model_dump(mode="json", include={"external_id", "type", "date", "result", "amount_in_cents"})
                for t in transactions
                if t.invoice_external_id == i.external_id
            ],
        }
        for i in business.of(RecordKind.INVOICES)
        if isinstance(i, InvoiceRecord)
    ]
    imports.import_invoices(principal, uuid, ImportInvoicesRequest.model_validate({"invoices": invoices}))


def refused_for_a_custom_source(principal: Principal, kind: OverlayKind, scope: Scope) -> None:
    """A custom source takes manual data like any other, but is never re-synced (422 resync_not_supported):
    nothing starts, and its manual data stays as it is."""
    source = data_sources.create(
        principal, DataSourceCreateRequest.model_validate({"name": "Pushed", "system": "custom"})
    )["data_source"]
    uuid = source["uuid"]
    push_recorded_business(principal, uuid)
    stored_source = get_source_store().get(principal.account_id, uuid)
    assert stored_source is not None
    made = make(principal, stored_source, kind)
    with_overlay = customers.get(principal, made.reader, DAY)
    start: Callable[[], Any]
    if scope is Scope.SOURCE:

        def start() -> Any:
            return resync.start(principal, uuid)
    else:
        customer = customer_uuid_of(principal, stored_source, made.resynced_customer)

        def start() -> Any:
            return resync.start_customer_resync(principal, uuid, customer)

    with pytest.raises(errors.UnprocessableError) as refused:
        start()
    assert refused.value.code == "resync_not_supported"
    assert "delete the source" in refused.value.message.lower() and "support" in refused.value.message
    with pytest.raises(errors.UnprocessableError):
        resync.preview(principal, uuid)  # nor is there a re-sync to preview
    assert get_job_store().list_for_source(uuid, 50, None)[0] == []
    after_source = get_source_store().get(principal.account_id, uuid)
    assert after_source is not None and "current_job_id" not in after_source and after_source["status"] == "active"
    assert customers.get(principal, made.reader, DAY) == with_overlay
    assert stored(principal, made.id) is not None


# ---------------------------------------------------------------------------------------------- the documented table
def test_the_matrix_says_what_the_documented_table_says() -> None:
    """A few cells, literally from docs/architecture.md's table (not derived from the table under test)."""
    kept_, removed_, na = Action.KEEP, Action.REMOVE, Action.NOT_APPLICABLE
    con, mrr, mrg = OverlayKind.CONNECTED_SUBSCRIPTIONS, OverlayKind.EDITED_MRR, OverlayKind.MERGED_CUSTOMERS
    source, customer = Scope.SOURCE, Scope.CUSTOMER
    expected = {
        # stripe keeps everything, on both scopes
        (System.STRIPE, source, con): kept_,
        (System.STRIPE, source, mrr): kept_,
        (System.STRIPE, source, mrg): kept_,
        (System.STRIPE, customer, con): kept_,
        (System.STRIPE, customer, mrr): kept_,
        (System.STRIPE, customer, mrg): kept_,
        # gocardless removes connections on both scopes, keeps the rest
        (System.GOCARDLESS, source, con): removed_,
        (System.GOCARDLESS, customer, con): removed_,
        (System.GOCARDLESS, source, mrr): kept_,
        (System.GOCARDLESS, customer, mrg): kept_,
        (System.CHARGEBEE_V1, customer, con): removed_,
        (System.CHARGEBEE, source, con): kept_,
        # paddle (SaaSync): removed after re-syncing the source, kept after re-syncing a customer
        (System.PADDLE, source, con): removed_,
        (System.PADDLE, source, mrr): removed_,
        (System.PADDLE, source, mrg): removed_,
        (System.PADDLE, customer, con): kept_,
        (System.PADDLE, customer, mrr): kept_,
        (System.PADDLE, customer, mrg): kept_,
        (System.XERO, source, mrg): removed_,
        # hubspot: no subscriptions, no MRR; merges kept
        (System.HUBSPOT, source, mrr): na,
        (System.HUBSPOT, customer, mrr): na,
        (System.HUBSPOT, source, con): na,
        (System.HUBSPOT, source, mrg): kept_,
        (System.SEGMENT, customer, mrg): kept_,
    }
    got = {}
    for system, scope, kind in expected:
        row = policy(system)
        assert row is not None, system
        got[(system, scope, kind)] = row.action(scope, kind)
    assert got == expected
    assert policy(System.CUSTOM) is None  # no row: a custom source is never re-synced
    assert {s for s in System if policy(s) is None} == {System.CUSTOM}


def test_every_cell_is_covered_once() -> None:
    assert len(CELLS) == len(System) * 3 * 2 == 96
    actions = {(s, k, c): (row.action(c, k) if (row := policy(s)) is not None else "refused") for s, k, c in CELLS}
    assert set(actions.values()) == {Action.KEEP, Action.REMOVE, Action.NOT_APPLICABLE, "refused"}


# ---------------------------------------------------------------------------------------------- orphans, dry run
@pytest.mark.parametrize("scope", list(Scope), ids=[s.value for s in Scope])
def test_a_kept_overlay_whose_records_vanished_is_kept_and_reported_as_orphaned(
    principal: Principal, replay: Replay, scope: Scope
) -> None:
    story = recorded()
    source = make_source(principal, System.STRIPE, replay)
    import_source(principal, source)
    connection = make(principal, source, OverlayKind.CONNECTED_SUBSCRIPTIONS)
    edit = make(principal, source, OverlayKind.EDITED_MRR)
    churned, yearly = story.customer("churned"), story.customer("yearly")
    overlay_service.merge(
        principal,
        MergeRequest.model_validate(
            {
                "from": {"data_source_uuid": source["uuid"], "external_id": churned},
                "into": {"data_source_uuid": source["uuid"], "external_id": yearly},
            }
        ),
        DAY,
    )
    merge_id = next(
        o.id for o in get_overlay_store().snapshot(principal.account_id).overlays if o.kind.value == "merges"
    )
    # at the provider, one of the connected subscriptions and the merged-away customer are gone
    vanished_subscription = story.subscriptions_of("two products")[1]
    replay.businesses[source["uuid"]] = story.business.without([vanished_subscription, churned])

    job = run_resync(principal, source, scope.value, story.customer("two products"))

    result = job["result"]
    assert result["overlays_removed"] == []
    orphaned = {connection.id} if scope is Scope.CUSTOMER else {connection.id, merge_id}
    assert set(ids(result["overlays_orphaned"])) == orphaned  # the MRR edit's records are all there
    assert all(o["orphaned"] is True for o in result["overlays_orphaned"])
    assert {o.id for o in get_overlay_store().snapshot(principal.account_id).overlays} == {
        connection.id,
        edit.id,
        merge_id,
    }
    two_products = customers.get(principal, connection.reader, DAY)
    (shown,) = listed(two_products, connection)
    assert shown["orphaned"] is True
    assert subscription_uuid_of(principal, source, vanished_subscription) not in {
        s["uuid"] for s in two_products["subscriptions"]
    }
    (shown_edit,) = listed(customers.get(principal, edit.reader, DAY), edit)
    assert shown_edit["orphaned"] is False


@pytest.mark.parametrize("system", [System.PADDLE, System.GOCARDLESS], ids=lambda s: s.value)
def test_the_dry_run_lists_exactly_what_the_source_resync_then_removes(
    principal: Principal, replay: Replay, system: System
) -> None:
    source = make_source(principal, system, replay)
    import_source(principal, source)
    made = {kind: make(principal, source, kind) for kind in OverlayKind}
    row = policy(system)
    assert row is not None
    expected = {made[k].id for k in OverlayKind if row.action(Scope.SOURCE, k) is Action.REMOVE}
    assert expected  # a removing system

    preview = overlay_service.overlays_removed_by_resync(principal.account_id, source["uuid"], "resync_source")
    assert set(ids(preview)) == expected
    assert resync.preview(principal, source["uuid"]) == {"overlays_removed": preview}  # the API's ?dry_run=true
    assert [j["kind"] for j in get_job_store().list_for_source(source["uuid"], 50, None)[0]] == ["import"]
    assert len(get_overlay_store().snapshot(principal.account_id).overlays) == len(OverlayKind)  # nothing removed

    job = run_resync(principal, source, "resync_source")
    assert sorted(job["result"]["overlays_removed"], key=lambda o: o["id"]) == sorted(preview, key=lambda o: o["id"])
    left = {o.id for o in get_overlay_store().snapshot(principal.account_id).overlays}
    assert left == {m.id for m in made.values()} - expected


def test_the_matrix_refuses_manual_data_a_crm_does_not_have_even_if_its_records_had_some(
    principal: Principal, replay: Replay
) -> None:
    """Were a CRM source ever to hold subscriptions, the matrix's n/a still refuses connections and MRR edits
    (422 overlay_not_applicable), while merges, which it keeps, are taken."""
    source = make_source(principal, System.HUBSPOT, replay)
    replay.businesses[source["uuid"]] = recorded().business  # subscriptions too, unlike `for_system`
    import_source(principal, source)
    for kind in (OverlayKind.CONNECTED_SUBSCRIPTIONS, OverlayKind.EDITED_MRR):
        with pytest.raises(errors.UnprocessableError) as refused:
            make(principal, source, kind)
        assert refused.value.code == "overlay_not_applicable"
    assert get_overlay_store().snapshot(principal.account_id).overlays == []
    merge = make(principal, source, OverlayKind.MERGED_CUSTOMERS)
    assert stored(principal, merge.id) is not None
