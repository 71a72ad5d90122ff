"""Following a job to its end: rich's live progress display in a terminal, plain lines otherwise."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Protocol

from sourcesync_cli import render
from sourcesync_cli.client import EXIT_JOB_FAILED, EXIT_OK

FINISHED = ("succeeded", "failed", "cancelled")


class Caller(Protocol):
    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any: ...


def follow(api: Caller, job: dict[str, Any], as_json: bool, interval: float = 0.5) -> int:
    """Poll the job until it ends; 0 if it succeeded, 4 if it failed or was cancelled. With `as_json`, only
    the finished job is printed (one line); in a terminal a live bar per kind; else a line per change."""
    if as_json:
        job = wait(api, job, interval, lambda _: None)
        print(json.dumps(job), flush=True)
    elif sys.stdout.isatty():
        job = _follow_live(api, job, interval)
    else:
        last = [""]

        def line(current: dict[str, Any]) -> None:
            text = render.bar(current)
            if text != last[0]:
                print(text, flush=True)
                last[0] = text

        job = wait(api, job, interval, line)
        line(job)
    if not as_json:
        _summary(job)
    return EXIT_OK if job["status"] == "succeeded" else EXIT_JOB_FAILED


def wait(api: Caller, job: dict[str, Any], interval: float = 0.5, seen: Any = None) -> dict[str, Any]:
    """Poll the job until it ends (calling `seen` with each state before that); the finished job."""
    while job["status"] not in FINISHED:
        if seen:
            seen(job)
        time.sleep(interval)
        job = api.call("GET", f"/v1/jobs/{job['id']}")
    return job


def _follow_live(api: Caller, job: dict[str, Any], interval: float) -> dict[str, Any]:
    from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

    columns = (
        TextColumn("{task.description:<15}"),
        BarColumn(bar_width=30),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, refresh_per_second=8) as display:
        overall = display.add_task(job["kind"], total=100, detail="")
        kinds: dict[str, TaskID] = {}

        def show(current: dict[str, Any]) -> None:
            progress = current.get("progress") or {}
            eta = progress.get("eta_seconds")
            detail = render.waiting_text(current) or (
                f"{current.get('phase') or current['status']}" + (f"  eta {eta}s" if eta else "")
            )
            display.update(overall, completed=progress.get("percent", 0), detail=detail)
            for kind, value in sorted((progress.get("kinds") or {}).items()):
                total = value.get("total")
                if kind not in kinds:
                    kinds[kind] = display.add_task(f"  {kind}", total=total, detail="")
                estimated = "about " if value.get("estimated") and total else ""
                display.update(
                    kinds[kind],
                    total=total,
                    completed=value.get("done", 0),
                    detail=f"{value.get('done', 0)} / {estimated}{total if total is not None else '?'}",
                )

        job = wait(api, job, interval, show)
        show(job)
    return job


def _summary(job: dict[str, Any]) -> None:
    print(f"{job['kind']} {job['status']}" + (f": {render.error_text(job)}" if job.get("error") else ""))
    cleanup = job.get("cleanup") or {}
    if cleanup.get("status") in ("pending", "running"):
        until = render.local_time(cleanup.get("until")) if cleanup.get("until") else None
        print(
            "The new data is live. The clean-up of the previous data runs in the background"
            + (f" until {until} (its readers' grace period) and a moment after" if until else "")
            + f"; `sourcesync jobs show {job['id']}` tells when it is done."
        )
    result = job.get("result") or {}
    removed, orphaned = result.get("overlays_removed") or [], result.get("overlays_orphaned") or []
    if removed or orphaned:
        print(
            f"manual data: {len(removed)} removed by the policy matrix, {len(orphaned)} kept but orphaned "
            f"(details: sourcesync jobs show {job['id']} --json)"
        )
