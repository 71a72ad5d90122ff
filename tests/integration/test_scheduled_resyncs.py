"""Scheduled re-syncs through the template's EventBridge rule, fired by the local scheduler with an
injected clock, on the real parts (DynamoDB Local, moto's Step Functions running our handlers)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from devstack.scheduler import Scheduler
from devstack.stripe_seed import seeded_emulator
from sourcesync.api.models import DataSourceCreateRequest, DataSourceUpdateRequest
from sourcesync.clock import parse_iso
from sourcesync.services import accounts, data_sources
from sourcesync.store.accounts import Principal
from sourcesync.store.jobs import get_job_store
from sourcesync.store.sources import get_source_store
from tests.e2e.faults import FaultProxy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stripe() -> Iterator[str]:
    with seeded_emulator(customers=5, seed=3) as url:
        yield url


@pytest.fixture
def principal(deployed_stack: Any) -> Principal:
    key = accounts.create_account("scheduled")
    return Principal(key.account_id, key.key_id, key.role)


def wait_idle(principal: Principal, uuid: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        source = get_source_store().get(principal.account_id, uuid)
        assert source is not None
        if not source.get("current_job_id"):
            return source
        assert time.monotonic() < deadline, source
        time.sleep(0.2)


def jobs_of(uuid: str) -> list[dict[str, Any]]:
    return get_job_store().list_for_source(uuid, 50, None)[0]


def scheduler_result(firings: list[Any]) -> dict[str, Any]:
    ours = [f for f in firings if "SchedulerFunction" in f.target_arn]
    assert len(ours) == 1 and ours[0].ok, firings
    result: dict[str, Any] = ours[0].result
    return result


def test_the_rule_starts_due_resyncs_and_skips_a_source_whose_job_still_runs(
    deployed_stack: Any, principal: Principal, stripe: str
) -> None:
    with FaultProxy(stripe) as proxy:
        created = data_sources.create(
            principal,
            DataSourceCreateRequest.model_validate(
                {
                    "name": "Hourly",
                    "system": "stripe",
                    "credentials": {"api_key": "sk_test_scheduled"},
                    "options": {"api_base": proxy.url},
                    "schedule": "rate(1 hour)",
                }
            ),
        )
        uuid = created["data_source"]["uuid"]
        wait_idle(principal, uuid)
        anchor = parse_iso(get_source_store().get(principal.account_id, uuid)["schedule_anchor"])
        scheduler = Scheduler(deployed_stack.client("events"), deployed_stack.client("stepfunctions"), start=anchor)

        # Given an hourly schedule: ten minutes in, nothing is due
        result = scheduler_result(scheduler.tick(anchor + timedelta(minutes=10)))
        assert uuid not in result["started"] and [j["kind"] for j in jobs_of(uuid)] == ["import"]

        # an hour in, the re-sync starts
        result = scheduler_result(scheduler.tick(anchor + timedelta(minutes=61)))
        assert uuid in result["started"]
        assert [j["kind"] for j in jobs_of(uuid)] == ["resync_source", "import"]
        wait_idle(principal, uuid)
        assert jobs_of(uuid)[0]["status"] == "succeeded"

        # two hours in, a (slow) re-sync started by hand still runs: the scheduled one is skipped, not queued
        proxy.set(delay=0.3)
        from sourcesync.services.jobs import start_source_job

        manual = start_source_job(principal.account_id, uuid, "resync_source", principal.key_id)
        result = scheduler_result(scheduler.tick(anchor + timedelta(minutes=121)))
        assert uuid in result["skipped_running"] and uuid not in result["started"]
        assert jobs_of(uuid)[0]["job_id"] == manual["job_id"]
        assert len(jobs_of(uuid)) == 3
        proxy.set()
        wait_idle(principal, uuid)

        # with the schedule turned off, the source is not looked at any more
        data_sources.update(principal, uuid, DataSourceUpdateRequest.model_validate({"schedule": None}))
        result = scheduler_result(scheduler.tick(anchor + timedelta(minutes=241)))
        assert uuid not in result["started"] and uuid not in result["skipped_running"]
        assert len(jobs_of(uuid)) == 3


def test_a_cron_schedule_fires_at_its_minute(deployed_stack: Any, principal: Principal, stripe: str) -> None:
    created = data_sources.create(
        principal,
        DataSourceCreateRequest.model_validate(
            {
                "name": "Nightly",
                "system": "stripe",
                "credentials": {"api_key": "sk_test_nightly"},
                "options": {"api_base": stripe},
                "schedule": "cron(30 2 * * ? *)",
            }
        ),
    )
    uuid = created["data_source"]["uuid"]
    wait_idle(principal, uuid)
    anchor = parse_iso(get_source_store().get(principal.account_id, uuid)["schedule_anchor"])
    # the schedule's first 02:30 after its anchor (today's when the test runs before 02:30 UTC): a later night
    # would find that first firing overdue, and rightly start it at once
    night = anchor.replace(hour=2, minute=0, second=0, microsecond=0)
    if night + timedelta(minutes=30) <= anchor:
        night += timedelta(days=1)
    scheduler = Scheduler(deployed_stack.client("events"), deployed_stack.client("stepfunctions"), start=night)
    assert uuid not in scheduler_result(scheduler.tick(night + timedelta(minutes=29)))["started"]
    assert uuid in scheduler_result(scheduler.tick(night + timedelta(minutes=30)))["started"]
    wait_idle(principal, uuid)
    assert uuid not in scheduler_result(scheduler.tick(night + timedelta(minutes=31)))["started"]
    data_sources.update(principal, uuid, DataSourceUpdateRequest.model_validate({"schedule": None}))  # leave no timer


class Requests:
    """The DynamoDB requests this thread makes (by operation), through the layer's shared client."""

    def __init__(self) -> None:
        import threading
        from collections import Counter

        from sourcesync.aws import client

        self.thread = threading.get_ident()
        self.seen: Counter[str] = Counter()
        self.events = client("dynamodb").meta.events
        self.events.register("after-call.dynamodb.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        import threading

        if threading.get_ident() == self.thread:
            self.seen[model.name] += 1

    def take(self) -> dict[str, int]:
        taken = dict(self.seen)
        self.seen.clear()
        return taken

    def close(self) -> None:
        self.events.unregister("after-call.dynamodb.*", self._count)


def test_the_schedulers_work_follows_what_is_due_not_how_many_sources_have_a_schedule(
    deployed_stack: Any, principal: Principal
) -> None:
    from datetime import UTC, datetime

    from sourcesync.clock import iso
    from sourcesync.ids import new_id
    from sourcesync.services.scheduling import run_due_resyncs

    # Given 40 daily schedules set now, the first of which fires at `day`, then one every 36 minutes
    day = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
    uuids = []
    for i in range(40):
        fires = day + timedelta(minutes=36 * i)
        uuids.append(new_id("ds"))
        get_source_store().create(
            {
                "uuid": uuids[-1],
                "account_id": principal.account_id,
                "name": f"Daily {i}",
                "system": "stripe",
                "status": "active",
                "options": {},
                "created_at": iso(datetime.now(UTC)),
                "counts": {},
                "schedule": f"cron({fires.minute} {fires.hour} * * ? *)",
                "schedule_shard": "0",
                "schedule_anchor": iso(datetime.now(UTC)),
            }
        )
    requests = Requests()
    try:
        taken_in = run_due_resyncs(day - timedelta(minutes=5))  # takes in the new schedules, once
        assert taken_in.schedules_taken_in >= 40 and not set(taken_in.started) & set(uuids)
        run_due_resyncs(day - timedelta(minutes=5))  # (and whatever other tests left due)
        requests.take()
        # When the scheduler runs in a minute where none is due
        quiet = run_due_resyncs(day - timedelta(minutes=4))
        # Then it makes a fixed few requests (its Queries and its watermark), and writes nothing
        made = requests.take()
        assert not quiet.started and set(made) <= {"Query", "GetItem"} and sum(made.values()) <= 8, made
        # When one source is due, it costs that source's read, its next firing's write and its job
        due = run_due_resyncs(day)
        made = requests.take()
        assert due.started == [uuids[0]], due
        assert made.get("UpdateItem") == 1 and made.get("TransactWriteItems") == 1, made
        assert sum(made.values()) <= 8 + 4, made
        # and it is not due again the next minute
        assert uuids[0] not in run_due_resyncs(day + timedelta(minutes=1)).started
        # When a schedule is changed, the next run takes in the new one (and only it)
        data_sources.update(
            principal, uuids[5], DataSourceUpdateRequest.model_validate({"schedule": "cron(0 12 * * ? *)"})
        )
        requests.take()
        changed = run_due_resyncs(day + timedelta(minutes=2))
        assert changed.schedules_taken_in == 1, changed
        noon = (day + timedelta(days=1)).replace(hour=12, minute=0)
        stored = get_source_store().get(principal.account_id, uuids[5])
        assert stored is not None and parse_iso(stored["next_due"]) <= noon
    finally:
        requests.close()
