"""Scheduled re-syncs: started by the template's EventBridge rule, every minute.

Each run looks at the sources that carry a schedule (the sparse `scheduled` index), asks whether the
schedule fired since that source was last looked at, and starts a re-sync for the due ones. A due
source whose previous job still runs is skipped, not queued twice. "Now" is the scheduled event's
`time`, so the local scheduler's injected clock makes tests exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sourcesync.clock import iso, parse_iso
from sourcesync.errors import JobRunningError, NotFoundError
from sourcesync.log import logger
from sourcesync.schedule import is_due
from sourcesync.services.jobs import start_source_job
from sourcesync.store.jobs import get_job_store
from sourcesync.store.sources import get_source_store
from sourcesync.systems import SYSTEMS, System

SCHEDULE_SHARDS = ("0",)
FIRST_LOOK_WINDOW = timedelta(minutes=1)


STALLED_PURGE = timedelta(minutes=2)


@dataclass
class SchedulerRun:
    started: list[str] = field(default_factory=list)
    skipped_running: list[str] = field(default_factory=list)
    not_due: int = 0
    purges_restarted: list[str] = field(default_factory=list)


def run_due_resyncs(now: datetime) -> SchedulerRun:
    run = SchedulerRun()
    store = get_source_store()
    for shard in SCHEDULE_SHARDS:
        for source in store.scheduled(shard):
            if source.get("status") == "deleting" or not SYSTEMS[System(source["system"])].resync_source:
                continue
            checked = source.get("schedule_checked_at")
            start = parse_iso(checked) if checked else now - FIRST_LOOK_WINDOW
            due = is_due(source["schedule"], parse_iso(source["schedule_anchor"]), start, now)
            store.update(source["account_id"], source["uuid"], {"schedule_checked_at": iso(now)})
            if not due:
                run.not_due += 1
                continue
            try:
                job = start_source_job(source["account_id"], source["uuid"], "resync_source", "schedule")
            except JobRunningError as running:
                logger.info(
                    "Scheduled re-sync skipped: a job runs",
                    data_source_uuid=source["uuid"],
                    job_id=running.extra["job_id"],
                )
                run.skipped_running.append(source["uuid"])
            except NotFoundError:
                continue
            else:
                logger.info("Scheduled re-sync started", data_source_uuid=source["uuid"], job_id=job["job_id"])
                run.started.append(source["uuid"])
    _restart_stalled_purges(now, run)
    return run


def _restart_stalled_purges(now: datetime, run: SchedulerRun) -> None:
    """A purge that failed, or whose start was lost, is started again: it resumes where it stopped."""
    from sourcesync.services.delete_source import PURGE_SHARD, start_purge

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
