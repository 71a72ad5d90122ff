"""Reading customers (SPEC section 4): lists and one customer with its subscriptions and invoices.

Every read goes through the source item first: a deleted source's records are never shown, and a
source's readers see exactly its committed generation (never a half-imported one).
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from sourcesync.clock import iso, now
from sourcesync.errors import NotFoundError
from sourcesync.ids import is_id, source_tag
from sourcesync.mrr import customer_mrr, subscription_mrr
from sourcesync.records import (
    CustomerRecord,
    InvoiceRecord,
    PlanRecord,
    RecordKind,
    SubscriptionRecord,
    TransactionRecord,
)
from sourcesync.services.data_sources import live_source
from sourcesync.store.accounts import Principal
from sourcesync.store.dynamo import Item
from sourcesync.store.records import StoredRecord, View, get_record_store, uuid_for
from sourcesync.store.sources import get_source_store

READ_THREADS = 8


def view_of(source: Item) -> View | None:
    """What readers may see of a source: None before its first import committed."""
    committed = source.get("committed_generation")
    if committed is None:
        return None
    return View(int(committed), frozenset(int(g) for g in source.get("pending_generations") or ()))


def live_sources(principal: Principal) -> list[Item]:
    sources, after = [], None
    while True:
        page, after = get_source_store().list_page(principal.account_id, 200, after)
        sources.extend(page)
        if after is None:
            return sources


class CustomerView:
    """One customer's records at a source's committed generation, and what the API shows of them."""

    def __init__(self, source: Item, records: list[StoredRecord], plans: dict[str, PlanRecord]) -> None:
        self.source = source
        self.plans = plans
        self.customer = next(r for r in records if r.kind is RecordKind.CUSTOMERS)
        self.subscriptions = [r for r in records if r.kind is RecordKind.SUBSCRIPTIONS]
        self.invoices = sorted(
            (r for r in records if isinstance(r.record, InvoiceRecord)),
            key=lambda r: (r.record.date if isinstance(r.record, InvoiceRecord) else None, r.uuid),
        )
        self.transactions = [r for r in records if r.kind is RecordKind.TRANSACTIONS]

    @property
    def record(self) -> CustomerRecord:
        assert isinstance(self.customer.record, CustomerRecord)
        return self.customer.record

    def _invoice_records(self) -> list[InvoiceRecord]:
        return [r.record for r in self.invoices if isinstance(r.record, InvoiceRecord)]

    def _subscription_records(self) -> list[SubscriptionRecord]:
        return [r.record for r in self.subscriptions if isinstance(r.record, SubscriptionRecord)]

    def currency(self) -> str | None:
        if self.record.currency:
            return self.record.currency
        invoices = self._invoice_records()
        return invoices[-1].currency if invoices else None

    def summary(self, day: date) -> dict[str, Any]:
        by_currency = customer_mrr(self._subscription_records(), self._invoice_records(), self.plans, day)
        currency = self.currency() or (Counter(by_currency).most_common(1)[0][0] if by_currency else None)
        entry: dict[str, Any] = {
            "uuid": self.customer.uuid,
            "external_id": self.record.external_id,
            "data_source_uuid": self.source["uuid"],
            "sources": [{"data_source_uuid": self.source["uuid"], "external_id": self.record.external_id}],
            "name": self.record.name,
            "email": self.record.email,
            "company": self.record.company,
            "country": self.record.country,
            "currency": currency,
            "mrr": by_currency.get(currency, 0) if currency else 0,
        }
        if len(by_currency) > 1:
            entry["mrr_by_currency"] = by_currency
        return entry

    def detail(self, day: date) -> dict[str, Any]:
        plan_uuids = {
            ext: uuid_for(self.source["account_id"], self.source["uuid"], RecordKind.PLANS, ext) for ext in self.plans
        }
        subscriptions = []
        for stored in self.subscriptions:
            sub = stored.record
            assert isinstance(sub, SubscriptionRecord)
            plan = self.plans.get(sub.plan_external_id or "")
            subscriptions.append(
                {
                    "uuid": stored.uuid,
                    "external_id": sub.external_id,
                    "data_source_uuid": self.source["uuid"],
                    "plan": None
                    if plan is None
                    else {
                        "uuid": plan_uuids[plan.external_id],
                        "external_id": plan.external_id,
                        "name": plan.name,
                        "interval_count": plan.interval_count,
                        "interval_unit": plan.interval_unit,
                    },
                    "quantity": sub.quantity,
                    "mrr": subscription_mrr(sub, self._invoice_records(), self.plans, day)[1],
                    "status": sub.status,
                    "started_at": iso(sub.started_at),
                    "cancelled_at": iso(sub.cancelled_at) if sub.cancelled_at else None,
                    "connected_to": [],
                    "mrr_edits": [],
                }
            )
        transactions: dict[str, list[dict[str, Any]]] = {}
        for stored in self.transactions:
            tx = stored.record
            assert isinstance(tx, TransactionRecord)
            transactions.setdefault(tx.invoice_external_id, []).append(
                {
                    "uuid": stored.uuid,
                    "external_id": tx.external_id,
                    "type": tx.type,
                    "date": iso(tx.date),
                    "result": tx.result,
                    "amount_in_cents": tx.amount_in_cents,
                }
            )
        invoices = []
        for stored in self.invoices:
            invoice = stored.record
            assert isinstance(invoice, InvoiceRecord)
            invoices.append(
                {
                    "uuid": stored.uuid,
                    "external_id": invoice.external_id,
                    "date": iso(invoice.date),
                    "currency": invoice.currency,
                    "total_in_cents": invoice.total_in_cents
                    if invoice.total_in_cents is not None
                    else sum(li.amount_in_cents for li in invoice.line_items),
                    "line_items": [_line(li) for li in invoice.line_items],
                    "transactions": transactions.get(invoice.external_id, []),
                }
            )
        return {
            **self.summary(day),
            "subscriptions": subscriptions,
            "invoices": invoices,
            "overlays": {"merges": [], "connected_subscriptions": [], "mrr_edits": []},
        }


def _line(line: Any) -> dict[str, Any]:
    values = line.model_dump(mode="json")
    return {k: v for k, v in values.items() if v is not None}


def _plans(source: Item, view: View) -> dict[str, PlanRecord]:
    return {
        r.record.external_id: r.record
        for r in get_record_store().plans(source["uuid"], view)
        if isinstance(r.record, PlanRecord)
    }


def _load(source: Item, view: View, customer_uuids: list[str]) -> list[CustomerView]:
    plans = _plans(source, view)
    store = get_record_store()
    with ThreadPoolExecutor(READ_THREADS) as pool:
        loaded = list(pool.map(lambda u: store.customer(source["uuid"], u, view), customer_uuids))
    return [CustomerView(source, records, plans) for records in loaded if records]


def today() -> date:
    return now().date()


def list_page(
    principal: Principal,
    data_source_uuid: str | None,
    external_id: str | None,
    per_page: int,
    after: str | None,
    day: date,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of customers (by source, then uuid) and the position to continue after."""
    sources = [live_source(principal, data_source_uuid)] if data_source_uuid else live_sources(principal)
    after_source, after_customer = after.split("/", 1) if after else (None, None)
    entries: list[dict[str, Any]] = []
    for source in sources:
        if after_source and source["uuid"] < after_source:
            continue
        view = view_of(source)
        if view is None:
            continue
        if external_id is not None:
            uuid = uuid_for(principal.account_id, source["uuid"], RecordKind.CUSTOMERS, external_id)
            entries.extend(c.summary(day) for c in _load(source, view, [uuid]))
            continue
        start = after_customer if source["uuid"] == after_source else None
        while len(entries) < per_page:
            page, start = get_record_store().customers_page(source["uuid"], view, per_page - len(entries), start)
            entries.extend(c.summary(day) for c in _load(source, view, [r.uuid for r in page]))
            if start is None:
                break
            if len(entries) >= per_page:
                return entries, f"{source['uuid']}/{entries[-1]['uuid']}"
        if len(entries) >= per_page:
            return entries, f"{source['uuid']}/{entries[-1]['uuid']}"
    return entries, None


def get(principal: Principal, customer_uuid: str, day: date) -> dict[str, Any]:
    if not is_id(customer_uuid, "cus"):
        raise NotFoundError("No such customer.")
    tag = customer_uuid[4:8]
    for source in live_sources(principal):
        view = view_of(source)
        if view is None or source_tag(principal.account_id, source["uuid"]) != tag:
            continue
        found = _load(source, view, [customer_uuid])
        if found:
            return found[0].detail(day)
    raise NotFoundError("No such customer.")
