"""The Import API (docs/api.md#import-api-custom-sources): push customers, plans and invoices into a `custom` source.

A request is all or nothing. It is validated whole before anything is written (a bad record, an id
repeated anywhere in the request, an invoice whose customer or plan the source lacks: 400 naming the
paths, nothing written). Its records are then written as versions of a new generation that is pending
(invisible to every reader) from before the first write, and one conditional write on the source item
makes that generation the committed one and changes the source's counts — the same switch a re-sync's
commit makes. A request that fails or dies half-way leaves only invisible versions (taken back when it
can, otherwise skipped by readers and removed the next time their records are imported). Two requests
racing on one source cannot both commit from the same generation: the one that loses reads again and
retries, so neither loses the other's records.

A re-imported record replaces its previous version whole: an invoice's transactions that it no longer
lists are tombstoned, and each touched customer's subscriptions are derived again from all of its
invoices (a subscription starts with its earliest service period and is cancelled when a line says so),
so a subscription no invoice lists any more is tombstoned too.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sourcesync.derived import SubscriptionLine, derive_subscription
from sourcesync.domain.imports import CustomersImport, InvoicesImport, PlansImport
from sourcesync.errors import ConflictError, InvalidRequestError, NotFoundError, UnprocessableError
from sourcesync.powertools import Logger
from sourcesync.records import (
    AnyRecord,
    CustomerRecord,
    InvoiceRecord,
    LineItem,
    PlanRecord,
    RecordKind,
    TransactionRecord,
)
from sourcesync.services.live_sources import live_source
from sourcesync.store.accounts import Principal
from sourcesync.store.dynamo import Item
from sourcesync.store.records import RecordStore, StoredRecord, Version, View, encode, get_record_store, uuid_for
from sourcesync.store.sources import get_source_store

logger = Logger(child=True)

#: How often a request reads again and retries when another request on the source committed first.
ATTEMPTS = 8


@dataclass
class _Plan:
    """What one request changes, computed against one committed generation."""

    entries: list[dict[str, str]]
    versions: list[Version] = field(default_factory=list)  # generation 0: set when written
    counts: Counter[str] = field(default_factory=Counter)
    superseded: list[dict[str, str]] = field(default_factory=list)


def _custom_source(principal: Principal, uuid: str) -> Item:
    source = live_source(principal, uuid)
    if source["system"] != "custom":
        raise UnprocessableError(
            "not_custom_source",
            f"The Import API writes only into custom data sources; this one is synced from {source['system']}.",
        )
    return source


def _view(source: Item) -> View:
    return View(int(source["committed_generation"]), frozenset(int(g) for g in source.get("pending_generations") or ()))


def _refuse_repeats(what: str, paths_and_ids: Iterable[tuple[str, str]]) -> None:
    """400 when an id appears twice in one request, naming both places."""
    first: dict[str, str] = {}
    details = []
    for path, external_id in paths_and_ids:
        if external_id in first:
            details.append({"loc": path, "msg": f"{what} external_id {external_id!r} repeats {first[external_id]}"})
        else:
            first[external_id] = path
    if details:
        raise InvalidRequestError(f"The request names a {what} more than once.", details)


def _run(principal: Principal, uuid: str, build: Callable[[Item, View], _Plan]) -> dict[str, Any]:
    """Plan against the committed generation, write the plan at a new pending generation, commit it with
    one conditional write; read again and retry if another request committed meanwhile."""
    sources, store = get_source_store(), get_record_store()
    for attempt in range(ATTEMPTS):
        if attempt:  # lost a race: let the others through before reading again (full jitter)
            time.sleep(random.uniform(0, 0.05 * 2**attempt))
        source = _custom_source(principal, uuid)
        account, ds = source["account_id"], source["uuid"]
        view = _view(source)
        plan = build(source, view)
        if plan.versions:
            generation = sources.begin_import(account, ds)
            if generation is None:
                raise NotFoundError("No such data source.")
            written = [replace(v, generation=generation) for v in plan.versions]
            if not _write_and_commit(account, ds, written, generation, view.generation, plan.counts):
                if _gone(account, ds):
                    raise NotFoundError("No such data source.")
                continue
        _remove(store, plan.superseded)
        return {"entries": plan.entries}
    raise ConflictError("Other imports into this data source kept committing first; retry the request.")


def _write_and_commit(
    account: str, ds: str, written: list[Version], generation: int, previous: int, counts: Counter[str]
) -> bool:
    """True once committed. Whatever is written stays invisible until then (its generation is pending), so
    on a lost race or any error the versions are only taken back; an error is raised again."""
    sources, store = get_source_store(), get_record_store()
    try:
        store.write(ds, written)
        committed = sources.commit_import(account, ds, generation, previous, dict(counts))
    except Exception:
        now = sources.get(account, ds)
        if now is not None and int(now.get("committed_generation", -1)) == generation:
            return True  # the commit went through although its answer was lost
        _remove(store, (v.key(ds) for v in written))
        raise
    if not committed and _remove(store, (v.key(ds) for v in written)):
        # Every write was acknowledged and is now deleted: nothing at this generation can ever show up.
        sources.forget_generation(account, ds, generation)
    return committed


def _gone(account: str, ds: str) -> bool:
    now = get_source_store().get(account, ds)
    return now is None or now.get("status") == "deleting"


def _remove(store: RecordStore, keys: Iterable[dict[str, str]]) -> bool:
    """Best effort (what is removed here is invisible to every reader anyway); False if it failed."""
    try:
        store.delete(list(keys))
    except Exception:
        logger.exception("could not remove invisible record versions; the next import or the purge will")
        return False
    return True


def _uuid(source: Item, kind: RecordKind, external_id: str) -> str:
    return uuid_for(source["account_id"], source["uuid"], kind, external_id)


def _put(
    plan: _Plan,
    current: dict[str, dict[str, Any]],
    kind: RecordKind,
    uuid: str,
    record: AnyRecord,
    customer_uuid: str | None,
) -> None:
    """A new version of a record, unless the visible one already holds exactly this content."""
    payload, content_hash = encode(record)
    now = current.get(uuid)
    if now is not None and not now.get("del") and now.get("h") == content_hash and now.get("c") == customer_uuid:
        return
    plan.versions.append(
        Version(kind, uuid, customer_uuid, record.external_id, 0, record, payload=payload, content_hash=content_hash)
    )
    if now is None or now.get("del") or now.get("c") != customer_uuid:  # new here (or moved from another customer)
        plan.counts[kind.value] += 1


def _tombstone(plan: _Plan, stored: StoredRecord) -> None:
    plan.versions.append(Version(stored.kind, stored.uuid, stored.customer_uuid, stored.record.external_id, 0, None))
    plan.counts[stored.kind.value] -= 1


# ---------------------------------------------------------------------------------------------- customers, plans
def _top_level(kind: RecordKind, records: Sequence[CustomerRecord | PlanRecord]) -> Callable[[Item, View], _Plan]:
    def build(source: Item, view: View) -> _Plan:
        store = get_record_store()
        uuids = [_uuid(source, kind, r.external_id) for r in records]
        items = store.versions_of(source["uuid"], [(kind, u, None) for u in uuids])
        current = store.newest(items, view)
        plan = _Plan([{"external_id": r.external_id, "uuid": u} for r, u in zip(records, uuids, strict=True)])
        plan.superseded = store.superseded(items, view)
        for record, uuid in zip(records, uuids, strict=True):
            _put(plan, current, kind, uuid, record, None)
        return plan

    return build


def import_customers(principal: Principal, uuid: str, request: CustomersImport) -> dict[str, Any]:
    _refuse_repeats(
        "customer", ((f"customers.{i}.external_id", c.external_id) for i, c in enumerate(request.customers))
    )
    records = [CustomerRecord(**c.model_dump()) for c in request.customers]
    return _run(principal, uuid, _top_level(RecordKind.CUSTOMERS, records))


def import_plans(principal: Principal, uuid: str, request: PlansImport) -> dict[str, Any]:
    _refuse_repeats("plan", ((f"plans.{i}.external_id", p.external_id) for i, p in enumerate(request.plans)))
    records = [PlanRecord(**p.model_dump()) for p in request.plans]
    return _run(principal, uuid, _top_level(RecordKind.PLANS, records))


# ---------------------------------------------------------------------------------------------- invoices
def import_invoices(principal: Principal, uuid: str, request: InvoicesImport) -> dict[str, Any]:
    invoices = request.invoices
    _refuse_repeats("invoice", ((f"invoices.{i}.external_id", inv.external_id) for i, inv in enumerate(invoices)))
    _refuse_repeats(
        "transaction",
        (
            (f"invoices.{i}.transactions.{j}.external_id", tx.external_id)
            for i, inv in enumerate(invoices)
            for j, tx in enumerate(inv.transactions)
        ),
    )
    records = [_invoice_record(inv) for inv in invoices]
    transactions = [
        [
            TransactionRecord(
                invoice_external_id=inv.external_id,
                customer_external_id=inv.customer_external_id,
                **tx.model_dump(),
            )
            for tx in inv.transactions
        ]
        for inv in invoices
    ]
    return _run(principal, uuid, lambda source, view: _invoices_plan(source, view, records, transactions))


def _invoice_record(invoice: Any) -> InvoiceRecord:
    line_items = tuple(LineItem(**line.model_dump()) for line in invoice.line_items)
    return InvoiceRecord(
        external_id=invoice.external_id,
        customer_external_id=invoice.customer_external_id,
        date=invoice.date,
        currency=invoice.currency,
        line_items=line_items,
        total_in_cents=sum(li.amount_in_cents for li in line_items),
    )


def _invoices_plan(
    source: Item, view: View, invoices: list[InvoiceRecord], transactions: list[list[TransactionRecord]]
) -> _Plan:
    store, ds = get_record_store(), source["uuid"]
    owners = {
        inv.customer_external_id: _uuid(source, RecordKind.CUSTOMERS, inv.customer_external_id) for inv in invoices
    }
    plan_ids = {line.plan_external_id for inv in invoices for line in inv.line_items if line.plan_external_id}
    wanted = [(RecordKind.CUSTOMERS, u, None) for u in owners.values()]
    wanted += [(RecordKind.PLANS, _uuid(source, RecordKind.PLANS, p), None) for p in plan_ids]
    parents = store.versions_of(ds, wanted)
    existing = {u for u, item in store.newest(parents, view).items() if not item.get("del")}
    _check_references(source, invoices, existing)

    children = store.children_of(ds, owners.values())
    current = store.newest(children, view)
    visible = [store.stored(item) for item in current.values() if not item.get("del")]
    plan = _Plan(
        [
            {"external_id": inv.external_id, "uuid": _uuid(source, RecordKind.INVOICES, inv.external_id)}
            for inv in invoices
        ]
    )
    plan.superseded = store.superseded([*parents, *children], view)

    for invoice, its_transactions in zip(invoices, transactions, strict=True):
        owner = owners[invoice.customer_external_id]
        _put(
            plan, current, RecordKind.INVOICES, _uuid(source, RecordKind.INVOICES, invoice.external_id), invoice, owner
        )
        for tx in its_transactions:
            _put(
                plan,
                current,
                RecordKind.TRANSACTIONS,
                _uuid(source, RecordKind.TRANSACTIONS, tx.external_id),
                tx,
                owner,
            )
    _drop_replaced(source, plan, visible, invoices, transactions)
    _derive_subscriptions(source, plan, current, visible, invoices, owners)
    return plan


def _drop_replaced(
    source: Item,
    plan: _Plan,
    visible: list[StoredRecord],
    invoices: list[InvoiceRecord],
    transactions: list[list[TransactionRecord]],
) -> None:
    """A re-imported invoice's transactions that it no longer lists are gone; an invoice or a transaction
    now imported for another customer is gone from the customer it was stored under."""
    owner_of = {inv.external_id: _uuid(source, RecordKind.CUSTOMERS, inv.customer_external_id) for inv in invoices}
    listed = {
        _uuid(source, RecordKind.TRANSACTIONS, tx.external_id): owner_of[tx.invoice_external_id]
        for txs in transactions
        for tx in txs
    }
    for stored in visible:
        record = stored.record
        if isinstance(record, InvoiceRecord):
            moved = record.external_id in owner_of and owner_of[record.external_id] != stored.customer_uuid
        elif isinstance(record, TransactionRecord):
            unlisted = record.invoice_external_id in owner_of and stored.uuid not in listed
            moved = unlisted or listed.get(stored.uuid, stored.customer_uuid) != stored.customer_uuid
        else:
            continue
        if moved:
            _tombstone(plan, stored)


def _derive_subscriptions(
    source: Item,
    plan: _Plan,
    current: dict[str, dict[str, Any]],
    visible: list[StoredRecord],
    invoices: list[InvoiceRecord],
    owners: dict[str, str],
) -> None:
    """Each touched customer's subscriptions, derived again from all of its invoices as they will be; a
    subscription that no invoice lists any more is gone."""
    by_customer: dict[str, dict[str, InvoiceRecord]] = {owner: {} for owner in owners.values()}
    for stored in visible:
        if isinstance(stored.record, InvoiceRecord) and stored.customer_uuid in by_customer:
            by_customer[stored.customer_uuid][stored.record.external_id] = stored.record
    for invoice in invoices:
        for held in by_customer.values():
            held.pop(invoice.external_id, None)
        by_customer[owners[invoice.customer_external_id]][invoice.external_id] = invoice
    for owner, held in by_customer.items():
        keep = set()
        for subscription in _subscriptions(held.values()):
            sub_uuid = _uuid(source, RecordKind.SUBSCRIPTIONS, subscription.external_id)
            keep.add(sub_uuid)
            _put(plan, current, RecordKind.SUBSCRIPTIONS, sub_uuid, subscription, owner)
        for stored in visible:
            if stored.kind is RecordKind.SUBSCRIPTIONS and stored.customer_uuid == owner and stored.uuid not in keep:
                _tombstone(plan, stored)


def _subscriptions(invoices: Iterable[InvoiceRecord]) -> list[Any]:
    lines: dict[tuple[str, str], list[tuple[datetime, str, SubscriptionLine]]] = {}
    for invoice in invoices:
        for line in invoice.line_items:
            if (
                line.type == "subscription"
                and line.subscription_external_id
                and line.service_period_start
                and line.service_period_end
            ):
                lines.setdefault((invoice.customer_external_id, line.subscription_external_id), []).append(
                    (invoice.date, invoice.currency, line)
                )
    return [derive_subscription(customer, sub, entries) for (customer, sub), entries in lines.items()]


def _check_references(source: Item, invoices: Sequence[InvoiceRecord], existing: set[str]) -> None:
    """Every invoice's customer and every subscription line's plan must exist in the source."""
    details = []
    for index, invoice in enumerate(invoices):
        if _uuid(source, RecordKind.CUSTOMERS, invoice.customer_external_id) not in existing:
            details.append(
                {
                    "loc": f"invoices.{index}.customer_external_id",
                    "msg": "no customer with this external_id in this data source",
                }
            )
        for line_index, line in enumerate(invoice.line_items):
            if line.plan_external_id and _uuid(source, RecordKind.PLANS, line.plan_external_id) not in existing:
                details.append(
                    {
                        "loc": f"invoices.{index}.line_items.{line_index}.plan_external_id",
                        "msg": "no plan with this external_id in this data source",
                    }
                )
    if details:
        raise InvalidRequestError("Some records refer to customers or plans this source does not have.", details)
