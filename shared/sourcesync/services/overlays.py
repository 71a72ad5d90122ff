"""Manual data: writing overlays (docs/api.md#manual-data) and what a re-sync does to them (the policy matrix,
docs/architecture.md#manual-data-overlays-and-the-policy-matrix).

Writes check what they name against what readers see now (404 for a record that is not there or
belongs to another account), then commit through `OverlayStore.write`: one transaction that holds only
if no other overlay write came in between and no touched source runs a job (409 `job_running`).

A re-sync applies the matrix in its `apply_overlays` step, between fetching and committing: overlays the
matrix keeps need nothing (they name records by natural keys, which find the new generation's records);
an overlay whose records vanished at the provider is kept and reported as orphaned; overlays the matrix
removes are marked with the re-sync's generation, which removes them for readers in the same moment as
the commit switches the generation, and are deleted when the job finishes (or unmarked if it fails).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sourcesync import errors
from sourcesync.clock import now_iso
from sourcesync.domain.manual_data import CustomerRef, Merge, MrrEdit, SubscriptionRef, SubscriptionSet
from sourcesync.ids import is_id, new_id
from sourcesync.overlays import Overlay, Ref, Removal
from sourcesync.policy_matrix import Action, OverlayKind, Policy, Scope, policy
from sourcesync.records import RecordKind, SubscriptionRecord
from sourcesync.services.customers import AccountView, CustomerGroup, find_group, live_sources_of
from sourcesync.store.accounts import Principal
from sourcesync.store.dynamo import Item
from sourcesync.store.manifests import get_manifest_store
from sourcesync.store.overlays import OverlaysChangedError, SourceBusyError, get_overlay_store
from sourcesync.store.records import get_record_store, uuid_for
from sourcesync.store.sources import get_source_store
from sourcesync.systems import System

WRITE_ATTEMPTS = 8
RESULT_BYTES = 150_000  # of overlays listed in a job's result (beyond it, they are counted)
ID_PREFIX = {
    OverlayKind.MERGED_CUSTOMERS: "mrg",
    OverlayKind.CONNECTED_SUBSCRIPTIONS: "con",
    OverlayKind.EDITED_MRR: "mre",
}


def source_policy(source: Item) -> Policy | None:
    """The matrix row of a source's integration version (None: `custom`, which is never re-synced)."""
    return policy(System(source["system"]), source.get("integration_version"))


# ---------------------------------------------------------------------------------------------- writes
@dataclass
class Change:
    puts: list[Overlay] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)
    answer: Any = None


def _commit(principal: Principal, build: Callable[[AccountView], Change]) -> Change:
    """Read, decide, write; again if another overlay write came in between."""
    for _ in range(WRITE_ATTEMPTS):
        account = AccountView.load(principal.account_id)
        change = build(account)
        if not change.puts and not change.deletes:
            return change
        try:
            get_overlay_store().write(
                principal.account_id, account.version, change.puts, change.deletes, change.sources
            )
            return change
        except SourceBusyError as busy:
            source = get_source_store().get(principal.account_id, busy.data_source_uuid)
            if source is None or source.get("status") == "deleting":
                raise errors.NotFoundError("No such data source.") from None
            if source.get("current_job_id"):
                raise errors.JobRunningError(source["current_job_id"]) from None
        except OverlaysChangedError:
            continue
    raise errors.ConflictError("The account's manual data kept changing during this request; try again.")


def _not_applicable(account: AccountView, data_source_uuid: str, kind: OverlayKind) -> None:
    """422 for manual data the source's system does not have (CRMs: no subscriptions, no MRR)."""
    row = source_policy(account.sources[data_source_uuid])
    if row is not None and any(row.action(scope, kind) is Action.NOT_APPLICABLE for scope in Scope):
        raise errors.UnprocessableError(
            "overlay_not_applicable",
            f"{account.sources[data_source_uuid]['system']} sources have no {kind.value.replace('_', ' ')}.",
        )


def _customer_ref(principal: Principal, account: AccountView, ref: CustomerRef, loc: str) -> str:
    """A customer named by `customer_uuid` or by (`data_source_uuid`, `external_id`): its uuid (404 if absent)."""
    if ref.customer_uuid is not None:
        uuid = ref.customer_uuid
    else:
        source, external_id = ref.data_source_uuid or "", ref.external_id or ""
        if source not in account.sources:
            raise errors.NotFoundError(f"No such data source ({loc}).")
        uuid = uuid_for(principal.account_id, source, RecordKind.CUSTOMERS, external_id)
    if not is_id(uuid, "cus") or not account.exists(uuid):
        raise errors.NotFoundError(f"No such customer ({loc}).")
    return uuid


def _ref_of(account: AccountView, customer_uuid: str) -> Ref:
    found = account.load_customers([customer_uuid])[customer_uuid]
    return Ref(found.source["uuid"], RecordKind.CUSTOMERS, found.record.external_id)


def merge(principal: Principal, request: Merge, day: date) -> dict[str, Any]:
    """Merge a customer into another. A merged-away customer stands for its primary, on both sides."""

    def build(account: AccountView) -> Change:
        merged = account.forest.primary(_customer_ref(principal, account, request.from_, "from"))
        into = account.forest.primary(_customer_ref(principal, account, request.into, "into"))
        if merged == into:
            raise errors.UnprocessableError("merge_into_self", "Both customers are already the same customer.")
        refs = (_ref_of(account, merged), _ref_of(account, into))
        for ref in refs:
            _not_applicable(account, ref.data_source_uuid, OverlayKind.MERGED_CUSTOMERS)
        overlay = _new(principal, OverlayKind.MERGED_CUSTOMERS, refs)
        return Change(puts=[overlay], sources={r.data_source_uuid for r in refs}, answer=into)

    change = _commit(principal, build)
    return find_group(principal, change.answer)[1].detail(day)


def _new(principal: Principal, kind: OverlayKind, refs: tuple[Ref, ...], **values: Any) -> Overlay:
    return Overlay(
        id=new_id(ID_PREFIX[kind]),
        kind=kind,
        refs=refs,
        created_by=principal.key_id,
        created_at=now_iso(),
        **values,
    )


def _group_of(account: AccountView, customer_uuid: str) -> CustomerGroup:
    group = account.group(customer_uuid) if is_id(customer_uuid, "cus") else None
    if group is None:
        raise errors.NotFoundError("No such customer.")
    return group


def _subscription_refs(
    principal: Principal, account: AccountView, group: CustomerGroup, refs: list[SubscriptionRef]
) -> list[Ref]:
    """The subscriptions a request names, each as a natural-key reference; they must be the customer's."""
    found: dict[str, Ref] = {}
    for index, ref in enumerate(refs):
        if ref.data_source_uuid not in account.sources:
            raise errors.NotFoundError(f"No such data source (subscriptions.{index}).")
        _not_applicable(account, ref.data_source_uuid, OverlayKind.CONNECTED_SUBSCRIPTIONS)
        uuid = ref.uuid or uuid_for(
            principal.account_id, ref.data_source_uuid, RecordKind.SUBSCRIPTIONS, ref.external_id or ""
        )
        owner = next((m for m in group.members for s in m.subscriptions if s.uuid == uuid), None)
        if owner is None and is_id(uuid, "sub") and _find_subscription(account, uuid) is not None:
            raise errors.UnprocessableError(
                "subscriptions_of_different_customers",
                f"subscriptions.{index} belongs to another customer: only one customer's subscriptions connect.",
            )
        if owner is None or owner.source["uuid"] != ref.data_source_uuid:
            raise errors.NotFoundError(f"No such subscription (subscriptions.{index}).")
        record = next(s.record for s in owner.subscriptions if s.uuid == uuid)
        assert isinstance(record, SubscriptionRecord)
        found[uuid] = Ref(ref.data_source_uuid, RecordKind.SUBSCRIPTIONS, record.external_id, owner.record.external_id)
    return list(found.values())


def connect(principal: Principal, customer_uuid: str, request: SubscriptionSet, day: date) -> dict[str, Any]:
    def build(account: AccountView) -> Change:
        group = _group_of(account, customer_uuid)
        refs = _subscription_refs(principal, account, group, request.subscriptions)
        if len(refs) < 2:
            raise errors.InvalidRequestError(
                "Name at least two different subscriptions to connect.",
                [{"loc": "subscriptions", "msg": "at least two different subscriptions"}],
            )
        uuids = {r.uuid(principal.account_id) for r in refs}
        if any(uuids <= g for g in group.connected):
            return Change(answer=group.primary.uuid)  # already connected: nothing to write
        overlay = _new(principal, OverlayKind.CONNECTED_SUBSCRIPTIONS, tuple(refs))
        return Change(puts=[overlay], sources={r.data_source_uuid for r in refs}, answer=group.primary.uuid)

    change = _commit(principal, build)
    return find_group(principal, change.answer)[1].detail(day)


def disconnect(principal: Principal, customer_uuid: str, request: SubscriptionSet, day: date) -> dict[str, Any]:
    """Take subscriptions out of the customer's connections (a connection left with one is deleted)."""

    def build(account: AccountView) -> Change:
        group = _group_of(account, customer_uuid)
        refs = _subscription_refs(principal, account, group, request.subscriptions)
        leaving = {r.uuid(principal.account_id) for r in refs}
        change = Change(answer=group.primary.uuid)
        for stored in account.stored_overlays:
            current = next((o for o in group.connections if o.id == stored.id), None)
            if current is None or not leaving & {r.uuid(principal.account_id) for r in current.refs}:
                continue
            change.sources |= stored.sources
            rest = tuple(r for r in stored.refs if r.uuid(principal.account_id) not in leaving)
            if len(rest) >= 2:
                change.puts.append(replace(stored, refs=rest))
            else:
                change.deletes.append(stored.id)
        return change

    change = _commit(principal, build)
    return find_group(principal, change.answer)[1].detail(day)


def _find_subscription(account: AccountView, subscription_uuid: str) -> tuple[Item, str] | None:
    """(source, owner customer uuid) of a subscription readers see: from the owner shards of the source's
    committed generation (one small S3 read), or, for a custom source (which has no manifests), a filtered
    read of its child records."""
    if not is_id(subscription_uuid, "sub"):
        return None
    for source in account.candidates(subscription_uuid):
        view = account.views[source["uuid"]]
        if source["system"] == System.CUSTOM.value:
            owner = get_record_store().owner_of(source["uuid"], RecordKind.SUBSCRIPTIONS, subscription_uuid, view)
        else:
            owner = get_manifest_store().owner(account.account_id, source["uuid"], view.generation, subscription_uuid)
        if owner:
            return source, owner
    return None


def _subscription_in(account: AccountView, subscription_uuid: str) -> tuple[CustomerGroup, Item]:
    found = _find_subscription(account, subscription_uuid)
    group = account.group(found[1]) if found else None
    if found is None or group is None or subscription_uuid not in group.subscription_uuids:
        raise errors.NotFoundError("No such subscription.")
    return group, found[0]


def get_subscription(principal: Principal, subscription_uuid: str, day: date) -> dict[str, Any]:
    account = AccountView.load(principal.account_id)
    group, _ = _subscription_in(account, subscription_uuid)
    entry = group.subscription(subscription_uuid, day)
    assert entry is not None
    return entry


def add_mrr_edit(principal: Principal, subscription_uuid: str, request: MrrEdit) -> dict[str, Any]:
    if request.to is not None and request.to < request.from_:
        raise errors.InvalidRequestError("`to` is before `from`.", [{"loc": "to", "msg": "must be on or after `from`"}])

    def build(account: AccountView) -> Change:
        named = account.candidates(subscription_uuid) if is_id(subscription_uuid, "sub") else []
        if len(named) == 1:  # a CRM has no MRR to edit: say so rather than "no such subscription"
            _not_applicable(account, named[0]["uuid"], OverlayKind.EDITED_MRR)
        group, source = _subscription_in(account, subscription_uuid)
        for edit in group.edits:
            same = edit.refs[0].uuid(principal.account_id) == subscription_uuid
            if same and edit.overlaps(request.from_, request.to):
                raise errors.MrrEditOverlapError(edit.id)
        member = next(m for m in group.members for s in m.subscriptions if s.uuid == subscription_uuid)
        record = next(s.record for s in member.subscriptions if s.uuid == subscription_uuid)
        ref = Ref(source["uuid"], RecordKind.SUBSCRIPTIONS, record.external_id, member.record.external_id)
        overlay = _new(principal, OverlayKind.EDITED_MRR, (ref,), mrr=request.mrr, start=request.from_, end=request.to)
        return Change(puts=[overlay], sources={source["uuid"]}, answer=overlay)

    change = _commit(principal, build)
    return change.answer.present(principal.account_id, orphaned=False)  # type: ignore[no-any-return]


def delete_mrr_edit(principal: Principal, subscription_uuid: str, edit_id: str) -> None:
    def build(account: AccountView) -> Change:
        group, source = _subscription_in(account, subscription_uuid)
        edit = next(
            (e for e in group.edits if e.id == edit_id and e.refs[0].uuid(principal.account_id) == subscription_uuid),
            None,
        )
        if edit is None:
            raise errors.NotFoundError("No such MRR edit.")
        return Change(deletes=[edit.id], sources={source["uuid"]})

    _commit(principal, build)


# ---------------------------------------------------------------------------------------------- the matrix
def _touching(
    account_id: str, overlays: list[Overlay], data_source_uuid: str, customer_uuid: str | None
) -> list[Overlay]:
    if customer_uuid is None:
        return [o for o in overlays if data_source_uuid in o.sources]
    return [o for o in overlays if o.touches_customer(account_id, data_source_uuid, customer_uuid)]


def _in_effect(account_id: str, data_source_uuid: str) -> tuple[Item, list[Overlay]]:
    source = get_source_store().get(account_id, data_source_uuid)
    if source is None:
        raise errors.NotFoundError("No such data source.")
    account = AccountView.load(account_id)
    return source, account.overlays


def decide(
    account_id: str, data_source_uuid: str, scope: Scope, customer_uuid: str | None = None
) -> tuple[list[Overlay], list[Overlay]]:
    """(removed, kept): what the matrix does to the overlays a re-sync of this scope touches."""
    source, overlays = _in_effect(account_id, data_source_uuid)
    row = source_policy(source)
    removed, kept = [], []
    for overlay in _touching(account_id, overlays, data_source_uuid, customer_uuid):
        if row is not None and row.action(scope, overlay.kind) is Action.REMOVE:
            removed.append(overlay)
        else:
            kept.append(overlay)
    return removed, kept


def apply_policy_for_resync(
    account_id: str,
    data_source_uuid: str,
    job_kind: str,
    generation: int,
    job_id: str,
    customer_uuid: str | None = None,
) -> dict[str, Any]:
    """The re-sync's matrix step (idempotent): mark what it removes, report what it keeps that is orphaned
    (a record it names is not in the new generation)."""
    scope = Scope.CUSTOMER if job_kind == Scope.CUSTOMER.value else Scope.SOURCE
    removed, kept = decide(account_id, data_source_uuid, scope, customer_uuid)
    mark_removed(account_id, {o.id for o in removed}, Removal(data_source_uuid, generation, job_id))
    present: dict[str, set[str]] = {}

    def held(kind: RecordKind, uuid: str) -> bool:
        if kind.value not in present:
            present[kind.value] = set(get_manifest_store().load(account_id, data_source_uuid, generation, kind.value))
        return uuid in present[kind.value]

    def missing(ref: Ref) -> bool:
        """The record, or the customer a subscription belonged to, is not in the new generation."""
        if ref.data_source_uuid != data_source_uuid:
            return False
        owner = ref.owner_uuid(account_id)
        return not held(ref.kind, ref.uuid(account_id)) or (owner is not None and not held(RecordKind.CUSTOMERS, owner))

    orphaned = [o for o in kept if any(missing(r) for r in o.refs)]
    budget = [RESULT_BYTES]
    outcome: dict[str, Any] = {
        "overlays_removed": _within(budget, [o.present(account_id, orphaned=False) for o in removed]),
        "overlays_orphaned": _within(budget, [o.present(account_id, orphaned=True) for o in orphaned]),
    }
    if len(outcome["overlays_removed"]) < len(removed) or len(outcome["overlays_orphaned"]) < len(orphaned):
        outcome["overlays_truncated"] = {"removed": len(removed), "orphaned": len(orphaned)}
    return outcome


def _within(budget: list[int], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As many entries as fit in what is left of the budget (bytes of JSON): a job item holds at most 400 KB."""
    kept = []
    for entry in entries:
        size = len(json.dumps(entry))
        if size > budget[0]:
            break
        budget[0] -= size
        kept.append(entry)
    return kept


def mark_removed(account_id: str, ids: set[str], removal: Removal) -> int:
    """Record that a re-sync removes these overlays: in effect for readers once its generation is committed."""
    return _rewrite(
        account_id,
        lambda stored: ([replace(o, removed=removal) for o in stored if o.id in ids and o.removed != removal], []),
    )


def finish_removals(account_id: str, job_id: str) -> int:
    """After the commit: delete the overlays the job removed (readers stopped seeing them at the commit)."""
    return _rewrite(
        account_id, lambda stored: ([], [o.id for o in stored if o.removed is not None and o.removed.job_id == job_id])
    )


def undo_removals(account_id: str, job_id: str) -> int:
    """A re-sync that did not commit removes nothing."""
    return _rewrite(
        account_id,
        lambda stored: ([replace(o, removed=None) for o in stored if o.removed and o.removed.job_id == job_id], []),
    )


Rewrite = Callable[[list[Overlay]], tuple[list[Overlay], list[str]]]
CHUNK = 90
MAX_CONFLICTS = 50


def _rewrite(account_id: str, change: Rewrite) -> int:
    """Apply `change` (what still needs putting and deleting, given the stored overlays) through versioned
    transactions of at most CHUNK overlays, until it has nothing left to do. Every write of the account's
    overlays moves the counter, so a concurrent write is never silently overwritten: the loser re-reads."""
    store, done, conflicts = get_overlay_store(), 0, 0
    while True:
        snapshot = store.snapshot(account_id)
        puts, deletes = change(snapshot.overlays)
        if not puts and not deletes:
            return done
        puts = puts[:CHUNK]
        deletes = deletes[: CHUNK - len(puts)]
        try:
            store.write(account_id, snapshot.version, puts, deletes)
            done += len(puts) + len(deletes)
        except OverlaysChangedError:
            conflicts += 1
            if conflicts > MAX_CONFLICTS:
                raise errors.ConflictError("The account's manual data kept changing; try again.") from None


def overlays_removed_by_resync(account_id: str, data_source_uuid: str, job_kind: str) -> list[dict[str, Any]]:
    """What a re-sync of the source would remove now (the API's `?dry_run=true`)."""
    removed, _ = decide(account_id, data_source_uuid, Scope(job_kind))
    return [o.present(account_id, orphaned=False) for o in removed]


def overlays_of_source(account_id: str, data_source_uuid: str) -> list[dict[str, Any]]:
    """The overlays in effect that name a record of the source (what deleting it affects)."""
    _, overlays = _in_effect(account_id, data_source_uuid)
    return [o.present(account_id, orphaned=False) for o in overlays if data_source_uuid in o.sources]


def purge_source(account_id: str, data_source_uuid: str) -> int:
    """The purge's part: the deleted source's part of every overlay goes, and the rest stays as readers have
    seen it since the delete. An MRR edit of its subscriptions goes; a connection loses its subscriptions (and
    goes when one is left). Merges are planned per merge component that names one of its customers, from the
    component as it is, and written in one transaction where it fits: every existing customer's latest merge
    then points straight at the customer the merge trees resolved it to (`MergeForest.target`: through a gone
    customer, or to a gone primary's heir), its other merges go, and so do merges of customers that are gone.
    So a customer merged across sources keeps the other sources' part, together, and an interrupted purge
    resumes on components that are either untouched or done."""
    store, changed, conflicts = get_overlay_store(), 0, 0
    while True:
        snapshot = store.snapshot(account_id)
        touched = [o for o in snapshot.overlays if data_source_uuid in o.sources]
        if not touched:
            return changed
        account = AccountView(account_id, live_sources_of(account_id), snapshot.overlays, snapshot.version)
        in_trees = {m.id for m in account.forest.merges}
        plain = [o for o in touched if o.id not in in_trees][:CHUNK]  # edits, connections, merges being removed
        puts, deletes = _trimmed(plain, data_source_uuid) if plain else account.forest.relinked(touched[0])
        if not {o.id for o in touched} & ({o.id for o in puts} | set(deletes)):
            deletes = [*deletes, touched[0].id]  # never loop without progress
        try:
            for index, (chunk_puts, chunk_deletes) in enumerate(_batches(puts, deletes)):
                version = snapshot.version if index == 0 else store.snapshot(account_id).version
                store.write(account_id, version, chunk_puts, chunk_deletes)
                changed += len(chunk_puts) + len(chunk_deletes)
        except OverlaysChangedError:
            conflicts += 1
            if conflicts > MAX_CONFLICTS:
                raise errors.ConflictError("The account's manual data kept changing during the purge.") from None


def _batches(puts: list[Overlay], deletes: list[str]) -> list[tuple[list[Overlay], list[str]]]:
    """One transaction when it fits; else re-links first, deletions last, CHUNK at a time."""
    if len(puts) + len(deletes) <= CHUNK:
        return [(puts, deletes)]
    return [(puts[i : i + CHUNK], []) for i in range(0, len(puts), CHUNK)] + [
        ([], deletes[i : i + CHUNK]) for i in range(0, len(deletes), CHUNK)
    ]


def _trimmed(overlays: list[Overlay], data_source_uuid: str) -> tuple[list[Overlay], list[str]]:
    puts, deletes = [], []
    for overlay in overlays:
        rest = tuple(r for r in overlay.refs if r.data_source_uuid != data_source_uuid)
        if overlay.kind is OverlayKind.CONNECTED_SUBSCRIPTIONS and len(rest) >= 2:
            puts.append(replace(overlay, refs=rest))
        else:
            deletes.append(overlay.id)
    return puts, deletes
