"""The fetch step's checkpoints and liveness checks against a slow provider, and its compare path: a
checkpoint (a manifest chunk and the work item) is made once enough records have been seen since the
last one, not after every page, while the check that the job may go on still runs every
`checkpoint_seconds`; an unchanged record is compared without compressing its payload, and what did
change is written as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sourcesync.config import get_settings
from sourcesync.connectors.kit.runtime import Connector
from sourcesync.pipeline import steps
from sourcesync.pipeline.failures import JobCancelledError
from sourcesync.pipeline.steps import fetching
from sourcesync.store import records as record_store
from sourcesync.store import work_items
from sourcesync.store.accounts import Principal
from sourcesync.store.jobs import get_job_store
from sourcesync.store.manifests import get_manifest_store
from tests.integration.test_pipeline_steps import hold, principal, stripe, stripe_source

pytestmark = pytest.mark.integration
__all__ = ["principal", "stripe"]  # the fixtures, imported for this module's tests


@pytest.fixture
def liveness_every_page(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`checkpoint_seconds` of a millisecond: the worker is due to check its job after every page (as against a
    provider whose pages take longer than `checkpoint_seconds`); checkpoints only by records seen."""
    monkeypatch.setenv("CHECKPOINT_SECONDS", "0.001")
    monkeypatch.setattr(fetching, "CHECKPOINT_INTERVALS", 10**9)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def partition_of(planned: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(p for p in planned["partitions"] if p["kind"] == kind)


def counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Count calls of `owner.name` (the real one still called)."""
    calls: list[int] = []
    real = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.mark.usefixtures("liveness_every_page")
def test_a_slow_provider_gets_a_checkpoint_per_records_seen_not_per_page(
    principal: Principal, stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetching, "CHECKPOINT_RECORDS", 5)
    pages = counting(monkeypatch, Connector, "fetch_page")
    liveness = counting(monkeypatch, fetching, "ensure_live")
    source = stripe_source(principal, stripe)  # 12 customers, pages of 3
    planned = steps.plan(hold(principal, source["uuid"]))
    context = steps.JobContext.model_validate(planned["job"])
    partition = partition_of(planned, "customers")
    assert steps.fetch(context, partition, 0, 10_000, lambda: 900.0)["done"]
    checkpoint = work_items.read(context.job_id, f"PART#{partition['key']}")
    assert checkpoint is not None and checkpoint["finished"] and checkpoint["done"] == 12
    # 5 pages (the last one empty-handed or short): checkpoints after 6 and 12 records, not after each page
    assert len(pages) == 4
    assert checkpoint["seq"] == 2
    # ...and the job was checked after every page but the last, besides once as the fetch began
    assert len(liveness) == 1 + (len(pages) - 1)
    assert context.generation is not None
    manifest = get_manifest_store().load(context.account_id, context.data_source_uuid, context.generation, "customers")
    assert len(manifest) == 12


@pytest.mark.usefixtures("liveness_every_page")
def test_a_job_cancelled_between_checkpoints_stops_at_the_next_page(
    principal: Principal, stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetching, "CHECKPOINT_RECORDS", 10**9)  # no checkpoint before the partition ends
    source = stripe_source(principal, stripe)
    planned = steps.plan(hold(principal, source["uuid"]))
    context = steps.JobContext.model_validate(planned["job"])
    real = Connector.fetch_page
    fetched: list[int] = []

    def fetch_page(self: Connector, *args: Any, **kwargs: Any) -> Any:
        fetched.append(1)
        if len(fetched) == 2:  # the user cancels while the second page is on its way
            get_job_store().update(context.account_id, context.job_id, {"cancel_requested": True})
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Connector, "fetch_page", fetch_page)
    with pytest.raises(JobCancelledError):
        steps.fetch(context, partition_of(planned, "customers"), 0, 10_000, lambda: 900.0)
    assert len(fetched) <= 3  # noticed after the page that was on its way, not at the partition's end


def test_an_unchanged_resync_compresses_only_what_changed(
    principal: Principal, stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = stripe_source(principal, stripe)
    planned = steps.plan(hold(principal, source["uuid"]))
    context = steps.JobContext.model_validate(planned["job"])
    partition = partition_of(planned, "customers")
    assert steps.fetch(context, partition, 0, 10_000, lambda: 900.0)["done"]
    compressed = counting(monkeypatch, fetching, "compress")
    assert context.generation is not None
    # the same partition fetched again against what it just made: nothing differs, nothing is compressed
    again = context.model_copy(update={"previous_generation": context.generation, "generation": context.generation + 1})
    run = fetching.PartitionRun(
        job=again,
        partition=partition,
        old=get_manifest_store().load(context.account_id, context.data_source_uuid, context.generation, "customers"),
        checkpoint={},
    )
    connector_records = [
        record
        for record in record_store.get_record_store().all_visible(
            context.data_source_uuid, record_store.View(context.generation)
        )
        if record.kind.value == "customers"
    ]
    assert len(connector_records) == 12
    for stored in connector_records:
        uuid, entry, version = fetching.version_for(run, stored.record, again.generation or 0)
        assert version is None and entry.generation == context.generation
    assert compressed == []
    changed = connector_records[0].record.model_copy(update={"name": "Renamed"})
    uuid, entry, version = fetching.version_for(run, changed, again.generation or 0)
    assert version is not None and version.payload is not None and compressed == [1]
    assert record_store.decode(version.kind, version.payload) == changed
    assert entry.generation == again.generation and entry.content_hash != run.old[uuid].content_hash


def test_the_liveness_check_reads_the_job_and_its_source_together(principal: Principal, stripe: str) -> None:
    source = stripe_source(principal, stripe)
    job = hold(principal, source["uuid"])
    stored, found = get_job_store().with_source(job.account_id, job.job_id, job.data_source_uuid)
    assert stored is not None and stored["job_id"] == job.job_id
    assert found is not None and found["uuid"] == source["uuid"] and found["current_job_id"] == job.job_id
    assert get_job_store().with_source(job.account_id, "job_missing", "ds_missing") == (None, None)
    assert get_job_store().with_source(job.account_id, job.job_id, "ds_missing")[1] is None
