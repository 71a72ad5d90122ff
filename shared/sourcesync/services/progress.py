"""A job's progress (SPEC section 4): phase, per-kind done and total, percent and an estimate of the
time left. While a re-sync runs, its partitions' checkpoints (updated at least every few seconds)
are summed; a finished job keeps the figures it ended with."""

from __future__ import annotations

import time
from typing import Any

from sourcesync.clock import parse_iso

PHASE_WEIGHT = {"planning": 0, "fetching": 0, "applying_overlays": 92, "committing": 95, "purging": 0}


def job_progress(job: dict[str, Any], finished: bool = False) -> dict[str, Any]:
    if job.get("status") in ("succeeded", "failed", "cancelled") and not finished:
        return dict(job.get("progress") or {"percent": 0, "eta_seconds": None, "kinds": {}})
    from sourcesync.pipeline.steps import work_items

    items = work_items(job["job_id"])
    if job.get("kind") == "delete_source":
        return _purge_progress(job, items)
    plan = next((i for i in items if i["sk"] == "PLAN"), None)
    previous = (plan or {}).get("previous_counts", {})
    kinds: dict[str, dict[str, Any]] = {}
    for item in items:
        if not item["sk"].startswith("PART#"):
            continue
        entry = kinds.setdefault(item["kind"], {"done": 0, "total": 0, "_unknown": False, "_open": False})
        entry["done"] += int(item.get("done", 0))
        if item.get("total") is not None:
            entry["total"] += int(item["total"])
        else:
            entry["_unknown"] = True
        entry["_open"] = entry["_open"] or not item.get("finished")
    for kind, entry in kinds.items():
        unknown, still_open = entry.pop("_unknown"), entry.pop("_open")
        if not still_open:
            entry["total"] = entry["done"]
        elif unknown:  # the provider did not say: estimate from the last import, never below what is done
            estimate = int(previous.get(kind, 0))
            entry["total"] = max(estimate, entry["done"]) if estimate else None
    if finished:
        return {
            "percent": 100 if job.get("status") != "failed" else _percent(kinds, job),
            "eta_seconds": 0,
            "kinds": {k: {"done": v["done"], "total": v["done"]} for k, v in kinds.items()},
        }
    percent = _percent(kinds, job)
    return {"percent": percent, "eta_seconds": _eta(job, percent), "kinds": kinds}


def _percent(kinds: dict[str, dict[str, Any]], job: dict[str, Any]) -> int:
    floor = PHASE_WEIGHT.get(job.get("phase") or "", 0)
    if floor:
        return floor
    done = sum(v["done"] for v in kinds.values())
    total = sum(v["total"] if v["total"] is not None else v["done"] * 2 + 1 for v in kinds.values())
    return min(90, int(90 * done / total)) if total else 0


def _eta(job: dict[str, Any], percent: int) -> int | None:
    started = job.get("started_at")
    if not started or percent <= 0:
        return None
    elapsed = max(0.0, time.time() - parse_iso(started).timestamp())
    return int(elapsed * (100 - percent) / percent)


def _purge_progress(job: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """A purge counts stored items removed per kind against the source's record counts (an estimate:
    a record may have more than one stored version), and stays below 100 until it has finished."""
    plan = next((i for i in items if i["sk"] == "PLAN"), None)
    totals = {k: int(v) for k, v in ((plan or {}).get("previous_counts") or {}).items()}
    removed: dict[str, int] = {}
    for item in items:
        for kind, count in (item.get("kinds") or {}).items():
            removed[kind] = removed.get(kind, 0) + int(count)
    kinds = {
        kind: {"done": removed.get(kind, 0), "total": max(totals.get(kind, 0), removed.get(kind, 0))}
        for kind in sorted(set(totals) | set(removed))
    }
    total = sum(v["total"] for v in kinds.values())
    percent = min(99, int(100 * sum(v["done"] for v in kinds.values()) / total)) if total else 0
    return {"percent": percent, "eta_seconds": _eta(job, percent), "kinds": kinds}
