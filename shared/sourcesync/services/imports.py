"""The Import API (SPEC section 4): push customers, plans and invoices into a `custom` source.

A request is validated whole before anything is written (one bad record: 400 with its index, nothing
written). Records get the deterministic uuids of SPEC section 1 and are written into the source's one
generation; a repeated `external_id` replaces the record. Subscriptions are derived from subscription
line items: a subscription starts with its earliest service period and is cancelled when a line item
says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sourcesync.api.import_models import (
    ImportCustomersRequest,
    ImportInvoice,
    ImportInvoicesRequest,
    ImportPlansRequest,
)
from sourcesync.derived import derive_subscription
from sourcesync.errors import InvalidRequestError, NotFoundError, UnprocessableError
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
from sourcesync.services.data_sources import live_source
from sourcesync.store.accounts import Principal
from sourcesync.store.dynamo import Item, is_condition_failure
from sourcesync.store.records import Version, get_record_store, placement, uuid_for
from sourcesync.store.sources import get_source_store

IMPORT_GENERATION = 1


def _custom_source(principal: Principal, uuid: str) -> Item:
    source = live_source(principal, uuid)
    if source["system"] != "custom":
        raise UnprocessableError(
            "not_custom_source",
            f"The Import API writes only into custom data sources; this one is synced from {source['system']}.",
        )
    return source


def _write(source: Item, versions: Sequence[Version]) -> None:
    """Write versions and add the new ones to the source's counts."""
    store = get_record_store()
    existing = store.read_at(source["uuid"], [(v.kind, v.uuid, v.customer_uuid) for v in versions], IMPORT_GENERATION)
    store.write(source["uuid"], versions)
    added: dict[str, int] = {}
    for version in versions:
        if version.uuid not in existing:
            added[version.kind.value] = added.get(version.kind.value, 0) + 1
    sources = get_source_store()
    if added:
        try:
            sources.add_counts(source["account_id"], source["uuid"], added)
        except Exception as error:
            if not is_condition_failure(error):
                raise
    # An import does not hold its source: if a DELETE came meanwhile, take back what was written (the purge
    # may already have passed), so that nothing of a deleted source outlives its purge.
    now = sources.get(source["account_id"], source["uuid"])
    if now is None or now.get("status") == "deleting":
        store.delete(
            placement(source["uuid"], v.kind, v.uuid, v.customer_uuid).key(IMPORT_GENERATION) for v in versions
        )
        raise NotFoundError("No such data source.")


def _version(source: Item, kind: RecordKind, record: AnyRecord, customer_external_id: str | None = None) -> Version:
    account, ds = source["account_id"], source["uuid"]
    owner = uuid_for(account, ds, RecordKind.CUSTOMERS, customer_external_id) if customer_external_id else None
    return Version(
        kind=kind,
        uuid=uuid_for(account, ds, kind, record.external_id),
        customer_uuid=owner,
        external_id=record.external_id,
        generation=IMPORT_GENERATION,
        record=record,
    )


def _entries(versions: Sequence[Version], kind: RecordKind) -> dict[str, Any]:
    return {"entries": [{"external_id": v.external_id, "uuid": v.uuid} for v in versions if v.kind is kind]}


def import_customers(principal: Principal, uuid: str, request: ImportCustomersRequest) -> dict[str, Any]:
    source = _custom_source(principal, uuid)
    versions = [
        _version(source, RecordKind.CUSTOMERS, CustomerRecord(**c.model_dump()), c.external_id)
        for c in _last_wins(request.customers)
    ]
    _write(source, versions)
    return _entries(versions, RecordKind.CUSTOMERS)


def import_plans(principal: Principal, uuid: str, request: ImportPlansRequest) -> dict[str, Any]:
    source = _custom_source(principal, uuid)
    versions = [_version(source, RecordKind.PLANS, PlanRecord(**p.model_dump())) for p in _last_wins(request.plans)]
    _write(source, versions)
    return _entries(versions, RecordKind.PLANS)


def _last_wins(items: Sequence[Any]) -> list[Any]:
    """A request naming the same external_id twice keeps the last one (it would replace the first anyway)."""
    return list({item.external_id: item for item in items}.values())


def import_invoices(principal: Principal, uuid: str, request: ImportInvoicesRequest) -> dict[str, Any]:
    source = _custom_source(principal, uuid)
    invoices = _last_wins(request.invoices)
    _check_references(source, invoices)
    versions: list[Version] = []
    subscriptions: dict[tuple[str, str], list[tuple[ImportInvoice, Any]]] = {}
    for invoice in invoices:
        line_items = tuple(LineItem(**line.model_dump()) for line in invoice.line_items)
        record = InvoiceRecord(
            external_id=invoice.external_id,
            customer_external_id=invoice.customer_external_id,
            date=invoice.date,
            currency=invoice.currency,
            line_items=line_items,
            total_in_cents=sum(li.amount_in_cents for li in line_items),
        )
        versions.append(_version(source, RecordKind.INVOICES, record, invoice.customer_external_id))
        for tx in invoice.transactions:
            transaction = TransactionRecord(
                invoice_external_id=invoice.external_id,
                customer_external_id=invoice.customer_external_id,
                **tx.model_dump(),
            )
            versions.append(_version(source, RecordKind.TRANSACTIONS, transaction, invoice.customer_external_id))
        for line in invoice.line_items:
            if line.type == "subscription" and line.subscription_external_id:
                subscriptions.setdefault((invoice.customer_external_id, line.subscription_external_id), []).append(
                    (invoice, line)
                )
    versions.extend(_derived_subscriptions(source, subscriptions))
    _write(source, versions)
    return _entries(versions, RecordKind.INVOICES)


def _check_references(source: Item, invoices: Sequence[ImportInvoice]) -> None:
    """Every invoice's customer and every subscription line's plan must exist in the source."""
    account, ds = source["account_id"], source["uuid"]
    wanted: list[tuple[RecordKind, str, str | None]] = []
    for invoice in invoices:
        wanted.append(
            (RecordKind.CUSTOMERS, uuid_for(account, ds, RecordKind.CUSTOMERS, invoice.customer_external_id), None)
        )
        wanted.extend(
            (RecordKind.PLANS, uuid_for(account, ds, RecordKind.PLANS, line.plan_external_id), None)
            for line in invoice.line_items
            if line.plan_external_id
        )
    found = get_record_store().read_at(ds, wanted, IMPORT_GENERATION)
    details = []
    for index, invoice in enumerate(invoices):
        if uuid_for(account, ds, RecordKind.CUSTOMERS, invoice.customer_external_id) not in found:
            details.append(
                {
                    "loc": f"invoices.{index}.customer_external_id",
                    "msg": "no customer with this external_id in this data source",
                }
            )
        for line_index, line in enumerate(invoice.line_items):
            if line.plan_external_id and uuid_for(account, ds, RecordKind.PLANS, line.plan_external_id) not in found:
                details.append(
                    {
                        "loc": f"invoices.{index}.line_items.{line_index}.plan_external_id",
                        "msg": "no plan with this external_id in this data source",
                    }
                )
    if details:
        raise InvalidRequestError("Some records refer to customers or plans this source does not have.", details)


def _derived_subscriptions(
    source: Item, lines: dict[tuple[str, str], list[tuple[ImportInvoice, Any]]]
) -> list[Version]:
    account, ds = source["account_id"], source["uuid"]
    keys = {key: uuid_for(account, ds, RecordKind.SUBSCRIPTIONS, key[1]) for key in lines}
    owners = {key: uuid_for(account, ds, RecordKind.CUSTOMERS, key[0]) for key in lines}
    stored = get_record_store().read_at(
        ds, [(RecordKind.SUBSCRIPTIONS, keys[k], owners[k]) for k in lines], IMPORT_GENERATION
    )
    versions = []
    for key, entries in lines.items():
        previous = stored.get(keys[key])
        record = derive_subscription(
            key[0],
            key[1],
            [(inv.date, inv.currency, line) for inv, line in entries],
            previous.record if previous and isinstance(previous.record, SubscriptionRecord) else None,
        )
        versions.append(_version(source, RecordKind.SUBSCRIPTIONS, record, key[0]))
    return versions
