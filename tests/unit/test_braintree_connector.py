"""The Braintree connector against its emulator (in this process, no stack): the two-step search over
several pages, every record kind, injected 429/5xx retried, refused keys, one customer's fetch."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.emulators import braintree as emulator
from devstack.emulators.base import EmulatorAdmin, serve_in_thread
from sourcesync.connectors import braintree
from sourcesync.connectors.base import Connector, Partition
from sourcesync.connectors.errors import CredentialsInvalidError, ProviderResponseError, ProviderUnavailableError
from sourcesync.connectors.kit.id_search import IdSearchPagination, typed_xml_decoder
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
        yield f"{served}/braintree"


def _seed(url: str, tenant: str, customers: int) -> dict[str, Any]:
    return emulator.seed_demo(url, customers=customers, tenant=tenant)


def _connector(seeded: dict[str, Any], waits: list[float] | None = None, **options: Any) -> Connector:
    return build_connector(
        "braintree",
        seeded["credentials"],
        {**seeded["options"], "requests_per_second": 100, **options},
        sleep=(waits.append if waits is not None else lambda s: None),
        random=lambda: 0.5,
    )


def _all(connector: Connector, kind: RecordKind) -> tuple[list[Any], int]:
    pages = list(connector.iter_pages(Partition(kind=kind, key=kind.value)))
    return [r for page in pages for r in page.records], len(pages)


def test_customers_come_in_search_pages_after_one_id_search(url: str) -> None:
    seeded = _seed(url, "bt-pages", 25)
    connector = _connector(seeded, page_size=10)  # Braintree's page is 50: smaller here, for fewer objects
    first = connector.fetch_page(Partition(kind=RecordKind.CUSTOMERS, key="customers"))
    assert first.records == [] and first.total == 25 and first.next_cursor is not None
    state = json.loads(first.next_cursor)
    assert len(state["ids"]) == 25 and state["more"] is False
    records, pages = _all(connector, RecordKind.CUSTOMERS)
    assert pages == 1 + 3  # the id search, then 10 + 10 + 5
    assert len(records) == 25 and len({r.external_id for r in records}) == 25
    assert _connector(seeded).spec.page_size == 50


def test_a_long_search_runs_again_after_its_last_id_and_skips_nothing(url: str) -> None:
    seeded = _seed(url, "bt-resume", 35)
    connector = _connector(seeded)
    stream = connector.spec.streams[RecordKind.CUSTOMERS]
    small = dataclasses.replace(stream, pagination=dataclasses.replace(stream.pagination, ids_per_cursor=15))  # type: ignore[type-var]
    spec = dataclasses.replace(connector.spec, streams={RecordKind.CUSTOMERS: small})
    options = {**seeded["options"], "page_size": 10}
    connector = Connector(spec, seeded["credentials"], options, sleep=lambda s: None)
    partition = Partition(kind=RecordKind.CUSTOMERS, key="customers")
    seen: list[str] = []
    cursor: str | None = None
    admin = EmulatorAdmin(url)
    searches, deleted = 0, False
    while True:
        page = connector.fetch_page(partition, cursor)
        if not page.records:
            searches += 1
        seen += [r.external_id for r in page.records]
        if len(seen) == 15 and not deleted:
            admin.delete("bt-resume", "customers", "cust00005")  # an object already listed goes
            deleted = True
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert searches == 3  # 35 ids, 15 per cursor: the id search runs three times
    assert len(seen) == 35 and len(set(seen)) == 35, "nothing skipped, nothing twice"


def test_every_record_kind_is_mapped(url: str) -> None:
    connector = _connector(_seed(url, "bt-kinds", 18))
    plans, _ = _all(connector, RecordKind.PLANS)
    assert {(p.external_id, p.interval_unit, p.interval_count, p.amount_in_cents) for p in plans} == {
        ("basic-monthly", "month", 1, 1000),
        ("pro-monthly", "month", 1, 4900),
        ("pro-yearly", "month", 12, 49000),
    }
    assert all(isinstance(p, PlanRecord) and p.currency == "USD" for p in plans)
    customers, _ = _all(connector, RecordKind.CUSTOMERS)
    assert len(customers) == 18 and all(isinstance(c, CustomerRecord) for c in customers)
    assert customers[0].name == "Demo Customer 1" and customers[0].country in {"US", "GB", "DE", "FR"}
    subscriptions, _ = _all(connector, RecordKind.SUBSCRIPTIONS)
    assert len(subscriptions) == 18 and all(isinstance(s, SubscriptionRecord) for s in subscriptions)
    by_id = {s.external_id: s for s in subscriptions}
    assert by_id["sub00005"].status == "cancelled" and by_id["sub00005"].cancelled_at is not None
    assert by_id["sub00004"].status == "active" and by_id["sub00004"].customer_external_id == "cust00004"
    assert by_id["sub00004"].plan_external_id == "pro-monthly" and by_id["sub00004"].currency == "USD"
    invoices, _ = _all(connector, RecordKind.INVOICES)
    assert all(isinstance(i, InvoiceRecord) for i in invoices)
    sales = [t for t in EmulatorAdmin(url).list("bt-kinds", "transactions") if t["type"] == "sale"]
    assert len(invoices) == len(sales)
    line = invoices[0].line_items[0]
    assert line.type == "subscription" and line.subscription_external_id and line.plan_external_id
    assert line.service_period_start is not None and line.amount_in_cents == invoices[0].total_in_cents
    transactions, _ = _all(connector, RecordKind.TRANSACTIONS)
    assert all(isinstance(t, TransactionRecord) for t in transactions)
    refunds = [t for t in transactions if t.type == "refund"]
    failed = [t for t in transactions if t.result == "failed"]
    assert refunds and failed
    invoice_ids = {i.external_id for i in invoices}
    assert all(r.invoice_external_id in invoice_ids for r in refunds)


def test_statuses_trial_past_due_expired_pending(url: str) -> None:
    seeded = _seed(url, "bt-status", 4)
    admin = EmulatorAdmin(url)
    later = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%d")
    admin.patch("bt-status", "subscriptions", "sub00001", {"trial_period": True, "first_billing_date": later})
    admin.patch("bt-status", "subscriptions", "sub00002", {"status": "Past Due"})
    admin.patch("bt-status", "subscriptions", "sub00003", {"status": "Expired", "status_history": []})
    admin.patch("bt-status", "subscriptions", "sub00004", {"status": "Pending"})
    subscriptions, _ = _all(_connector(seeded), RecordKind.SUBSCRIPTIONS)
    status = {s.external_id: (s.status, s.cancelled_at is not None) for s in subscriptions}
    assert status == {
        "sub00001": ("trialing", False),
        "sub00002": ("past_due", False),
        "sub00003": ("cancelled", True),  # no history: cancelled at its last update
        "sub00004": ("incomplete", False),
    }


def test_429_and_5xx_are_retried_with_retry_after(url: str) -> None:
    seeded = _seed(url, "bt-faults", 3)
    admin = EmulatorAdmin(url)
    waits: list[float] = []
    connector = _connector(seeded, waits)
    admin.fault(429, times=1, retry_after=2, tenant="bt-faults")
    admin.fault(500, times=1, tenant="bt-faults")
    admin.fault(503, times=1, tenant="bt-faults")
    plans, _ = _all(connector, RecordKind.PLANS)
    assert len(plans) == 3
    retries = [w for w in waits if w >= 0.1]  # the others are the budget's short waits
    assert retries == [2.0, 0.5, 1.0]  # Retry-After honoured, then backoff with jitter 0.5


def test_a_provider_down_for_longer_than_the_patience_fails_the_page(url: str) -> None:
    seeded = _seed(url, "bt-down", 1)
    EmulatorAdmin(url).fault(503, times=50, tenant="bt-down")
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    connector = build_connector(
        "braintree",
        seeded["credentials"],
        {**seeded["options"], "max_retry_seconds": 5},
        sleep=sleep,
        clock=lambda: clock[0],
        random=lambda: 0.99,
    )
    with pytest.raises(ProviderUnavailableError):
        connector.fetch_page(Partition(kind=RecordKind.PLANS, key="plans"))


def test_refused_keys_are_credentials_invalid(url: str) -> None:
    seeded = _seed(url, "bt-keys", 1)
    _connector(seeded).check_credentials()
    other_merchant = {"api_base": seeded["options"]["api_base"].replace("demomerchant", "othermerchant")}
    for wrong, options in (({"private_key": "nope"}, {}), ({"public_key": "someone-else"}, {}), ({}, other_merchant)):
        credentials = {**seeded["credentials"], **wrong}
        connector = build_connector("braintree", credentials, {**seeded["options"], **options}, sleep=lambda s: None)
        with pytest.raises(CredentialsInvalidError) as refused:
            connector.check_credentials()
        assert refused.value.status == 401
    # Settings are checked before any call: an unknown environment, a merchant id that is not one.
    for bad in ({"environment": "staging"}, {"merchant_id": "../x"}):
        with pytest.raises(CredentialsInvalidError):
            build_connector("braintree", {**seeded["credentials"], **bad})


def test_production_and_sandbox_hosts() -> None:
    credentials = {"merchant_id": "m1", "public_key": "pub", "private_key": "priv"}
    assert braintree.SPEC.base_url(credentials) == "https://api.braintreegateway.com/merchants/m1"
    sandbox = {**credentials, "environment": "sandbox"}
    assert braintree.SPEC.base_url(sandbox) == "https://api.sandbox.braintreegateway.com/merchants/m1"


def test_one_customer_is_fetched_with_its_subscriptions_and_transactions(url: str) -> None:
    connector = _connector(_seed(url, "bt-one", 9))
    records = connector.fetch_customer("cust00009")
    kinds = [type(r).__name__ for r in records]
    assert kinds[0] == "CustomerRecord" and records[0].external_id == "cust00009"
    assert kinds.count("SubscriptionRecord") == 1 and kinds.count("InvoiceRecord") == 2
    assert {r.type for r in records if isinstance(r, TransactionRecord)} == {"payment", "refund"}
    assert all(getattr(r, "customer_external_id", "cust00009") in ("cust00009", None) for r in records)
    assert connector.fetch_customer("nobody") == []


def test_search_body_windows_and_filters() -> None:
    body = braintree.search_body(
        {"created_at[min]": 1704067200, "created_at[before]": 1711929600, "type[in]": "sale", "customer_id": "c1"},
        ["a", "b"],
    ).decode()
    assert (
        '<created-at><min type="datetime">2024-01-01T00:00:00Z</min>'
        '<max type="datetime">2024-03-31T23:59:59Z</max></created-at>'
    ) in body
    assert '<type type="array"><item>sale</item></type>' in body and "<customer-id><is>c1</is></customer-id>" in body
    assert '<ids type="array"><item>a</item><item>b</item></ids>' in body
    with pytest.raises(ValueError):
        braintree.search_body({"created_at[gt]": 1}, None)
    assert isinstance(braintree.SPEC.streams[RecordKind.CUSTOMERS].pagination, IdSearchPagination)


def test_created_windows_against_the_real_api_and_one_partition_per_kind_against_the_emulator() -> None:
    credentials = {"merchant_id": "m1", "public_key": "pub", "private_key": "priv"}
    real = build_connector("braintree", credentials)
    partitions = real.plan_partitions(now=datetime(2026, 6, 1, tzinfo=UTC))
    assert [p.key for p in partitions if p.kind is RecordKind.PLANS] == ["plans"]
    customers = [p for p in partitions if p.kind is RecordKind.CUSTOMERS]
    assert len(customers) > 10 and customers[1].params == {
        "created_at[min]": 1293840000,
        "created_at[before]": 1325376000,
    }
    emulated = build_connector("braintree", credentials, {"api_base": "http://127.0.0.1:1/braintree/merchants/m1"})
    assert len(emulated.plan_partitions()) == 5


def test_typed_xml_reads_types_lists_and_nil_and_refuses_unsafe_xml() -> None:
    decode = typed_xml_decoder()
    body = decode(
        b'<?xml version="1.0"?><customers type="collection"><customer><id>c1</id>'
        b'<n type="integer">7</n><ok type="boolean">true</ok><gone nil="true"/><price>9.50</price>'
        b'<credit-cards type="array"><credit-card><token>t</token></credit-card></credit-cards>'
        b"</customer></customers>"
    )
    one = body["customers"]["customer"]
    assert one == {"id": "c1", "n": 7, "ok": True, "gone": None, "price": "9.50", "credit_cards": [{"token": "t"}]}
    two = decode(b"<customers><customer><id>a</id></customer><customer><id>b</id></customer></customers>")
    assert two["customers"]["customer"] == [{"id": "a"}, {"id": "b"}]
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>'
    with pytest.raises(ValueError, match="not readable XML"):
        decode(bomb)
    with pytest.raises(ValueError):
        decode(b'<x type="integer">seven</x>')


def test_an_answer_that_is_not_xml_is_a_provider_response_error(url: str) -> None:
    seeded = _seed(url, "bt-notxml", 1)
    connector = _connector(seeded)
    connector.http.base_url = connector.http.base_url.replace("/braintree/merchants/demomerchant", "/_health")
    with pytest.raises(ProviderResponseError):
        connector.fetch_page(Partition(kind=RecordKind.PLANS, key="plans"))


def test_creation_windows_against_the_emulator_read_every_object_once(url: str) -> None:
    connector = _connector(_seed(url, "bt-windows", 8), partitioning="created_windows")
    partitions = [p for p in connector.plan_partitions() if p.kind is RecordKind.TRANSACTIONS]
    assert len(partitions) > 10
    # one charge exactly on the edge between two windows: it belongs to the later one only
    edge = datetime.fromtimestamp(int(partitions[-1].params["created_at[min]"]), UTC)
    admin = EmulatorAdmin(url)
    customer = admin.list("bt-windows", "customers")[0]
    admin.put(
        "bt-windows",
        "transactions",
        "txedge",
        emulator.transaction_object("txedge", customer=customer, amount="1.00", currency="USD", created=edge),
    )
    seen = [r.external_id for p in partitions for page in connector.iter_pages(p) for r in page.records]
    stored = EmulatorAdmin(url).list("bt-windows", "transactions")
    assert sorted(seen) == sorted(t["id"] for t in stored)  # the windows' ranges meet, never overlap
    assert seen.count("txedge") == 1
