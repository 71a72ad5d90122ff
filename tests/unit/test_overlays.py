"""Overlays as readers see them: merge trees, connections, MRR edits, removals by re-syncs (pure functions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sourcesync.mrr import Edit, SubscriptionInput, merged_customer_mrr
from sourcesync.overlays import MergeForest, Overlay, Ref, Removal, connected_groups, in_effect
from sourcesync.policy_matrix import OverlayKind
from sourcesync.records import InvoiceRecord, LineItem, PlanRecord, RecordKind, SubscriptionRecord

ACCOUNT = "acc_test"
A, B = "ds_a", "ds_b"


def customer(source: str, external_id: str) -> Ref:
    return Ref(source, RecordKind.CUSTOMERS, external_id)


def merge(merged: Ref, into: Ref, at: str = "2026-01-01T00:00:00Z", overlay_id: str = "") -> Overlay:
    return Overlay(
        id=overlay_id or f"mrg_{merged.external_id}_{into.external_id}",
        kind=OverlayKind.MERGED_CUSTOMERS,
        refs=(merged, into),
        created_by="key_x",
        created_at=at,
    )


def uuid(ref: Ref) -> str:
    return ref.uuid(ACCOUNT)


def forest(merges: list[Overlay], missing: frozenset[str] = frozenset()) -> MergeForest:
    return MergeForest(ACCOUNT, merges, lambda u: u not in missing)


C1, C2, C3, C4 = customer(A, "c1"), customer(A, "c2"), customer(B, "c3"), customer(B, "c4")


def test_a_chain_of_merges_answers_with_its_root_and_counts_every_member() -> None:
    trees = forest([merge(C1, C2), merge(C2, C3), merge(C4, C3)])
    assert {trees.primary(uuid(c)) for c in (C1, C2, C3, C4)} == {uuid(C3)}
    assert set(trees.members(uuid(C3))) == {uuid(c) for c in (C1, C2, C3, C4)}
    assert trees.members(uuid(C3))[0] == uuid(C3)
    assert trees.members(uuid(C1)) == [uuid(C1)]  # a member is not a primary of anyone


def test_a_merge_into_a_customer_that_vanished_hides_nobody() -> None:
    trees = forest([merge(C1, C2), merge(C2, C3)], missing=frozenset({uuid(C3)}))
    assert trees.primary(uuid(C2)) == uuid(C2)
    assert trees.primary(uuid(C1)) == uuid(C2)
    assert set(trees.members(uuid(C2))) == {uuid(C1), uuid(C2)}


def test_the_latest_merge_of_a_customer_wins_and_a_cycle_stops() -> None:
    trees = forest([merge(C1, C2, "2026-01-01T00:00:00Z"), merge(C1, C3, "2026-02-01T00:00:00Z")])
    assert trees.primary(uuid(C1)) == uuid(C3)
    assert uuid(C1) not in trees.members(uuid(C2))
    cyclic = forest([merge(C1, C2, "2026-01-01T00:00:00Z"), merge(C2, C1, "2026-01-02T00:00:00Z")])
    assert cyclic.primary(uuid(C1)) in {uuid(C1), uuid(C2)}  # terminates


def test_a_gone_primary_does_not_split_its_tree_its_first_merged_customer_takes_its_place() -> None:
    d = customer(B, "d")
    merges = [
        merge(C3, C1, "2026-01-01T00:00:00Z"),
        merge(C4, C1, "2026-01-02T00:00:00Z"),
        merge(d, C1, "2026-01-03T00:00:00Z"),
    ]
    trees = forest(merges, missing=frozenset({uuid(C1)}))  # C1's source was deleted
    assert {trees.primary(uuid(c)) for c in (C3, C4, d)} == {uuid(C3)}
    members = trees.members(uuid(C3))
    assert members[0] == uuid(C3) and sorted(members) == sorted([uuid(C3), uuid(C4), uuid(d)])


def test_a_customer_merged_into_a_gone_one_belongs_where_that_one_belonged() -> None:
    trees = forest([merge(C3, C1), merge(C1, C4)], missing=frozenset({uuid(C1)}))
    assert trees.primary(uuid(C3)) == uuid(C4)
    assert trees.members(uuid(C4)) == [uuid(C4), uuid(C3)]


def test_every_customer_agrees_on_a_gone_primarys_heir() -> None:
    g1, g2 = customer(A, "g1"), customer(A, "g2")  # both deleted
    merges = [
        merge(C3, g1, "2026-01-01T00:00:00Z"),
        merge(g1, g2, "2026-01-02T00:00:00Z"),
        merge(C4, g2, "2026-01-03T00:00:00Z"),
    ]
    trees = forest(merges, missing=frozenset({uuid(g1), uuid(g2)}))
    assert trees.primary(uuid(C3)) == trees.primary(uuid(C4)) == uuid(C3)
    assert trees.target(uuid(C3)) is None


def test_a_loop_left_by_a_record_that_vanished_and_came_back_has_one_primary_whoever_asks() -> None:
    g, v = customer(A, "g"), customer(B, "v")  # g deleted, v vanished at the provider
    merges = [
        merge(C4, C3, "2026-01-01T00:00:00Z"),
        merge(C4, g, "2026-01-02T00:00:00Z"),  # (while C3 was gone)
        merge(g, v, "2026-01-03T00:00:00Z"),
        merge(C3, g, "2026-01-04T00:00:00Z"),  # (C3 back)
    ]
    trees = forest(merges, missing=frozenset({uuid(g), uuid(v)}))
    primary = trees.primary(uuid(C3))
    assert trees.primary(uuid(C4)) == primary == min(uuid(C3), uuid(C4))
    assert sorted(trees.members(primary)) == sorted([uuid(C3), uuid(C4)])


def test_the_heir_of_a_gone_primary_falls_back_to_its_own_older_merge() -> None:
    merges = [
        merge(C3, C2, "2026-01-01T00:00:00Z"),
        merge(C3, C1, "2026-02-01T00:00:00Z"),
        merge(C4, C1, "2026-03-01T00:00:00Z"),
    ]
    trees = forest(merges, missing=frozenset({uuid(C1)}))
    assert trees.primary(uuid(C4)) == uuid(C2) and trees.primary(uuid(C3)) == uuid(C2)


def test_removal_takes_effect_only_once_its_generation_is_committed() -> None:
    marked = replace(merge(C1, C3), removed=Removal(A, 5, "job_1"))
    live = frozenset({A, B})
    assert in_effect(marked, live, lambda ds, g: g <= 4) is marked  # the re-sync has not committed
    assert in_effect(marked, live, lambda ds, g: g <= 5) is None  # committed: gone for readers


def test_an_overlay_needing_a_deleted_source_is_gone_and_a_connection_loses_only_that_part() -> None:
    assert in_effect(merge(C1, C3), frozenset({A}), lambda ds, g: True) is None
    subs = tuple(Ref(s, RecordKind.SUBSCRIPTIONS, x, "c1") for s, x in ((A, "s1"), (A, "s2"), (B, "s3")))
    connection = Overlay("con_1", OverlayKind.CONNECTED_SUBSCRIPTIONS, subs, "key_x", "2026-01-01T00:00:00Z")
    kept = in_effect(connection, frozenset({A}), lambda ds, g: True)
    assert kept is not None and [r.external_id for r in kept.refs] == ["s1", "s2"]
    assert in_effect(connection, frozenset({B}), lambda ds, g: True) is None  # one subscription left


def test_connections_sharing_a_subscription_join() -> None:
    def connection(*names: str) -> Overlay:
        refs = tuple(Ref(A, RecordKind.SUBSCRIPTIONS, n, "c1") for n in names)
        return Overlay(f"con_{''.join(names)}", OverlayKind.CONNECTED_SUBSCRIPTIONS, refs, "k", "t")

    groups = connected_groups(ACCOUNT, [connection("s1", "s2"), connection("s3", "s4"), connection("s2", "s3")])
    assert len(groups) == 1 and len(groups[0]) == 4


def mrr_edit(mrr: int, start: str, end: str | None, removed: Removal | None = None) -> Overlay:
    return Overlay(
        "mre_1",
        OverlayKind.EDITED_MRR,
        (Ref(A, RecordKind.SUBSCRIPTIONS, "s1", "c1"),),
        "key_x",
        "2026-01-01T00:00:00Z",
        mrr=mrr,
        start=date.fromisoformat(start),
        end=date.fromisoformat(end) if end else None,
        removed=removed,
    )


def test_an_overlay_survives_its_item_form() -> None:
    edit = mrr_edit(1200, "2026-01-01", None, Removal(A, 3, "job_9"))
    assert Overlay.from_item(edit.to_item()) == edit
    shown = edit.present(ACCOUNT, orphaned=True)
    assert shown["from"] == "2026-01-01" and shown["to"] is None and shown["orphaned"] is True
    assert shown["subscription"]["uuid"].startswith("sub_")


@pytest.mark.parametrize(
    ("start", "end", "other_start", "other_end", "overlap"),
    [
        ("2026-01-01", "2026-01-31", "2026-01-31", "2026-02-28", True),  # inclusive ends touch
        ("2026-01-01", "2026-01-31", "2026-02-01", None, False),
        ("2026-01-01", None, "2030-01-01", "2030-01-02", True),
        ("2026-03-01", "2026-03-31", "2026-01-01", "2026-02-28", False),
    ],
)
def test_edit_intervals_overlap_with_inclusive_ends(
    start: str, end: str | None, other_start: str, other_end: str | None, overlap: bool
) -> None:
    edit = mrr_edit(1, start, end)
    other = (date.fromisoformat(other_start), date.fromisoformat(other_end) if other_end else None)
    assert edit.overlaps(*other) is overlap


# ---------------------------------------------------------------------------------------------- MRR
def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


MONTHLY = {"m": PlanRecord(external_id="m", name="Monthly", interval_count=1, interval_unit="month")}


def sub_input(
    name: str, started: str, cancelled: str | None, amount: int, edits: tuple[Edit, ...] = ()
) -> SubscriptionInput:
    record = SubscriptionRecord(
        external_id=name,
        customer_external_id="c1",
        plan_external_id="m",
        status="cancelled" if cancelled else "active",
        currency="USD",
        started_at=at(started),
        cancelled_at=at(cancelled) if cancelled else None,
    )
    invoices = tuple(
        InvoiceRecord(
            external_id=f"in_{name}_{month}",
            customer_external_id="c1",
            date=at(f"2026-{month:02d}-01"),
            currency="USD",
            line_items=(
                LineItem(
                    type="subscription",
                    subscription_external_id=name,
                    plan_external_id="m",
                    service_period_start=at(f"2026-{month:02d}-01"),
                    service_period_end=at(f"2026-{month + 1:02d}-01"),
                    amount_in_cents=amount,
                ),
            ),
        )
        for month in range(1, 12)
    )
    return SubscriptionInput(f"sub_{name}", record, invoices, MONTHLY, edits)


def test_an_edit_overrides_the_invoices_on_its_days_only() -> None:
    edited = sub_input("s1", "2026-01-01", None, 1000, (Edit(5000, date(2026, 3, 1), date(2026, 3, 31)),))
    assert edited.mrr(date(2026, 2, 28)) == ("USD", 1000)
    assert edited.mrr(date(2026, 3, 1)) == ("USD", 5000)
    assert edited.mrr(date(2026, 3, 31)) == ("USD", 5000)  # inclusive
    assert edited.mrr(date(2026, 4, 1)) == ("USD", 1000)


def test_members_add_up_and_a_connected_migration_counts_once() -> None:
    old = sub_input("old", "2026-01-01", "2026-06-15", 1000)
    new = sub_input("new", "2026-06-01", None, 1200)
    other = sub_input("other", "2026-01-01", None, 300)
    subs = [old, new, other]
    overlap = date(2026, 6, 10)  # both earn: the old one is cancelled on the 15th
    assert merged_customer_mrr(subs, [], overlap) == {"USD": 2500}
    assert merged_customer_mrr(subs, [{old.uuid, new.uuid}], overlap) == {"USD": 1500}  # the newer one counts
    assert merged_customer_mrr(subs, [{old.uuid, new.uuid}], date(2026, 3, 1)) == {"USD": 1300}
    assert merged_customer_mrr(subs, [{old.uuid, new.uuid}], date(2026, 8, 1)) == {"USD": 1500}


# ---------------------------------------------------------------------------------------------- purge re-links
NODES = [customer(A if i < 4 else B, f"n{i}") for i in range(8)]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Overlay], frozenset[str]]:
    """Merges as users can make them (always between two primaries, at the time), while some customers of
    source B vanish at the provider and come back; returns the merges and the customers vanished at the end."""
    merges: list[Overlay] = []
    vanished: set[str] = set()
    for step in range(draw(st.integers(1, 14))):
        if draw(st.booleans()) or len(merges) == 0:
            i, j = draw(st.integers(0, 7)), draw(st.integers(0, 7))
            present = frozenset(vanished)
            trees = forest(merges, missing=present)
            if uuid(NODES[i]) in present or uuid(NODES[j]) in present:
                continue
            a, b = trees.primary(uuid(NODES[i])), trees.primary(uuid(NODES[j]))
            if a == b:
                continue
            by_uuid = {uuid(n): n for n in NODES}
            merges.append(merge(by_uuid[a], by_uuid[b], f"2026-01-01T00:00:{step:02d}Z", f"mrg_{step:02d}"))
        else:
            k = uuid(NODES[draw(st.integers(4, 7))])
            vanished ^= {k}
    return merges, frozenset(vanished)


def purged(merges: list[Overlay], missing: frozenset[str]) -> list[Overlay]:
    """What `purge_source` stores: component by component, the re-linked merges, until none names source A."""
    stored = {m.id: m for m in merges}
    for _ in range(100):
        touched = [m for m in stored.values() if A in m.sources]
        if not touched:
            return list(stored.values())
        puts, deletes = forest(list(stored.values()), missing).relinked(touched[0])
        assert ({m.id for m in puts} | set(deletes)) & {m.id for m in touched}, "no progress"
        for put in puts:
            stored[put.id] = put
        for gone in deletes:
            stored.pop(gone, None)
    raise AssertionError("the purge did not finish")


@settings(max_examples=400, deadline=None)
@given(histories())
def test_the_purge_keeps_every_surviving_customers_primary(history: tuple[list[Overlay], frozenset[str]]) -> None:
    merges, vanished = history
    deleted = frozenset(uuid(n) for n in NODES[:4])
    missing = deleted | vanished
    survivors = [uuid(n) for n in NODES[4:] if uuid(n) not in vanished]
    before = forest(merges, missing)
    after = forest(purged(merges, deleted | vanished), missing)
    assert {c: after.primary(c) for c in survivors} == {c: before.primary(c) for c in survivors}
    for trees in (before, after):  # a primary is merged into nobody, and its members include every customer of it
        for c in survivors:
            primary = trees.primary(c)
            assert trees.primary(primary) == primary and c in trees.members(primary)
            assert all(trees.primary(m) == primary for m in trees.members(primary))
