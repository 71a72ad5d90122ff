"""Manual data (overlays): connected subscriptions, edited MRR, merged customers
(docs/architecture.md#manual-data-overlays-and-the-policy-matrix).

An overlay is stored apart from source records and names the records it touches by their natural keys
(data source uuid, kind, external id), never by a generation: a re-sync that keeps it has nothing to
re-apply, because the same natural keys find the new generation's records (their uuids are derived
from the same keys). What a reader sees of overlays is computed here, from the stored overlays and the
sources' current views, by pure functions:

* an overlay whose removal a committed re-sync decided (`removed`), or that names a record of a source
  that is gone, does not count (a connection just loses the gone source's subscriptions);
* merges form a forest: every customer points at most at one customer it was merged into (the most
  recent merge whose target still exists); the root of its tree is its *primary*, which keeps its uuid
  and counts every member's subscriptions, invoices and MRR;
* connections join subscriptions into groups that count as one continuing subscription.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sourcesync.ids import record_uuid
from sourcesync.policy_matrix import OverlayKind
from sourcesync.records import UUID_PREFIX, RecordKind


@dataclass(frozen=True)
class Ref:
    """A record named by its natural keys; `owner` is the external id of the customer a subscription
    belonged to when the overlay was made (what a customer re-sync's scope is decided by)."""

    data_source_uuid: str
    kind: RecordKind
    external_id: str
    owner: str | None = None

    def uuid(self, account_id: str) -> str:
        return record_uuid(UUID_PREFIX[self.kind], account_id, self.data_source_uuid, self.kind.value, self.external_id)

    def owner_uuid(self, account_id: str) -> str | None:
        if self.kind is RecordKind.CUSTOMERS:
            return self.uuid(account_id)
        if self.owner is None:
            return None
        return Ref(self.data_source_uuid, RecordKind.CUSTOMERS, self.owner).uuid(account_id)

    def to_item(self) -> dict[str, Any]:
        values = {"ds": self.data_source_uuid, "k": self.kind.value, "x": self.external_id}
        return {**values, "o": self.owner} if self.owner is not None else values

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Ref:
        return cls(item["ds"], RecordKind(item["k"]), item["x"], item.get("o"))


@dataclass(frozen=True)
class Removal:
    """A re-sync decided to remove the overlay: it is gone for readers once `generation` of
    `data_source_uuid` is committed, and physically deleted when that job finishes."""

    data_source_uuid: str
    generation: int
    job_id: str


@dataclass(frozen=True)
class Overlay:
    id: str
    kind: OverlayKind
    refs: tuple[Ref, ...]
    created_by: str
    created_at: str
    mrr: int | None = None
    start: date | None = None
    end: date | None = None
    removed: Removal | None = None

    # merges: refs = (from, into)
    @property
    def merged(self) -> Ref:
        return self.refs[0]

    @property
    def into(self) -> Ref:
        return self.refs[1]

    @property
    def sources(self) -> frozenset[str]:
        return frozenset(r.data_source_uuid for r in self.refs)

    def overlaps(self, start: date, end: date | None) -> bool:
        assert self.start is not None
        return (end is None or self.start <= end) and (self.end is None or start <= self.end)

    def touches_customer(self, account_id: str, data_source_uuid: str, customer_uuid: str) -> bool:
        return any(
            r.data_source_uuid == data_source_uuid and r.owner_uuid(account_id) == customer_uuid for r in self.refs
        )

    def to_item(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind.value,
            "refs": [r.to_item() for r in self.refs],
            "sources": sorted(self.sources),
            "created_by": self.created_by,
            "created_at": self.created_at,
        }
        if self.kind is OverlayKind.EDITED_MRR:
            assert self.start is not None
            values.update(mrr=self.mrr, start=self.start.isoformat(), end=self.end.isoformat() if self.end else None)
        if self.removed is not None:
            values["removed"] = {
                "ds": self.removed.data_source_uuid,
                "g": self.removed.generation,
                "job": self.removed.job_id,
            }
        return values

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Overlay:
        removed = item.get("removed")
        return cls(
            id=item["id"],
            kind=OverlayKind(item["kind"]),
            refs=tuple(Ref.from_item(r) for r in item["refs"]),
            created_by=item["created_by"],
            created_at=item["created_at"],
            mrr=item.get("mrr"),
            start=date.fromisoformat(item["start"]) if item.get("start") else None,
            end=date.fromisoformat(item["end"]) if item.get("end") else None,
            removed=Removal(removed["ds"], int(removed["g"]), removed["job"]) if removed else None,
        )

    def present(self, account_id: str, orphaned: bool) -> dict[str, Any]:
        """The overlay as the API shows it (docs/api.md#manual-data: id, created_by, created_at, orphaned)."""

        def record(ref: Ref) -> dict[str, str]:
            key = "customer_uuid" if ref.kind is RecordKind.CUSTOMERS else "uuid"
            return {key: ref.uuid(account_id), "data_source_uuid": ref.data_source_uuid, "external_id": ref.external_id}

        body: dict[str, Any] = {"id": self.id, "kind": self.kind.value}
        if self.kind is OverlayKind.MERGED_CUSTOMERS:
            body.update({"from": record(self.merged), "into": record(self.into)})
        elif self.kind is OverlayKind.CONNECTED_SUBSCRIPTIONS:
            body["subscriptions"] = [record(r) for r in self.refs]
        else:
            assert self.start is not None
            body.update(
                subscription=record(self.refs[0]),
                mrr=self.mrr,
                **{"from": self.start.isoformat(), "to": self.end.isoformat() if self.end else None},
            )
        body.update(created_by=self.created_by, created_at=self.created_at, orphaned=orphaned)
        return body


#: Whether a source's reader admits a generation: (data source uuid, generation) -> bool.
Admits = Callable[[str, int], bool]


def in_effect(overlay: Overlay, live: frozenset[str], admits: Admits) -> Overlay | None:
    """The overlay as readers see it: None if a committed re-sync removed it or it needs a record of a
    source that is gone; a connection loses only the gone sources' subscriptions."""
    if removed_for_readers(overlay, live, admits):
        return None
    refs = tuple(r for r in overlay.refs if r.data_source_uuid in live)
    if len(refs) == len(overlay.refs):
        return overlay
    if overlay.kind is OverlayKind.CONNECTED_SUBSCRIPTIONS and len(refs) >= 2:
        return replace(overlay, refs=refs)
    return None


def removed_for_readers(overlay: Overlay, live: frozenset[str], admits: Admits) -> bool:
    gone = overlay.removed
    return gone is not None and gone.data_source_uuid in live and admits(gone.data_source_uuid, gone.generation)


@dataclass
class MergeForest:
    """Customers (by uuid) and the customers they were merged into.

    `merges` are every merge not removed, also those naming a customer that is gone (its source deleted,
    or the record vanished at the provider): `exists` says which customers readers see. A gone customer
    does not split its tree: a customer merged into it belongs where it belonged (its own merge's target)
    or, if it was the primary, to its heir, the customer merged into it first, which takes its place.
    A customer's target is its most recent merge's (or, if that leads back to itself, an older one's)."""

    account_id: str
    merges: list[Overlay]
    exists: Callable[[str], bool]
    _cache: dict[str, str | None] = field(default_factory=dict, init=False)
    _targets: dict[str, list[str]] = field(default_factory=dict, init=False)
    _children: dict[str, list[str]] = field(default_factory=dict, init=False)
    _adjacent: dict[str, set[str]] = field(default_factory=dict, init=False)
    _refs: dict[str, Ref] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        ordered = sorted(self.merges, key=lambda m: (m.created_at, m.id))
        for merge in ordered:
            child, parent = merge.merged.uuid(self.account_id), merge.into.uuid(self.account_id)
            self._targets.setdefault(child, []).insert(0, parent)  # most recent first
            self._children.setdefault(parent, []).append(child)  # earliest first
            self._adjacent.setdefault(child, set()).add(parent)
            self._adjacent.setdefault(parent, set()).add(child)
            self._refs[child], self._refs[parent] = merge.merged, merge.into

    def latest_target(self, customer_uuid: str) -> str | None:
        targets = self._targets.get(customer_uuid)
        return targets[0] if targets else None

    def target(self, customer_uuid: str) -> str | None:
        """The existing customer this one is merged into (None: it is a primary)."""
        if customer_uuid not in self._cache:
            self._cache[customer_uuid] = self._target(customer_uuid, frozenset({customer_uuid}))
        return self._cache[customer_uuid]

    def _target(self, customer_uuid: str, visiting: frozenset[str]) -> str | None:
        for candidate in self._targets.get(customer_uuid, []):
            if candidate in visiting:
                continue
            if self.exists(candidate):
                return candidate
            # gone: where it belonged, else (it was a primary) its heir, unless that is this customer
            through = self._target(candidate, visiting | {candidate}) or self._heir(candidate)
            if through is not None and through != customer_uuid:
                return through
        return None

    def _heir(self, gone: str, seen: frozenset[str] = frozenset()) -> str | None:
        """The gone customer's earliest-merged child still merged into it that exists (or, through a gone
        child, that child's heir). It does not depend on who asks, so every member agrees on it."""
        seen = seen | {gone}
        for child in self._children.get(gone, []):
            if self.latest_target(child) != gone or child in seen:
                continue
            if self.exists(child):
                return child
            heir = self._heir(child, seen)
            if heir is not None:
                return heir
        return None

    def primary(self, customer_uuid: str) -> str:
        """The root of the customer's tree. Writes never make a cycle, but records that vanish and come back
        can: then the cycle's smallest uuid is the primary, whoever asks."""
        seen = [customer_uuid]
        current = customer_uuid
        while (parent := self.target(current)) is not None:
            if parent in seen:
                return min(seen[seen.index(parent) :])
            seen.append(parent)
            current = parent
        return current

    def component(self, customer_uuid: str) -> list[str]:
        """Every customer linked to this one by merges, in either direction (itself first)."""
        found, queue = [customer_uuid], [customer_uuid]
        while queue:
            for neighbour in sorted(self._adjacent.get(queue.pop(0), ())):
                if neighbour not in found:
                    found.append(neighbour)
                    queue.append(neighbour)
        return found

    def merges_of(self, customer_uuid: str) -> list[Overlay]:
        """The merges of this customer into others, most recent first."""
        return sorted(
            (m for m in self.merges if m.merged.uuid(self.account_id) == customer_uuid),
            key=lambda m: (m.created_at, m.id),
            reverse=True,
        )

    def members(self, primary_uuid: str) -> list[str]:
        """The primary, then every existing customer whose primary it is (its merge component's, in order)."""
        component = self.component(primary_uuid)
        return [primary_uuid] + [c for c in component[1:] if self.exists(c) and self.primary(c) == primary_uuid]

    def relinked(self, merge: Overlay) -> tuple[list[Overlay], list[str]]:
        """The merges of `merge`'s component rewritten so that they resolve as they do now without passing
        through a gone customer: every existing customer's latest merge points straight at its `target`, its
        older merges and the merges of gone customers go (the purge of a deleted source's part)."""
        puts: list[Overlay] = []
        deletes: list[str] = []
        for customer in self.component(merge.merged.uuid(self.account_id)):
            own = self.merges_of(customer)
            if not own:
                continue
            target = self.target(customer) if self.exists(customer) else None
            ref = self._refs.get(target) if target is not None else None
            if ref is None:
                deletes.extend(m.id for m in own)
                continue
            if own[0].into != ref:
                puts.append(replace(own[0], refs=(own[0].merged, ref)))
            deletes.extend(m.id for m in own[1:])
        return puts, deletes

    def touching(self, customer_uuids: Iterable[str], live: frozenset[str]) -> list[Overlay]:
        """The merges naming one of the customers, among those whose records' sources are live."""
        wanted = set(customer_uuids)
        return [
            m
            for m in self.merges
            if m.sources <= live
            and (m.merged.uuid(self.account_id) in wanted or m.into.uuid(self.account_id) in wanted)
        ]


def connected_groups(account_id: str, connections: Iterable[Overlay]) -> list[set[str]]:
    """Subscriptions (by uuid) that count as one continuing subscription: connections sharing a
    subscription join into one group."""
    groups: list[set[str]] = []
    for connection in connections:
        members = {r.uuid(account_id) for r in connection.refs}
        joined = [g for g in groups if g & members]
        for group in joined:
            groups.remove(group)
            members |= group
        groups.append(members)
    return groups
