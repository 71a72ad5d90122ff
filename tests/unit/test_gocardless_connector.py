"""The GoCardless connector against the GoCardless emulator (in this process, no stack): pagination,
every record kind (plans and invoices as documented: a subscription is its own plan, a payment stands
for an invoice), mandates resolved to customers, retries of injected 429s and 5xx, refused tokens, one
customer's fetch."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.emulators import gocardless as emu
from devstack.emulators.base import EmulatorAdmin, serve_in_thread
from sourcesync.connectors import (
    Connector,
    CredentialsInvalidError,
    ProviderResponseError,
    ProviderUnavailableError,
    RecordMappingError,
    build_connector,
)
from sourcesync.connectors.gocardless import SPEC
from sourcesync.connectors.kit.envelope import EnvelopeCursorPagination
from sourcesync.records import (
    AnyRecord,
    CustomerRecord,
    InvoiceRecord,
    LineItem,
    PlanRecord,
    RecordKind,
    SubscriptionRecord,
    TransactionRecord,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)
_tenants = itertools.count()


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve_in_thread() as url:
        yield f"{url}/gocardless"


@pytest.fixture
def tenant(base: str) -> Iterator[str]:
    name = f"gocardless_unit_{next(_tenants)}"
    yield name
    EmulatorAdmin(base).drop(name)


def connector(base: str, tenant: str, sleeps: list[float] | None = None, **options: Any) -> Connector:
    return build_connector(
        "gocardless",
        {"access_token": tenant, "environment": "sandbox"},
        {"api_base": base, **options},
        sleep=(sleeps.append if sleeps is not None else lambda seconds: None),
        random=lambda: 0.0,
    )


def import_all(c: Connector) -> dict[RecordKind, list[AnyRecord]]:
    found: dict[RecordKind, list[AnyRecord]] = {}
    for partition in c.plan_partitions():
        for page in c.iter_pages(partition):
            found.setdefault(partition.kind, []).extend(page.records)
    return found


def small_business() -> dict[str, list[dict[str, Any]]]:
    ann = emu.customer(
        given_name="Ann", family_name="Lee", email="ann@example.com", created_at=T0, customer_id="CU_ANN"
    )
    firm = emu.customer(company_name="Firm Ltd", country_code="FR", created_at=T0, customer_id="CU_FIRM")
    ann_mandate, firm_mandate = emu.mandate(ann, created_at=T0), emu.mandate(firm, created_at=T0)
    monthly = {**emu.subscription(ann_mandate, amount=2500, currency="GBP", name="Gold", start=T0), "id": "SB_GOLD"}
    weekly = emu.subscription(
        firm_mandate, amount=700, currency="EUR", name="", interval_unit="weekly", interval=2, start=T0, status="paused"
    )
    finished = emu.subscription(
        firm_mandate,
        amount=9900,
        currency="EUR",
        name="Annual",
        interval_unit="yearly",
        status="finished",
        start=T0,
        end=T0 + timedelta(days=365),
    )
    paid = emu.payment(ann_mandate, amount=2500, currency="GBP", charge_date=T0, subscription_id="SB_GOLD")
    refunded = {
        **emu.payment(
            ann_mandate,
            amount=1500,
            currency="GBP",
            charge_date=T0 + timedelta(days=1),
            description="Pack",
            status="confirmed",
        ),
        "amount_refunded": 700,
        "id": "PM_PACK",
    }
    failed = emu.payment(
        firm_mandate, amount=700, currency="EUR", charge_date=T0, status="failed", subscription_id=weekly["id"]
    )
    orphaned = {
        **emu.payment(firm_mandate, amount=1, currency="EUR", charge_date=T0, subscription_id="SB_GONE"),
        "id": "PM_ORPHAN",
    }
    pending = emu.payment(firm_mandate, amount=700, currency="EUR", charge_date=T0, status="pending_submission")
    cancelled = emu.payment(firm_mandate, amount=700, currency="EUR", charge_date=T0, status="cancelled")
    refunds = [
        emu.refund(refunded, amount=500, created_at=T0 + timedelta(days=2)),
        emu.refund(refunded, amount=200, created_at=T0 + timedelta(days=3), status="bounced"),
        emu.refund(refunded, amount=100, created_at=T0 + timedelta(days=4), status="submitted"),
    ]
    return {
        "customers": [ann, firm],
        "mandates": [ann_mandate, firm_mandate],
        "subscriptions": [monthly, weekly, finished],
        "payments": [paid, refunded, failed, pending, cancelled, orphaned],
        "refunds": refunds,
    }


def test_every_record_kind_is_mapped(base: str, tenant: str) -> None:
    objects = small_business()
    emu.put_all(EmulatorAdmin(base), tenant, objects)
    found = import_all(connector(base, tenant))
    assert found[RecordKind.CUSTOMERS] == [  # newest first, as GoCardless lists
        CustomerRecord(external_id="CU_FIRM", name="Firm Ltd", company="Firm Ltd", country="FR", created_at=T0),
        CustomerRecord(external_id="CU_ANN", name="Ann Lee", email="ann@example.com", country="GB", created_at=T0),
    ]
    weekly, finished = objects["subscriptions"][1]["id"], objects["subscriptions"][2]["id"]
    assert sorted(found[RecordKind.PLANS], key=lambda p: p.external_id) == sorted(
        [
            PlanRecord(
                external_id="SB_GOLD",
                name="Gold",
                interval_count=1,
                interval_unit="month",
                currency="GBP",
                amount_in_cents=2500,
            ),
            PlanRecord(
                external_id=weekly,
                name=weekly,
                interval_count=2,
                interval_unit="week",
                currency="EUR",
                amount_in_cents=700,
            ),
            PlanRecord(
                external_id=finished,
                name="Annual",
                interval_count=1,
                interval_unit="year",
                currency="EUR",
                amount_in_cents=9900,
            ),
        ],
        key=lambda p: p.external_id,
    )
    subs = {s.external_id: s for s in found[RecordKind.SUBSCRIPTIONS] if isinstance(s, SubscriptionRecord)}
    assert {k: (s.customer_external_id, s.status, s.plan_external_id) for k, s in subs.items()} == {
        "SB_GOLD": ("CU_ANN", "active", "SB_GOLD"),
        weekly: ("CU_FIRM", "unpaid", weekly),
        finished: ("CU_FIRM", "cancelled", finished),
    }
    assert subs[finished].cancelled_at == T0 + timedelta(days=365) and subs["SB_GOLD"].started_at == T0

    paid, _, failed, _, _, orphaned = (p["id"] for p in objects["payments"])
    invoices = {i.external_id: i for i in found[RecordKind.INVOICES] if isinstance(i, InvoiceRecord)}
    assert len(invoices) == 5  # the cancelled payment was never a claim
    assert invoices[paid].line_items == (
        LineItem(
            external_id=paid,
            type="subscription",
            subscription_external_id="SB_GOLD",
            plan_external_id="SB_GOLD",
            service_period_start=T0,
            service_period_end=datetime(2024, 4, 1, tzinfo=UTC),  # one interval of the subscription
            amount_in_cents=2500,
        ),
    )
    fortnight = invoices[failed].line_items[0]  # the weekly subscription, every 2 weeks
    assert (fortnight.subscription_external_id, fortnight.service_period_end) == (weekly, T0 + timedelta(weeks=2))
    orphan = invoices[orphaned].line_items[0]  # its subscription is gone at GoCardless: no period
    assert (orphan.type, orphan.service_period_start, orphan.service_period_end) == ("subscription", None, None)
    assert (invoices[paid].date, invoices[paid].currency, invoices[paid].customer_external_id) == (T0, "GBP", "CU_ANN")
    pack = invoices["PM_PACK"]
    assert (pack.line_items[0].type, pack.line_items[0].description, pack.total_in_cents) == ("one_time", "Pack", 1500)

    transactions = {t.external_id: t for t in found[RecordKind.TRANSACTIONS] if isinstance(t, TransactionRecord)}
    ok, bounced, _ = (r["id"] for r in objects["refunds"])
    assert {k: (t.type, t.result, t.invoice_external_id, t.amount_in_cents) for k, t in transactions.items()} == {
        paid: ("payment", "successful", paid, 2500),
        orphaned: ("payment", "successful", orphaned, 1),
        "PM_PACK": ("payment", "successful", "PM_PACK", 1500),
        failed: ("payment", "failed", failed, 700),
        ok: ("refund", "successful", "PM_PACK", 500),
        bounced: ("refund", "failed", "PM_PACK", 200),
    }  # pending payments and submitted refunds wait until they settle
    assert transactions[ok].customer_external_id == "CU_ANN"


def test_pagination_over_several_pages_returns_what_one_page_returns(base: str, tenant: str) -> None:
    emu.put_all(EmulatorAdmin(base), tenant, emu.demo_objects(17))
    whole = import_all(connector(base, tenant))
    small = connector(base, tenant, page_size=5)
    assert import_all(small) == whole and len(whole[RecordKind.CUSTOMERS]) == 17
    customers = next(p for p in small.plan_partitions() if p.kind is RecordKind.CUSTOMERS)
    pages = list(small.iter_pages(customers))
    assert [p.fetched for p in pages] == [5, 5, 5, 2]
    assert pages[0].next_cursor == pages[0].records[-1].external_id  # `after` = the page's last id


def test_the_first_mandates_are_read_by_id_then_all_are_listed_once_and_a_new_one_is_read_by_id(
    base: str, tenant: str
) -> None:
    admin = EmulatorAdmin(base)
    emu.put_all(admin, tenant, emu.demo_objects(6))
    c = connector(base, tenant)
    subscriptions = next(p for p in c.plan_partitions() if p.kind is RecordKind.SUBSCRIPTIONS)
    before = admin.requests(tenant)
    assert len(c.fetch_page(subscriptions).records) == 6
    assert admin.requests(tenant) == before + 1 + 2 + 1  # the page, two mandates by id, the mandates listed
    late = emu.customer(given_name="Late", created_at=T0, customer_id="CU_LATE")
    late_mandate = emu.mandate(late, created_at=T0)
    emu.put_all(admin, tenant, {"customers": [late], "mandates": [late_mandate]})
    emu.put_all(
        admin, tenant, {"subscriptions": [emu.subscription(late_mandate, amount=1, currency="GBP", name="x", start=T0)]}
    )
    before = admin.requests(tenant)
    records = c.fetch_page(subscriptions).records
    assert admin.requests(tenant) == before + 2  # the page and the new mandate, by id
    assert next(r.customer_external_id for r in records if isinstance(r, SubscriptionRecord)) == "CU_LATE"


@pytest.mark.parametrize("status", [429, 500])
def test_throttling_and_server_errors_are_retried(base: str, tenant: str, status: int) -> None:
    admin = EmulatorAdmin(base)
    emu.put_all(admin, tenant, emu.demo_objects(3))
    sleeps: list[float] = []
    c = connector(base, tenant, sleeps)
    partition = next(p for p in c.plan_partitions() if p.kind is RecordKind.CUSTOMERS)
    before = admin.requests(tenant)
    admin.fault(status, times=2, retry_after=2.0 if status == 429 else None, tenant=tenant)
    assert len(c.fetch_page(partition).records) == 3
    assert admin.requests(tenant) == before + 3
    assert sleeps == ([2.0, 2.0] if status == 429 else [0.0, 0.0])


def test_a_provider_failing_past_max_retry_seconds_is_unavailable(base: str, tenant: str) -> None:
    emu.put_all(EmulatorAdmin(base), tenant, emu.demo_objects(1))
    EmulatorAdmin(base).fault(500, times=50, retry_after=2, tenant=tenant)
    c = connector(base, tenant, max_retry_seconds=1)
    with pytest.raises(ProviderUnavailableError):
        c.fetch_page(c.plan_partitions()[0])


def test_a_token_gocardless_refuses_is_credentials_invalid(base: str, tenant: str) -> None:
    emu.put_all(EmulatorAdmin(base), tenant, emu.demo_objects(1))
    connector(base, tenant).check_credentials()
    with pytest.raises(CredentialsInvalidError) as refused:
        connector(base, "a_token_nobody_issued").check_credentials()
    assert refused.value.status == 401 and "Authentication failed" in refused.value.message


def test_the_environment_chooses_the_host_and_is_validated() -> None:
    assert Connector(SPEC, {"access_token": "t"}).api_base == "https://api.gocardless.com"
    sandbox = Connector(SPEC, {"access_token": "t", "environment": "sandbox"})
    assert sandbox.api_base == "https://api-sandbox.gocardless.com"
    assert sandbox.http._headers["GoCardless-Version"] == "2015-07-06"
    assert sandbox.http._headers["Authorization"] == "Bearer t"
    with pytest.raises(CredentialsInvalidError):
        Connector(SPEC, {"access_token": "t", "environment": "attacker.example"})


def test_fetch_customer_returns_that_customers_records_only(base: str, tenant: str) -> None:
    emu.put_all(EmulatorAdmin(base), tenant, small_business())
    records = connector(base, tenant).fetch_customer("CU_ANN")
    assert [type(r).__name__ for r in records] == [
        "CustomerRecord",
        "SubscriptionRecord",
        "InvoiceRecord",
        "InvoiceRecord",
        "TransactionRecord",
        "TransactionRecord",
        "TransactionRecord",
        "TransactionRecord",
    ]
    assert {getattr(r, "customer_external_id", "CU_ANN") for r in records} == {"CU_ANN"}
    assert connector(base, tenant).fetch_customer("CU_NOBODY") == []


def test_the_envelope_pagination_reads_the_one_list_beside_meta() -> None:
    pagination = EnvelopeCursorPagination()
    page = pagination.parse({"refunds": [{"id": "RF1"}], "meta": {"cursors": {"after": "RF1"}}}, 1, None, {})
    assert (page.items, page.next_cursor) == ([{"id": "RF1"}], "RF1")
    assert pagination.request("/refunds", {"payment": "PM1"}, "RF1", 500).params == {
        "payment": "PM1",
        "limit": 500,
        "after": "RF1",
    }
    with pytest.raises(ProviderResponseError):
        pagination.parse({"a": [], "b": [], "meta": {}}, 1, None, {})
    with pytest.raises(ProviderResponseError):  # a cursor that does not move
        pagination.parse({"refunds": [{"id": "RF1"}], "meta": {"cursors": {"after": "RF1"}}}, 1, "RF1", {})


def test_an_unknown_status_fails_the_mapping_and_names_the_object(base: str, tenant: str) -> None:
    objects = small_business()
    objects["subscriptions"][0]["status"] = "odd"
    emu.put_all(EmulatorAdmin(base), tenant, objects)
    c = connector(base, tenant)
    with pytest.raises(RecordMappingError) as failed:
        c.fetch_page(next(p for p in c.plan_partitions() if p.kind is RecordKind.SUBSCRIPTIONS))
    assert "SB_GOLD" in str(failed.value)


def test_a_customer_whose_data_gocardless_removed_is_gone(base: str, tenant: str) -> None:
    emu.put_all(EmulatorAdmin(base), tenant, small_business())
    EmulatorAdmin(base).fault(410, tenant=tenant)  # GoCardless answers 410 Gone for a removed customer
    assert connector(base, tenant).fetch_customer("CU_ANN") == []


def test_refunds_are_read_per_payment_until_more_than_a_few_are_needed(base: str, tenant: str) -> None:
    admin = EmulatorAdmin(base)
    owner = emu.customer(given_name="R", created_at=T0, customer_id="CU_R")
    authority = emu.mandate(owner, created_at=T0)
    payments, refunds = [], []
    for n in range(6):
        paid = {**emu.payment(authority, amount=1000, currency="GBP", charge_date=T0), "amount_refunded": 100}
        payments.append(paid)
        refunds.append(emu.refund(paid, amount=100, created_at=T0 + timedelta(days=n)))
    emu.put_all(
        admin, tenant, {"customers": [owner], "mandates": [authority], "payments": payments, "refunds": refunds}
    )
    c = connector(base, tenant)
    transactions = next(p for p in c.plan_partitions() if p.kind is RecordKind.TRANSACTIONS)
    before = admin.requests(tenant)
    records = c.fetch_page(transactions).records
    assert sorted(r.external_id for r in records if isinstance(r, TransactionRecord) and r.type == "refund") == sorted(
        r["id"] for r in refunds
    )
    # the page, one mandate by id, two payments' refunds one by one, then every refund in one list
    assert admin.requests(tenant) == before + 1 + 1 + 2 + 1


def test_a_page_of_an_import_lists_the_linked_resources_at_once(base: str, tenant: str) -> None:
    admin = EmulatorAdmin(base)
    emu.put_all(admin, tenant, emu.demo_objects(40))  # 130-odd payments: one page of 500
    c = connector(base, tenant)
    invoices = next(p for p in c.plan_partitions() if p.kind is RecordKind.INVOICES)
    before = admin.requests(tenant)
    records = c.fetch_page(invoices).records
    # the page, then every mandate and every subscription listed once: no reads by id first
    assert admin.requests(tenant) == before + 1 + 1 + 1
    small_pages = connector(base, tenant, page_size=5)  # small pages: the first few are read by id
    assert [r for page in small_pages.iter_pages(invoices) for r in page.records] == records
    assert {r.customer_external_id for r in records if isinstance(r, InvoiceRecord)} == {
        c["id"] for c in admin.list(tenant, "customers")
    }
