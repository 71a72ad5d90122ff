"""What the fetch checkpoints must show for reconcile and the clean-up to skip a kind's manifests."""

from __future__ import annotations

from typing import Any

from sourcesync.pipeline.steps.fetching import unchanged_kind
from sourcesync.store.manifests import fingerprint

OLD = ["sub_a", "sub_b", "sub_c", "sub_d"]


def part(matched: list[str], changed: int = 0, old: list[str] = OLD) -> dict[str, Any]:
    return {
        "old_count": len(old),
        "old_sum": str(fingerprint(old)),
        "changed": changed,
        "matched": len(matched),
        "matched_sum": str(fingerprint(matched)),
    }


def test_partitions_that_together_saw_every_previous_record_unchanged_make_an_unchanged_kind() -> None:
    assert unchanged_kind([part(["sub_a", "sub_c"]), part(["sub_d", "sub_b"])]) == 4
    assert unchanged_kind([part([], old=[])]) == 0


def test_a_vanished_record_a_changed_one_or_a_duplicate_means_the_manifests_are_compared() -> None:
    assert unchanged_kind([part(["sub_a", "sub_b", "sub_c"])]) is None  # sub_d vanished
    assert unchanged_kind([part(OLD, changed=1)]) is None  # a record changed (or a new one came)
    assert unchanged_kind([part(["sub_a", "sub_b", "sub_c", "sub_e"], changed=0, old=OLD)]) is None
    # sub_d vanished while sub_a was seen twice (a page that shifted): the same count, not the same set
    assert unchanged_kind([part(["sub_a", "sub_b"]), part(["sub_a", "sub_c"])]) is None
    assert unchanged_kind([part(OLD), part([], changed=2)]) is None  # a new record in another partition


def test_checkpoints_without_the_figures_or_with_none_mean_the_manifests_are_compared() -> None:
    assert unchanged_kind([]) is None
    assert unchanged_kind([{"cursor": None, "done": 4, "finished": True}]) is None
    assert unchanged_kind([part(OLD), part([], old=["sub_a"])]) is None  # partitions disagree on the previous
