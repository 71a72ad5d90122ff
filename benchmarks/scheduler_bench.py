"""The scheduler's DynamoDB requests per minute with many scheduled sources of which a handful are due.

10,000 Stripe sources with a daily cron schedule, their minutes spread evenly over the day (so about seven
are due each minute), are seeded through the data layer on DynamoDB Local. The scheduler's run (what the
EventBridge rule invokes every minute) is called for consecutive minutes with an injected clock; only
the requests made by the scheduler's own thread are counted (the re-syncs it starts run elsewhere, and
fail at once: the seeded sources have no credentials)."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any


class ThreadMeter:
    """DynamoDB requests made by one thread (by operation)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.requests: Counter[str] = Counter()

    def __enter__(self) -> ThreadMeter:
        from sourcesync.aws import client

        client("dynamodb").meta.events.register("after-call.dynamodb.*", self._count)
        return self

    def __exit__(self, *_: Any) -> None:
        from sourcesync.aws import client

        client("dynamodb").meta.events.unregister("after-call.dynamodb.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        if threading.get_ident() == self.thread:
            self.requests[model.name] += 1

    def take(self) -> Counter[str]:
        taken, self.requests = self.requests, Counter()
        return taken


def seed(sources: int, day_start: datetime) -> str:
    """`sources` Stripe sources of one account with a daily cron schedule set now, through the data layer:
    source i fires at day_start + i * (1 day / sources), to the minute."""
    from sourcesync.clock import iso, now
    from sourcesync.ids import new_id
    from sourcesync.services.accounts import create_account
    from sourcesync.store.sources import get_source_store

    account_id = create_account("bench-scheduler").account_id
    store = get_source_store()
    step = 86_400 / sources

    def one(i: int) -> None:
        fires = day_start + timedelta(seconds=i * step)
        store.create(
            {
                "uuid": new_id("ds"),
                "account_id": account_id,
                "name": f"Scheduled {i}",
                "system": "stripe",
                "status": "active",
                "options": {"max_retry_seconds": 5},
                "created_at": iso(now()),
                "counts": {},
                "committed_generation": 1,
                "schedule": f"cron({fires.minute} {fires.hour} * * ? *)",
                "schedule_shard": "0",
                "schedule_anchor": iso(now()),
            }
        )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(sources)))
    return account_id


def run(sources: int = 10_000, minutes: int = 5) -> dict[str, Any]:
    from sourcesync.services.scheduling import run_due_resyncs

    day_start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
    started = time.perf_counter()
    seed(sources, day_start)
    seeding = time.perf_counter() - started
    with ThreadMeter() as meter:
        first = run_due_resyncs(day_start - timedelta(minutes=1))  # takes in every new schedule once
        taking_in = meter.take()
        per_minute: list[dict[str, Any]] = []
        for minute in range(minutes):
            outcome = run_due_resyncs(day_start + timedelta(minutes=minute))
            requests = meter.take()
            per_minute.append(
                {
                    "due": len(outcome.started) + len(outcome.skipped_running),
                    "requests": dict(requests),
                    "total": sum(requests.values()),
                }
            )
    due = [m["due"] for m in per_minute]
    totals = [m["total"] for m in per_minute]
    # what a run costs whatever is due: its Queries (changes, one per due bucket, stalled purges) and the
    # watermark's read; the rest is per due source
    fixed = sum(m["requests"].get("Query", 0) + 1 for m in per_minute)
    return {
        "scheduled_sources": sources,
        "minutes": minutes,
        "seeding_seconds": round(seeding, 1),
        "schedules_taken_in_first": first.schedules_taken_in,
        "requests_taking_in_every_schedule_once": sum(taking_in.values()),
        "per_minute": per_minute,
        "due_per_minute_median": statistics.median(due),
        "requests_per_minute_median": statistics.median(totals),
        "requests_per_run_fixed": round(fixed / max(1, minutes), 1),
        "requests_per_due_source": round((sum(totals) - fixed) / max(1, sum(due)), 1),
    }
