"""Progress is computed from the work items the workers write: every kind counts from the start, percent
follows the records fetched and never goes down, the ETA follows the measured throughput."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sourcesync.connectors.errors import (
    CredentialsInvalidError,
    ProviderNotFoundError,
    ProviderRequestError,
    ProviderUnavailableError,
)
from sourcesync.pipeline.failures import JOB_ERRORS, JobCancelledError, end_for, job_end
from sourcesync.services.progress import FETCH_SHARE, fetch_progress, purge_progress

START = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
KINDS = ("customers", "plans", "subscriptions", "invoices", "transactions")
PREVIOUS = {"customers": 400, "plans": 5, "subscriptions": 400, "invoices": 1200, "transactions": 1000}


def plan(previous_generation: int | None, previous: dict[str, int] | None = None) -> dict[str, Any]:
    partitions = [{"kind": k, "key": k, "params": {}} for k in KINDS]
    return {
        "sk": "PLAN",
        "partitions": json.dumps(partitions),
        "previous_generation": previous_generation,
        "previous_counts": previous or {},
        "planned_at": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def part(kind: str, done: int, finished: bool = False, total: int | None = None) -> dict[str, Any]:
    return {"sk": f"PART#{kind}", "kind": kind, "done": done, "finished": finished, "total": total}


RUNNING = {"job_id": "job_1", "kind": "resync_source", "status": "running", "phase": "fetching"}


def test_a_resync_counts_every_kind_from_the_start_against_the_previous_counts() -> None:
    # Given a re-sync whose plan is written and whose smallest kind is fetched
    items = [plan(3, PREVIOUS), part("plans", 5, finished=True)]
    # When its progress is read
    progress = fetch_progress(RUNNING, items, START + timedelta(seconds=1))
    # Then every kind is there, the unfetched ones at the previous generation's count
    assert set(progress["kinds"]) == set(KINDS)
    assert progress["kinds"]["invoices"] == {"done": 0, "total": 1200, "estimated": True}
    assert progress["kinds"]["plans"] == {"done": 5, "total": 5, "estimated": False}
    # and the finished smallest kind is worth what it is, not 90 %
    assert progress["percent"] == FETCH_SHARE * 5 // sum(PREVIOUS.values()) == 0


def test_percent_follows_the_records_fetched_never_goes_down_and_reaches_the_fetch_share_when_all_is_fetched() -> None:
    previous = dict(PREVIOUS)
    done = dict.fromkeys(KINDS, 0)
    seen: list[int] = []
    # the kinds are fetched one page of 100 at a time, in turn; transactions end with fewer records than before
    final = {**PREVIOUS, "transactions": 900, "customers": 430}
    for _ in range(40):
        for kind in KINDS:
            done[kind] = min(final[kind], done[kind] + 100)
        items = [plan(3, previous)] + [part(k, done[k], finished=done[k] >= final[k]) for k in KINDS]
        progress = fetch_progress(RUNNING, items, START + timedelta(seconds=10))
        total = sum(v["total"] for v in progress["kinds"].values())
        fetched = sum(v["done"] for v in progress["kinds"].values())
        if fetched < total:
            assert progress["percent"] == min(FETCH_SHARE - 1, FETCH_SHARE * fetched // total)
            assert progress["percent"] < FETCH_SHARE
        seen.append(progress["percent"])
    assert seen == sorted(seen), seen
    assert seen[-1] == FETCH_SHARE
    assert seen[0] < 20  # no jump when the first kind finishes


def test_a_first_import_estimates_the_kinds_the_provider_does_not_size() -> None:
    items = [
        plan(None),
        part("customers", 300, total=1000),
        part("plans", 5, finished=True),
        part("subscriptions", 200),
    ]
    progress = fetch_progress({**RUNNING, "kind": "import"}, items, START + timedelta(seconds=10))
    kinds = progress["kinds"]
    assert kinds["customers"] == {"done": 300, "total": 1000, "estimated": False}  # the provider said
    assert kinds["subscriptions"]["estimated"] and kinds["subscriptions"]["total"] >= 1000  # about one per customer
    assert kinds["invoices"]["estimated"] and kinds["invoices"]["total"] >= 1000  # not started: still counted
    assert all(v["total"] is not None and v["total"] >= v["done"] for v in kinds.values())
    assert 0 < progress["percent"] < FETCH_SHARE


def test_the_eta_comes_from_the_measured_throughput() -> None:
    # 500 records in 10 s: 50 a second; 2505 - 500 left
    items = [plan(3, PREVIOUS), part("customers", 400, finished=True), part("plans", 5, finished=True)]
    items.append(part("subscriptions", 95))
    progress = fetch_progress(RUNNING, items, START + timedelta(seconds=10))
    left = sum(v["total"] - v["done"] for v in progress["kinds"].values())
    assert left == 3005 - 500
    assert progress["eta_seconds"] == round(left / 50)


def test_a_waiting_job_has_an_eta_until_the_end_of_its_wait() -> None:
    job = {**RUNNING, "waiting_for": {"reason": "x", "until": "2026-11-30T12:01:00Z"}}
    assert fetch_progress(job, [plan(3, PREVIOUS)], START)["eta_seconds"] == 60
    purge = {"job_id": "job_2", "kind": "delete_source", "status": "running", **{"waiting_for": job["waiting_for"]}}
    assert purge_progress(purge, [], START + timedelta(seconds=15))["eta_seconds"] == 45


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (ProviderNotFoundError, "provider_error", "failed"),  # a subclass ends as its base
        (ProviderRequestError, "provider_error", "failed"),
        (CredentialsInvalidError, "credentials_invalid", "failed"),
        (ProviderUnavailableError, "provider_unavailable", "failed"),
        (JobCancelledError, "cancelled", "cancelled"),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_job_errors_are_looked_up_by_class_along_the_inheritance(
    error: type[Exception], code: str, status: str
) -> None:
    end = job_end(error)
    assert end is not None and (end.code, end.status) == (code, status)
    assert end_for(error.__name__) == end


def test_an_error_outside_the_table_is_an_internal_error() -> None:
    assert job_end(KeyError) is None
    end = end_for("KeyError")
    assert end.code == "internal_error" and "KeyError" in end.message
    assert all(cls not in (Exception, BaseException) for cls in JOB_ERRORS)
