"""The Import API is all or nothing, on DynamoDB Local: refused or failed requests leave nothing visible, a
re-imported record replaces its previous version whole, and concurrent requests lose nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sourcesync.api.import_models import ImportCustomersRequest, ImportInvoicesRequest, ImportPlansRequest
from sourcesync.api.models import DataSourceCreateRequest
from sourcesync.errors import InvalidRequestError, NotFoundError
from sourcesync.services import accounts, customers, data_sources, imports
from sourcesync.store.accounts import Principal
from sourcesync.store.records import RecordStore, get_record_store
from sourcesync.store.sources import get_source_store

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 15)


@pytest.fixture
def principal(dynamodb_local: Any) -> Principal:
    key = accounts.create_account("imports")
    return Principal(key.account_id, key.key_id, key.role)


@pytest.fixture
def source(principal: Principal) -> str:
    created = data_sources.create(
        principal, DataSourceCreateRequest.model_validate({"name": "Pushed", "system": "custom"})
    )
    uuid: str = created["data_source"]["uuid"]
    return uuid


def push_customers(principal: Principal, source: str, ids: list[str], name: str = "Customer") -> dict[str, Any]:
    request = ImportCustomersRequest.model_validate(
        {"customers": [{"external_id": i, "name": f"{name} {i}"} for i in ids]}
    )
    return imports.import_customers(principal, source, request)


def push_plans(principal: Principal, source: str) -> None:
    request = ImportPlansRequest.model_validate(
        {"plans": [{"external_id": "monthly", "name": "Monthly", "interval_count": 1, "interval_unit": "month"}]}
    )
    imports.import_plans(principal, source, request)


def subscription_line(subscription: str, amount: int = 1000) -> dict[str, Any]:
    return {
        "type": "subscription",
        "subscription_external_id": subscription,
        "plan_external_id": "monthly",
        "service_period_start": "2026-11-01",
        "service_period_end": "2026-12-01",
        "amount_in_cents": amount,
    }


def payment(external_id: str) -> dict[str, Any]:
    return {"external_id": external_id, "type": "payment", "date": "2026-11-01", "result": "successful"}


def push_invoices(principal: Principal, source: str, invoices: list[dict[str, Any]]) -> dict[str, Any]:
    return imports.import_invoices(principal, source, ImportInvoicesRequest.model_validate({"invoices": invoices}))


def counts(principal: Principal, source: str) -> dict[str, int]:
    answer: dict[str, int] = data_sources.get(principal, source)["counts"]
    return answer


def customer_ids(principal: Principal, source: str) -> list[str]:
    entries, _ = customers.list_page(principal, source, None, 200, None, DAY)
    return sorted(e["external_id"] for e in entries)


def detail(principal: Principal, source: str, customer: str) -> dict[str, Any]:
    entries, _ = customers.list_page(principal, source, customer, 1, None, DAY)
    return customers.get(principal, entries[0]["uuid"], DAY)


def test_a_reimported_invoice_replaces_its_transactions_and_subscriptions(principal: Principal, source: str) -> None:
    # Given an invoice with a subscription line and two payments
    push_customers(principal, source, ["c1"])
    push_plans(principal, source)
    invoice = {"external_id": "inv1", "customer_external_id": "c1", "date": "2026-11-01", "currency": "EUR"}
    push_invoices(
        principal,
        source,
        [{**invoice, "line_items": [subscription_line("sub-a")], "transactions": [payment("t1"), payment("t2")]}],
    )
    assert counts(principal, source) == {
        "customers": 1,
        "plans": 1,
        "subscriptions": 1,
        "invoices": 1,
        "transactions": 2,
    }

    # When it is re-imported with another subscription line and one of its payments
    push_invoices(
        principal,
        source,
        [{**invoice, "line_items": [subscription_line("sub-b", 2000)], "transactions": [payment("t2")]}],
    )

    # Then only what it now lists is there
    shown = detail(principal, source, "c1")
    assert [s["external_id"] for s in shown["subscriptions"]] == ["sub-b"]
    assert [[t["external_id"] for t in i["transactions"]] for i in shown["invoices"]] == [["t2"]]
    assert counts(principal, source) == {
        "customers": 1,
        "plans": 1,
        "subscriptions": 1,
        "invoices": 1,
        "transactions": 1,
    }

    # And without `transactions`, it has none
    push_invoices(principal, source, [{**invoice, "line_items": [subscription_line("sub-b", 2000)]}])
    assert [i["transactions"] for i in detail(principal, source, "c1")["invoices"]] == [[]]
    assert counts(principal, source)["transactions"] == 0


def test_a_subscription_listed_by_another_invoice_stays(principal: Principal, source: str) -> None:
    push_customers(principal, source, ["c1"])
    push_plans(principal, source)
    base = {"customer_external_id": "c1", "date": "2026-11-01", "currency": "EUR"}
    push_invoices(
        principal,
        source,
        [
            {**base, "external_id": "inv1", "line_items": [subscription_line("sub-a")]},
            {**base, "external_id": "inv2", "line_items": [subscription_line("sub-a")]},
        ],
    )
    push_invoices(
        principal, source, [{**base, "external_id": "inv2", "line_items": [{"type": "one_time", "amount_in_cents": 5}]}]
    )
    assert [s["external_id"] for s in detail(principal, source, "c1")["subscriptions"]] == ["sub-a"]
    assert counts(principal, source)["subscriptions"] == 1


@pytest.mark.parametrize(
    ("kind", "body", "paths"),
    [
        (
            "customers",
            {
                "customers": [
                    {"external_id": "a", "name": "A"},
                    {"external_id": "b", "name": "B"},
                    {"external_id": "a", "name": "A2"},
                ]
            },
            ["customers.0.external_id", "customers.2.external_id"],
        ),
        (
            "invoices",
            {
                "invoices": [
                    {
                        "external_id": f"inv{i}",
                        "customer_external_id": "c1",
                        "date": "2026-11-01",
                        "currency": "EUR",
                        "line_items": [{"type": "one_time", "amount_in_cents": 1}],
                        "transactions": [payment(f"t{i}"), payment("dup" if i in (0, 3) else f"u{i}")],
                    }
                    for i in range(4)
                ]
            },
            ["invoices.0.transactions.1.external_id", "invoices.3.transactions.1.external_id"],
        ),
        (
            "invoices",
            {
                "invoices": [
                    {
                        "external_id": "same",
                        "customer_external_id": "c1",
                        "date": "2026-11-01",
                        "currency": "EUR",
                        "line_items": [{"type": "one_time", "amount_in_cents": 1}],
                    }
                ]
                * 2
            },
            ["invoices.0.external_id", "invoices.1.external_id"],
        ),
    ],
    ids=["customer", "nested-transaction", "invoice"],
)
def test_an_id_repeated_in_a_request_is_400_naming_both_paths_and_writes_nothing(
    principal: Principal, source: str, kind: str, body: dict[str, Any], paths: list[str]
) -> None:
    push_customers(principal, source, ["c1"])
    before = counts(principal, source)
    with pytest.raises(InvalidRequestError) as refused:
        if kind == "customers":
            imports.import_customers(principal, source, ImportCustomersRequest.model_validate(body))
        else:
            imports.import_invoices(principal, source, ImportInvoicesRequest.model_validate(body))
    details = refused.value.extra["details"]
    named = " ".join(f"{d['loc']} {d['msg']}" for d in details)
    assert all(path in named for path in paths), details
    assert counts(principal, source) == before
    assert customer_ids(principal, source) == ["c1"]
    assert stored_items(source) == 1  # the one customer version, nothing else


def stored_items(source: str) -> int:
    return get_record_store().count_items(source)


class InjectedFailure(Exception):
    """Stands for a DynamoDB error or a killed Lambda between two batches of a request's writes."""


def test_a_write_failing_half_way_leaves_nothing_visible(
    principal: Principal, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a source with 10 customers
    push_customers(principal, source, [f"old{i}" for i in range(10)])
    before_counts, before_ids = counts(principal, source), customer_ids(principal, source)

    # When a request of 80 customers (4 batches of writes; 5 of them re-imported) fails after its first batch
    real_batch = RecordStore._batch
    batches: list[int] = []

    def failing_batch(self: RecordStore, requests: list[dict[str, Any]]) -> None:
        if any("PutRequest" in r for r in requests):
            real_batch(self, requests[:25])  # the first batch really reaches DynamoDB Local
            batches.append(len(requests))
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "injected after the first batch"}},
                "BatchWriteItem",
            )
        real_batch(self, requests)

    monkeypatch.setattr(RecordStore, "_batch", failing_batch)
    with pytest.raises(ClientError):
        push_customers(principal, source, [f"old{i}" for i in range(5)] + [f"new{i}" for i in range(75)], "Renamed")
    assert batches == [80]

    # Then readers see exactly what they saw before, and the counts did not move
    assert customer_ids(principal, source) == before_ids
    assert counts(principal, source) == before_counts
    for i in range(5):
        assert detail(principal, source, f"old{i}")["name"] == f"Customer old{i}"

    # And a killed request (its versions left behind, never committed) stays invisible too
    def killed_batch(self: RecordStore, requests: list[dict[str, Any]]) -> None:
        if any("PutRequest" in r for r in requests):
            real_batch(self, requests[:25])
            raise KeyboardInterrupt  # not an Exception: nothing of the request's clean-up runs
        real_batch(self, requests)

    monkeypatch.setattr(RecordStore, "_batch", killed_batch)
    with pytest.raises(KeyboardInterrupt):
        push_customers(principal, source, [f"new{i}" for i in range(40)])
    assert customer_ids(principal, source) == before_ids
    assert counts(principal, source) == before_counts

    # And once DynamoDB answers again, the same request goes through whole
    monkeypatch.setattr(RecordStore, "_batch", real_batch)
    push_customers(principal, source, [f"old{i}" for i in range(5)] + [f"new{i}" for i in range(75)])
    assert len(customer_ids(principal, source)) == 85
    assert counts(principal, source)["customers"] == 85


def test_a_failure_half_way_through_invoices_keeps_the_previous_invoice_whole(
    principal: Principal, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    push_customers(principal, source, [f"c{i}" for i in range(30)])
    push_plans(principal, source)
    invoices = [
        {
            "external_id": f"inv{i}",
            "customer_external_id": f"c{i}",
            "date": "2026-11-01",
            "currency": "EUR",
            "line_items": [subscription_line(f"sub{i}")],
            "transactions": [payment(f"t{i}")],
        }
        for i in range(30)
    ]
    push_invoices(principal, source, invoices)
    before = counts(principal, source)
    real_batch = RecordStore._batch

    def failing_batch(self: RecordStore, requests: list[dict[str, Any]]) -> None:
        if any("PutRequest" in r for r in requests):
            real_batch(self, requests[:25])
            raise InjectedFailure
        real_batch(self, requests)

    monkeypatch.setattr(RecordStore, "_batch", failing_batch)
    replaced = [
        {**inv, "line_items": [subscription_line(f"other{i}")], "transactions": []} for i, inv in enumerate(invoices)
    ]
    with pytest.raises(InjectedFailure):
        push_invoices(principal, source, replaced)
    assert counts(principal, source) == before
    for i in (0, 29):
        shown = detail(principal, source, f"c{i}")
        assert [s["external_id"] for s in shown["subscriptions"]] == [f"sub{i}"]
        assert [[t["external_id"] for t in inv["transactions"]] for inv in shown["invoices"]] == [[f"t{i}"]]
        assert shown["invoices"][0]["line_items"][0]["subscription_external_id"] == f"sub{i}"


def test_concurrent_imports_into_one_source_lose_nothing(principal: Principal, source: str) -> None:
    # Given 6 requests at once, each with its own customers and 5 shared ones
    def push(n: int) -> None:
        push_customers(principal, source, [f"r{n}-{i}" for i in range(20)] + [f"shared{i}" for i in range(5)])

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(push, range(6)))

    # Then every request's records are there, once, and the counts say so
    assert len(customer_ids(principal, source)) == 6 * 20 + 5
    assert counts(principal, source)["customers"] == 6 * 20 + 5
    # and the attempts that lost a race left no pending generation behind
    assert not get_source_store().get(principal.account_id, source).get("pending_generations")


def test_a_reimport_leaves_one_version_per_record_behind(principal: Principal, source: str) -> None:
    push_customers(principal, source, ["a", "b"])
    for name in ("A2", "A3", "A4"):
        imports.import_customers(
            principal,
            source,
            ImportCustomersRequest.model_validate({"customers": [{"external_id": "a", "name": name}]}),
        )
    assert detail(principal, source, "a")["name"] == "A4"
    # superseded versions are removed by the next request that touches the record: a, its latest two, and b
    assert stored_items(source) == 3


def test_an_import_racing_a_delete_is_404_and_takes_back_what_it_wrote(
    principal: Principal, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    push_customers(principal, source, ["c1"])
    before = stored_items(source)
    real_batch = RecordStore._batch

    def delete_meanwhile(self: RecordStore, requests: list[dict[str, Any]]) -> None:
        real_batch(self, requests)
        if any("PutRequest" in r for r in requests):  # a DELETE lands after the writes, before the commit
            get_source_store().update(principal.account_id, source, {"status": "deleting"})

    monkeypatch.setattr(RecordStore, "_batch", delete_meanwhile)
    with pytest.raises(NotFoundError):
        push_customers(principal, source, [f"late{i}" for i in range(30)])
    assert stored_items(source) == before  # nothing of the request outlives the purge that follows
    assert int(get_source_store().get(principal.account_id, source)["counts"]["customers"]) == 1
