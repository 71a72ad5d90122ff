"""The `chargebee` and `chargebee_v1` connectors against their emulators (in this process, no stack):
pagination over several pages, every record kind, 429/5xx retried, 401, the per-customer fetch, the
settings that make the host."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from devstack.emulators import chargebee as cb_emulator
from devstack.emulators import chargebee_v1 as cb1_emulator
from devstack.emulators.base import EmulatorAdmin, serve_in_thread
from sourcesync.connectors import (
    Connector,
    CredentialsInvalidError,
    Page,
    Partition,
    ProviderRequestError,
    ProviderUnavailableError,
    RecordMappingError,
    build_connector,
)
from sourcesync.connectors.registry import get_connector_spec
from sourcesync.policy_matrix import KEEP_ALL, REMOVE_CONNECTIONS, policy
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
from sourcesync.systems import System

SYSTEMS: dict[str, ModuleType] = {"chargebee": cb_emulator, "chargebee_v1": cb1_emulator}
CUSTOMERS = 12
JAN = datetime(2026, 1, 1, tzinfo=UTC)


def at(index: int, days: int = 0) -> datetime:
    """When the demo's `index`-th customer was created (seeded from EPOCH), plus `days`."""
    return datetime.fromtimestamp(cb_emulator.EPOCH + index * cb_emulator.STEP + days * cb_emulator.DAY, UTC)


class FakeTime:
    """A clock that sleeping advances (no real waits); the sleeps are kept."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def emulators() -> Iterator[str]:
    with serve_in_thread() as url:
        yield url


@pytest.fixture(scope="module")
def sources(emulators: str) -> dict[str, dict[str, Any]]:
    """One demo business per system, read only by the tests (tests that change data seed their own)."""
    return {
        system: module.seed_demo(
            f"{emulators}/{system}", customers=CUSTOMERS, tenant=f"unit_{system}", start=cb_emulator.EPOCH
        )
        for system, module in SYSTEMS.items()
    }


def connect(source: dict[str, Any], system: str, time: FakeTime | None = None, **options: Any) -> Connector:
    fake = time or FakeTime()
    return build_connector(
        system,
        source["credentials"],
        {**source["options"], "requests_per_second": 1000, **options},
        clock=fake.clock,
        wall_clock=fake.clock,
        sleep=fake.sleep,
        random=lambda: 1.0,
    )


def import_all(connector: Connector) -> dict[RecordKind, list[Page]]:
    return {p.kind: list(connector.iter_pages(p)) for p in connector.plan_partitions()}


def records(pages: list[Page]) -> list[AnyRecord]:
    return [record for page in pages for record in page.records]


@pytest.fixture(scope="module", params=sorted(SYSTEMS))
def imported(
    request: pytest.FixtureRequest, sources: dict[str, dict[str, Any]]
) -> tuple[str, dict[RecordKind, list[Page]]]:
    system: str = request.param
    return system, import_all(connect(sources[system], system, page_size=5))


# ------------------------------------------------------------------------------------------ registry and settings
@pytest.mark.parametrize(("system", "group"), [("chargebee", KEEP_ALL), ("chargebee_v1", REMOVE_CONNECTIONS)])
def test_the_systems_have_a_connector_and_their_matrix_group(system: str, group: object) -> None:
    spec = get_connector_spec(system)
    assert spec is not None and spec.system == system
    assert policy(System(system)) == group


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_the_host_is_the_accounts_site(system: str) -> None:
    connector = build_connector(system, {"site": "acme-test", "api_key": "k"})
    assert connector.api_base == "https://acme-test.chargebee.com/api/v2"
    assert connector.uses_provider_api


@pytest.mark.parametrize(
    "credentials",
    [
        {"api_key": "k"},
        {"site": "acme.evil.example", "api_key": "k"},
        {"site": "Acme_", "api_key": "k"},
        {"site": "acme"},
    ],
)
def test_a_missing_or_invalid_site_or_key_is_refused_before_any_call(credentials: dict[str, str]) -> None:
    with pytest.raises(CredentialsInvalidError):
        build_connector("chargebee", credentials, {"api_base": "http://127.0.0.1:9/unreachable"})


# ------------------------------------------------------------------------------------------ credentials
@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_check_credentials_is_one_call(emulators: str, sources: dict[str, dict[str, Any]], system: str) -> None:
    tenant = sources[system]["credentials"]["api_key"]
    admin = EmulatorAdmin(f"{emulators}/{system}")
    before = admin.requests(tenant)
    connect(sources[system], system).check_credentials()
    assert admin.requests(tenant) == before + 1


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_an_unknown_key_is_credentials_invalid(sources: dict[str, dict[str, Any]], system: str) -> None:
    source = {**sources[system], "credentials": {"site": "demo-test", "api_key": "not_a_known_key"}}
    with pytest.raises(CredentialsInvalidError):
        connect(source, system).check_credentials()
    with pytest.raises(CredentialsInvalidError):
        connect(source, system).fetch_page(Partition(kind=RecordKind.CUSTOMERS, key="customers"))


def test_a_site_on_the_other_catalog_fails_the_check(emulators: str, sources: dict[str, dict[str, Any]]) -> None:
    """A catalog 1.0 site connected as `chargebee` (and the reverse): 400 configuration_incompatible."""
    as_v2 = {**sources["chargebee_v1"], "options": {"api_base": f"{emulators}/chargebee_v1/api/v2"}}
    with pytest.raises(ProviderRequestError) as raised:
        connect(as_v2, "chargebee").check_credentials()
    assert raised.value.provider_code == "configuration_incompatible"
    as_v1 = {**sources["chargebee"], "options": {"api_base": f"{emulators}/chargebee/api/v2"}}
    with pytest.raises(ProviderRequestError):
        connect(as_v1, "chargebee_v1").check_credentials()


# ------------------------------------------------------------------------------------------ import
def test_one_partition_per_kind(sources: dict[str, dict[str, Any]]) -> None:
    for system in SYSTEMS:
        keys = [p.key for p in connect(sources[system], system).plan_partitions()]
        assert sorted(keys) == sorted(kind.value for kind in RecordKind)
    provider = build_connector("chargebee", {"site": "acme", "api_key": "k"})
    assert provider.partitioning == "by_kind"  # Chargebee's created_at bounds are exclusive: no windows


def test_lists_are_read_over_several_pages(imported: tuple[str, dict[RecordKind, list[Page]]]) -> None:
    _, pages = imported
    assert len(pages[RecordKind.CUSTOMERS]) == 3  # 12 customers, 5 a page
    assert all(page.next_cursor for page in pages[RecordKind.CUSTOMERS][:-1])
    assert pages[RecordKind.CUSTOMERS][-1].next_cursor is None


def test_small_pages_give_what_one_big_page_gives(
    sources: dict[str, dict[str, Any]], imported: tuple[str, dict[RecordKind, list[Page]]]
) -> None:
    system, small = imported
    big = import_all(connect(sources[system], system))
    for kind in RecordKind:
        assert records(small[kind]) == records(big[kind])


def test_customers(imported: tuple[str, dict[RecordKind, list[Page]]]) -> None:
    _, pages = imported
    customers = {r.external_id: r for r in records(pages[RecordKind.CUSTOMERS])}
    assert len(customers) == CUSTOMERS
    assert customers["cust_00001"] == CustomerRecord(
        external_id="cust_00001",
        name="Demo Customer 1",
        email="customer1@example.com",
        company="Company 1",
        country="US",
        currency="USD",
        created_at=at(1),
    )
    assert customers["cust_00000"].company is None


def test_plans(imported: tuple[str, dict[RecordKind, list[Page]]]) -> None:
    system, pages = imported
    plans = {r.external_id: r for r in records(pages[RecordKind.PLANS])}
    ids = (
        ("basic-USD-monthly", "pro-USD-yearly", "seats-USD-monthly")
        if system == "chargebee"
        else ("basic-monthly", "pro-yearly", "seats")
    )
    assert sorted(plans) == sorted(ids)
    basic, pro, seats = (plans[i] for i in ids)
    assert basic == PlanRecord(
        external_id=ids[0], name="Basic", interval_count=1, interval_unit="month", currency="USD", amount_in_cents=1000
    )
    assert (pro.interval_unit, pro.amount_in_cents) == ("year", 10_000)
    assert (seats.name, seats.interval_unit, seats.amount_in_cents) == ("Extra seats", "month", 500)
    # the one-time price (a charge item price / a non-recurring addon) is read and skipped
    assert sum(page.fetched for page in pages[RecordKind.PLANS]) == 4
    assert sum(page.skipped for page in pages[RecordKind.PLANS]) == 1


def test_subscriptions(imported: tuple[str, dict[RecordKind, list[Page]]]) -> None:
    system, pages = imported
    subs = {r.external_id: r for r in records(pages[RecordKind.SUBSCRIPTIONS])}
    seats = "seats-USD-monthly" if system == "chargebee" else "seats"
    basic = "basic-USD-monthly" if system == "chargebee" else "basic-monthly"
    # index 0: active, basic plan, seats addon x2 (every third)
    assert subs["sub_00000"] == SubscriptionRecord(
        external_id="sub_00000",
        customer_external_id="cust_00000",
        plan_external_id=basic,
        subscription_set_external_id="sub_00000",
        quantity=1,
        status="active",
        currency="USD",
        started_at=at(0),
    )
    assert subs[f"sub_00000:{seats}"].quantity == 2
    assert subs[f"sub_00000:{seats}"].subscription_set_external_id == "sub_00000"
    statuses = {i: subs[f"sub_{i:05d}"].status for i in range(9)}
    assert statuses == {
        0: "active",
        1: "active",
        2: "trialing",
        3: "active",
        4: "cancelled",
        5: "active",  # non_renewing
        6: "active",
        7: "unpaid",  # paused
        8: "incomplete",  # future
    }
    assert subs["sub_00004"].cancelled_at == at(4, days=5)
    assert subs["sub_00008"].started_at == at(8, days=30)  # a future subscription starts at its start_date
    assert len(subs) == CUSTOMERS + 4  # customers 0, 3, 6, 9 have the addon


def test_invoices(imported: tuple[str, dict[RecordKind, list[Page]]]) -> None:
    system, pages = imported
    invoices = {r.external_id: r for r in records(pages[RecordKind.INVOICES])}
    assert len(invoices) == 9  # no invoice for trials (2, 11) and the future subscription (8)
    seats = "seats-USD-monthly" if system == "chargebee" else "seats"
    basic = "basic-USD-monthly" if system == "chargebee" else "basic-monthly"
    assert invoices["inv_00000"] == InvoiceRecord(
        external_id="inv_00000",
        customer_external_id="cust_00000",
        date=at(0),
        currency="USD",
        total_in_cents=1900,
        line_items=(
            LineItem(
                external_id="li_00000_0",
                type="subscription",
                subscription_external_id="sub_00000",
                plan_external_id=basic,
                service_period_start=at(0),
                service_period_end=at(0, days=30),
                amount_in_cents=900,
                quantity=1,
                discount_amount_in_cents=100,
                description=basic,
            ),
            LineItem(
                external_id="li_00000_1",
                type="subscription",
                subscription_external_id=f"sub_00000:{seats}",
                plan_external_id=seats,
                service_period_start=at(0),
                service_period_end=at(0, days=30),
                amount_in_cents=1000,
                quantity=2,
                description=seats,
            ),
        ),
    )


def test_transactions(imported: tuple[str, dict[RecordKind, list[Page]]]) -> None:
    _, pages = imported
    txns = {r.external_id: r for r in records(pages[RecordKind.TRANSACTIONS])}
    assert txns["txn_00003"] == TransactionRecord(
        external_id="txn_00003",
        invoice_external_id="inv_00003",
        customer_external_id="cust_00003",
        type="payment",
        date=at(3),
        result="successful",
        amount_in_cents=11_000,
    )
    assert txns["txn_00003_refund"] == TransactionRecord(
        external_id="txn_00003_refund",
        invoice_external_id="inv_00003",
        customer_external_id="cust_00003",
        type="refund",
        date=at(3, days=1),
        result="successful",
        amount_in_cents=5_500,
    )
    assert txns["txn_00005_failed"].result == "failed"
    assert len(txns) == 12  # 9 payments, 1 failed payment, 2 refunds


def test_a_worker_resumes_from_a_checkpointed_cursor(
    sources: dict[str, dict[str, Any]], imported: tuple[str, dict[RecordKind, list[Page]]]
) -> None:
    system, pages = imported
    cursor = pages[RecordKind.CUSTOMERS][0].next_cursor
    assert cursor is not None
    later = connect(sources[system], system, page_size=5)  # another worker, from the checkpoint
    resumed = list(later.iter_pages(Partition(kind=RecordKind.CUSTOMERS, key="customers"), cursor))
    assert records(resumed) == records(pages[RecordKind.CUSTOMERS][1:])


def test_v1_plans_page_through_plans_then_addons(sources: dict[str, dict[str, Any]]) -> None:
    connector = connect(sources["chargebee_v1"], "chargebee_v1", page_size=1)
    pages = list(connector.iter_pages(Partition(kind=RecordKind.PLANS, key="plans")))
    assert [page.next_cursor for page in pages][:2] == ["0:" + pages[0].next_cursor.partition(":")[2], "1"]  # type: ignore[union-attr]
    assert [r.external_id for r in records(pages)] == ["basic-monthly", "pro-yearly", "seats"]
    assert pages[-1].next_cursor is None and pages[-1].skipped == 1  # the one-time addon


# ------------------------------------------------------------------------------------------ retries and failures
@pytest.mark.parametrize(("status", "retry_after"), [(429, 3), (500, None), (503, None)])
def test_throttling_and_server_errors_are_retried(emulators: str, status: int, retry_after: int | None) -> None:
    source = cb_emulator.seed_demo(f"{emulators}/chargebee", customers=3, tenant=f"retry_{status}")
    EmulatorAdmin(f"{emulators}/chargebee").fault(status, times=2, retry_after=retry_after, tenant=f"retry_{status}")
    fake = FakeTime()
    page = connect(source, "chargebee", fake).fetch_page(Partition(kind=RecordKind.CUSTOMERS, key="customers"))
    assert [r.external_id for r in page.records] == ["cust_00000", "cust_00001", "cust_00002"]
    assert len(fake.sleeps) == 2
    if retry_after is not None:
        assert all(wait >= retry_after for wait in fake.sleeps)


def test_a_provider_down_longer_than_max_retry_seconds_fails_unavailable(emulators: str) -> None:
    source = cb_emulator.seed_demo(f"{emulators}/chargebee", customers=1, tenant="down")
    EmulatorAdmin(f"{emulators}/chargebee").fault(503, times=1000, tenant="down")
    with pytest.raises(ProviderUnavailableError):
        connect(source, "chargebee", max_retry_seconds=5).fetch_page(
            Partition(kind=RecordKind.CUSTOMERS, key="customers")
        )
    EmulatorAdmin(f"{emulators}/chargebee").drop("down")


def test_a_key_revoked_during_an_import_is_credentials_invalid(emulators: str) -> None:
    source = cb_emulator.seed_demo(f"{emulators}/chargebee", customers=6, tenant="revoked")
    connector = connect(source, "chargebee", page_size=5)
    first = connector.fetch_page(Partition(kind=RecordKind.CUSTOMERS, key="customers"))
    EmulatorAdmin(f"{emulators}/chargebee").drop("revoked")
    with pytest.raises(CredentialsInvalidError):
        connector.fetch_page(Partition(kind=RecordKind.CUSTOMERS, key="customers"), first.next_cursor)


# ------------------------------------------------------------------------------------------ one customer
@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_fetch_customer_returns_that_customers_records_only(
    sources: dict[str, dict[str, Any]], imported: tuple[str, dict[RecordKind, list[Page]]], system: str
) -> None:
    fetched = connect(sources[system], system).fetch_customer("cust_00003")
    assert fetched[0] == CustomerRecord(
        external_id="cust_00003",
        name="Demo Customer 3",
        email="customer3@example.com",
        company="Company 3",
        country="US",
        currency="USD",
        created_at=at(3),
    )
    kinds = {type(r).__name__: 0 for r in fetched}
    for record in fetched:
        kinds[type(record).__name__] += 1
    assert kinds == {"CustomerRecord": 1, "SubscriptionRecord": 2, "InvoiceRecord": 1, "TransactionRecord": 2}
    for record in fetched[1:]:
        assert not isinstance(record, (CustomerRecord, PlanRecord))
        assert record.customer_external_id == "cust_00003"


def test_fetch_customer_of_an_unknown_customer_is_empty(sources: dict[str, dict[str, Any]]) -> None:
    assert connect(sources["chargebee"], "chargebee").fetch_customer("cust_nobody") == []


def test_fetch_customer_sees_a_change_at_the_emulator(emulators: str) -> None:
    source = cb_emulator.seed_demo(f"{emulators}/chargebee", customers=2, tenant="changes")
    admin = EmulatorAdmin(f"{emulators}/chargebee")
    admin.patch("changes", "subscriptions", "sub_00001", {"status": "cancelled", "cancelled_at": cb_emulator.EPOCH})
    subs = [r for r in connect(source, "chargebee").fetch_customer("cust_00001") if isinstance(r, SubscriptionRecord)]
    assert [(s.external_id, s.status, s.cancelled_at) for s in subs] == [("sub_00001", "cancelled", JAN)]


def test_an_object_that_does_not_map_fails_naming_its_id_and_not_its_data(emulators: str) -> None:
    source = cb_emulator.seed_demo(f"{emulators}/chargebee", customers=2, tenant="unmappable")
    EmulatorAdmin(f"{emulators}/chargebee").patch("unmappable", "subscriptions", "sub_00001", {"status": "hibernating"})
    with pytest.raises(RecordMappingError) as raised:
        connect(source, "chargebee").fetch_page(Partition(kind=RecordKind.SUBSCRIPTIONS, key="subscriptions"))
    assert "sub_00001" in str(raised.value)
    assert "cust_00001" not in str(raised.value) and "hibernating" in str(raised.value)
