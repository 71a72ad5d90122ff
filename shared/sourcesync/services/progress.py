"""A job's progress (docs/architecture.md#progress-waits-and-errors-of-jobs): per-kind done and total,
percent and an estimate of the time left.

Progress is computed when a job is read, from the work items the workers write anyway (the plan, and
each partition's checkpoint: records done, the provider's total when it tells, finished), so measuring it
costs the pipeline nothing. A finished job keeps the figures it ended with.

- Every kind of the plan counts from the start. A kind's total is what it holds once fetched; before
  that, on a re-sync, at least the previous generation's count; on a first import, the provider's total
  when it tells, else an estimate (`estimated: true`).
- Fetching fills `FETCH_SHARE` percent in proportion to the records fetched; the steps after it
  (matching manual data, the switch, the clean-up) hold the rest, and percent reaches `FETCH_SHARE` only
  once every partition is fetched.
- Percent never goes down: the highest percent shown is kept on the job item (one conditional write,
  only when it rises), because a first import's estimates can grow as pages arrive.
- The time left comes from the measured throughput: records fetched per second since fetching started.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sourcesync.clock import now, parse_iso
from sourcesync.store import work_items
from sourcesync.store.jobs import get_job_store

FETCH_SHARE = 90
#: Percent once a phase after fetching has started.
PHASE_FLOOR = {"applying_overlays": 92, "committing": 95}
#: A kind still being fetched without a known size holds at least one more page.
PAGE_GUESS = 100
#: On a first import without sizes: the kinds that belong to customers hold at least one per customer.
CUSTOMER_SCOPED = ("subscriptions", "invoices", "transactions")
FINISHED = ("succeeded", "failed", "cancelled")
EMPTY: dict[str, Any] = {"percent": 0, "eta_seconds": None, "kinds": {}}


def job_progress(job: dict[str, Any], finished: bool = False) -> dict[str, Any]:
    """The job's progress as it is now (`finished`: the figures to freeze into a job that ends)."""
    if job.get("status") in FINISHED and not finished:
        return dict(job.get("progress") or EMPTY)
    items = work_items.of_job(job["job_id"])
    if job.get("kind") == "delete_source":
        progress = purge_progress(job, items, now())
    else:
        progress = fetch_progress(job, items, now(), finished=finished)
    shown = int(job.get("percent_shown") or 0)
    if progress["percent"] > shown and job.get("status") == "running" and not finished:
        get_job_store().raise_percent_shown(job["account_id"], job["job_id"], progress["percent"])
    progress["percent"] = max(progress["percent"], shown)
    return progress


def fetch_progress(
    job: dict[str, Any], items: list[dict[str, Any]], moment: datetime, finished: bool = False
) -> dict[str, Any]:
    """An import's or re-sync's progress from its work items (pure: no I/O)."""
    plan = next((i for i in items if i["sk"] == "PLAN"), None)
    if job.get("kind") == "resync_customer":  # one customer: one step, no pages to count
        plan = None
    kinds, all_fetched = _kinds(plan, items)
    if finished:
        percent = 100 if job.get("status") != "failed" else _percent(job, kinds, all_fetched)
        frozen = {k: {"done": v["done"], "total": v["done"]} for k, v in kinds.items()}
        return {"percent": percent, "eta_seconds": 0, "kinds": frozen}
    if plan is None:
        return {"percent": _percent(job, kinds, False), "eta_seconds": _eta(job, kinds, plan, moment), "kinds": {}}
    percent = _percent(job, kinds, all_fetched)
    return {"percent": percent, "eta_seconds": _eta(job, kinds, plan, moment), "kinds": kinds}


def _kinds(plan: dict[str, Any] | None, items: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], bool]:
    """Per kind: done, total and whether the total is an estimate; and whether every partition is fetched."""
    if plan is None:
        return {}, False
    partitions = json.loads(plan.get("partitions") or "[]")
    first_import = plan.get("previous_generation") is None
    previous = {k: int(v) for k, v in (plan.get("previous_counts") or {}).items()}
    checkpoints = {i["sk"].removeprefix("PART#"): i for i in items if i["sk"].startswith("PART#")}
    figures: dict[str, dict[str, Any]] = {}
    for partition in partitions:
        entry = figures.setdefault(partition["kind"], {"done": 0, "told": 0, "untold": False, "open": False})
        checkpoint = checkpoints.get(partition["key"]) or {}
        entry["done"] += int(checkpoint.get("done", 0))
        entry["open"] = entry["open"] or not checkpoint.get("finished")
        if checkpoint.get("total") is not None:
            entry["told"] += int(checkpoint["total"])
        elif not checkpoint.get("finished"):
            entry["untold"] = True
    kinds: dict[str, dict[str, Any]] = {}
    for kind in sorted(figures, key=lambda k: (k in CUSTOMER_SCOPED, k)):  # customers first: others lean on them
        entry = figures[kind]
        done = entry["done"]
        if not entry["open"]:
            kinds[kind] = {"done": done, "total": done, "estimated": False}
        elif not first_import:
            kinds[kind] = {"done": done, "total": max(done, previous.get(kind, 0)), "estimated": True}
        elif not entry["untold"]:
            kinds[kind] = {"done": done, "total": max(done, entry["told"]), "estimated": False}
        else:
            guess = max(entry["told"], done + PAGE_GUESS, 2 * done)
            if kind in CUSTOMER_SCOPED and "customers" in kinds:
                guess = max(guess, int(kinds["customers"]["total"]))
            kinds[kind] = {"done": done, "total": guess, "estimated": True}
    return kinds, bool(partitions) and not any(entry["open"] for entry in figures.values())


def _percent(job: dict[str, Any], kinds: dict[str, dict[str, Any]], all_fetched: bool) -> int:
    floor = PHASE_FLOOR.get(job.get("phase") or "")
    if floor is not None:
        return floor
    if all_fetched:
        return FETCH_SHARE
    total = sum(int(v["total"]) for v in kinds.values())
    done = sum(int(v["done"]) for v in kinds.values())
    return min(FETCH_SHARE - 1, FETCH_SHARE * done // total) if total else 0


def _eta(
    job: dict[str, Any], kinds: dict[str, dict[str, Any]], plan: dict[str, Any] | None, moment: datetime
) -> int | None:
    waiting = job.get("waiting_for")
    if waiting and waiting.get("until"):
        return max(0, int((parse_iso(waiting["until"]) - moment).total_seconds()))
    if plan is None or not plan.get("planned_at") or job.get("phase") not in (None, "fetching"):
        return None
    done = sum(int(v["done"]) for v in kinds.values())
    left = sum(int(v["total"]) - int(v["done"]) for v in kinds.values())
    elapsed = (moment - parse_iso(plan["planned_at"])).total_seconds()
    if done <= 0 or elapsed <= 0:
        return None
    return int(left / (done / elapsed) + 0.5)


def purge_progress(job: dict[str, Any], items: list[dict[str, Any]], moment: datetime) -> dict[str, Any]:
    """A purge counts stored items removed per kind against the source's record counts (an estimate:
    a record may have more than one stored version), and stays below 100 until it has finished."""
    plan = next((i for i in items if i["sk"] == "PLAN"), None)
    totals = {k: int(v) for k, v in ((plan or {}).get("previous_counts") or {}).items()}
    removed: dict[str, int] = {}
    for item in items:
        for kind, count in (item.get("kinds") or {}).items():
            removed[kind] = removed.get(kind, 0) + int(count)
    kinds = {
        kind: {
            "done": removed.get(kind, 0),
            "total": max(totals.get(kind, 0), removed.get(kind, 0)),
            "estimated": True,
        }
        for kind in sorted(set(totals) | set(removed))
    }
    total = sum(v["total"] for v in kinds.values())
    done = sum(v["done"] for v in kinds.values())
    percent = min(99, 100 * done // total) if total else 0
    eta: int | None = None
    waiting = job.get("waiting_for")
    if waiting and waiting.get("until"):
        eta = max(0, int((parse_iso(waiting["until"]) - moment).total_seconds()))
    elif plan is not None and plan.get("planned_at") and done:
        elapsed = (moment - parse_iso(plan["planned_at"])).total_seconds()
        eta = int((total - done) / (done / elapsed) + 0.5) if elapsed > 0 else None
    return {"percent": percent, "eta_seconds": eta, "kinds": kinds}
