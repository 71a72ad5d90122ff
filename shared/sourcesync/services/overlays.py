"""Manual data (overlays) and the policy matrix's step in a re-sync (SPEC section 3).

Overlays (merges, connected subscriptions, MRR edits) are not stored by this version yet: the
re-sync pipeline already runs this step between fetching and committing, so that the matrix lands
in one place when they are; until then there is nothing for it to keep, remove or orphan.
"""

from __future__ import annotations

from typing import Any


def apply_policy_for_resync(account_id: str, data_source_uuid: str, job_kind: str) -> dict[str, Any]:
    return {"overlays_removed": [], "overlays_orphaned": []}


def overlays_removed_by_resync(account_id: str, data_source_uuid: str, job_kind: str) -> list[dict[str, Any]]:
    """What a re-sync of this kind would remove (the API's `?dry_run=true`)."""
    return apply_policy_for_resync(account_id, data_source_uuid, job_kind)["overlays_removed"]  # type: ignore[no-any-return]


def overlays_of_source(account_id: str, data_source_uuid: str) -> list[dict[str, Any]]:
    """The overlays that touch a source's records (what deleting it affects)."""
    return []
