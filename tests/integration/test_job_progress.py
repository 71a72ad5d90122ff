"""A slowed re-sync's progress, sampled as a reader sees it while the state machine runs: every kind counts
from the start (at least the previous generation's count), percent follows the records fetched, never goes
down, and reaches the commit phases only once everything is fetched."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stripe_seed import TEST_KEY, seeded_emulator
from sourcesync.clock import now, now_iso, parse_iso
from sourcesync.config import get_settings
from sourcesync.ids import new_id
from sourcesync.pipeline import steps
from sourcesync.services import accounts
from sourcesync.services.jobs import new_job, present_job, start_source_job
from sourcesync.services.progress import FETCH_SHARE, fetch_progress, job_progress
from sourcesync.store import work_items
from sourcesync.store.accounts import Principal
from sourcesync.store.credentials import get_credential_store
from sourcesync.store.dynamo import ddb, to_item
from sourcesync.store.jobs import get_job_store
from sourcesync.store.sources import get_source_store
from tests.e2e.faults import FaultProxy

pytestmark = pytest.mark.integration

KINDS = {"customers", "plans", "subscriptions", "invoices", "transactions"}


@pytest.fixture(scope="module")
def stripe() -> Iterator[str]:
    with seeded_emulator(customers=12, seed=5) as url:
        yield url


@pytest.fixture
def one_page_per_checkpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fetch budget of zero: every worker invocation fetches one page and checkpoints it, so a reader
    sees progress page by page (the production budget checkpoints every few seconds instead)."""
    monkeypatch.setenv("FETCH_BUDGET_SECONDS", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(
    principal: Principal, uuid: str, kind: str, sample: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start a job through its state machine and read it, as GET /v1/jobs/{id} does, until it ends."""
    job = start_source_job(principal.account_id, uuid, kind, principal.key_id)
    samples: list[dict[str, Any]] = []
    deadline = time.monotonic() + 180
    while True:
        stored = get_job_store().get(principal.account_id, job["job_id"])
        assert stored is not None
        presented = present_job(stored)
        if sample:
            samples.append(presented)
        if presented["status"] in ("succeeded", "failed", "cancelled"):
            return presented, samples
        assert time.monotonic() < deadline, presented
        time.sleep(0.05)


def test_a_slowed_resyncs_progress_is_monotonic_and_in_proportion(
    deployed_stack: Any, stripe: str, one_page_per_checkpoint: None
) -> None:
    key = accounts.create_account("progress")
    principal = Principal(key.account_id, key.key_id, key.role)
    with FaultProxy(stripe) as proxy:
        # Given a Stripe source imported once, three records a page
        uuid = new_id("ds")
        get_credential_store().put(principal.account_id, uuid, {"api_key": TEST_KEY})
        get_source_store().create(
            {
                "uuid": uuid,
                "account_id": principal.account_id,
                "name": "Progress",
                "system": "stripe",
                "status": "active",
                "options": {"api_base": proxy.url, "page_size": 3, "max_retry_seconds": 5},
                "created_at": now_iso(),
                "counts": {},
            }
        )
        imported, _ = run(principal, uuid, "import")
        assert imported["status"] == "succeeded", imported
        previous = get_source_store().get(principal.account_id, uuid)["counts"]  # type: ignore[index]
        assert previous["customers"] >= 12 and previous["invoices"] >= 12
        # When a slowed re-sync runs and a reader samples its progress
        proxy.set(delay=0.05)
        finished, samples = run(principal, uuid, "resync_source", sample=True)
    assert finished["status"] == "succeeded", finished
    assert finished["progress"]["percent"] == 100
    fetching = [s for s in samples if s["status"] == "running" and s["phase"] == "fetching"]
    assert len(fetching) >= 10, [s["progress"] for s in samples]
    percents = [s["progress"]["percent"] for s in samples]
    # Then percent never goes down...
    assert percents == sorted(percents), percents
    # ...moves through many values rather than jumping...
    assert len({p for p in percents if 0 < p < FETCH_SHARE}) >= 5, percents
    for sample in fetching:
        kinds = sample["progress"]["kinds"]
        # ...counts every kind from the start, at least at its previous count while it is fetched...
        assert set(kinds) == KINDS, kinds
        for kind, figures in kinds.items():
            assert figures["total"] >= figures["done"]
            if figures["done"] < previous[kind]:
                assert figures["total"] >= previous[kind], (kind, figures, previous)
        done = sum(v["done"] for v in kinds.values())
        total = sum(v["total"] for v in kinds.values())
        # ...is in proportion to what is fetched (within rounding and what an earlier read showed)...
        if done < total:
            assert abs(sample["progress"]["percent"] - FETCH_SHARE * done / total) <= 2, sample["progress"]
            assert sample["progress"]["percent"] < FETCH_SHARE
    # ...and the ETA is measured once records come in
    assert any(isinstance(s["progress"]["eta_seconds"], int) for s in fetching if s["progress"]["percent"] > 0)
    # and the commit phases come after fetching, at their own share
    after = [s["progress"]["percent"] for s in samples if s["phase"] in ("applying_overlays", "committing")]
    assert all(p >= FETCH_SHARE for p in after)


def test_percent_never_goes_below_what_a_reader_was_shown(deployed_stack: Any) -> None:
    """A first import's estimates grow as the provider tells sizes; the highest percent shown is kept."""

    # Given a running first import of customers and subscriptions, neither sized by the provider yet
    job = {**new_job("acct_progress", new_id("ds"), "import", "key_1"), "status": "running", "phase": "fetching"}
    get_job_store().create(job)
    table = get_settings().jobs_table
    kinds = ("customers", "subscriptions")
    partitions = json.dumps([{"kind": k, "key": k, "params": {}} for k in kinds])
    plan = {"sk": "PLAN", "partitions": partitions, "previous_generation": None, "planned_at": now_iso()}
    ddb().put_item(TableName=table, Item=to_item({"pk": f"JOB#{job['job_id']}", **plan}))

    def checkpoint(kind: str, done: int, total: int | None) -> dict[str, Any]:
        item = {"sk": f"PART#{kind}", "kind": kind, "done": done, "finished": False, "total": total}
        ddb().put_item(TableName=table, Item=to_item({"pk": f"JOB#{job['job_id']}", **item}))
        stored = get_job_store().get("acct_progress", job["job_id"])
        assert stored is not None
        return job_progress(stored)

    # 300 subscriptions fetched (estimated at twice that), customers not yet: 90 * 300 / (600 + 100)
    shown = checkpoint("subscriptions", 300, None)["percent"]
    assert shown == 90 * 300 // 700
    # When the customers' first page says there are 5000 of them (so about as many subscriptions)
    later = checkpoint("customers", 100, 5000)
    assert later["kinds"]["subscriptions"] == {"done": 300, "total": 5000, "estimated": True}
    stored = get_job_store().get("acct_progress", job["job_id"])
    assert stored is not None
    plain = fetch_progress(stored, work_items.of_job(job["job_id"]), now())["percent"]
    assert plain == 90 * 400 // 10_000 < shown  # the figures alone fell...
    # Then percent does not: a reader never sees it go back
    assert later["percent"] == shown
    stored = get_job_store().get("acct_progress", job["job_id"])
    assert stored is not None and stored["percent_shown"] == shown


def test_the_switch_ends_the_job_and_its_clean_up_waits_for_readers_of_the_old_generation(
    deployed_stack: Any, stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("COMMIT_GRACE_SECONDS", "30")
    get_settings.cache_clear()
    try:
        key = accounts.create_account("grace")
        principal = Principal(key.account_id, key.key_id, key.role)
        uuid = new_id("ds")
        get_credential_store().put(principal.account_id, uuid, {"api_key": TEST_KEY})
        get_source_store().create(
            {
                "uuid": uuid,
                "account_id": principal.account_id,
                "name": "Grace",
                "system": "stripe",
                "status": "active",
                "options": {"api_base": stripe},
                "created_at": now_iso(),
                "counts": {},
            }
        )

        job = new_job(principal.account_id, uuid, "import", principal.key_id)
        get_job_store().create_holding_source(job, "importing")
        context = steps.JobContext(
            account_id=principal.account_id, data_source_uuid=uuid, job_id=job["job_id"], kind="import"
        )
        planned = steps.plan(context)
        context = steps.JobContext.model_validate(planned["job"])
        for partition in planned["partitions"]:
            while not steps.fetch(context, partition, 0, 10_000, lambda: 900.0)["done"]:
                pass
        assert steps.reconcile(context, planned["partitions"])["all_fetched"]
        steps.apply_overlays(context)
        # When the switch is made
        steps.commit(context)
        stored = get_job_store().get(principal.account_id, job["job_id"])
        assert stored is not None
        # Then the job has ended (it waits for nothing), and its clean-up waits for the readers' grace period
        shown = present_job(stored)
        assert shown["status"] == "succeeded" and shown["waiting_for"] is None and shown["progress"]["percent"] == 100
        assert shown["cleanup"]["status"] == "pending"
        seconds = (parse_iso(shown["cleanup"]["until"]) - parse_iso(stored["committed_at"])).total_seconds()
        assert 29 <= seconds <= 31
        # and runs once it is over
        steps.collect_garbage(context, planned["partitions"])
        stored = get_job_store().get(principal.account_id, job["job_id"])
        assert stored is not None and present_job(stored)["cleanup"]["status"] == "running"
        steps.finish(context)
    finally:
        get_settings.cache_clear()
