"""The Stripe connector against a real Stripe emulator (localstripe), run as its own process.

localstripe is GPL-3.0: it runs as a separate process, bound to 127.0.0.1, with its per-write pickling
turned off (it would rewrite /tmp/localstripe.pickle after every write). It is seeded through its HTTP
API: customers with test payment methods, products, plans, subscriptions (which generate invoices and
charges), a refund, a cancellation, an invoice with a one-time item, a draft, a charge without invoice.
What it lacks (prices, multi-item subscriptions, discounts, 429s, created filters) is covered with
recorded answers in tests/unit/test_stripe_mapping.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import ANY

import pytest
import requests

from sourcesync.connectors import (
    Connector,
    CredentialsInvalidError,
    Page,
    Partition,
    ProviderRequestError,
)
from sourcesync.connectors.stripe import SPEC
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

pytestmark = pytest.mark.integration

KEY = "sk_test_emulator"

# What localstripe/server.py's start() does, minus loading the pickle and binding every interface.
LAUNCHER = """
import sys
import aiohttp.web
import localstripe.resources
import localstripe.server
localstripe.resources.Store.dump_to_disk = lambda self: None
aiohttp.web.run_app(localstripe.server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(port)], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if requests.get(f"{base}/v1/customers", auth=(KEY, ""), timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"localstripe did not start: {log.read().decode(errors='replace')[-2000:]}")
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


class Emulator:
    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.auth = (KEY, "")

    def post(self, path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.session.post(self.base + path, data=data or {}, timeout=10)
        assert answer.status_code == 200, f"POST {path}: {answer.status_code} {answer.text}"
        return dict(answer.json())

    def delete(self, path: str) -> dict[str, Any]:
        answer = self.session.delete(self.base + path, timeout=10)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@dataclass
class World:
    """What was seeded, and hence what the connector must return."""

    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> name, email, country
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # sub id -> customer, plan, quantity
    cancelled: str = ""
    declined_customer: str = ""
    mixed_invoice_customer: str = ""
    draft_invoice: str = ""
    refund_amount: int = 1000
    charge_without_invoice: str = ""


PLANS = {
    # id: (product, amount, currency, interval, interval_count, nickname)
    "basic-monthly": ("prod_basic", 1900, "usd", "month", 1, None),
    "pro-yearly": ("prod_pro", 49000, "usd", "year", 1, "Pro yearly"),
    "pro-quarterly": ("prod_pro", 12000, "eur", "month", 3, "Pro quarterly"),
}
PRODUCTS = {"prod_basic": "Basic", "prod_pro": "Pro"}


@pytest.fixture(scope="module")
def world(emulator: str) -> World:
    api = Emulator(emulator)
    seeded = World()
    for product_id, name in PRODUCTS.items():
        api.post("/v1/products", {"id": product_id, "name": name})
    for plan_id, (product, amount, currency, interval, count, nickname) in PLANS.items():
        data = {"id": plan_id, "product": product, "amount": amount, "currency": currency}
        data |= {"interval": interval, "interval_count": count} | ({"nickname": nickname} if nickname else {})
        api.post("/v1/plans", data)

    def customer(name: str | None, email: str, country: str | None, payment_method: str | None) -> str:
        data: dict[str, Any] = {"email": email}
        if name:
            data["name"] = name
        if country:
            data["address[country]"] = country
        if payment_method:
            data |= {"payment_method": payment_method, "invoice_settings[default_payment_method]": payment_method}
        created = api.post("/v1/customers", data)
        seeded.customers[created["id"]] = {"name": name or email, "email": email, "country": country}
        return str(created["id"])

    def subscribe(customer_id: str, plan: str, quantity: int) -> dict[str, Any]:
        sub = api.post(
            "/v1/subscriptions", {"customer": customer_id, "items[0][plan]": plan, "items[0][quantity]": quantity}
        )
        seeded.subscriptions[sub["id"]] = {"customer": customer_id, "plan": plan, "quantity": quantity}
        return sub

    plans = list(PLANS)
    regular = [
        customer(f"Customer {i}", f"c{i}@example.com", ("DE", "FR", "US")[i % 3], "pm_card_visa") for i in range(6)
    ]
    for i, customer_id in enumerate(regular):
        subscribe(customer_id, plans[i % 3], i + 1)
    subscribe(customer(None, "nameless@example.com", None, "pm_card_visa"), "basic-monthly", 1)
    seeded.declined_customer = customer("Declined", "declined@example.com", "DE", "pm_card_chargeCustomerFail")
    subscribe(seeded.declined_customer, "basic-monthly", 1)  # its first payment fails: incomplete
    customer("Idle", "idle@example.com", None, None)  # no subscription, nothing else

    seeded.cancelled = next(s for s, v in seeded.subscriptions.items() if v["customer"] == regular[1])
    api.delete(f"/v1/subscriptions/{seeded.cancelled}")

    charge = api.session.get(f"{emulator}/v1/charges", params={"customer": regular[2]}, timeout=10).json()["data"][0]
    api.post("/v1/refunds", {"charge": charge["id"], "amount": seeded.refund_amount})

    # an invoice mixing the subscription's next period and a one-time item, paid
    seeded.mixed_invoice_customer = regular[3]
    api.post("/v1/invoiceitems", {"customer": regular[3], "amount": 2500, "currency": "usd", "description": "Setup"})
    mixed = api.post("/v1/invoices", {"customer": regular[3]})
    api.post(f"/v1/invoices/{mixed['id']}/pay")
    # an invoice left as a draft: not a claim on anyone yet
    api.post("/v1/invoiceitems", {"customer": regular[4], "amount": 900, "currency": "usd"})
    seeded.draft_invoice = api.post("/v1/invoices", {"customer": regular[4]})["id"]
    # a charge that pays no invoice
    seeded.charge_without_invoice = api.post("/v1/charges", {"customer": regular[5], "amount": 700, "currency": "usd"})[
        "id"
    ]
    return seeded


def connector(emulator: str, key: str = KEY, **options: Any) -> Connector:
    return Connector(SPEC, {"api_key": key}, {"api_base": emulator, **options})


def drain(conn: Connector, partition: Partition) -> list[Page]:
    return list(conn.iter_pages(partition))


@pytest.fixture(scope="module")
def imported(emulator: str, world: World) -> dict[RecordKind, list[Page]]:
    """Every partition drained with pages of 2, as workers would."""
    conn = connector(emulator, page_size=2)
    return {partition.kind: drain(conn, partition) for partition in conn.plan_partitions()}


def records(pages: list[Page]) -> list[AnyRecord]:
    return [record for page in pages for record in page.records]


# --------------------------------------------------------------------------------------------------
# Credentials and planning
# --------------------------------------------------------------------------------------------------


def test_check_credentials_accepts_a_secret_key(emulator: str) -> None:
    connector(emulator).check_credentials()


@pytest.mark.parametrize("key", ["pk_test_publishable", "not-a-stripe-key", "sk_"])
def test_check_credentials_refuses_what_the_emulator_refuses(emulator: str, key: str) -> None:
    # localstripe answers 401 unless the key starts with sk_ and has more after it
    with pytest.raises(CredentialsInvalidError) as caught:
        connector(emulator, key).check_credentials()
    assert caught.value.status == 401


def test_the_emulator_is_partitioned_by_kind(emulator: str) -> None:
    conn = connector(emulator)
    assert conn.partitioning == "by_kind"
    assert conn.plan_partitions() == [Partition(kind=kind, key=kind.value) for kind in RecordKind]


def test_created_windows_would_be_refused_by_the_emulator(emulator: str, world: World) -> None:
    # why `auto` partitions by kind against anything but api.stripe.com
    conn = connector(emulator, partitioning="created_windows")
    first_window = next(p for p in conn.plan_partitions() if p.kind is RecordKind.CUSTOMERS)
    with pytest.raises(ProviderRequestError) as caught:
        conn.fetch_page(first_window)
    assert caught.value.status == 400


# --------------------------------------------------------------------------------------------------
# Every kind
# --------------------------------------------------------------------------------------------------


def test_customers(imported: dict[RecordKind, list[Page]], world: World) -> None:
    customers = [c for c in records(imported[RecordKind.CUSTOMERS]) if isinstance(c, CustomerRecord)]
    assert len(customers) == len(records(imported[RecordKind.CUSTOMERS]))
    assert {c.external_id: {"name": c.name, "email": c.email, "country": c.country} for c in customers} == (
        world.customers
    )
    for record in customers:
        assert record.currency == "EUR"  # the emulator's default customer currency, upper-cased
        assert record.created_at is not None and record.created_at.utcoffset() is not None


def test_plans(imported: dict[RecordKind, list[Page]]) -> None:
    plans = {p.external_id: p for p in records(imported[RecordKind.PLANS]) if isinstance(p, PlanRecord)}
    assert set(plans) == set(PLANS)
    for plan_id, (product, amount, currency, interval, count, nickname) in PLANS.items():
        plan = plans[plan_id]
        assert plan.name == (nickname or PRODUCTS[product])  # the product comes expanded
        assert (plan.amount_in_cents, plan.currency, plan.interval_unit, plan.interval_count) == (
            amount,
            currency.upper(),
            interval,
            count,
        )


def test_subscriptions(imported: dict[RecordKind, list[Page]], world: World) -> None:
    subscriptions = [s for s in records(imported[RecordKind.SUBSCRIPTIONS]) if isinstance(s, SubscriptionRecord)]

    # one record per (single-item) subscription, cancelled ones included
    assert {s.subscription_set_external_id for s in subscriptions} == set(world.subscriptions)
    assert len(subscriptions) == len(world.subscriptions)
    for record in subscriptions:
        seeded = world.subscriptions[record.subscription_set_external_id or ""]
        assert record.external_id.startswith("si_")
        assert (record.customer_external_id, record.plan_external_id, record.quantity) == (
            seeded["customer"],
            seeded["plan"],
            seeded["quantity"],
        )
        assert record.currency == PLANS[seeded["plan"]][2].upper()
        if record.subscription_set_external_id == world.cancelled:
            assert record.status == "cancelled"
            assert record.cancelled_at is not None and record.cancelled_at >= record.started_at
        elif seeded["customer"] == world.declined_customer:
            assert (record.status, record.cancelled_at) == ("incomplete", None)
        else:
            assert (record.status, record.cancelled_at) == ("active", None)


def test_invoices(imported: dict[RecordKind, list[Page]], world: World) -> None:
    pages = imported[RecordKind.INVOICES]
    invoices = {i.external_id: i for i in records(pages) if isinstance(i, InvoiceRecord)}

    # one invoice per subscription, plus the mixed one; the draft is skipped
    assert len(invoices) == len(world.subscriptions) + 1
    assert world.draft_invoice not in invoices
    assert sum(page.skipped for page in pages) == 1
    mixed = [i for i in invoices.values() if any(line.type == "one_time" for line in i.line_items)]
    subscription_invoices = [i for i in invoices.values() if i not in mixed]
    by_subscription_item: dict[str | None, list[LineItem]] = {}
    for invoice in invoices.values():
        assert invoice.currency in {"USD", "EUR"}
        assert invoice.date.utcoffset() is not None
        assert invoice.total_in_cents == sum(line.amount_in_cents for line in invoice.line_items)
    for invoice in subscription_invoices:
        for line in invoice.line_items:
            assert line.type == "subscription"
            by_subscription_item.setdefault(line.subscription_external_id, []).append(line)
    # every subscription line names the subscription item and its plan, and covers a period
    subscription_items = {
        s.external_id: s for s in records(imported[RecordKind.SUBSCRIPTIONS]) if isinstance(s, SubscriptionRecord)
    }
    assert set(by_subscription_item) == set(subscription_items)
    for item_id, lines in by_subscription_item.items():
        item = subscription_items[item_id or ""]
        for line in lines:
            assert line.plan_external_id == item.plan_external_id
            assert line.quantity == item.quantity
            assert line.amount_in_cents == PLANS[item.plan_external_id or ""][1] * item.quantity
            assert line.service_period_start is not None and line.service_period_end is not None
            assert line.service_period_start < line.service_period_end
    # the invoice made by hand mixes the subscription's period and a one-time item. (localstripe bills
    # the subscription there through a throwaway copy of the item, with an id of its own: real Stripe
    # names the subscription's item, so only the plan and quantity are compared.)
    [mixed_invoice] = mixed
    assert mixed_invoice.customer_external_id == world.mixed_invoice_customer
    [customer_item] = [s for s in subscription_items.values() if s.customer_external_id == world.mixed_invoice_customer]
    kinds = sorted(
        (line.type, line.plan_external_id, line.quantity, line.amount_in_cents, line.description)
        for line in mixed_invoice.line_items
    )
    assert kinds == [
        ("one_time", None, 1, 2500, "Setup"),
        (
            "subscription",
            customer_item.plan_external_id,
            customer_item.quantity,
            PLANS[customer_item.plan_external_id or ""][1] * customer_item.quantity,
            ANY,
        ),
    ]


def test_transactions(imported: dict[RecordKind, list[Page]], world: World, emulator: str) -> None:
    pages = imported[RecordKind.TRANSACTIONS]
    transactions = [t for t in records(pages) if isinstance(t, TransactionRecord)]
    invoices = {i.external_id: i for i in records(imported[RecordKind.INVOICES]) if isinstance(i, InvoiceRecord)}

    payments = [t for t in transactions if t.type == "payment"]
    refunds = [t for t in transactions if t.type == "refund"]
    # a payment per subscription invoice and the mixed invoice; the charge without invoice gives none. The
    # emulator's transactions come from its invoices, which carry their charge (`transactions_stream`): the
    # one skipped is the draft invoice, which has no charge
    assert len(payments) == len(world.subscriptions) + 1
    assert world.charge_without_invoice not in {t.external_id for t in transactions}
    assert sum(page.skipped for page in pages) == 1
    assert connector(emulator).stream(RecordKind.TRANSACTIONS).path == "/v1/invoices"
    assert [(t.result, t.customer_external_id) for t in payments if t.result == "failed"] == [
        ("failed", world.declined_customer)
    ]
    assert [(r.result, r.amount_in_cents) for r in refunds] == [("successful", world.refund_amount)]
    for transaction in transactions:
        invoice = invoices[transaction.invoice_external_id]  # every transaction's invoice was imported
        assert transaction.customer_external_id == invoice.customer_external_id
        assert transaction.date.utcoffset() is not None
    for payment in payments:
        assert payment.amount_in_cents == invoices[payment.invoice_external_id].total_in_cents


# --------------------------------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------------------------------


def test_small_pages_return_exactly_what_one_big_page_returns(
    emulator: str, imported: dict[RecordKind, list[Page]]
) -> None:
    big = connector(emulator, page_size=100)
    for kind, small_pages in imported.items():
        [single] = drain(big, Partition(kind=kind, key=kind.value))
        small_ids = [r.external_id for r in records(small_pages)]
        assert small_ids == [r.external_id for r in single.records], kind
        assert len(small_ids) == len(set(small_ids)), f"{kind}: duplicates across pages"
        assert sum(p.fetched for p in small_pages) == single.fetched
        # pages of 2: every page but the last is full and names the next
        assert all(p.fetched == 2 and p.next_cursor for p in small_pages[:-1]), kind
        assert small_pages[-1].next_cursor is None
        assert len(small_pages) == max(1, -(-single.fetched // 2))
    assert len(imported[RecordKind.CUSTOMERS]) >= 5  # pagination was really exercised
    assert imported[RecordKind.CUSTOMERS][0].total == 9  # the emulator reports total_count


def test_a_worker_resumes_from_a_checkpointed_cursor(emulator: str, imported: dict[RecordKind, list[Page]]) -> None:
    # Given a worker that stopped after the second page and checkpointed its cursor
    pages = imported[RecordKind.CUSTOMERS]
    cursor = pages[1].next_cursor
    # When another worker resumes from it
    resumed = list(
        connector(emulator, page_size=2).iter_pages(Partition(kind=RecordKind.CUSTOMERS, key="customers"), cursor)
    )
    # Then it reads exactly the rest
    assert [r.external_id for r in records(resumed)] == [r.external_id for r in records(pages[2:])]


# --------------------------------------------------------------------------------------------------
# One customer
# --------------------------------------------------------------------------------------------------


def test_fetch_customer_returns_that_customers_records_only(
    emulator: str, imported: dict[RecordKind, list[Page]], world: World
) -> None:
    customer_id = world.mixed_invoice_customer
    fetched = connector(emulator).fetch_customer(customer_id)

    def of_customer(kind: RecordKind) -> set[str]:
        return {
            r.external_id
            for r in records(imported[kind])
            if getattr(r, "customer_external_id", r.external_id) == customer_id
        }

    assert isinstance(fetched[0], CustomerRecord) and fetched[0].external_id == customer_id
    for kind, model in (
        (RecordKind.SUBSCRIPTIONS, SubscriptionRecord),
        (RecordKind.INVOICES, InvoiceRecord),
        (RecordKind.TRANSACTIONS, TransactionRecord),
    ):
        got = {r.external_id for r in fetched if isinstance(r, model)}
        assert got == of_customer(kind), kind
        assert got, f"the seeded customer has {kind}"
    assert len(fetched) == 1 + sum(len(of_customer(k)) for k in RecordKind if k is not RecordKind.CUSTOMERS)
    # the same records as the full import, field for field
    everything = {(type(r), r.external_id): r for kind in imported for r in records(imported[kind])}
    for record in fetched:
        assert everything[(type(record), record.external_id)] == record


def test_fetch_customer_of_a_customer_the_provider_does_not_know(emulator: str, world: World) -> None:
    assert connector(emulator).fetch_customer("cus_doesnotexist") == []
