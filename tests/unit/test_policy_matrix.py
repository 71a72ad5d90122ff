"""The policy matrix is complete data: every re-syncable system has a policy for every scope and kind."""

import pytest

from sourcesync.policy_matrix import CURRENT_VERSION, MATRIX, Action, OverlayKind, Scope, policy
from sourcesync.systems import SYSTEMS, System


@pytest.mark.parametrize("system", [s for s in System if SYSTEMS[s].resync_source], ids=str)
def test_every_resyncable_system_has_a_complete_policy(system: System) -> None:
    found = policy(system)
    assert found is not None
    assert {(scope, kind) for scope in Scope for kind in OverlayKind} == set(found.actions)
    assert found is MATRIX[system][CURRENT_VERSION[system]]


def test_custom_sources_have_no_policy_because_they_cannot_be_resynced() -> None:
    assert not SYSTEMS[System.CUSTOM].resync_source
    assert policy(System.CUSTOM) is None


def test_crm_systems_have_nothing_but_merges() -> None:
    for system in (s for s in System if SYSTEMS[s].crm):
        found = policy(system)
        assert found is not None
        assert {found.action(scope, OverlayKind.MERGED_CUSTOMERS) for scope in Scope} == {Action.KEEP}
        assert found.action(Scope.SOURCE, OverlayKind.EDITED_MRR) is Action.NOT_APPLICABLE


def test_an_unknown_integration_version_is_an_error_not_a_default() -> None:
    with pytest.raises(KeyError):
        policy(System.STRIPE, "0")
