"""The PayPal connector against its emulator (in this process, no stack): OAuth2 client credentials,
plans and per-plan subscription pages, the transaction search window by window, every record kind,
injected 429/5xx retried, refused clients, one customer's fetch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.emulators import paypal as emulator
from devstack.emulators.base import EmulatorAdmin, serve_in_thread
from sourcesync.connectors import paypal
from sourcesync.connectors.base import Connector, Partition
from sourcesync.connectors.errors import CredentialsInvalidError
from sourcesync.connectors.kit.date_windows import DAY, DateWindowPagination
from sourcesync.connectors.registry import build_connector
from sourcesync.records import (
    CustomerRecord,
    InvoiceRecord,
    PlanRecord,
    RecordKind,
    SubscriptionRecord,
    TransactionRecord,
)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_in_thread() as served:
        yield f"{served}/paypal"


class Tokens:
    """A token store that keeps what the connector saves."""

    def __init__(self) -> None:
        self.saved: list[dict[str, str]] = []

    def save(self, credentials: Any) -> None:
        self.saved.append(dict(credentials))


def _connector(seeded: dict[str, Any], waits: list[float] | None = None, **options: Any) -> Connector:
    return build_connector(
        "paypal",
        seeded["credentials"],
        {**seeded["options"], **options},
        sleep=(waits.append if waits is not None else lambda s: None),
        random=lambda: 0.5,
    )


def _all(connector: Connector, kind: RecordKind) -> tuple[list[Any], int]:
    pages = list(connector.iter_pages(Partition(kind=kind, key=kind.value)))
    return [r for page in pages for r in page.records], len(pages)


def test_plans_and_subscriptions_over_several_pages(url: str) -> None:
    seeded = emulator.seed_demo(url, customers=20, tenant="pp-pages")
    admin = EmulatorAdmin(url)
    created = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(22):  # 25 plans: two pages of at most 20
        plan_id = f"P-EXTRA{n:07d}"
        admin.put(
            "pp-pages",
            "plans",
            plan_id,
            emulator.plan_object(
                plan_id, name=f"Extra {n}", price="5.00", currency="EUR", unit="WEEK", count=2, created=created
            ),
        )
    connector = _connector(seeded)
    plans, pages = _all(connector, RecordKind.PLANS)
    assert pages == 2 and len(plans) == 25 and all(isinstance(p, PlanRecord) for p in plans)
    extra = next(p for p in plans if p.external_id == "P-EXTRA0000000")
    assert (extra.interval_unit, extra.interval_count, extra.currency, extra.amount_in_cents) == ("week", 2, "EUR", 500)
    yearly = next(p for p in plans if p.external_id == "P-YEARLY000001")
    assert (yearly.interval_unit, yearly.amount_in_cents) == ("year", 49000)
    subscriptions, _ = _all(connector, RecordKind.SUBSCRIPTIONS)
    # 20 subscriptions over three plans fit one page of 20 each; the next test pages within a plan.
    assert len(subscriptions) == 20 and all(isinstance(s, SubscriptionRecord) for s in subscriptions)


def test_a_plan_with_more_subscriptions_than_a_page(url: str) -> None:
    seeded = emulator.seed_demo(url, customers=1, tenant="pp-subpages")
    admin = EmulatorAdmin(url)
    created = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(2, 47):
        sid = f"I-MORE{n:07d}"
        admin.put(
            "pp-subpages",
            "subscriptions",
            sid,
            emulator.subscription_object(
                sid,
                plan_id="P-BASIC0000001",
                payer_id=f"PAYER{n}",
                given_name="G",
                surname=f"S{n}",
                email=f"g{n}@example.com",
                price="10.00",
                currency="USD",
                created=created,
            ),
        )
    before = admin.requests("pp-subpages")
    customers, _ = _all(_connector(seeded), RecordKind.CUSTOMERS)
    assert len(customers) == 46 and len({c.external_id for c in customers}) == 46
    # a token, one page of plans, then per plan: 3 pages (20 + 20 + 6) for the basic plan, 1 for each other
    assert admin.requests("pp-subpages") - before == 1 + 1 + 3 + 1 + 1


def test_every_record_kind_is_mapped(url: str) -> None:
    seeded = emulator.seed_demo(url, customers=18, tenant="pp-kinds")
    connector = _connector(seeded)
    customers, _ = _all(connector, RecordKind.CUSTOMERS)
    assert len(customers) == 18 and all(isinstance(c, CustomerRecord) for c in customers)
    first = next(c for c in customers if c.external_id == "I-EMU00000001")
    assert (first.name, first.email, first.country) == ("Demo Customer 1", "demo1@example.com", "US")
    subscriptions, _ = _all(connector, RecordKind.SUBSCRIPTIONS)
    by_id = {s.external_id: s for s in subscriptions}
    assert by_id["I-EMU00000005"].status == "cancelled" and by_id["I-EMU00000005"].cancelled_at is not None
    one = by_id["I-EMU00000001"]
    assert (one.status, one.customer_external_id, one.plan_external_id, one.currency, one.quantity) == (
        "active",
        "I-EMU00000001",
        "P-PRO000000001",
        "USD",
        1,
    )
    invoices, windows = _all(connector, RecordKind.INVOICES)
    # the plans (the oldest plan's creation day, 58 days ago), then two 31-day windows from that day
    assert windows == 1 + 2
    assert all(isinstance(i, InvoiceRecord) for i in invoices)
    stored = EmulatorAdmin(url).list("pp-kinds", "transactions")
    payments = [t for t in stored if t["transaction_info"]["transaction_event_code"] == "T0002"]
    assert len(invoices) == len(payments)
    line = invoices[0].line_items[0]
    assert line.type == "subscription" and line.subscription_external_id == invoices[0].customer_external_id
    # the line names the subscription's plan and covers one of its billing periods from the payment
    yearly = next(i for i in invoices if i.customer_external_id == "I-EMU00000002").line_items[0]
    assert yearly.plan_external_id == "P-YEARLY000001" and yearly.service_period_start is not None
    assert yearly.service_period_end == yearly.service_period_start.replace(year=yearly.service_period_start.year + 1)
    monthly = next(i for i in invoices if i.customer_external_id == "I-EMU00000001").line_items[0]
    assert monthly.plan_external_id == "P-PRO000000001" and monthly.service_period_end is not None
    assert 28 <= (monthly.service_period_end - monthly.service_period_start).days <= 31  # type: ignore[operator]
    transactions, _ = _all(connector, RecordKind.TRANSACTIONS)
    assert all(isinstance(t, TransactionRecord) for t in transactions)
    refunds = [t for t in transactions if t.type == "refund"]
    assert refunds and all(r.amount_in_cents and r.amount_in_cents > 0 for r in refunds)
    assert {r.invoice_external_id for r in refunds} <= {i.external_id for i in invoices}
    assert any(t.result == "failed" for t in transactions)


def test_statuses_trial_suspended_past_due_and_not_started(url: str) -> None:
    seeded = emulator.seed_demo(url, customers=4, tenant="pp-status")
    admin = EmulatorAdmin(url)
    stored = {s["id"]: s for s in admin.list("pp-status", "subscriptions")}
    trial = {
        **stored["I-EMU00000001"]["billing_info"],
        "cycle_executions": [
            {"tenure_type": "TRIAL", "sequence": 1, "cycles_completed": 0, "cycles_remaining": 1, "total_cycles": 1}
        ],
    }
    admin.patch("pp-status", "subscriptions", "I-EMU00000001", {"billing_info": trial})
    admin.patch("pp-status", "subscriptions", "I-EMU00000002", {"status": "SUSPENDED"})
    owed = {
        **stored["I-EMU00000003"]["billing_info"],
        "failed_payments_count": 1,
        "outstanding_balance": {"currency_code": "USD", "value": "10.00"},
    }
    admin.patch("pp-status", "subscriptions", "I-EMU00000003", {"billing_info": owed})
    admin.patch("pp-status", "subscriptions", "I-EMU00000004", {"status": "APPROVAL_PENDING"})
    connector = _connector(seeded)
    subscriptions, _ = _all(connector, RecordKind.SUBSCRIPTIONS)
    assert {s.external_id: s.status for s in subscriptions} == {
        "I-EMU00000001": "trialing",
        "I-EMU00000002": "unpaid",
        "I-EMU00000003": "past_due",
    }
    page = connector.fetch_page(Partition(kind=RecordKind.CUSTOMERS, key="customers"))
    assert len(page.records) == 3 and "I-EMU00000004" not in {r.external_id for r in page.records}


def test_pending_and_unrelated_transactions_give_nothing(url: str) -> None:
    seeded = emulator.seed_demo(url, customers=1, tenant="pp-skip")
    admin = EmulatorAdmin(url)
    when = datetime.now(UTC) - timedelta(days=3)
    common = {
        "currency": "USD",
        "created": when,
        "payer_id": "X",
        "email": "x@example.com",
        "given_name": "X",
        "surname": "Y",
    }
    admin.put(
        "pp-skip",
        "transactions",
        "TXPENDING",
        emulator.transaction_object(
            "TXPENDING", reference="I-EMU00000001", reference_type="SUB", amount="10.00", status="P", **common
        ),
    )
    admin.put(
        "pp-skip",
        "transactions",
        "TXONEOFF",
        emulator.transaction_object(
            "TXONEOFF", reference="", reference_type="", amount="3.00", event="T0006", **common
        ),
    )
    transactions, _ = _all(_connector(seeded), RecordKind.TRANSACTIONS)
    assert {"TXPENDING", "TXONEOFF"}.isdisjoint({t.external_id for t in transactions})


def test_the_token_is_obtained_once_saved_and_renewed_when_refused(url: str) -> None:
    seeded = emulator.seed_demo(url, customers=1, tenant="pp-token")
    tokens = Tokens()
    admin = EmulatorAdmin(url)
    connector = build_connector("paypal", seeded["credentials"], seeded["options"], token_store=tokens)
    connector.check_credentials()
    _all(connector, RecordKind.PLANS)
    assert len(tokens.saved) == 1 and tokens.saved[0]["access_token"].startswith("emulated-token-pp-token-")
    assert int(tokens.saved[0]["expires_at"]) > datetime.now(UTC).timestamp() + 3600
    # A token the provider no longer accepts (revoked, or from another emulator run): renewed once.
    stale = {**seeded["credentials"], "access_token": "revoked", "expires_at": str(2_000_000_000)}
    before = admin.requests("pp-token")
    renewed = build_connector("paypal", stale, seeded["options"], token_store=tokens)
    plans, _ = _all(renewed, RecordKind.PLANS)
    assert len(plans) == 3 and len(tokens.saved) == 2
    assert admin.requests("pp-token") - before == 2  # the token, then the page (the refused call had no tenant)


def test_429_and_5xx_are_retried(url: str) -> None:
    seeded = emulator.seed_demo(url, customers=1, tenant="pp-faults")
    admin = EmulatorAdmin(url)
    waits: list[float] = []
    connector = _connector(seeded, waits)
    connector.check_credentials()
    admin.fault(429, times=1, retry_after=3, tenant="pp-faults")
    admin.fault(500, times=1, tenant="pp-faults")
    admin.fault(503, times=1, tenant="pp-faults")
    plans, _ = _all(connector, RecordKind.PLANS)
    assert len(plans) == 3
    assert [w for w in waits if w >= 0.1] == [3.0, 0.5, 1.0]


def test_refused_clients_are_credentials_invalid(url: str) -> None:
    seeded = emulator.seed_demo(url, customers=1, tenant="pp-refused")
    for wrong in ({"client_secret": "nope"}, {"client_id": "unknown-client"}):
        connector = build_connector("paypal", {**seeded["credentials"], **wrong}, seeded["options"])
        with pytest.raises(CredentialsInvalidError) as refused:
            connector.check_credentials()
        assert refused.value.status == 401
        assert "nope" not in str(refused.value)
    with pytest.raises(CredentialsInvalidError):
        build_connector("paypal", {**seeded["credentials"], "environment": "staging"})
    assert paypal.SPEC.base_url({"environment": "sandbox"}) == "https://api-m.sandbox.paypal.com"
    assert paypal.SPEC.base_url({}) == "https://api-m.paypal.com"


def test_one_customer_is_its_subscription_and_its_payments(url: str) -> None:
    seeded = emulator.seed_demo(url, customers=9, tenant="pp-one")
    connector = _connector(seeded)
    records = connector.fetch_customer("I-EMU00000009")
    kinds = [type(r).__name__ for r in records]
    assert kinds[:2] == ["CustomerRecord", "SubscriptionRecord"]
    assert kinds.count("InvoiceRecord") == 2 and kinds.count("TransactionRecord") == 2
    full_import = {r.external_id: r for r in _all(connector, RecordKind.INVOICES)[0]}
    for record in records:
        if isinstance(record, InvoiceRecord):
            assert full_import[record.external_id] == record  # the same record either way
    assert connector.fetch_customer("I-NOBODY") == []


def test_date_windows_walk_three_years_oldest_first() -> None:
    now = 1_780_000_000.0
    windows = DateWindowPagination(items_field="transaction_details", clock=lambda: now)
    first = windows.request("/v1/reporting/transactions", {"fields": "all"}, None, 500)
    start = int(now) - 3 * 365 * DAY
    start -= start % DAY
    assert first.params["start_date"] == datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert first.params["page"] == 1 and first.params["page_size"] == 500 and first.params["fields"] == "all"
    full = {"transaction_details": [{}] * 2, "total_pages": 2}
    assert windows.parse(full, 500, None, {}).next_cursor == f"{start}:2"
    assert windows.parse(full, 500, f"{start}:2", {}).next_cursor == f"{start + 31 * DAY}:1"
    last = int(now) - DAY
    assert windows.parse({"transaction_details": [], "total_pages": 1}, 500, f"{last}:1", {}).next_cursor is None
    ask = windows.request("/v1/reporting/transactions", {}, f"{last}:1", 500)
    assert ask.params["end_date"] == datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_invoices_read_two_subscriptions_by_id_then_list_every_plans_subscriptions_once(url: str) -> None:
    seeded = emulator.seed_demo(url, customers=61, tenant="pp-linked")
    admin = EmulatorAdmin(url)
    before = admin.requests("pp-linked")
    invoices, _ = _all(_connector(seeded), RecordKind.INVOICES)
    assert len({i.customer_external_id for i in invoices}) == 61
    lines = [i.line_items[0] for i in invoices]
    assert all(line.plan_external_id and line.service_period_end for line in lines)
    assert {line.plan_external_id for line in lines} == {p[0] for p in emulator.PLANS}
    # a token; the plans (the walk's start); two 31-day windows; the first two subscriptions and their
    # plans by id; then the plans and their subscriptions (21 + 20 + 20: 2 + 1 + 1 pages), once, rather
    # than one request per subscription
    assert admin.requests("pp-linked") - before == 1 + 1 + 2 + 2 + 2 + 1 + 4


def test_the_walk_starts_at_the_oldest_plan_and_never_before_three_years() -> None:
    now = 1_780_000_000.0
    windows = DateWindowPagination(
        items_field="transaction_details",
        since_path="/v1/billing/plans",
        since_items_field="plans",
        since_params={"total_required": "true"},
        clock=lambda: now,
    )
    probe = windows.request("/v1/reporting/transactions", {"fields": "all"}, None, 500)
    assert (probe.path, probe.params) == ("/v1/billing/plans", {"total_required": "true", "page": 1, "page_size": 20})

    def stamp(days_ago: float) -> str:
        return datetime.fromtimestamp(now - days_ago * DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    first = windows.parse({"plans": [{"create_time": stamp(40)}], "total_pages": 2}, 500, None, {})
    assert first.items == [] and first.next_cursor is not None and first.next_cursor.startswith("since:2:")
    assert windows.request("/v1/reporting/transactions", {}, first.next_cursor, 500).params["page"] == 2
    last = windows.parse({"plans": [{"create_time": stamp(90)}], "total_pages": 2}, 500, first.next_cursor, {})
    oldest = int(now - 90 * DAY)
    assert last.items == [] and last.next_cursor == f"{oldest - oldest % DAY}:1"  # the oldest plan's day
    ask = windows.request("/v1/reporting/transactions", {"fields": "all"}, last.next_cursor, 500)
    assert ask.path == "/v1/reporting/transactions" and ask.params["start_date"] == stamp(90)[:11] + "00:00:00Z"
    ancient = windows.parse({"plans": [{"create_time": stamp(5000)}], "total_pages": 1}, 500, None, {})
    earliest = int(now) - 3 * 365 * DAY
    assert ancient.next_cursor == f"{earliest - earliest % DAY}:1"  # at most three years back
    assert windows.parse({"plans": [], "total_pages": 1}, 500, None, {}).next_cursor is None  # no plan: no walk


def test_the_plain_fetch_makes_the_requests_an_import_makes(url: str) -> None:
    seeded = emulator.seed_demo(url, customers=61, tenant="pp-plain")
    admin = EmulatorAdmin(url)
    before = admin.requests("pp-plain")
    emulator.plain_fetch(url, seeded["credentials"])
    plain = admin.requests("pp-plain") - before
    connector = _connector(seeded)
    before = admin.requests("pp-plain")
    for partition in connector.plan_partitions():
        _all(connector, partition.kind)
    assert admin.requests("pp-plain") - before == plain == 27  # the benchmark's anchor reads no less
