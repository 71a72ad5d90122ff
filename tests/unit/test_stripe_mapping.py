"""Stripe mapping and the connector contract, against recorded (spec-derived) Stripe answers.

The emulator test (tests/integration/test_stripe_connector_emulator.py) covers what localstripe has;
this module covers what it lacks: prices, multi-item subscriptions, discounts, nested lists with
`has_more`, refunds that failed or are pending, 429 with Retry-After, `created` windows. The fixtures
and their origin are described in tests/fixtures/stripe/README.md.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from sourcesync.connectors import (
    Connector,
    ConnectorConfigError,
    CredentialsInvalidError,
    Partition,
    RecordMappingError,
    build_connector,
    get_connector_spec,
)
from sourcesync.connectors.base import (
    BasicAuth,
    ConnectorSpec,
    NextLinkPagination,
    NextTokenPagination,
    PageNumberPagination,
    RequestSpec,
    Stream,
)
from sourcesync.connectors.limits import RateLimit
from sourcesync.connectors.stripe import (
    PRICES_STREAM,
    SPEC,
    STRIPE_API_BASE,
    STRIPE_API_VERSION,
    map_charge,
    map_customer,
    map_invoice,
    map_line_item,
    map_plan,
    map_subscription,
)
from sourcesync.records import CustomerRecord, InvoiceRecord, RecordKind, SubscriptionRecord, TransactionRecord

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


class NoNestedLists:
    """A mapping context for objects whose nested lists are complete: any fetch is a test failure."""

    def get_json(self, path: str, params: Any = None) -> Any:
        raise AssertionError(f"unexpected GET {path}")

    def list_all(self, path: str, params: Any = None, *, start_cursor: str | None = None) -> Any:
        raise AssertionError(f"unexpected list of {path}")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def stripe(fake_time: FakeTime | None = None, **options: Any) -> Connector:
    """A Stripe connector against the real API's address (answers come from `responses`)."""
    clock = fake_time or FakeTime()
    return Connector(
        SPEC,
        {"api_key": KEY},
        options,
        clock=lambda: clock.now,
        wall_clock=lambda: 1_711_929_600 + clock.now,
        sleep=clock.sleep,
        random=lambda: 0.0,
    )


def stripe_list(*objects: dict[str, Any], has_more: bool = False, url: str = "/v1/x") -> dict[str, Any]:
    return {"object": "list", "url": url, "has_more": has_more, "data": list(objects)}


CTX = NoNestedLists()

# --------------------------------------------------------------------------------------------------
# Customers and plans (prices)
# --------------------------------------------------------------------------------------------------


def test_customers_map_with_fallbacks_for_a_missing_name() -> None:
    named, unnamed = fixture("customers_page.json")["data"]

    assert map_customer(named, CTX) == [
        CustomerRecord(
            external_id="cus_QXg1o8vcGmoR32",
            name="Jenny Rosen",
            email="jenny.rosen@example.com",
            country="DE",
            currency="EUR",
            created_at=at(2024, 3, 1),
        )
    ]
    [record] = map_customer(unnamed, CTX)
    assert (record.name, record.country, record.currency) == ("no.name@example.com", "FR", None)
    assert record.created_at is not None and record.created_at.tzinfo is UTC


def test_deleted_customers_give_no_record() -> None:
    assert map_customer({"id": "cus_gone", "object": "customer", "deleted": True}, CTX) == []


def test_recurring_prices_map_to_plans_and_one_time_prices_to_nothing() -> None:
    monthly, quarterly, one_time = fixture("prices_page.json")["data"]

    [plan] = map_plan(monthly, CTX)
    assert plan.model_dump() == {
        "external_id": "price_1PgafmB7WZ01zgkW6dKueIc5",
        "name": "Team plan",  # the expanded product's name (no nickname)
        "interval_count": 1,
        "interval_unit": "month",
        "currency": "USD",
        "amount_in_cents": 2000,
    }
    [tiered] = map_plan(quarterly, CTX)
    assert (tiered.name, tiered.interval_count, tiered.interval_unit, tiered.amount_in_cents) == (
        "Seats, quarterly",
        3,
        "month",
        None,  # tiered: no single amount
    )
    assert map_plan(one_time, CTX) == []


def test_a_plan_and_the_price_it_mirrors_map_to_the_same_record() -> None:
    price = fixture("prices_page.json")["data"][0]
    plan = fixture("subscription_multi_item.json")["items"]["data"][0]["plan"]
    plan = {**plan, "product": price["product"], "nickname": None}
    assert map_plan(plan, CTX) == map_plan(price, CTX)


def test_prices_stream_lists_only_recurring_prices() -> None:
    assert PRICES_STREAM.path == "/v1/prices"
    assert PRICES_STREAM.params["type"] == "recurring"
    assert PRICES_STREAM.mapper is map_plan


# --------------------------------------------------------------------------------------------------
# Subscriptions
# --------------------------------------------------------------------------------------------------


def test_a_multi_item_subscription_gives_one_record_per_item() -> None:
    records = list(map_subscription(fixture("subscription_multi_item.json"), CTX))

    assert records == [
        SubscriptionRecord(
            external_id="si_QXhVnC2h0Jczwc",
            customer_external_id="cus_QXg1o8vcGmoR32",
            plan_external_id="price_1PgafmB7WZ01zgkW6dKueIc5",
            subscription_set_external_id="sub_1Pgc6rB7WZ01zgkWNy0Cn5nw",
            quantity=5,
            status="active",
            currency="USD",
            started_at=at(2024, 2, 1),  # the (backdated) start_date, not the creation
        ),
        SubscriptionRecord(
            external_id="si_QXhVBoJ7NQdNXh",
            customer_external_id="cus_QXg1o8vcGmoR32",
            plan_external_id="price_1PgafmB7WZ01zgkWAddOn",
            subscription_set_external_id="sub_1Pgc6rB7WZ01zgkWNy0Cn5nw",
            quantity=1,  # metered: Stripe gives no quantity
            status="active",
            currency="USD",
            started_at=at(2024, 4, 1),  # added a month later: starts when it was added
        ),
    ]


@pytest.mark.parametrize(
    ("changes", "status", "cancelled_at"),
    [
        ({"status": "canceled", "canceled_at": 1711000000, "ended_at": 1711929600}, "cancelled", at(2024, 4, 1)),
        ({"status": "canceled", "canceled_at": 1711929600, "ended_at": None}, "cancelled", at(2024, 4, 1)),
        ({"status": "incomplete_expired", "ended_at": 1709337600}, "cancelled", at(2024, 3, 2)),
        ({"status": "active", "cancel_at_period_end": True, "canceled_at": 1711000000}, "active", None),
        ({"status": "trialing"}, "trialing", None),
        ({"status": "past_due"}, "past_due", None),
        ({"status": "unpaid"}, "unpaid", None),
        ({"status": "incomplete"}, "incomplete", None),
        ({"status": "paused"}, "unpaid", None),
    ],
    ids=[
        "canceled-at-period-end",
        "canceled-now",
        "incomplete-expired",
        "cancellation-scheduled",
        "trialing",
        "past-due",
        "unpaid",
        "incomplete",
        "paused",
    ],
)
def test_subscription_status_and_cancellation(
    changes: dict[str, Any], status: str, cancelled_at: datetime | None
) -> None:
    subscription = {**fixture("subscription_multi_item.json"), **changes}
    records = list(map_subscription(subscription, CTX))
    assert {(r.status, r.cancelled_at) for r in records} == {(status, cancelled_at)}


@responses.activate
def test_an_unknown_status_fails_the_mapping_without_leaking_data() -> None:
    subscription = {**fixture("subscription_multi_item.json"), "status": "hibernating"}
    responses.get(f"{STRIPE_API_BASE}/v1/subscriptions", json=stripe_list(subscription))

    with pytest.raises(RecordMappingError) as caught:
        stripe().fetch_page(Partition(kind=RecordKind.SUBSCRIPTIONS, key="subscriptions"))
    assert "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw" in str(caught.value)


@responses.activate
def test_subscription_items_beyond_the_embedded_page_are_fetched() -> None:
    subscription = copy.deepcopy(fixture("subscription_multi_item.json"))
    first, second = subscription["items"]["data"]
    subscription["items"] = {**subscription["items"], "data": [first], "has_more": True}
    responses.get(f"{STRIPE_API_BASE}/v1/subscriptions", json=stripe_list(subscription))
    responses.get(
        f"{STRIPE_API_BASE}/v1/subscription_items",
        json=stripe_list(second),
        match=[
            matchers.query_param_matcher(
                {"subscription": subscription["id"], "starting_after": first["id"], "limit": "100"}
            )
        ],
    )

    page = stripe().fetch_page(Partition(kind=RecordKind.SUBSCRIPTIONS, key="subscriptions"))

    assert [r.external_id for r in page.records] == [first["id"], second["id"]]


# --------------------------------------------------------------------------------------------------
# Invoices and line items
# --------------------------------------------------------------------------------------------------


@responses.activate
def test_an_invoice_with_discounts_prorations_and_paged_lines() -> None:
    invoice = fixture("invoice_with_discounts.json")
    responses.get(
        f"{STRIPE_API_BASE}/v1/invoices",
        json=stripe_list(invoice),
        match=[matchers.header_matcher({"Stripe-Version": STRIPE_API_VERSION, "Authorization": f"Bearer {KEY}"})],
    )
    responses.get(
        f"{STRIPE_API_BASE}/v1/invoices/{invoice['id']}/lines",
        json=fixture("invoice_lines_page2.json"),
        match=[matchers.query_param_matcher({"starting_after": "il_1Pgc6sB7WZ01zgkWProration", "limit": "100"})],
    )

    page = stripe().fetch_page(Partition(kind=RecordKind.INVOICES, key="invoices"))

    [record] = page.records
    assert isinstance(record, InvoiceRecord)
    assert (record.external_id, record.customer_external_id, record.currency) == (
        "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
        "cus_QXg1o8vcGmoR32",
        "USD",
    )
    assert record.date == at(2024, 4, 1, 1)  # effective_at
    assert record.total_in_cents == 10950
    subscription_line, proration, setup_fee = record.line_items
    assert subscription_line.model_dump() == {
        "external_id": "il_1Pgc6sB7WZ01zgkWSubLine",
        "type": "subscription",
        "subscription_external_id": "si_QXhVnC2h0Jczwc",
        "plan_external_id": "price_1PgafmB7WZ01zgkW6dKueIc5",
        "service_period_start": at(2024, 4, 1),
        "service_period_end": at(2024, 5, 1),
        "amount_in_cents": 7500,  # 10000 less the 2500 discount
        "quantity": 5,
        "discount_amount_in_cents": 2500,
        "description": "5 × Team plan (at $20.00 / month)",
        "cancelled_at": None,
    }
    assert (proration.type, proration.subscription_external_id, proration.amount_in_cents) == (
        "subscription",
        "si_QXhVnC2h0Jczwc",
        -1000,
    )
    assert (setup_fee.type, setup_fee.subscription_external_id, setup_fee.plan_external_id) == ("one_time", None, None)
    assert (setup_fee.amount_in_cents, setup_fee.discount_amount_in_cents) == (4450, 550)
    # the lines add up to what the customer was charged
    assert sum(line.amount_in_cents for line in record.line_items) == record.total_in_cents


def test_the_newer_line_item_shape_maps_the_same_facts() -> None:
    line = map_line_item(fixture("line_item_parent_shape.json"))
    assert (line.type, line.subscription_external_id, line.plan_external_id) == (
        "subscription",
        "si_QXhVnC2h0Jczwc",
        "price_1PgafmB7WZ01zgkW6dKueIc5",
    )
    assert (line.amount_in_cents, line.discount_amount_in_cents, line.quantity) == (5400, 600, 3)


def test_a_proration_without_subscription_item_links_to_the_subscription() -> None:
    # the emulator (and legacy invoice items) name the subscription but no item
    line = {
        "id": "il_x",
        "type": "invoiceitem",
        "amount": -500,
        "proration": True,
        "subscription": "sub_1",
        "plan": {"id": "pro-monthly"},
        "period": {"start": 1711929600, "end": 1711929600},
    }
    assert map_line_item(line).model_dump(include={"type", "subscription_external_id", "plan_external_id"}) == {
        "type": "subscription",
        "subscription_external_id": "sub_1",
        "plan_external_id": "pro-monthly",
    }


@pytest.mark.parametrize(
    ("status", "imported"),
    [("draft", False), ("void", False), ("open", True), ("paid", True), ("uncollectible", True)],
)
def test_drafts_and_void_invoices_are_skipped(status: str, imported: bool) -> None:
    invoice = {**fixture("invoice_with_discounts.json"), "status": status}
    invoice["lines"] = {**invoice["lines"], "has_more": False}
    assert len(map_invoice(invoice, CTX)) == (1 if imported else 0)


# --------------------------------------------------------------------------------------------------
# Charges and refunds
# --------------------------------------------------------------------------------------------------


@responses.activate
def test_a_charge_gives_its_payment_and_refunds_and_charges_without_invoice_are_skipped() -> None:
    charge = fixture("charge_with_refunds.json")
    responses.get(
        f"{STRIPE_API_BASE}/v1/charges",
        json=stripe_list(charge, fixture("charge_without_invoice.json")),
        match=[matchers.query_string_matcher("expand%5B%5D=data.refunds&limit=100")],
    )
    responses.get(
        f"{STRIPE_API_BASE}/v1/refunds",
        json=fixture("refunds_page2.json"),
        match=[
            matchers.query_param_matcher(
                {"charge": charge["id"], "starting_after": "re_1Pgc72B7WZ01zgkWqPvrRrPE", "limit": "100"}
            )
        ],
    )

    page = stripe().fetch_page(Partition(kind=RecordKind.TRANSACTIONS, key="transactions"))

    common = {"invoice_external_id": "in_1Pgc6tB7WZ01zgkWu9fdqL6I", "customer_external_id": "cus_QXg1o8vcGmoR32"}
    assert page.records == [
        TransactionRecord(
            external_id=charge["id"],
            type="payment",
            date=at(2024, 4, 1, 2),
            result="successful",
            amount_in_cents=10950,
            **common,
        ),
        TransactionRecord(
            external_id="re_1Pgc72B7WZ01zgkWqPvrRrPE",
            type="refund",
            date=at(2024, 4, 2, 2),
            result="successful",
            amount_in_cents=2000,
            **common,
        ),
        TransactionRecord(
            external_id="re_1Pgc72B7WZ01zgkWFailed01",
            type="refund",
            date=at(2024, 4, 3, 2),
            result="failed",
            amount_in_cents=1000,
            **common,
        ),
        # the pending refund waits for the next re-sync
    ]
    assert (page.fetched, page.skipped, page.next_cursor) == (2, 1, None)


@pytest.mark.parametrize(
    ("changes", "payments"),
    [
        ({"status": "failed"}, [("payment", "failed")]),
        ({"status": "pending"}, []),
        ({"status": "succeeded", "captured": False}, []),
    ],
    ids=["failed", "pending", "authorised-not-captured"],
)
def test_charge_results(changes: dict[str, Any], payments: list[tuple[str, str]]) -> None:
    charge = {**fixture("charge_without_invoice.json"), "invoice": "in_1", **changes}
    assert [(r.type, r.result) for r in map_charge(charge, CTX)] == payments


def test_a_charge_finds_its_invoice_through_an_expanded_payment_intent() -> None:
    # real Stripe before 2025 sets charge.invoice; the emulator only links the PaymentIntent
    charge = {
        **fixture("charge_without_invoice.json"),
        "payment_intent": {"id": "pi_1", "object": "payment_intent", "invoice": "in_from_pi"},
    }
    [payment] = map_charge(charge, CTX)
    assert payment.invoice_external_id == "in_from_pi"


PROXY = "https://stripe-proxy.example.com"


@responses.activate
def test_against_stripe_itself_transactions_are_read_from_the_charges_list_without_asking() -> None:
    responses.get(
        f"{STRIPE_API_BASE}/v1/charges", json=stripe_list({**fixture("charge_without_invoice.json"), "invoice": "in_1"})
    )

    page = stripe().fetch_page(Partition(kind=RecordKind.TRANSACTIONS, key="transactions"))

    assert [(r.external_id, r.invoice_external_id) for r in page.records] == [("ch_1PgafuB7WZ01zgkWNoInvoice", "in_1")]
    assert [call.request.path_url.split("?")[0] for call in responses.calls] == ["/v1/charges"]


@responses.activate
def test_behind_a_stand_in_whose_invoices_name_their_charge_by_id_the_charges_list_is_read() -> None:
    # a proxy in front of Stripe: the first invoice with a charge names it by id (a draft before it has none)
    draft = {**fixture("invoice_with_discounts.json"), "id": "in_draft", "charge": None}
    responses.get(
        f"{PROXY}/v1/invoices",
        json=stripe_list(draft, has_more=True),
        match=[matchers.query_string_matcher("limit=10")],
    )
    responses.get(
        f"{PROXY}/v1/invoices",
        json=stripe_list({**fixture("invoice_with_discounts.json"), "charge": "ch_1"}),
        match=[matchers.query_string_matcher("limit=10&starting_after=in_draft")],
    )
    responses.get(
        f"{PROXY}/v1/charges", json=stripe_list({**fixture("charge_without_invoice.json"), "invoice": "in_1"})
    )
    connector = stripe(api_base=PROXY)

    pages = [connector.fetch_page(Partition(kind=RecordKind.TRANSACTIONS, key="transactions")) for _ in range(2)]

    assert [(r.external_id, r.invoice_external_id) for page in pages for r in page.records] == [
        ("ch_1PgafuB7WZ01zgkWNoInvoice", "in_1")
    ] * 2
    asked = [call.request.path_url.split("?")[0] for call in responses.calls]
    assert asked == ["/v1/invoices", "/v1/invoices", "/v1/charges", "/v1/charges"]  # asked once per connector


@responses.activate
def test_where_invoices_carry_their_charge_and_charges_name_no_invoice_transactions_come_from_the_invoices() -> None:
    # the emulator: every invoice it lists holds its whole charge, whose `invoice` is empty
    def invoice(number: int, charge: dict[str, Any] | None) -> dict[str, Any]:
        return {"id": f"in_{number}", "object": "invoice", "customer": "cus_QXg1o8vcGmoR32", "charge": charge}

    paid = {**fixture("charge_with_refunds.json"), "invoice": None}
    paid["refunds"] = {**paid["refunds"], "has_more": False}
    failed = {**fixture("charge_without_invoice.json"), "id": "ch_failed", "status": "failed"}
    invoices = stripe_list(invoice(3, None), invoice(1, paid), invoice(2, failed))
    responses.get(f"{PROXY}/v1/invoices", json=invoices, match=[matchers.query_string_matcher("limit=10")])
    responses.get(f"{PROXY}/v1/invoices", json=invoices, match=[matchers.query_string_matcher("limit=100")])

    page = stripe(api_base=PROXY).fetch_page(Partition(kind=RecordKind.TRANSACTIONS, key="transactions"))

    assert [(r.external_id, r.type, r.result, r.invoice_external_id) for r in page.records] == [
        (paid["id"], "payment", "successful", "in_1"),
        ("re_1Pgc72B7WZ01zgkWqPvrRrPE", "refund", "successful", "in_1"),  # the refunds the charge holds
        ("ch_failed", "payment", "failed", "in_2"),
    ]
    assert (page.fetched, page.skipped) == (3, 1)  # the invoice without a charge gives nothing
    assert [call.request.path_url.split("?")[0] for call in responses.calls] == ["/v1/invoices", "/v1/invoices"]


# --------------------------------------------------------------------------------------------------
# Throttling, credentials
# --------------------------------------------------------------------------------------------------


@responses.activate
def test_a_429_with_retry_after_is_waited_out_then_the_page_is_read() -> None:
    # Given Stripe throttles the first request
    responses.get(
        f"{STRIPE_API_BASE}/v1/customers",
        status=429,
        json=fixture("error_rate_limit.json"),
        headers={"Retry-After": "3", "Request-Id": "req_throttled"},
    )
    responses.get(f"{STRIPE_API_BASE}/v1/customers", json=fixture("customers_page.json"))
    fake_time = FakeTime()

    # When a worker fetches a page
    page = stripe(fake_time).fetch_page(Partition(kind=RecordKind.CUSTOMERS, key="customers"), None)

    # Then it waited what Stripe asked and got the page
    assert fake_time.sleeps == [3.0]
    assert [r.external_id for r in page.records] == ["cus_QXg1o8vcGmoR32", "cus_QXg1o8vcGmoR33"]
    assert page.next_cursor == "cus_QXg1o8vcGmoR33"
    assert len(responses.calls) == 2


@responses.activate
def test_check_credentials_raises_credentials_invalid_on_401() -> None:
    responses.get(
        f"{STRIPE_API_BASE}/v1/customers",
        status=401,
        json=fixture("error_invalid_api_key.json"),
        match=[matchers.query_param_matcher({"limit": "1"})],
    )
    with pytest.raises(CredentialsInvalidError) as caught:
        stripe().check_credentials()
    assert caught.value.status == 401
    assert KEY not in str(caught.value)


@pytest.mark.parametrize("credentials", [{}, {"api_key": ""}, {"api_key": "  "}, {"api_key": 42}])
def test_missing_credentials_are_invalid_before_any_request(credentials: dict[str, Any]) -> None:
    with pytest.raises(CredentialsInvalidError):
        Connector(SPEC, credentials)


# --------------------------------------------------------------------------------------------------
# Partitioning: created windows against real Stripe, by kind against an emulator
# --------------------------------------------------------------------------------------------------

NOW = at(2026, 11, 25, 12)


def test_real_stripe_is_split_into_contiguous_created_windows() -> None:
    connector = stripe()
    partitions = connector.plan_partitions(NOW)

    assert connector.partitioning == "created_windows"
    by_kind: dict[RecordKind, list[Partition]] = {}
    for partition in partitions:
        by_kind.setdefault(partition.kind, []).append(partition)
    assert set(by_kind) == set(RecordKind)
    assert by_kind[RecordKind.PLANS] == [Partition(kind=RecordKind.PLANS, key="plans")]
    for kind in (RecordKind.CUSTOMERS, RecordKind.SUBSCRIPTIONS, RecordKind.INVOICES, RecordKind.TRANSACTIONS):
        windows = by_kind[kind]
        # open below, open above, and each window starts where the previous ended
        assert windows[0].params == {"created[lt]": int(at(2011, 1, 1).timestamp())}
        assert set(windows[-1].params) == {"created[gte]"}
        assert int(windows[-1].params["created[gte]"]) <= NOW.timestamp()
        for before, after in pairwise(windows):
            assert before.params["created[lt]"] == after.params["created[gte]"]
        assert len({w.key for w in windows}) == len(windows)
    keys = [p.key for p in by_kind[RecordKind.CUSTOMERS]]
    assert "customers:2023-01-01..2024-01-01" in keys  # yearly while old
    assert "customers:2025-04-01..2025-07-01" in keys  # quarterly for recent years
    assert keys[-1] == "customers:2026-10-01.."


def test_partitions_are_json_round_trippable_for_step_functions() -> None:
    for partition in stripe().plan_partitions(NOW):
        assert Partition.model_validate_json(partition.model_dump_json()) == partition
        assert json.loads(partition.model_dump_json())["kind"] == partition.kind.value


@pytest.mark.parametrize(
    ("options", "partitioning"),
    [
        ({}, "created_windows"),
        ({"api_base": "https://api.stripe.com/"}, "created_windows"),
        ({"api_base": "http://127.0.0.1:8420"}, "by_kind"),
        ({"partitioning": "by_kind"}, "by_kind"),
        ({"api_base": "http://127.0.0.1:8420", "partitioning": "created_windows"}, "created_windows"),
    ],
    ids=["real-default", "real-explicit", "emulator-auto", "forced-by-kind", "forced-windows"],
)
def test_partitioning_option(options: dict[str, Any], partitioning: str) -> None:
    connector = stripe(**options)
    assert connector.partitioning == partitioning
    partitions = connector.plan_partitions(NOW)
    if partitioning == "by_kind":
        assert [p.key for p in partitions] == [kind.value for kind in SPEC.streams]
        assert all(p.params == {} for p in partitions)
    else:
        assert len(partitions) > 50


def test_window_months_option_changes_the_recent_windows() -> None:
    quarterly = stripe().plan_partitions(NOW)
    monthly = stripe(window_months=1).plan_partitions(NOW)
    assert len(monthly) > len(quarterly)
    assert "customers:2026-10-01..2026-11-01" in {p.key for p in monthly}


@responses.activate
def test_a_window_partition_sends_stripe_its_created_range_and_cursor() -> None:
    window = next(p for p in stripe().plan_partitions(NOW) if p.key == "invoices:2025-04-01..2025-07-01")
    responses.get(
        f"{STRIPE_API_BASE}/v1/invoices",
        json=stripe_list(),
        match=[
            matchers.query_param_matcher(
                {
                    "created[gte]": str(int(at(2025, 4, 1).timestamp())),
                    "created[lt]": str(int(at(2025, 7, 1).timestamp())),
                    "limit": "100",
                    "starting_after": "in_previous_page_last",
                }
            )
        ],
    )

    page = stripe().fetch_page(window, "in_previous_page_last")

    assert (page.records, page.next_cursor) == ([], None)
    assert len(responses.calls) == 1


def test_a_partition_cannot_smuggle_other_parameters() -> None:
    partition = Partition(kind=RecordKind.PLANS, key="plans", params={"created[gte]": 1})
    with pytest.raises(ConnectorConfigError):
        stripe().fetch_page(partition)


@responses.activate
def test_the_emulators_cursor_restart_is_detected() -> None:
    # localstripe restarts at page 1 for an unknown starting_after: never loop on it
    responses.get(f"{STRIPE_API_BASE}/v1/customers", json=stripe_list({"id": "cus_a"}, {"id": "cus_b"}, has_more=True))
    with pytest.raises(Exception, match="did not honour the cursor"):
        stripe().fetch_page(Partition(kind=RecordKind.CUSTOMERS, key="customers"), "cus_b")


# --------------------------------------------------------------------------------------------------
# One customer
# --------------------------------------------------------------------------------------------------


@responses.activate
def test_fetching_a_customer_deleted_at_stripe_gives_nothing() -> None:
    responses.get(
        f"{STRIPE_API_BASE}/v1/customers/cus_gone", json={"id": "cus_gone", "object": "customer", "deleted": True}
    )
    assert stripe().fetch_customer("cus_gone") == []
    assert len(responses.calls) == 1  # no listing of a deleted customer's objects


@responses.activate
def test_a_customer_id_cannot_escape_its_path() -> None:
    responses.get(f"{STRIPE_API_BASE}/v1/customers/..%2Fcharges", status=404, json={"error": {"message": "nope"}})
    assert stripe().fetch_customer("../charges") == []
    assert responses.calls[0].request.path_url == "/v1/customers/..%2Fcharges"


# --------------------------------------------------------------------------------------------------
# The registry, and the contract as other providers will use it
# --------------------------------------------------------------------------------------------------


def test_registry() -> None:
    assert get_connector_spec("stripe") is SPEC
    assert get_connector_spec("custom") is None  # by design: data is pushed
    assert get_connector_spec("hubspot") is None  # not written yet
    with pytest.raises(ConnectorConfigError):
        build_connector("custom", {})
    assert isinstance(build_connector("stripe", {"api_key": KEY}), Connector)


def test_stripes_default_budget_stays_under_its_test_mode_limit() -> None:
    limit = SPEC.rate_limit
    # in any one second: a full bucket plus one second of refill
    assert limit.burst + limit.requests_per_second <= 25
    assert stripe(requests_per_second=2).rate_limit == RateLimit(2, 2, limit.published)


def test_importing_connectors_does_not_import_boto3() -> None:
    code = (
        "import sys; import sourcesync.connectors, sourcesync.connectors.stripe; "
        "sys.exit(1 if 'boto3' in sys.modules or 'botocore' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _toy_spec(
    pagination: Any, page_size: int, *, api_base: str = "https://toy.test/api", path: str = "/customers"
) -> ConnectorSpec:
    """A provider described in a few lines: what the other providers' files will look like."""

    def customer(obj: dict[str, Any], ctx: Any) -> list[CustomerRecord]:
        return [CustomerRecord(external_id=obj["id"], name=obj["id"])]

    return ConnectorSpec(
        system="toy",
        api_base=api_base,
        auth=BasicAuth("api_key"),
        streams={RecordKind.CUSTOMERS: Stream(RecordKind.CUSTOMERS, path, customer)},
        check_credentials=RequestSpec("/customers", {"limit": 1}),
        rate_limit=RateLimit(100, 10),
        pagination=pagination,
        page_size=page_size,
    )


def _drain(spec: ConnectorSpec) -> list[str]:
    connector = Connector(spec, {"api_key": "toy_key"}, sleep=lambda s: None)
    partition = Partition(kind=RecordKind.CUSTOMERS, key="customers")
    return [r.external_id for page in connector.iter_pages(partition) for r in page.records]


@responses.activate
def test_next_token_pagination_like_chargebee() -> None:
    responses.get(
        "https://toy.test/api/customers",
        json={"list": [{"id": "a"}, {"id": "b"}], "next_offset": '["17","b"]'},
        match=[
            matchers.query_param_matcher({"limit": "2"}),
            matchers.header_matcher({"Authorization": "Basic dG95X2tleTo="}),
        ],
    )
    responses.get(
        "https://toy.test/api/customers",
        json={"list": [{"id": "c"}]},
        match=[matchers.query_param_matcher({"limit": "2", "offset": '["17","b"]'})],
    )
    assert _drain(_toy_spec(NextTokenPagination(), 2)) == ["a", "b", "c"]


@responses.activate
def test_next_link_pagination_like_recurly() -> None:
    responses.get(
        "https://toy.test/api/customers",
        json={"data": [{"id": "a"}], "has_more": True, "next": "/api/customers?cursor=xyz&limit=1"},
        match=[matchers.query_param_matcher({"limit": "1"})],
    )
    responses.get(
        "https://toy.test/api/customers",
        json={"data": [{"id": "b"}], "has_more": False, "next": None},
        match=[matchers.query_param_matcher({"cursor": "xyz", "limit": "1"})],
    )
    # the link is a path on the provider's origin: the API base is the origin, the stream's path absolute
    spec = _toy_spec(NextLinkPagination(), 1, api_base="https://toy.test", path="/api/customers")
    assert _drain(spec) == ["a", "b"]


@responses.activate
def test_page_number_pagination_stops_on_a_short_page() -> None:
    for page, ids in ((1, ["a", "b"]), (2, ["c", "d"]), (3, ["e"])):
        responses.get(
            "https://toy.test/api/customers",
            json={"data": [{"id": i} for i in ids]},
            match=[matchers.query_param_matcher({"page": str(page), "per_page": "2"})],
        )
    assert _drain(_toy_spec(PageNumberPagination(), 2)) == ["a", "b", "c", "d", "e"]
