"""Chargebee mapping decisions on single objects (built with the emulator's builders, which the contract
test holds to the SDK's declared shapes): the variants the demo business does not have."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from devstack.emulators import chargebee as cb
from devstack.emulators import chargebee_v1 as cb1
from sourcesync.connectors import chargebee, chargebee_v1
from sourcesync.connectors.base import MappingContext
from sourcesync.records import SubscriptionRecord, TransactionRecord

CTX = cast(MappingContext, None)  # the Chargebee mappers never fetch nested lists
T0 = cb.EPOCH


def sub(**changes: Any) -> dict[str, Any]:
    obj = cb.subscription(
        "sub_1", customer_id="cust_1", status="active", created_at=T0, items=[("basic", "plan", 1, 1000)]
    )
    return {"subscription": {**obj, **changes}}


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"due_invoices_count": 2}, "past_due"),
        ({"status": "transferred"}, "cancelled"),
        ({"status": "non_renewing", "due_invoices_count": 1}, "past_due"),
        ({"status": "in_trial", "due_invoices_count": 1}, "trialing"),
    ],
)
def test_subscription_status(changes: dict[str, Any], status: str) -> None:
    (record,) = chargebee.map_subscription(sub(**changes), CTX)
    assert record.status == status


def test_an_unknown_subscription_status_fails_the_mapping() -> None:
    with pytest.raises(ValueError, match="unknown subscription status 'hibernating'"):
        list(chargebee.map_subscription(sub(status="hibernating"), CTX))


def test_charge_items_of_a_subscription_are_not_subscribed_plans() -> None:
    items = [
        {"item_price_id": "basic", "item_type": "plan", "quantity": 3},
        {"item_price_id": "setup", "item_type": "charge", "quantity": 1},
    ]
    records = list(chargebee.map_subscription(sub(subscription_items=items), CTX))
    assert [(r.external_id, r.plan_external_id, r.quantity) for r in records] == [("sub_1", "basic", 3)]


def test_cancelled_at_is_kept_for_cancelled_subscriptions_only() -> None:
    (active,) = chargebee.map_subscription(sub(cancelled_at=T0 + 10), CTX)
    (cancelled,) = chargebee.map_subscription(sub(status="cancelled", cancelled_at=T0 + 10), CTX)
    assert active.cancelled_at is None
    assert cancelled.cancelled_at == datetime.fromtimestamp(T0 + 10, UTC)


def test_v1_subscription_plan_and_addons() -> None:
    obj = cb1.subscription(
        "sub_9",
        customer_id="cust_9",
        status="active",
        created_at=T0,
        plan_id="basic",
        plan_unit_price=1000,
        plan_quantity=4,
        addons=[("seats", 3, 500), ("support", 1, 900)],
    )
    records = list(chargebee_v1.map_subscription({"subscription": obj}, CTX))
    assert [(r.external_id, r.plan_external_id, r.quantity, r.subscription_set_external_id) for r in records] == [
        ("sub_9", "basic", 4, "sub_9"),
        ("sub_9:seats", "seats", 3, "sub_9"),
        ("sub_9:support", "support", 1, "sub_9"),
    ]
    assert all(isinstance(r, SubscriptionRecord) for r in records)


def test_customer_names_fall_back_on_company_then_email_then_id() -> None:
    base = cb.customer("cust_1", first_name="", last_name="", email="a@example.com", created_at=T0, company="Acme")
    del base["first_name"], base["last_name"]
    assert chargebee.map_customer({"customer": base}, CTX)[0].name == "Acme"
    no_company = {k: v for k, v in base.items() if k != "company"}
    no_company["billing_address"] = {"country": "FR"}
    assert chargebee.map_customer({"customer": no_company}, CTX)[0].name == "a@example.com"
    bare = {"id": "cust_2", "created_at": T0}
    record = chargebee.map_customer({"customer": bare}, CTX)[0]
    assert (record.name, record.email, record.country, record.currency) == ("cust_2", None, None, None)
    assert chargebee.map_customer({"customer": {**base, "deleted": True}}, CTX) == []


def _invoice(**changes: Any) -> dict[str, Any]:
    line = cb.line_item(
        "li_1",
        customer_id="cust_1",
        entity_type="charge_item_price",
        entity_id="setup",
        unit_amount=2500,
        date_from=T0,
        date_to=T0,
    )
    return {"invoice": {**cb.invoice("inv_1", customer_id="cust_1", date=T0, lines=[line]), **changes}}


@pytest.mark.parametrize("status", ["pending", "voided"])
def test_pending_and_voided_invoices_are_skipped(status: str) -> None:
    assert chargebee.map_invoice(_invoice(status=status), CTX) == []


def test_a_charge_line_is_one_time() -> None:
    (record,) = chargebee.map_invoice(_invoice(status="payment_due"), CTX)
    (line,) = record.line_items
    assert (line.type, line.subscription_external_id, line.plan_external_id, line.amount_in_cents) == (
        "one_time",
        None,
        None,
        2500,
    )


def test_an_invoice_cut_short_fails_rather_than_importing_part_of_it() -> None:
    with pytest.raises(ValueError, match="more line items"):
        chargebee.map_invoice(_invoice(line_items_next_offset='["10"]'), CTX)


def test_a_payment_applied_to_two_invoices_gives_one_record_per_invoice() -> None:
    txn = cb.transaction("txn_1", customer_id="cust_1", date=T0, amount=3000, invoice_id="inv_1")
    txn["linked_invoices"].append({**txn["linked_invoices"][0], "invoice_id": "inv_2", "applied_amount": 1000})
    txn["linked_invoices"][0]["applied_amount"] = 2000
    records = chargebee.map_transaction({"transaction": txn}, CTX)
    assert [(r.external_id, r.invoice_external_id, r.amount_in_cents) for r in records] == [
        ("txn_1:inv_1", "inv_1", 2000),
        ("txn_1:inv_2", "inv_2", 1000),
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "authorization"},
        {"status": "in_progress"},
        {"status": "needs_attention"},
        {"linked_invoices": []},  # money not applied to an invoice (excess payment)
        {"deleted": True},
    ],
)
def test_transactions_that_give_no_record(changes: dict[str, Any]) -> None:
    txn = cb.transaction("txn_1", customer_id="cust_1", date=T0, amount=3000, invoice_id="inv_1")
    assert chargebee.map_transaction({"transaction": {**txn, **changes}}, CTX) == []


def test_a_payment_reversal_is_a_refund_on_its_invoice() -> None:
    txn = cb.transaction(
        "txn_r", customer_id="cust_1", date=T0, amount=300, txn_type="payment_reversal", invoice_id="inv_1"
    )
    assert chargebee.map_transaction({"transaction": txn}, CTX) == [
        TransactionRecord(
            external_id="txn_r",
            invoice_external_id="inv_1",
            customer_external_id="cust_1",
            type="refund",
            date=datetime.fromtimestamp(T0, UTC),
            result="successful",
            amount_in_cents=300,
        )
    ]


def test_item_prices() -> None:
    tiered = cb.item_price("tiered", item_id="t", name="Tiered", price=0, period=3, period_unit="month")
    tiered = {k: v for k, v in tiered.items() if k != "price"} | {"pricing_model": "tiered"}
    (plan,) = chargebee.map_item_price({"item_price": tiered}, CTX)
    assert (plan.interval_count, plan.interval_unit, plan.amount_in_cents) == (3, "month", None)
    charge = cb.item_price(
        "setup", item_id="s", name="Setup", price=100, period=None, period_unit=None, item_type="charge"
    )
    assert chargebee.map_item_price({"item_price": charge}, CTX) == []


def test_v1_plans_and_addons() -> None:
    plan = cb1.plan("p", name="P", price=100, period=2, period_unit="week")
    assert [(r.name, r.interval_count, r.interval_unit) for r in chargebee_v1.map_plan({"plan": plan}, CTX)] == [
        ("P", 2, "week")
    ]
    assert chargebee_v1.map_plan({"addon": cb1.addon("once", name="Once", price=1, recurring=False)}, CTX) == []
    (addon,) = chargebee_v1.map_plan({"addon": cb1.addon("a", name="A", price=7, recurring=True)}, CTX)
    assert (addon.external_id, addon.amount_in_cents) == ("a", 7)


def test_list_sequence_cursors() -> None:
    """`kit.sequence.ListSequence` (chargebee_v1's plans, then addons): the cursor names the list and the
    inner cursor; a cursor it did not make is refused."""
    from sourcesync.connectors.errors import ConnectorConfigError
    from sourcesync.connectors.kit.sequence import ListSequence

    sequence = ListSequence(("/plans", "/addons"), chargebee.PAGINATION)
    assert sequence.request("/ignored", {}, None, 100).path == "/plans"
    assert sequence.request("/ignored", {}, "1", 100).params == {"limit": 100}
    assert sequence.request("/ignored", {}, "1:tok", 100).params == {"limit": 100, "offset": "tok"}
    assert sequence.request("/ignored", {}, "1:tok", 100).path == "/addons"
    assert sequence.parse({"list": [], "next_offset": "t2"}, 100, None, {}).next_cursor == "0:t2"
    assert sequence.parse({"list": []}, 100, "0:t2", {}).next_cursor == "1"
    assert sequence.parse({"list": []}, 100, "1", {}).next_cursor is None
    for bad in ("2", "x:1", ":1"):
        with pytest.raises(ConnectorConfigError):
            sequence.request("/ignored", {}, bad, 100)
