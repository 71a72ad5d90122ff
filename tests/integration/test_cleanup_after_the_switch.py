"""A job ends when the user's data is fresh: it succeeds at the switch, and its clean-up of the old
generation (after the readers' grace period) is its tail. The source's next job may start while that
clean-up is pending — a re-sync, or a delete — and nothing is lost or mixed: readers see exactly the
provider's data after each switch, and once every clean-up has run, the source holds what a fresh import
of the same data holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stripe_seed import StripeEmulator, seeded_emulator
from sourcesync.clock import parse_iso
from sourcesync.config import get_settings
from sourcesync.pipeline import purge, steps
from sourcesync.services import delete_source
from sourcesync.services.jobs import present_job
from sourcesync.store.accounts import Principal
from sourcesync.store.jobs import get_job_store
from sourcesync.store.manifests import get_manifest_store
from sourcesync.store.records import get_record_store
from sourcesync.store.sources import get_source_store
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
    """An emulator of this test's own: the tests change its data between jobs."""
    with seeded_emulator(customers=8, seed=11) as url:
        yield url


@pytest.fixture
def grace_of_30_seconds(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COMMIT_GRACE_SECONDS", "30")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def change_the_provider(url: str, round_: int) -> None:
    """A new customer, a renamed one, a cancelled subscription and a deleted customer: a re-sync then
    writes new and changed versions and tombstones, so its clean-up has something of each to remove."""
    emulator = StripeEmulator(url)
    customers = emulator.get("/v1/customers", {"limit": 100})["data"]
    emulator.post(f"/v1/customers/{customers[round_]['id']}", {"name": f"Renamed {round_}"})
    emulator.delete(f"/v1/customers/{customers[-1 - round_]['id']}")
    subscriptions = [s for s in emulator.get("/v1/subscriptions", {"limit": 100})["data"] if s["status"] == "active"]
    emulator.cancel(subscriptions[round_]["id"])
    new = emulator.add_customer(f"New {round_}", f"new{round_}@example.com", "DE")
    emulator.subscribe(new, _a_plan(emulator))


def _a_plan(emulator: StripeEmulator) -> str:
    return str(emulator.get("/v1/plans", {"limit": 1})["data"][0]["id"])


def switch(job: steps.JobContext) -> tuple[steps.JobContext, list[dict[str, Any]]]:
    """Every step of a job up to and including its switch (the commit)."""
    planned = steps.plan(job)
    context = steps.JobContext.model_validate(planned["job"])
    for partition in planned["partitions"]:
        while not steps.fetch(context, partition, 0, 10_000, lambda: 900.0)["done"]:
            pass
    assert steps.reconcile(context, planned["partitions"])["all_fetched"]
    steps.apply_overlays(context)
    steps.commit(context)
    return context, planned["partitions"]


def generations_with_manifests(principal: Principal, uuid: str) -> set[int]:
    store = get_manifest_store()
    keys = store._keys(store.source_prefix(principal.account_id, uuid))
    return {int(key.split("/")[2].removeprefix("g")) for key in keys}


def fresh_import(principal: Principal, url: str) -> tuple[dict[str, Any], int]:
    """What a fresh import of the provider's data now shows readers, and how many items it stores."""
    clean = stripe_source(principal, url)
    run_job(hold(principal, clean["uuid"]), repeat_every_step=False)
    return everything(principal, clean["uuid"]), get_record_store().count_items(clean["uuid"])


def records(view: dict[str, Any]) -> list[str]:
    return [r[1] for r in view["records"]]


def test_the_job_succeeds_at_the_switch_and_its_clean_up_is_its_tail(
    principal: Principal, stripe: str, grace_of_30_seconds: None
) -> None:
    source = stripe_source(principal, stripe)
    run_job(hold(principal, source["uuid"]), repeat_every_step=False)
    change_the_provider(stripe, 0)
    # When a re-sync switches readers to its generation
    context, partitions = switch(hold(principal, source["uuid"], "resync_source"))
    stored = get_job_store().get(principal.account_id, context.job_id)
    assert stored is not None
    shown = present_job(stored)
    # Then the job has succeeded, with its result and counts final and progress 100
    assert shown["status"] == "succeeded" and shown["finished_at"] == stored["committed_at"]
    assert shown["progress"]["percent"] == 100 and shown["waiting_for"] is None
    counts = get_source_store().get(principal.account_id, source["uuid"])["counts"]  # type: ignore[index]
    assert shown["result"]["counts"] == {k: v for k, v in counts.items() if k in shown["result"]["counts"]}
    assert shown["result"]["counts"]["customers"] == 8  # 8 - 1 deleted + 1 new
    # and its clean-up of the old generation is pending until the readers' grace period ends
    assert shown["cleanup"]["status"] == "pending"
    seconds = (parse_iso(shown["cleanup"]["until"]) - parse_iso(stored["committed_at"])).total_seconds()
    assert 29 <= seconds <= 31
    # and the source is free for its next job
    after = get_source_store().get(principal.account_id, source["uuid"])
    assert after is not None and after["status"] == "active" and "current_job_id" not in after
    # When the clean-up runs, then ends
    assert steps.collect_garbage(context, partitions)["waiting"] is False
    running = present_job(get_job_store().get(principal.account_id, context.job_id))  # type: ignore[arg-type]
    assert running["cleanup"]["status"] == "running" and running["status"] == "succeeded"
    steps.finish(context)
    done = present_job(get_job_store().get(principal.account_id, context.job_id))  # type: ignore[arg-type]
    # Then the job is unchanged but for its clean-up, which is done
    assert done["cleanup"] == {"status": "done", "until": shown["cleanup"]["until"]}
    assert {k: v for k, v in done.items() if k != "cleanup"} == {k: v for k, v in shown.items() if k != "cleanup"}


def test_a_resync_started_during_the_previous_ones_clean_up_loses_and_mixes_nothing(
    principal: Principal, stripe: str, grace_of_30_seconds: None
) -> None:
    source = stripe_source(principal, stripe)
    uuid = source["uuid"]
    run_job(hold(principal, uuid), repeat_every_step=False)
    change_the_provider(stripe, 0)
    first, first_partitions = switch(hold(principal, uuid, "resync_source"))
    after_first, _ = fresh_import(principal, stripe)
    assert records(everything(principal, uuid)) == records(after_first)
    # When the provider changes again and a re-sync starts while the first one's clean-up is pending
    change_the_provider(stripe, 1)
    second, second_partitions = switch(hold(principal, uuid, "resync_source"))
    expected, expected_items = fresh_import(principal, stripe)
    # Then readers see exactly the provider's data after the second switch
    assert records(everything(principal, uuid)) == records(expected)
    # and the second clean-up waits for the first (it deletes the manifests the first one reads)
    assert steps.collect_garbage(second, second_partitions)["waiting"] is True
    assert present_job(get_job_store().get(principal.account_id, second.job_id))["cleanup"]["status"] == "pending"  # type: ignore[arg-type]
    # When the first clean-up runs, then the second
    assert steps.collect_garbage(first, first_partitions)["waiting"] is False
    assert records(everything(principal, uuid)) == records(expected)
    steps.finish(first)
    assert records(everything(principal, uuid)) == records(expected)
    assert steps.collect_garbage(second, second_partitions)["waiting"] is False
    steps.finish(second)
    # Then readers still see the provider's data, and the source stores what a fresh import stores:
    # every superseded version, tombstone and old manifest is gone, and nothing the data needs
    assert records(everything(principal, uuid)) == records(expected)
    assert get_record_store().count_items(uuid) == expected_items
    assert generations_with_manifests(principal, uuid) == {second.generation}
    for job in (first, second):
        assert present_job(get_job_store().get(principal.account_id, job.job_id))["cleanup"]["status"] == "done"  # type: ignore[arg-type]


def test_a_customer_resync_during_the_clean_up_keeps_the_others_data(
    principal: Principal, stripe: str, grace_of_30_seconds: None
) -> None:
    source = stripe_source(principal, stripe)
    uuid = source["uuid"]
    run_job(hold(principal, uuid), repeat_every_step=False)
    change_the_provider(stripe, 0)
    first, first_partitions = switch(hold(principal, uuid, "resync_source"))
    expected, expected_items = fresh_import(principal, stripe)
    # When one customer is re-synced while the re-sync's clean-up is pending (nothing changed at the provider)
    visible = get_record_store().all_visible(uuid, _view(principal, uuid))
    customer = next(r for r in visible if r.kind.value == "customers")
    job = hold(principal, uuid, "resync_customer")
    job = job.model_copy(update={"customer_uuid": customer.uuid, "customer_external_id": customer.record.external_id})  # type: ignore[union-attr]
    planned = steps.plan(job)
    context = steps.JobContext.model_validate(planned["job"])
    steps.fetch_customer(context)
    steps.apply_overlays(context)
    steps.commit(context)
    assert steps.collect_garbage(context, planned["partitions"])["waiting"] is True
    # Then whatever order the clean-ups' steps come in, readers see the provider's data throughout
    assert steps.collect_garbage(first, first_partitions)["waiting"] is False
    steps.finish(first)
    assert records(everything(principal, uuid)) == records(expected)
    assert steps.collect_garbage(context, planned["partitions"])["waiting"] is False
    steps.finish(context)
    assert records(everything(principal, uuid)) == records(expected)
    assert get_record_store().count_items(uuid) == expected_items


def _view(principal: Principal, uuid: str) -> Any:
    from sourcesync.services.customers import view_of

    return view_of(get_source_store().get(principal.account_id, uuid))  # type: ignore[arg-type]


def test_a_delete_during_the_clean_up_erases_everything_and_the_clean_up_ends_quietly(
    principal: Principal, stripe: str, grace_of_30_seconds: None
) -> None:
    source = stripe_source(principal, stripe)
    uuid = source["uuid"]
    run_job(hold(principal, uuid), repeat_every_step=False)
    change_the_provider(stripe, 0)
    first, first_partitions = switch(hold(principal, uuid, "resync_source"))
    # When the source is deleted while the re-sync's clean-up is pending
    deleting = delete_source.delete(principal, uuid)  # no 409: the source is free
    job = purge.PurgeJob(account_id=principal.account_id, data_source_uuid=uuid, job_id=deleting["job_id"])
    # Then the purge has no running job to wait for
    assert purge.await_running_job(job)["stopped"] is True
    for pk in purge.plan(job)["partitions"]:
        assert purge.purge_partition(job, pk, lambda: 900.0)["done"]
    purge.purge_rest(job)
    purge.finish(job, None)
    # and the re-sync's clean-up, which runs after the purge, ends without error and brings nothing back
    assert steps.collect_garbage(first, first_partitions)["waiting"] is False
    steps.finish(first)
    assert get_record_store().count_items(uuid) == 0
    assert generations_with_manifests(principal, uuid) == set()
    assert get_source_store().get(principal.account_id, uuid) is None
    assert get_job_store().get(principal.account_id, first.job_id) is None  # purged, never re-created
    assert get_job_store().get(principal.account_id, deleting["job_id"])["status"] == "succeeded"  # type: ignore[index]


def test_a_clean_up_that_keeps_failing_leaves_the_job_succeeded_and_does_not_hold_up_the_next(
    principal: Principal, stripe: str, grace_of_30_seconds: None
) -> None:
    source = stripe_source(principal, stripe)
    uuid = source["uuid"]
    run_job(hold(principal, uuid), repeat_every_step=False)
    change_the_provider(stripe, 0)
    first, _ = switch(hold(principal, uuid, "resync_source"))
    expected, _ = fresh_import(principal, stripe)
    second, second_partitions = switch(hold(principal, uuid, "resync_source"))
    # When the first job's clean-up fails for good (the state machine's undo step, twice as a retry would)
    for _ in range(2):
        assert steps.abort(first, {"Error": "States.Timeout"})["status"] == "failed"
    shown = present_job(get_job_store().get(principal.account_id, first.job_id))  # type: ignore[arg-type]
    # Then the job stays succeeded, its clean-up has ended, and its error says what was left behind
    assert shown["status"] == "succeeded" and shown["progress"]["percent"] == 100
    assert shown["cleanup"]["status"] == "done" and shown["error"]["code"] == "cleanup_failed"
    # and the data is untouched, and the next job's clean-up does not wait for it
    assert records(everything(principal, uuid)) == records(expected)
    assert steps.collect_garbage(second, second_partitions)["waiting"] is False
    steps.finish(second)
    assert records(everything(principal, uuid)) == records(expected)


def test_every_partition_may_run_at_once_up_to_the_templates_fetch_concurrency(
    principal: Principal, stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    from pathlib import Path

    # The Map takes its concurrency from the plan...
    machine = json.loads((Path(__file__).parents[2] / "infra/statemachine/resync_source.asl.json").read_text())
    fetch_map = machine["States"]["Fetch every partition"]
    assert fetch_map["MaxConcurrencyPath"] == "$.max_concurrency" and "MaxConcurrency" not in fetch_map
    source = stripe_source(principal, stripe)
    planned = steps.plan(hold(principal, source["uuid"]))
    # ...which lets every partition run at once under the default FetchConcurrency
    assert planned["max_concurrency"] == len(planned["partitions"]) >= 5
    # and no more than the template's parameter
    monkeypatch.setenv("FETCH_CONCURRENCY", "2")
    get_settings.cache_clear()
    try:
        other = stripe_source(principal, stripe)
        assert steps.plan(hold(principal, other["uuid"]))["max_concurrency"] == 2
    finally:
        get_settings.cache_clear()
