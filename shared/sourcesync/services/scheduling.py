"""Scheduled re-syncs: started by the template's EventBridge rule, every minute.

A run's work follows what changed and what is due, not how many sources carry a schedule:

1. Schedules set or changed since the last run: the API writes a new `schedule_anchor` with every
   schedule, so a Query of the sparse `schedule_changes` index from the scheduler's watermark (the latest
   anchor it took into account, less a minute of overlap for the index's propagation) finds them. For
   each whose `next_due` was not computed from this schedule and anchor yet, the scheduler stores its next
   firing (`next_due`) in one of `DUE_BUCKETS` partitions of the sparse `due` index.
2. Due sources: a Query per bucket of the `due` index for `next_due <= now`. Each is read (consistently,
   its schedule may have changed), its re-sync started unless a job runs (skipped, not queued twice), and
   its next firing stored. A source whose schedule was removed, or that is being deleted, leaves the index.

"Now" is the scheduled event's `time`, so the local scheduler's injected clock makes tests exact. Missed
firings (the scheduler did not run) coalesce into one re-sync, as before.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sourcesync.clock import iso, now_iso, parse_iso
from sourcesync.errors import JobRunningError, NotFoundError
from sourcesync.log import logger
from sourcesync.schedule import next_fire
from sourcesync.services.jobs import start_source_job
from sourcesync.services.purges import PURGE_SHARD, start_purge
from sourcesync.store.dynamo import Item
from sourcesync.store.jobs import get_job_store
from sourcesync.store.sources import get_source_store
from sourcesync.systems import SYSTEMS, System

SCHEDULE_SHARDS = ("0",)
#: The `due` index's partitions: a fixed few, so that due sources never crowd one partition.
DUE_BUCKETS = tuple("0123")
#: How far before the watermark a run looks again for schedule changes (the index is eventually consistent).
CHANGES_OVERLAP = timedelta(minutes=1)


STALLED_PURGE = timedelta(minutes=2)


@dataclass
class SchedulerRun:
    started: list[str] = field(default_factory=list)
    skipped_running: list[str] = field(default_factory=list)
    not_due: int = 0
    purges_restarted: list[str] = field(default_factory=list)
    schedules_taken_in: int = 0


def due_bucket(uuid: str) -> str:
    return DUE_BUCKETS[zlib.crc32(uuid.encode()) % len(DUE_BUCKETS)]


def _account_and_uuid(keys: Item) -> tuple[str, str]:
    return str(keys["pk"]).removeprefix("A#"), str(keys["sk"]).removeprefix("DS#")


def _next_due(source: Item, after: datetime) -> str | None:
    fire = next_fire(source["schedule"], parse_iso(source["schedule_anchor"]), after)
    return iso(fire) if fire is not None else None


def _schedulable(source: Item | None) -> bool:
    return (
        source is not None
        and bool(source.get("schedule"))
        and source.get("status") != "deleting"
        and SYSTEMS[System(source["system"])].resync_source
    )


def take_in_schedule_changes(run: SchedulerRun) -> None:
    """Step 1: the next firing of every schedule set or changed since the last run."""
    store = get_source_store()
    watermark = store.schedule_watermark()
    since = iso(parse_iso(watermark) - CHANGES_OVERLAP) if watermark else "0"
    latest = watermark or ""
    for shard in SCHEDULE_SHARDS:
        for change in store.schedule_changes(shard, since):
            latest = max(latest, str(change["schedule_anchor"]))
            if change.get("next_due_of") == f"{change['schedule_anchor']} {change.get('schedule')}":
                continue  # taken in by an earlier run
            account_id, uuid = _account_and_uuid(change)
            source = store.get(account_id, uuid)
            if not _schedulable(source):
                continue
            assert source is not None
            # the first firing after the schedule was set (or, for a source the previous scheduler already
            # looked at, after that look)
            after = max(
                parse_iso(source["schedule_anchor"]),
                parse_iso(source.get("schedule_checked_at") or "1970-01-01T00:00:00Z"),
            )
            store.set_next_due(
                account_id,
                uuid,
                _next_due(source, after),
                due_bucket(uuid),
                source["schedule"],
                source["schedule_anchor"],
            )
            run.schedules_taken_in += 1
    latest = min(latest, now_iso())  # anchors come from the API's clock: never trust one from the future
    if latest and latest != watermark:
        store.set_schedule_watermark(latest)


def run_due_resyncs(now: datetime) -> SchedulerRun:
    run = SchedulerRun()
    take_in_schedule_changes(run)
    store = get_source_store()
    for bucket in DUE_BUCKETS:
        for keys in store.due(bucket, iso(now)):
            account_id, uuid = _account_and_uuid(keys)
            source = store.get(account_id, uuid)
            if not _schedulable(source):
                store.clear_next_due(account_id, uuid)
                continue
            assert source is not None
            if source.get("next_due_of") != f"{source['schedule_anchor']} {source['schedule']}":
                run.not_due += 1  # its schedule changed since the index was read: the next run takes it in
                continue
            if not source.get("next_due") or parse_iso(source["next_due"]) > now:
                run.not_due += 1
                continue
            store.set_next_due(
                account_id, uuid, _next_due(source, now), bucket, source["schedule"], source["schedule_anchor"]
            )
            _start(source, run)
    _restart_stalled_purges(now, run)
    return run


def _start(source: Item, run: SchedulerRun) -> None:
    try:
        job = start_source_job(source["account_id"], source["uuid"], "resync_source", "schedule")
    except JobRunningError as running:
        logger.info(
            "Scheduled re-sync skipped: a job runs", data_source_uuid=source["uuid"], job_id=running.extra["job_id"]
        )
        run.skipped_running.append(source["uuid"])
    except NotFoundError:
        return
    else:
        logger.info("Scheduled re-sync started", data_source_uuid=source["uuid"], job_id=job["job_id"])
        run.started.append(source["uuid"])


def _restart_stalled_purges(now: datetime, run: SchedulerRun) -> None:
    """A purge that failed, or whose start was lost, is started again: it resumes where it stopped."""
    jobs = get_job_store()
    for source in get_source_store().scheduled(PURGE_SHARD):
        job = jobs.get(source["account_id"], source.get("delete_job_id", ""))
        if job is None or job["status"] not in ("queued", "failed"):
            continue
        since = parse_iso(job.get("restarted_at") or job.get("finished_at") or job["created_at"])
        if now - since < STALLED_PURGE:
            continue
        attempt = int(job.get("purge_attempt", 1)) + 1
        jobs.update(
            job["account_id"],
            job["job_id"],
            {
                "purge_attempt": attempt,
                "status": "queued",
                "finished_at": None,
                "error": None,
                "restarted_at": iso(now),
            },
        )
        start_purge(job, attempt=attempt)
        run.purges_restarted.append(source["uuid"])
