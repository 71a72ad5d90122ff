"""The Recurly connector against the Recurly emulator (in this process, no stack): pagination, every
record kind, retries of injected 429s and 5xx, refused keys, one customer's fetch, and the mapping
decisions documented in docs/connectors.md ("Recurly")."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.emulators import recurly as emu
from devstack.emulators.base import EmulatorAdmin, serve_in_thread
from sourcesync.connectors import (
    Connector,
    CredentialsInvalidError,
    ProviderUnavailableError,
    RecordMappingError,
    build_connector,
)
from sourcesync.connectors.recurly import SPEC, minor_units
from sourcesync.records import (
    AnyRecord,
    CustomerRecord,
    InvoiceRecord,
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
        yield f"{url}/recurly"


@pytest.fixture
def tenant(base: str) -> Iterator[str]:
    name = f"recurly_unit_{next(_tenants)}"
    yield name
    EmulatorAdmin(base).drop(name)


def connector(base: str, tenant: str, sleeps: list[float] | None = None, **options: Any) -> Connector:
    return build_connector(
        "recurly",
        {"api_key": tenant, "region": "eu"},
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


def put(base: str, tenant: str, objects: dict[str, list[dict[str, Any]]]) -> None:
    emu.put_all(EmulatorAdmin(base), tenant, objects)


def small_business() -> dict[str, list[dict[str, Any]]]:
    """Two accounts; a plan in USD and EUR; every subscription state; a charge invoice with a discounted
    plan line and a one-time line; a credit invoice with its refund; a declined and a pending payment."""
    ann = emu.account("ann", first_name="Ann", last_name="Lee", email="ann@example.com", country="DE", created_at=T0)
    bob = emu.account("bob", company="Bob GmbH", created_at=T0 + timedelta(seconds=1), state="closed")
    starter = emu.plan("starter", "Starter", prices={"USD": 29.0, "EUR": 27.5}, created_at=T0, plan_id="pl1")
    yearly = emu.plan("yearly", "Yearly", prices={"JPY": 12000}, interval_length=12, created_at=T0, plan_id="pl2")
    subs = [
        emu.subscription(ann, starter, currency="EUR", quantity=2, activated_at=T0, subscription_id="s_active"),
        emu.subscription(
            ann,
            starter,
            currency="USD",
            activated_at=T0,
            trial_ends_at=T0 + timedelta(days=14),
            subscription_id="s_trial",
        ),
        emu.subscription(
            bob,
            yearly,
            currency="JPY",
            state="canceled",
            activated_at=T0,
            canceled_at=T0 + timedelta(days=2),
            subscription_id="s_canceled",
        ),
        emu.subscription(
            bob,
            starter,
            currency="USD",
            state="expired",
            activated_at=T0,
            canceled_at=T0 + timedelta(days=5),
            expires_at=T0 + timedelta(days=30),
            subscription_id="s_expired",
        ),
        emu.subscription(bob, starter, currency="USD", state="paused", activated_at=T0, subscription_id="s_paused"),
        emu.subscription(bob, starter, currency="USD", state="future", activated_at=T0, subscription_id="s_future"),
    ]
    plan_line = emu.line_item(
        ann,
        amount=27.5,
        currency="EUR",
        description="Starter",
        subscription_id="s_active",
        plan_obj=starter,
        quantity=2,
        discount=5.0,
        start=T0,
        end=T0 + timedelta(days=30),
        line_id="li_plan",
    )
    setup = emu.line_item(
        ann, amount=10.0, currency="EUR", description="Setup", origin="one_time", start=T0, line_id="li_setup"
    )
    charge = emu.invoice(
        ann,
        [plan_line, setup],
        currency="EUR",
        created_at=T0,
        number="1001",
        subscription_ids=["s_active"],
        invoice_id="inv_charge",
    )
    credit_line = emu.line_item(
        ann, amount=10.0, currency="EUR", description="Refund", origin="credit", start=T0, credit=True
    )
    credit = emu.invoice(
        ann,
        [credit_line],
        currency="EUR",
        created_at=T0 + timedelta(days=1),
        number="C1",
        invoice_type="credit",
        state="closed",
        invoice_id="inv_credit",
    )
    voided = emu.invoice(
        bob, [setup], currency="EUR", created_at=T0, number="1002", state="voided", invoice_id="inv_void"
    )
    transactions = [
        emu.transaction(ann, charge, amount=60.0, currency="EUR", created_at=T0, transaction_id="t_paid"),
        emu.transaction(
            ann, credit, amount=10.0, currency="EUR", created_at=T0, kind="refund", transaction_id="t_refund"
        ),
        emu.transaction(
            ann, charge, amount=60.0, currency="EUR", created_at=T0, status="declined", transaction_id="t_declined"
        ),
        emu.transaction(
            ann, charge, amount=60.0, currency="EUR", created_at=T0, status="pending", transaction_id="t_pending"
        ),
        emu.transaction(ann, None, amount=0.0, currency="EUR", created_at=T0, kind="verify", transaction_id="t_verify"),
    ]
    return {
        "accounts": [ann, bob],
        "plans": [starter, yearly],
        "subscriptions": subs,
        "invoices": [charge, credit, voided],
        "transactions": transactions,
    }


def test_every_record_kind_is_mapped(base: str, tenant: str) -> None:
    put(base, tenant, small_business())
    found = import_all(connector(base, tenant))
    ann, bob = found[RecordKind.CUSTOMERS]
    assert ann == CustomerRecord(
        external_id=ann.external_id, name="Ann Lee", email="ann@example.com", country="DE", created_at=T0
    )
    assert (bob.name, bob.company) == ("Bob GmbH", "Bob GmbH")  # a closed account is still a customer
    assert found[RecordKind.PLANS] == [
        PlanRecord(
            external_id="pl1:USD",
            name="Starter",
            interval_count=1,
            interval_unit="month",
            currency="USD",
            amount_in_cents=2900,
        ),
        PlanRecord(
            external_id="pl1:EUR",
            name="Starter",
            interval_count=1,
            interval_unit="month",
            currency="EUR",
            amount_in_cents=2750,
        ),
        PlanRecord(
            external_id="pl2:JPY",
            name="Yearly",
            interval_count=1,
            interval_unit="year",
            currency="JPY",
            amount_in_cents=12000,
        ),
    ]
    subs = {s.external_id: s for s in found[RecordKind.SUBSCRIPTIONS] if isinstance(s, SubscriptionRecord)}
    assert {k: (s.status, s.plan_external_id, s.quantity) for k, s in subs.items()} == {
        "s_active": ("active", "pl1:EUR", 2),
        "s_trial": ("trialing", "pl1:USD", 1),
        "s_canceled": ("active", "pl2:JPY", 1),  # runs until it expires
        "s_expired": ("cancelled", "pl1:USD", 1),
        "s_paused": ("unpaid", "pl1:USD", 1),
        "s_future": ("incomplete", "pl1:USD", 1),
    }
    assert subs["s_expired"].cancelled_at == T0 + timedelta(days=30) and subs["s_canceled"].cancelled_at is None
    assert subs["s_active"].customer_external_id == ann.external_id and subs["s_active"].started_at == T0

    invoices = {i.external_id: i for i in found[RecordKind.INVOICES] if isinstance(i, InvoiceRecord)}
    assert set(invoices) == {"inv_charge", "inv_credit"}  # the voided one is not a claim
    charge = invoices["inv_charge"]
    assert (charge.currency, charge.total_in_cents, charge.customer_external_id) == ("EUR", 6000, ann.external_id)
    plan_line, setup = charge.line_items
    assert (plan_line.type, plan_line.subscription_external_id, plan_line.plan_external_id) == (
        "subscription",
        "s_active",
        "pl1:EUR",
    )
    assert (plan_line.amount_in_cents, plan_line.discount_amount_in_cents, plan_line.quantity) == (5000, 500, 2)
    assert plan_line.service_period_end == T0 + timedelta(days=30)
    assert (setup.type, setup.amount_in_cents, setup.subscription_external_id) == ("one_time", 1000, None)
    assert [line.amount_in_cents for line in invoices["inv_credit"].line_items] == [-1000]
    assert invoices["inv_credit"].total_in_cents == -1000

    transactions = {t.external_id: t for t in found[RecordKind.TRANSACTIONS] if isinstance(t, TransactionRecord)}
    assert {k: (t.type, t.result, t.invoice_external_id, t.amount_in_cents) for k, t in transactions.items()} == {
        "t_paid": ("payment", "successful", "inv_charge", 6000),
        "t_refund": ("refund", "successful", "inv_credit", 1000),
        "t_declined": ("payment", "failed", "inv_charge", 6000),
    }  # pending and verification transactions are skipped


def test_pagination_over_several_pages_returns_what_one_page_returns(base: str, tenant: str) -> None:
    put(base, tenant, emu.demo_objects(23))
    whole = import_all(connector(base, tenant))
    small = connector(base, tenant, page_size=4)
    paged = import_all(small)
    assert paged == whole and len(paged[RecordKind.CUSTOMERS]) == 23
    pages = list(small.iter_pages(next(p for p in small.plan_partitions() if p.kind is RecordKind.CUSTOMERS)))
    assert len(pages) == 6 and [p.fetched for p in pages] == [4, 4, 4, 4, 4, 3]
    assert pages[0].next_cursor == "/accounts?cursor=4&limit=4&order=asc&sort=created_at"


def test_a_worker_resumes_from_its_checkpointed_cursor(base: str, tenant: str) -> None:
    put(base, tenant, emu.demo_objects(9))
    c = connector(base, tenant, page_size=4)
    partition = next(p for p in c.plan_partitions() if p.kind is RecordKind.INVOICES)
    first = c.fetch_page(partition)
    rest = connector(base, tenant, page_size=4).iter_pages(partition, first.next_cursor)
    resumed = first.records + [r for page in rest for r in page.records]
    assert resumed == [r for page in c.iter_pages(partition) for r in page.records]


def test_an_invoice_with_more_lines_than_it_embeds_fetches_the_rest(base: str, tenant: str) -> None:
    owner = emu.account("c", first_name="C", created_at=T0)
    lines = [
        emu.line_item(owner, amount=1.0 + n, currency="USD", description=f"l{n}", origin="one_time", start=T0)
        for n in range(5)
    ]
    bill = emu.invoice(owner, lines, currency="USD", created_at=T0, number="1")
    put(
        base,
        tenant,
        {
            "accounts": [owner],
            "invoices": [{**bill, "line_items": bill["line_items"][:2], "has_more_line_items": True}],
        },
    )
    # the emulator serves /invoices/{id}/line_items from the stored invoice: store the whole list there too
    EmulatorAdmin(base).patch(tenant, "invoices", bill["id"], {"line_items": bill["line_items"]})
    (invoice,) = import_all(connector(base, tenant, page_size=2))[RecordKind.INVOICES]
    assert isinstance(invoice, InvoiceRecord) and [li.amount_in_cents for li in invoice.line_items] == [
        100,
        200,
        300,
        400,
        500,
    ]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retried(base: str, tenant: str, status: int) -> None:
    put(base, tenant, emu.demo_objects(3))
    admin = EmulatorAdmin(base)
    sleeps: list[float] = []
    c = connector(base, tenant, sleeps)
    partition = next(p for p in c.plan_partitions() if p.kind is RecordKind.CUSTOMERS)
    before = admin.requests(tenant)
    admin.fault(status, times=2, retry_after=1.5 if status == 429 else None, tenant=tenant)
    page = c.fetch_page(partition)
    assert len(page.records) == 3 and admin.requests(tenant) == before + 3
    assert sleeps == ([1.5, 1.5] if status == 429 else [0.0, 0.0])  # Retry-After honoured; jitter drawn as 0


def test_a_provider_failing_past_max_retry_seconds_is_unavailable(base: str, tenant: str) -> None:
    put(base, tenant, emu.demo_objects(1))
    EmulatorAdmin(base).fault(503, times=50, retry_after=2, tenant=tenant)
    c = connector(base, tenant, max_retry_seconds=1)
    with pytest.raises(ProviderUnavailableError) as failed:
        c.fetch_page(c.plan_partitions()[0])
    assert failed.value.status == 503 and failed.value.system == "recurly"


def test_a_key_recurly_refuses_is_credentials_invalid(base: str, tenant: str) -> None:
    put(base, tenant, emu.demo_objects(1))
    connector(base, tenant).check_credentials()
    with pytest.raises(CredentialsInvalidError) as refused:
        connector(base, "a_key_nobody_issued").check_credentials()
    assert refused.value.status == 401 and "a_key_nobody_issued" not in str(refused.value)
    c = connector(base, tenant)
    EmulatorAdmin(base).fault(401, tenant=tenant)  # a key revoked during an import
    with pytest.raises(CredentialsInvalidError):
        c.fetch_page(c.plan_partitions()[0])


def test_the_region_chooses_the_host_and_is_validated() -> None:
    assert Connector(SPEC, {"api_key": "k", "region": "eu"}).api_base == "https://v3.eu.recurly.com"
    assert Connector(SPEC, {"api_key": "k"}).api_base == "https://v3.recurly.com"
    with pytest.raises(CredentialsInvalidError):
        Connector(SPEC, {"api_key": "k", "region": "evil.example.com"})
    with pytest.raises(CredentialsInvalidError):
        Connector(SPEC, {"region": "us"}).check_credentials()


def test_fetch_customer_returns_that_accounts_records_only(base: str, tenant: str) -> None:
    objects = small_business()
    put(base, tenant, objects)
    ann_id = objects["accounts"][0]["id"]
    records = connector(base, tenant).fetch_customer(ann_id)
    kinds = [type(r).__name__ for r in records]
    assert kinds == ["CustomerRecord", *["SubscriptionRecord"] * 2, *["InvoiceRecord"] * 2, *["TransactionRecord"] * 3]
    assert all(getattr(r, "customer_external_id", ann_id) == ann_id for r in records)
    assert connector(base, tenant).fetch_customer("no-such-account") == []


def test_zero_decimal_currencies_keep_their_amounts() -> None:
    assert (minor_units(12000, "JPY"), minor_units(12000.0, "JPY"), minor_units("12.34", "USD")) == (12000, 12000, 1234)
    assert (minor_units(29, "USD"), minor_units(0.1, "EUR"), minor_units(-10.005, "USD")) == (2900, 10, -1001)
    assert minor_units(None, "USD") is None and minor_units(True, "USD") is None and minor_units("x", "USD") is None


def test_an_unknown_state_fails_the_mapping_and_names_the_object_not_its_data(base: str, tenant: str) -> None:
    owner = emu.account("u", email="private@example.com", created_at=T0)
    starter = emu.plan("s", "S", prices={"USD": 1.0}, created_at=T0)
    odd = {**emu.subscription(owner, starter, currency="USD", activated_at=T0, subscription_id="s_odd"), "state": "odd"}
    put(base, tenant, {"accounts": [owner], "subscriptions": [odd]})
    c = connector(base, tenant)
    with pytest.raises(RecordMappingError) as failed:
        c.fetch_page(next(p for p in c.plan_partitions() if p.kind is RecordKind.SUBSCRIPTIONS))
    assert "s_odd" in str(failed.value) and "private@example.com" not in str(failed.value)
