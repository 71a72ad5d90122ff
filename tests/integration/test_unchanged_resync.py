"""A re-sync that finds nothing changed does not reload the manifests: its fetch checkpoints say, per
partition, what was new or changed and which of the previous generation's records were seen, and
`reconcile` and the clean-up skip the kinds where nothing changed or vanished
(docs/architecture.md#records-versions-generations-manifests). A record that vanished at the provider is
still found and tombstoned."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stripe_seed import StripeEmulator, seeded_emulator
from sourcesync.pipeline import steps
from sourcesync.store.accounts import Principal
from sourcesync.store.manifests import ManifestStore, get_manifest_store
from sourcesync.store.records import get_record_store
from tests.integration.test_cleanup_after_the_switch import fresh_import, generations_with_manifests, records
from tests.integration.test_pipeline_steps import (
    everything,
    hold,
    one_page_at_a_time,
    principal,
    run_job,
    stripe_source,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_page_at_a_time")]
__all__ = ["one_page_at_a_time", "principal"]  # the fixtures, imported for this module's tests


@pytest.fixture
def stripe() -> Iterator[str]:
    """An emulator of this test's own: a test deletes one of its customers."""
    with seeded_emulator(customers=6, seed=17) as url:
        yield url


@pytest.fixture
def manifest_loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int | None, str]]:
    """Every manifest load from now on, as (generation, kind), the real load still made."""
    loads: list[tuple[int | None, str]] = []
    real = ManifestStore.load

    def load(
        self: ManifestStore, account_id: str, data_source_uuid: str, generation: int | None, kind: str, *more: Any
    ) -> Any:
        loads.append((generation, kind))
        return real(self, account_id, data_source_uuid, generation, kind, *more)

    monkeypatch.setattr(ManifestStore, "load", load)
    return loads


def resync_after_fetch(
    principal: Principal, uuid: str, loads: list[tuple[int | None, str]]
) -> tuple[steps.JobContext, list[tuple[int | None, str]]]:
    """A whole re-sync, step by step; returns its context and the manifest loads after the fetch."""
    planned = steps.plan(hold(principal, uuid, "resync_source"))
    context = steps.JobContext.model_validate(planned["job"])
    for partition in planned["partitions"]:
        while not steps.fetch(context, partition, 0, 10_000, lambda: 900.0)["done"]:
            pass
    loads.clear()
    assert steps.reconcile(context, planned["partitions"])["all_fetched"]
    steps.apply_overlays(context)
    steps.commit(context)
    assert steps.collect_garbage(context, planned["partitions"])["waiting"] is False
    steps.finish(context)
    return context, list(loads)


def test_an_unchanged_resync_does_not_reload_the_manifests(
    principal: Principal, stripe: str, manifest_loads: list[tuple[int | None, str]]
) -> None:
    source = stripe_source(principal, stripe)
    run_job(hold(principal, source["uuid"]), repeat_every_step=False)
    before = everything(principal, source["uuid"])
    items = get_record_store().count_items(source["uuid"])
    # When nothing changed at the provider
    context, loads = resync_after_fetch(principal, source["uuid"], manifest_loads)
    # Then neither reconcile nor the clean-up loaded a manifest
    assert loads == []
    # and readers see the same records and counts, nothing was written, the old manifests are gone
    assert everything(principal, source["uuid"]) == before
    assert get_record_store().count_items(source["uuid"]) == items
    assert generations_with_manifests(principal, source["uuid"]) == {context.generation}
    # and the new generation's owner shards answer for every subscription
    manifests = get_manifest_store()
    assert context.generation is not None
    subscriptions = manifests.load(principal.account_id, source["uuid"], context.generation, "subscriptions")
    assert subscriptions
    for uuid, entry in subscriptions.items():
        assert manifests.owner(principal.account_id, source["uuid"], context.generation, uuid) == entry.customer_uuid


def test_a_customer_that_vanished_is_still_marked_and_only_changed_kinds_are_compared(
    principal: Principal, stripe: str, manifest_loads: list[tuple[int | None, str]]
) -> None:
    source = stripe_source(principal, stripe)
    run_job(hold(principal, source["uuid"]), repeat_every_step=False)
    before = everything(principal, source["uuid"])
    # When one customer vanishes at the provider
    emulator = StripeEmulator(stripe)
    gone = emulator.get("/v1/customers", {"limit": 100})["data"][-1]
    emulator.delete(f"/v1/customers/{gone['id']}")
    context, loads = resync_after_fetch(principal, source["uuid"], manifest_loads)
    # Then reconcile compared the customers' manifests, and not those of the plans, which did not change
    assert (context.generation, "customers") in loads and (context.previous_generation, "customers") in loads
    assert not [kind for _, kind in loads if kind == "plans"]
    # and the customer is gone for readers, as after a fresh import of the same data
    after = everything(principal, source["uuid"])
    assert after["counts"]["customers"] == before["counts"]["customers"] - 1
    assert not [r for r in after["records"] if r[0] == "customers" and gone["id"] in r[1]]
    assert any(r[0] == "customers" and gone["id"] in r[1] for r in before["records"])
    fresh, _ = fresh_import(principal, stripe)
    assert records(after) == records(fresh) and after["counts"] == fresh["counts"]
