"""Reading customers (docs/api.md#customers): lists and one customer with its subscriptions and invoices.

Every read goes through the source items first: a deleted source's records are never shown, and a
source's readers see exactly its committed generation (never a half-imported one). Overlays are then
applied as readers see them (`sourcesync.overlays`): a customer merged into another answers as its
primary, which counts every member's records and MRR; MRR edits override their subscription's MRR on
their days; connected subscriptions count as one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from sourcesync.clock import iso, now
from sourcesync.errors import NotFoundError
from sourcesync.ids import is_id, source_tag
from sourcesync.mrr import Edit, SubscriptionInput, merged_customer_mrr
from sourcesync.overlays import MergeForest, Overlay, connected_groups, in_effect, removed_for_readers
from sourcesync.policy_matrix import OverlayKind
from sourcesync.records import (
    CustomerRecord,
    InvoiceRecord,
    PlanRecord,
    RecordKind,
    SubscriptionRecord,
    TransactionRecord,
)
from sourcesync.services.live_sources import live_source
from sourcesync.store.accounts import Principal
from sourcesync.store.dynamo import Item
from sourcesync.store.overlays import get_overlay_store
from sourcesync.store.records import StoredRecord, View, get_record_store, uuid_for
from sourcesync.store.sources import get_source_store

READ_THREADS = 8


def view_of(source: Item) -> View | None:
    """What readers may see of a source: None before its first import committed."""
    committed = source.get("committed_generation")
    if committed is None:
        return None
    return View(int(committed), frozenset(int(g) for g in source.get("pending_generations") or ()))


def live_sources_of(account_id: str) -> list[Item]:
    sources, after = [], None
    while True:
        page, after = get_source_store().list_page(account_id, 200, after)
        sources.extend(page)
        if after is None:
            return sources


class CustomerView:
    """One customer record's records at its source's committed generation."""

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
    def uuid(self) -> str:
        return self.customer.uuid

    @property
    def record(self) -> CustomerRecord:
        assert isinstance(self.customer.record, CustomerRecord)
        return self.customer.record

    def invoice_records(self) -> tuple[InvoiceRecord, ...]:
        return tuple(r.record for r in self.invoices if isinstance(r.record, InvoiceRecord))

    def currency(self) -> str | None:
        if self.record.currency:
            return self.record.currency
        invoices = self.invoice_records()
        return invoices[-1].currency if invoices else None


class AccountView:
    """One request's view of an account: its live sources and what readers see of each, its overlays as
    readers see them, and the merge forest they make. Loaded once per request (two Queries)."""

    def __init__(self, account_id: str, sources: Iterable[Item], overlays: list[Overlay], version: int) -> None:
        self.account_id = account_id
        self.sources = {s["uuid"]: s for s in sources}
        self.views = {uuid: v for uuid, s in self.sources.items() if (v := view_of(s)) is not None}
        self.by_tag: dict[str, list[str]] = {}
        for uuid in self.sources:  # 20-bit tags: two sources of an account may share one
            self.by_tag.setdefault(source_tag(account_id, uuid), []).append(uuid)
        self.version = version
        self.stored_overlays = overlays
        self.live = live = frozenset(self.sources)
        self.overlays = [o for o in (in_effect(o, live, self._admits) for o in overlays) if o is not None]
        # the merge trees also keep merges naming a deleted source's customer: it must not split its tree
        merges = [o for o in overlays if o.kind is OverlayKind.MERGED_CUSTOMERS]
        self.forest = MergeForest(
            account_id, [m for m in merges if not removed_for_readers(m, live, self._admits)], self.exists
        )
        self._exists: dict[str, bool] = {}
        self._home: dict[str, Item] = {}
        self._plans: dict[str, dict[str, PlanRecord]] = {}

    @classmethod
    def load(cls, account_id: str) -> AccountView:
        snapshot = get_overlay_store().snapshot(account_id)
        return cls(account_id, live_sources_of(account_id), snapshot.overlays, snapshot.version)

    def _admits(self, data_source_uuid: str, generation: int) -> bool:
        view = self.views.get(data_source_uuid)
        return view is not None and view.admits(generation)

    def of_kind(self, kind: OverlayKind) -> list[Overlay]:
        return [o for o in self.overlays if o.kind is kind]

    def candidates(self, record_uuid: str) -> list[Item]:
        """The live, readable sources a record uuid may belong to (its first four characters name them)."""
        uuids = self.by_tag.get(record_uuid.split("_", 1)[-1][:4], [])
        return [self.sources[u] for u in uuids if u in self.views]

    def exists(self, customer_uuid: str) -> bool:
        if customer_uuid not in self._exists:
            found = next(
                (
                    source
                    for source in self.candidates(customer_uuid)
                    if get_record_store().customer_exists(source["uuid"], customer_uuid, self.views[source["uuid"]])
                ),
                None,
            )
            self._exists[customer_uuid] = found is not None
            if found is not None:
                self._home[customer_uuid] = found
        return self._exists[customer_uuid]

    def plans(self, data_source_uuid: str) -> dict[str, PlanRecord]:
        if data_source_uuid not in self._plans:
            view = self.views[data_source_uuid]
            self._plans[data_source_uuid] = {
                r.record.external_id: r.record
                for r in get_record_store().plans(data_source_uuid, view)
                if isinstance(r.record, PlanRecord)
            }
        return self._plans[data_source_uuid]

    def load_customers(self, customer_uuids: Iterable[str]) -> dict[str, CustomerView]:
        """The customers' records (those that exist), read in parallel."""
        wanted = [(source, uuid) for uuid in dict.fromkeys(customer_uuids) for source in self.candidates(uuid)]
        for source, _ in wanted:
            self.plans(source["uuid"])
        store = get_record_store()
        with ThreadPoolExecutor(READ_THREADS) as pool:
            loaded = list(pool.map(lambda w: store.customer(w[0]["uuid"], w[1], self.views[w[0]["uuid"]]), wanted))
        found: dict[str, CustomerView] = {}
        for (source, uuid), records in zip(wanted, loaded, strict=True):
            if records and uuid not in found:
                found[uuid] = CustomerView(source, records, self.plans(source["uuid"]))
                self._exists[uuid], self._home[uuid] = True, source
        for _, uuid in wanted:
            self._exists.setdefault(uuid, uuid in found)
        return found

    def groups(self, primaries: list[CustomerView]) -> list[CustomerGroup]:
        """The customers as the API shows them: each with every customer merged into it."""
        members = {p.uuid: self.forest.members(p.uuid) for p in primaries}
        loaded = {p.uuid: p for p in primaries}
        loaded.update(self.load_customers(u for group in members.values() for u in group if u not in loaded))
        return [CustomerGroup(self, [loaded[u] for u in members[p.uuid] if u in loaded]) for p in primaries]

    def group(self, customer_uuid: str) -> CustomerGroup | None:
        """The customer a uuid answers with: its primary's group (None if it does not exist)."""
        if not self.exists(customer_uuid):
            return None
        primary = self.forest.primary(customer_uuid)
        found = self.load_customers([primary])
        return self.groups([found[primary]])[0] if primary in found else None


class CustomerGroup:
    """A primary customer and the customers merged into it, with the overlays that touch them."""

    def __init__(self, account: AccountView, members: list[CustomerView]) -> None:
        self.account = account
        self.members = members
        self.primary = members[0]
        self.member_uuids = {m.uuid for m in members}
        self.subscription_uuids = {s.uuid for m in members for s in m.subscriptions}
        self.connections = [o for o in account.of_kind(OverlayKind.CONNECTED_SUBSCRIPTIONS) if self._touches(o)]
        self.edits = [o for o in account.of_kind(OverlayKind.EDITED_MRR) if self._touches(o)]
        self.merges = account.forest.touching(self.member_uuids, account.live)
        self.connected = [
            group & self.subscription_uuids
            for group in connected_groups(account.account_id, self.connections)
            if len(group & self.subscription_uuids) > 1
        ]

    def _touches(self, overlay: Overlay) -> bool:
        account_id = self.account.account_id
        return any(
            r.uuid(account_id) in self.subscription_uuids or r.owner_uuid(account_id) in self.member_uuids
            for r in overlay.refs
        )

    def orphaned(self, overlay: Overlay) -> bool:
        """A record the overlay names is not (or no longer) there."""
        account_id = self.account.account_id
        if overlay.kind is OverlayKind.MERGED_CUSTOMERS:
            return not all(self.account.exists(r.uuid(account_id)) for r in overlay.refs)
        return any(r.uuid(account_id) not in self.subscription_uuids for r in overlay.refs)

    def present(self, overlay: Overlay) -> dict[str, Any]:
        return overlay.present(self.account.account_id, self.orphaned(overlay))

    def _edits_of(self, subscription_uuid: str) -> list[Overlay]:
        account_id = self.account.account_id
        return [e for e in self.edits if e.refs[0].uuid(account_id) == subscription_uuid]

    def _input(self, member: CustomerView, stored: StoredRecord) -> SubscriptionInput:
        """A subscription with what its MRR is computed from: its member's invoices and plans, its edits."""
        assert isinstance(stored.record, SubscriptionRecord)
        edits = tuple(Edit(e.mrr or 0, e.start, e.end) for e in self._edits_of(stored.uuid) if e.start is not None)
        return SubscriptionInput(stored.uuid, stored.record, member.invoice_records(), member.plans, edits)

    def subscription_inputs(self) -> list[SubscriptionInput]:
        return [self._input(member, stored) for member in self.members for stored in member.subscriptions]

    def summary(self, day: date) -> dict[str, Any]:
        by_currency = merged_customer_mrr(self.subscription_inputs(), self.connected, day)
        primary = self.primary
        currency = primary.currency() or next((m.currency() for m in self.members if m.currency()), None)
        if by_currency and currency not in by_currency:
            # the customer record's currency is none it pays in (e.g. a provider's default, or a merged member
            # paying in another): show the MRR it does pay, not 0 with the real figure hidden
            currency = Counter(by_currency).most_common(1)[0][0]
        entry: dict[str, Any] = {
            "uuid": primary.uuid,
            "external_id": primary.record.external_id,
            "data_source_uuid": primary.source["uuid"],
            "sources": [
                {"data_source_uuid": m.source["uuid"], "external_id": m.record.external_id} for m in self.members
            ],
            "name": primary.record.name,
            "email": primary.record.email,
            "company": primary.record.company,
            "country": primary.record.country,
            "currency": currency,
            "mrr": by_currency.get(currency, 0) if currency else 0,
        }
        if len(by_currency) > 1:
            entry["mrr_by_currency"] = by_currency
        return entry

    def subscription_entry(self, member: CustomerView, stored: StoredRecord, day: date) -> dict[str, Any]:
        sub = stored.record
        assert isinstance(sub, SubscriptionRecord)
        account_id = self.account.account_id
        plan = member.plans.get(sub.plan_external_id or "")
        edits = self._edits_of(stored.uuid)
        entry = self._input(member, stored)
        connected = next((g for g in self.connected if stored.uuid in g), set())
        return {
            "uuid": stored.uuid,
            "external_id": sub.external_id,
            "data_source_uuid": member.source["uuid"],
            "customer_uuid": self.primary.uuid,
            "plan": None
            if plan is None
            else {
                "uuid": uuid_for(account_id, member.source["uuid"], RecordKind.PLANS, plan.external_id),
                "external_id": plan.external_id,
                "name": plan.name,
                "interval_count": plan.interval_count,
                "interval_unit": plan.interval_unit,
            },
            "quantity": sub.quantity,
            "mrr": entry.mrr(day)[1],
            "currency": entry.currency(),
            "status": sub.status,
            "started_at": iso(sub.started_at),
            "cancelled_at": iso(sub.cancelled_at) if sub.cancelled_at else None,
            "connected_to": sorted(connected - {stored.uuid}),
            "mrr_edits": [self.present(e) for e in sorted(edits, key=lambda e: (e.start, e.id))],
        }

    def subscription(self, subscription_uuid: str, day: date) -> dict[str, Any] | None:
        for member in self.members:
            for stored in member.subscriptions:
                if stored.uuid == subscription_uuid:
                    return self.subscription_entry(member, stored, day)
        return None

    def detail(self, day: date) -> dict[str, Any]:
        subscriptions = [
            self.subscription_entry(member, stored, day) for member in self.members for stored in member.subscriptions
        ]
        invoices = []
        for member in self.members:
            transactions: dict[str, list[dict[str, Any]]] = {}
            for stored in member.transactions:
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
            for stored in member.invoices:
                invoice = stored.record
                assert isinstance(invoice, InvoiceRecord)
                invoices.append(
                    {
                        "uuid": stored.uuid,
                        "external_id": invoice.external_id,
                        "data_source_uuid": member.source["uuid"],
                        "date": iso(invoice.date),
                        "currency": invoice.currency,
                        "total_in_cents": invoice.total_in_cents
                        if invoice.total_in_cents is not None
                        else sum(li.amount_in_cents for li in invoice.line_items),
                        "line_items": [_line(li) for li in invoice.line_items],
                        "transactions": transactions.get(invoice.external_id, []),
                    }
                )
        invoices.sort(key=lambda i: (i["date"], i["uuid"]))
        return {
            **self.summary(day),
            "subscriptions": subscriptions,
            "invoices": invoices,
            "overlays": {
                "merges": [self.present(o) for o in self.merges],
                "connected_subscriptions": [self.present(o) for o in self.connections],
                "mrr_edits": [self.present(o) for o in self.edits],
            },
        }


def _line(line: Any) -> dict[str, Any]:
    values = line.model_dump(mode="json")
    return {k: v for k, v in values.items() if v is not None}


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
    """A page of primary customers (by source, then uuid) and the position to continue after."""
    if data_source_uuid:
        live_source(principal, data_source_uuid)  # 404 for another account's or a deleted source
    account = AccountView.load(principal.account_id)
    if data_source_uuid:
        sources = [account.sources[data_source_uuid]] if data_source_uuid in account.sources else []
    else:
        sources = list(account.sources.values())
    after_source, after_customer = after.split("/", 1) if after else (None, None)
    entries: list[dict[str, Any]] = []
    for source in sources:
        if after_source and source["uuid"] < after_source:
            continue
        view = account.views.get(source["uuid"])
        if view is None:
            continue
        if external_id is not None:  # the customer with that external id, or the primary it was merged into
            group = account.group(uuid_for(principal.account_id, source["uuid"], RecordKind.CUSTOMERS, external_id))
            if group is not None and all(e["uuid"] != group.primary.uuid for e in entries):
                entries.append(group.summary(day))
            continue
        start = after_customer if source["uuid"] == after_source else None
        while len(entries) < per_page:
            page, start = get_record_store().customers_page(source["uuid"], view, per_page - len(entries), start)
            loaded = account.load_customers(r.uuid for r in page)
            primaries = [c for uuid, c in loaded.items() if account.forest.primary(uuid) == uuid]
            entries.extend(g.summary(day) for g in account.groups(primaries))
            if start is None:
                break
            if len(entries) >= per_page:
                return entries, f"{source['uuid']}/{page[-1].uuid}"
        if len(entries) >= per_page:
            return entries, f"{source['uuid']}/{entries[-1]['uuid']}"
    return entries, None


def find_group(principal: Principal, customer_uuid: str) -> tuple[AccountView, CustomerGroup]:
    """The customer a uuid answers with (its primary, when it was merged away)."""
    if not is_id(customer_uuid, "cus"):
        raise NotFoundError("No such customer.")
    account = AccountView.load(principal.account_id)
    group = account.group(customer_uuid)
    if group is None:
        raise NotFoundError("No such customer.")
    return account, group


def get(principal: Principal, customer_uuid: str, day: date) -> dict[str, Any]:
    return find_group(principal, customer_uuid)[1].detail(day)
