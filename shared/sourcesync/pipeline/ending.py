"""How a job ends: its final status is the last thing written.

A client that sees a job `succeeded` (or `failed`, `cancelled`) may act on it at once: start the next job of
the source, or look for what is left of a deleted one. So everything else the end does (dropping the work
items, letting go of the source) happens first, and the status comes last.

The figures the job ends with (result, error, progress) are computed from its work items, which go before
the status is written. They are therefore stored on the job first, under `ending` (which no reader shows),
and a step that Step Functions retries after the work items went ends the job with those same figures.
"""

from __future__ import annotations

from collections.abc import Callable

from sourcesync.store.dynamo import Item
from sourcesync.store.jobs import get_job_store

FINISHED = ("succeeded", "failed", "cancelled")


def end_job(
    account_id: str, job_id: str, ending: Callable[[Item], Item], before_the_status: Callable[[], None]
) -> Item | None:
    """End a job: `ending(stored job)` gives its final fields (status included), `before_the_status` does
    the rest of the end (idempotent: it may run again on a retry). Returns the fields the job ended with,
    or None if it had ended already (or was purged): then only `before_the_status` runs again."""
    jobs = get_job_store()
    stored = jobs.get(account_id, job_id)
    if stored is None or (stored.get("status") in FINISHED and not stored.get("ending")):
        before_the_status()
        return None
    final: Item = stored.get("ending") or ending(stored)
    if not stored.get("ending"):
        jobs.update(account_id, job_id, {"ending": final})
    before_the_status()
    jobs.update(account_id, job_id, {**final, "ending": None})
    return final
