"""`sourcesync`: the command line (README.md, "Using it").

Most commands are clients of the HTTP API (`SOURCESYNC_API_URL`, `SOURCESYNC_API_KEY`). The operator
commands `account create` and `key create` write to the accounts table directly (there is no key to
call the API with yet): they find it through `ACCOUNTS_TABLE`, or the local stack's
`.local/endpoints.json`, or `--stack NAME` (the deployed stack's outputs).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import requests

ENDPOINTS_FILE = Path(os.environ.get("SOURCESYNC_ENDPOINTS", ".local/endpoints.json"))


class CliError(Exception):
    pass


def _local_endpoints() -> dict[str, Any] | None:
    if ENDPOINTS_FILE.is_file():
        loaded: dict[str, Any] = json.loads(ENDPOINTS_FILE.read_text())
        return loaded
    return None


def _operator_environment(stack: str | None) -> None:
    """Point the layer's settings at the accounts table (and audit bus) of the local stack or of a deployed
    stack, and check the settings the operator's commands read (nothing else need be set)."""
    from sourcesync.log import logger

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)  # stdout holds the command's answer; audit log lines go aside
    _find_accounts_table(stack)
    from sourcesync.config import OPERATOR_SETTINGS, SettingsError, check_settings, get_settings

    get_settings.cache_clear()
    try:
        check_settings(OPERATOR_SETTINGS)
    except SettingsError as error:
        raise CliError(str(error)) from None


def _find_accounts_table(stack: str | None) -> None:
    if os.environ.get("ACCOUNTS_TABLE"):
        return
    local = _local_endpoints()
    if local and not stack:
        os.environ.setdefault("AWS_ENDPOINT_URL", local["aws"])
        os.environ.setdefault("AWS_ENDPOINT_URL_DYNAMODB", local["dynamodb"])
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", local.get("region", "us-east-1"))
        os.environ["ACCOUNTS_TABLE"] = local["environment"]["ACCOUNTS_TABLE"]
        if local["environment"].get("AUDIT_EVENT_BUS"):
            os.environ.setdefault("AUDIT_EVENT_BUS", local["environment"]["AUDIT_EVENT_BUS"])
        return
    if not stack:
        raise CliError(
            f"Set ACCOUNTS_TABLE, start the local stack (make up; it writes {ENDPOINTS_FILE}, or name the file "
            "with SOURCESYNC_ENDPOINTS), or pass --stack NAME."
        )
    import boto3

    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    table = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "AccountsTableName"), None)
    if not table:
        raise CliError(f"Stack {stack} has no AccountsTableName output.")
    os.environ["ACCOUNTS_TABLE"] = table
    bus = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "AuditEventBusName"), None)
    if bus:
        os.environ.setdefault("AUDIT_EVENT_BUS", bus)


class Api:
    def __init__(self, url: str | None, key: str | None) -> None:
        local = _local_endpoints()
        self.url = (url or os.environ.get("SOURCESYNC_API_URL") or (local or {}).get("api") or "").rstrip("/")
        self.key = key or os.environ.get("SOURCESYNC_API_KEY")
        if not self.url:
            raise CliError("Set SOURCESYNC_API_URL (or start the local stack with make up).")
        if not self.key:
            raise CliError("Set SOURCESYNC_API_KEY (make one with: sourcesync account create NAME).")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.key}"

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        response = self.session.request(method, self.url + path, json=body, params=params, timeout=30)
        payload = response.json() if response.content else None
        if response.status_code >= 400:
            error = (payload or {}).get("error", {})
            raise CliError(f"{response.status_code} {error.get('code', '')}: {error.get('message', response.text)}")
        return payload


def _print(value: Any, as_json: bool, text: str) -> None:
    print(json.dumps(value, indent=2) if as_json else text)


def _source_line(source: dict[str, Any]) -> str:
    counts = source.get("counts", {})
    return (
        f"{source['uuid']}  {source['system']:<18} {source['status']:<10} {source['name']}"
        f"  ({counts.get('customers', 0)} customers)"
    )


def _job_text(job: dict[str, Any]) -> str:
    progress = job.get("progress", {})
    lines = [f"{job['id']}  {job['kind']}  {job['status']}  phase={job.get('phase')}  {progress.get('percent', 0)}%"]
    if _waiting_text(job):
        lines.append(f"  {_waiting_text(job)}")
    if _cleanup_text(job):
        lines.append(f"  {_cleanup_text(job)}")
    for kind, value in progress.get("kinds", {}).items():
        total = value.get("total")
        estimate = "about " if value.get("estimated") else ""
        lines.append(f"  {kind:<14} {value.get('done', 0)} / {'?' if total is None else estimate + str(total)}")
    if job.get("error"):
        status = job["error"].get("provider_status")
        lines.append(
            f"  error: {job['error'].get('code')}: {job['error'].get('message')}"
            + (f" (provider answered HTTP {status})" if status else "")
        )
    return "\n".join(lines)


def _bar(job: dict[str, Any], width: int = 30) -> str:
    progress = job.get("progress", {})
    percent = int(progress.get("percent", 0))
    filled = width * percent // 100
    kinds = "  ".join(
        f"{kind} {value.get('done', 0)}"
        + (f"/{'~' if value.get('estimated') else ''}{value['total']}" if value.get("total") else "")
        for kind, value in sorted(progress.get("kinds", {}).items())
    )
    eta = progress.get("eta_seconds")
    tail = f"  eta {eta}s" if eta else ""
    state = job.get("phase") or job["status"]
    waiting = _waiting_text(job)
    if waiting:
        tail = f"  {waiting}"
    return f"[{'#' * filled}{'.' * (width - filled)}] {percent:3d}%  {state:<18} {kinds}{tail}"


def _local_time(value: Any) -> str | None:
    from datetime import datetime

    try:
        return f"{datetime.fromisoformat(str(value).replace('Z', '+00:00')).astimezone():%H:%M:%S}"
    except ValueError:
        return None


def _cleanup_text(job: dict[str, Any]) -> str:
    """What the clean-up of the previous generation does after a job's switch (its tail, after it succeeded)."""
    cleanup = job.get("cleanup")
    if not cleanup or not cleanup.get("status"):
        return ""
    until = _local_time(cleanup.get("until")) if cleanup.get("until") else None
    if cleanup["status"] == "pending":
        return "clean-up of the previous data: pending" + (
            f", its readers have until {until}; runs after that" if until else ""
        )
    if cleanup["status"] == "running":
        return "clean-up of the previous data: running"
    return "clean-up of the previous data: done"


def _waiting_text(job: dict[str, Any]) -> str:
    """`waiting for <what> until <local time>`, while the job waits for something."""
    from datetime import datetime

    waiting = job.get("waiting_for")
    if not waiting or not waiting.get("reason"):
        return ""
    text = f"waiting for {waiting['reason']}"
    try:
        until = datetime.fromisoformat(str(waiting.get("until")).replace("Z", "+00:00"))
    except ValueError:
        return text
    return f"{text} until {until.astimezone():%H:%M:%S}"


def follow(api: Api, job: dict[str, Any], as_json: bool, interval: float = 0.5) -> int:
    """A live progress bar until the job ends; exit status 0 only if it succeeded."""
    import time

    live = sys.stdout.isatty() and not as_json
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        if not as_json:
            print(("\r" if live else "") + _bar(job), end="" if live else "\n", flush=True)
        time.sleep(interval)
        job = api.call("GET", f"/v1/jobs/{job['id']}")
    if as_json:
        print(json.dumps(job))
    else:
        print(("\r" if live else "") + _bar(job))
        print(
            f"{job['kind']} {job['status']}"
            + (f": {job['error']['code']}: {job['error']['message']}" if job.get("error") else "")
        )
        cleanup = job.get("cleanup") or {}
        if cleanup.get("status") in ("pending", "running"):
            until = _local_time(cleanup.get("until")) if cleanup.get("until") else None
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
    return 0 if job["status"] == "succeeded" else 1


def cmd_sources_delete(args: argparse.Namespace) -> int:
    api = Api(args.api_url, args.api_key)
    source = api.call("GET", f"/v1/data_sources/{args.uuid}")
    preview = api.call("DELETE", f"/v1/data_sources/{args.uuid}", params={"dry_run": "true"})
    if not args.json:
        counts = ", ".join(f"{n} {kind}" for kind, n in preview["counts"].items())
        print(
            f"Deleting {source['name']} ({source['system']}, {source['uuid']}) erases for good: {counts}; "
            f"{len(preview['overlays_affected'])} pieces of manual data are affected."
        )
    if not args.yes:
        print(f"Type the source's name ({source['name']}) to confirm: ", end="", flush=True)
        typed = sys.stdin.readline().strip()
        if typed != source["name"]:
            print("The name does not match; nothing was deleted.", file=sys.stderr)
            return 2
    job = api.call("DELETE", f"/v1/data_sources/{args.uuid}")
    return follow(api, job, args.json)


def cmd_sources_resync(args: argparse.Namespace) -> int:
    api = Api(args.api_url, args.api_key)
    if not args.json:
        preview = api.call("POST", f"/v1/data_sources/{args.uuid}/resync", params={"dry_run": "true"})
        if preview["overlays_removed"]:
            print(f"This re-sync removes {len(preview['overlays_removed'])} pieces of manual data (the policy matrix).")
    job = api.call("POST", f"/v1/data_sources/{args.uuid}/resync")
    return follow(api, job, args.json)


def cmd_customers_resync(args: argparse.Namespace) -> int:
    api = Api(args.api_url, args.api_key)
    job = api.call("POST", f"/v1/data_sources/{args.source}/customers/{args.customer}/resync")
    return follow(api, job, args.json)


def cmd_account_create(args: argparse.Namespace) -> int:
    _operator_environment(args.stack)
    from sourcesync.services.accounts import create_account

    key = create_account(args.name)
    print(json.dumps({"account_id": key.account_id, "api_key": key.api_key}))
    return 0


def cmd_key_create(args: argparse.Namespace) -> int:
    _operator_environment(args.stack)
    from sourcesync.services.accounts import create_key

    key = create_key(args.account, args.role)
    print(json.dumps({"account_id": key.account_id, "key_id": key.key_id, "role": key.role, "api_key": key.api_key}))
    return 0


def cmd_key_list(args: argparse.Namespace) -> int:
    api, entries, cursor = Api(args.api_url, args.api_key), [], None
    while True:
        page = api.call("GET", "/v1/api_keys", params={"per_page": 200, **({"cursor": cursor} if cursor else {})})
        entries.extend(page["entries"])
        cursor = page.get("cursor")
        if not page.get("has_more"):
            break
    lines = [
        f"{k['id']}  {k['role']:<8} created {k['created_at']}  last used {k.get('last_used_at') or 'never'}"
        + (f"  expires {k['expires_at']}" if k.get("expires_at") else "")
        for k in entries
    ]
    _print(entries, args.json, "\n".join(lines) or "no keys")
    return 0


def cmd_key_revoke(args: argparse.Namespace) -> int:
    Api(args.api_url, args.api_key).call("DELETE", f"/v1/api_keys/{args.key_id}")
    _print({"id": args.key_id, "revoked": True}, args.json, f"{args.key_id} revoked")
    return 0


def cmd_key_rotate(args: argparse.Namespace) -> int:
    body = {"grace_period_seconds": args.grace_period}
    answer = Api(args.api_url, args.api_key).call("POST", f"/v1/api_keys/{args.key_id}/rotate", body)
    text = (
        f"new key {answer['id']} ({answer['role']}): {answer['api_key']}\n"
        f"{args.key_id} stops working at {answer['old_key_expires_at']}; the new key is not shown again"
    )
    _print(answer, args.json, text)
    return 0


def cmd_sources_list(args: argparse.Namespace) -> int:
    api, entries, cursor = Api(args.api_url, args.api_key), [], None
    while True:
        page = api.call("GET", "/v1/data_sources", params={"per_page": 200, **({"cursor": cursor} if cursor else {})})
        entries.extend(page["entries"])
        if not page["has_more"]:
            break
        cursor = page["cursor"]
    _print(entries, args.json, "\n".join(_source_line(s) for s in entries) or "No data sources.")
    return 0


def cmd_sources_show(args: argparse.Namespace) -> int:
    source = Api(args.api_url, args.api_key).call("GET", f"/v1/data_sources/{args.uuid}")
    text = _source_line(source)
    if source.get("current_job"):
        text += "\n" + _job_text(source["current_job"])
    _print(source, args.json, text)
    return 0


def cmd_jobs_show(args: argparse.Namespace) -> int:
    job = Api(args.api_url, args.api_key).call("GET", f"/v1/jobs/{args.job_id}")
    _print(job, args.json, _job_text(job))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sourcesync", description="Erase and re-import data sources.")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--api-url", help="default: $SOURCESYNC_API_URL or the local stack's")
    parser.add_argument("--api-key", help="default: $SOURCESYNC_API_KEY")
    groups = parser.add_subparsers(dest="group", required=True)

    account = groups.add_parser("account", help="accounts (operator)").add_subparsers(dest="command", required=True)
    create = account.add_parser("create", help="create an account and its first member key")
    create.add_argument("name")
    create.add_argument("--stack", help="a deployed stack's name (default: local stack or $ACCOUNTS_TABLE)")
    create.set_defaults(func=cmd_account_create)

    key = groups.add_parser("key", help="API keys (operator)").add_subparsers(dest="command", required=True)
    key_create = key.add_parser("create", help="create another key for an account")
    key_create.add_argument("--account", required=True)
    key_create.add_argument("--role", choices=["member", "support"], default="member")
    key_create.add_argument("--stack")
    key_create.set_defaults(func=cmd_key_create)
    key.add_parser("list", help="list the keys of the calling key's account").set_defaults(func=cmd_key_list)
    key_revoke = key.add_parser("revoke", help="revoke a key at once (the calling key too)")
    key_revoke.add_argument("key_id")
    key_revoke.set_defaults(func=cmd_key_revoke)
    key_rotate = key.add_parser("rotate", help="a new key; the old one stops working after the grace period")
    key_rotate.add_argument("key_id")
    key_rotate.add_argument("--grace-period", type=int, default=3600, help="seconds (default 3600; 0: at once)")
    key_rotate.set_defaults(func=cmd_key_rotate)

    sources = groups.add_parser("sources", help="data sources").add_subparsers(dest="command", required=True)
    sources.add_parser("list", help="list data sources").set_defaults(func=cmd_sources_list)
    show = sources.add_parser("show", help="show one data source")
    show.add_argument("uuid")
    show.set_defaults(func=cmd_sources_show)

    delete = sources.add_parser("delete", help="erase a data source (shows what, asks for its name)")
    delete.add_argument("uuid")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=cmd_sources_delete)
    resync = sources.add_parser("resync", help="re-sync a data source and follow it")
    resync.add_argument("uuid")
    resync.set_defaults(func=cmd_sources_resync)

    customers = groups.add_parser("customers", help="customers").add_subparsers(dest="command", required=True)
    customer_resync = customers.add_parser("resync", help="re-sync one customer and follow it")
    customer_resync.add_argument("source")
    customer_resync.add_argument("customer")
    customer_resync.set_defaults(func=cmd_customers_resync)

    jobs = groups.add_parser("jobs", help="jobs").add_subparsers(dest="command", required=True)
    job_show = jobs.add_parser("show", help="show one job")
    job_show.add_argument("job_id")
    job_show.set_defaults(func=cmd_jobs_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv  # accepted anywhere: `sourcesync --json sources list` or `... list --json`
    args = build_parser().parse_args([a for a in argv if a != "--json"])
    args.json = as_json
    try:
        return int(args.func(args))
    except CliError as error:
        print(f"sourcesync: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
