"""How the CLI writes the API's objects as text (`--json` prints them as the API answered)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def local_time(value: Any) -> str | None:
    """An ISO 8601 instant as the local time of day (`12:04:10`), or None when it is not one."""
    try:
        return f"{datetime.fromisoformat(str(value).replace('Z', '+00:00')).astimezone():%H:%M:%S}"
    except ValueError:
        return None


def source_line(source: dict[str, Any]) -> str:
    counts = source.get("counts") or {}
    return (
        f"{source['uuid']}  {source['system']:<18} {source['status']:<10} {source['name']}"
        f"  ({counts.get('customers', 0)} customers)"
    )


def source_text(source: dict[str, Any]) -> str:
    counts = source.get("counts") or {}
    lines = [
        source_line(source),
        f"  schedule      {source.get('schedule') or 'none'}",
        f"  last synced   {source.get('last_synced_at') or 'never'}",
        f"  re-sync       {'supported' if source.get('resync_supported') else 'not supported (Import API source)'}",
        "  records       " + (", ".join(f"{n} {kind}" for kind, n in counts.items()) or "none"),
    ]
    if source.get("options"):
        lines.append("  options       " + ", ".join(f"{k}={v}" for k, v in source["options"].items()))
    if source.get("current_job"):
        lines.append(job_text(source["current_job"]))
    return "\n".join(lines)


def waiting_text(job: dict[str, Any]) -> str:
    """`waiting for <what> until <local time>`, while the job waits for something."""
    waiting = job.get("waiting_for")
    if not waiting or not waiting.get("reason"):
        return ""
    text = f"waiting for {waiting['reason']}"
    until = local_time(waiting.get("until"))
    return f"{text} until {until}" if until else text


def cleanup_text(job: dict[str, Any]) -> str:
    """What the clean-up of the previous generation does after a job's switch (its tail, after it succeeded)."""
    cleanup = job.get("cleanup")
    if not cleanup or not cleanup.get("status"):
        return ""
    until = local_time(cleanup.get("until")) if cleanup.get("until") else None
    if cleanup["status"] == "pending":
        return "clean-up of the previous data: pending" + (
            f", its readers have until {until}; runs after that" if until else ""
        )
    if cleanup["status"] == "running":
        return "clean-up of the previous data: running"
    return "clean-up of the previous data: done"


def error_text(job: dict[str, Any]) -> str:
    error = job.get("error")
    if not error:
        return ""
    status = error.get("provider_status")
    return f"{error.get('code')}: {error.get('message')}" + (f" (provider answered HTTP {status})" if status else "")


def job_line(job: dict[str, Any]) -> str:
    progress = job.get("progress") or {}
    return (
        f"{job['id']}  {job['kind']:<15} {job['status']:<9} {progress.get('percent', 0):>3}%"
        f"  {job.get('phase') or '':<12}  created {job.get('created_at', '')}"
    )


def job_text(job: dict[str, Any]) -> str:
    progress = job.get("progress") or {}
    phase = f"  phase {job['phase']}" if job.get("phase") else ""
    lines = [f"{job['id']}  {job['kind']}  {job['status']}{phase}  {progress.get('percent', 0)}%"]
    for extra in (waiting_text(job), cleanup_text(job)):
        if extra:
            lines.append(f"  {extra}")
    for kind, value in (progress.get("kinds") or {}).items():
        total = value.get("total")
        estimate = "about " if value.get("estimated") else ""
        lines.append(f"  {kind:<14} {value.get('done', 0)} / {'?' if total is None else estimate + str(total)}")
    if job.get("error"):
        lines.append(f"  error: {error_text(job)}")
    return "\n".join(lines)


def kinds_text(job: dict[str, Any]) -> str:
    progress = job.get("progress") or {}
    return "  ".join(
        f"{kind} {value.get('done', 0)}"
        + (f"/{'~' if value.get('estimated') else ''}{value['total']}" if value.get("total") else "")
        for kind, value in sorted((progress.get("kinds") or {}).items())
    )


def bar(job: dict[str, Any], width: int = 30) -> str:
    """One line of progress: `[#####.....]  42%  fetching  customers 412/~1000  eta 17s`."""
    progress = job.get("progress") or {}
    percent = int(progress.get("percent", 0))
    filled = width * percent // 100
    eta = progress.get("eta_seconds")
    tail = f"  {waiting_text(job)}" if waiting_text(job) else (f"  eta {eta}s" if eta else "")
    state = job.get("phase") or job["status"]
    return f"[{'#' * filled}{'.' * (width - filled)}] {percent:3d}%  {state:<18} {kinds_text(job)}{tail}"


def customer_line(customer: dict[str, Any]) -> str:
    return (
        f"{customer['uuid']}  {customer.get('external_id') or '':<20} {customer.get('name') or '':<30}"
        f" mrr {customer.get('mrr', 0)} {customer.get('currency') or ''}  {customer.get('data_source_uuid', '')}"
    )


def customer_text(customer: dict[str, Any]) -> str:
    lines = [customer_line(customer)]
    for sub in customer.get("subscriptions") or []:
        lines.append(
            f"  subscription {sub['uuid']}  {sub.get('external_id', '')}  {sub.get('status', '')}"
            f"  mrr {sub.get('mrr', 0)}"
            + (f"  connected to {', '.join(sub['connected_to'])}" if sub.get("connected_to") else "")
        )
    overlays = customer.get("overlays") or {}
    for kind in ("merges", "connected_subscriptions", "mrr_edits"):
        for overlay in overlays.get(kind) or []:
            lines.append(
                f"  manual data  {overlay.get('id')}  {kind}" + ("  (orphaned)" if overlay.get("orphaned") else "")
            )
    return "\n".join(lines)


def subscription_text(sub: dict[str, Any]) -> str:
    lines = [
        f"{sub['uuid']}  {sub.get('external_id', '')}  {sub.get('status', '')}  mrr {sub.get('mrr', 0)}"
        f"  customer {sub.get('customer_uuid', '')}"
    ]
    for edit in sub.get("mrr_edits") or []:
        lines.append(f"  mrr edit {edit.get('id')}  {edit.get('mrr')} from {edit.get('from')} to {edit.get('to')}")
    return "\n".join(lines)


def key_line(key: dict[str, Any]) -> str:
    return (
        f"{key['id']}  {key['role']:<8} created {key['created_at']}  last used {key.get('last_used_at') or 'never'}"
        + (f"  expires {key['expires_at']}" if key.get("expires_at") else "")
    )
