"""`sourcesync`: the command line client of SourceSync's HTTP API (docs/cli.md), on click.

Every operation of the API (`sourcesync.api.contract.OPERATIONS`) has a command; each command names the
operations it calls (`ApiCommand.operations`), and a test walks the table against the tree. The operator's
commands (`account create`, `key create`) write to the accounts table instead (`operator.py`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from sourcesync_cli import render
from sourcesync_cli.client import (
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    Api,
    CliError,
    UsageProblem,
)
from sourcesync_cli.progress import follow, wait

EXIT_STATUSES = """\b
Exit status:
  0  success
  1  the API refused the request (4xx; its code and message on stderr, a wrong key included),
     or a confirmation did not match: nothing was changed
  2  usage: an unknown command or option, a bad argument, a missing setting
  3  the API could not be reached (or answered a 5xx); for the operator's commands, AWS
  4  the job the command followed ended failed or cancelled"""

EPILOG = f"""\b
Global options (--json, --api-url, --api-key) go anywhere on the command line, before or after
the subcommand. The API's address and key default to $SOURCESYNC_API_URL and $SOURCESYNC_API_KEY
(the address, to the local stack's when it runs: .local/endpoints.json). Prompts and messages
go to stderr, results to stdout; credentials are read from a prompt or stdin, never from the
command line.

{EXIT_STATUSES}"""

GLOBAL_FLAGS = frozenset({"--json"})
GLOBAL_VALUES = frozenset({"--api-url", "--api-key"})
ALIASES = {"keys": "key", "source": "sources", "job": "jobs", "customer": "customers", "schedule": "schedules"}


def hoist_global_options(args: list[str]) -> list[str]:
    """The global options moved before the subcommand, wherever they were (up to a `--`)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if arg in GLOBAL_FLAGS or (name in GLOBAL_VALUES and "=" in arg):
            front.append(arg)
        elif name in GLOBAL_VALUES:
            front.extend(args[i : i + 2])
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


class Root(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))


class ApiCommand(click.Command):
    """A command with the API operations it calls (operationIds of `sourcesync.api.contract`)."""

    def __init__(self, *args: Any, operations: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.operations = operations


def api_command(group: click.Group, name: str, *operations: str) -> Callable[[Callable[..., Any]], click.Command]:
    return group.command(name, cls=ApiCommand, operations=operations)


@dataclass
class State:
    as_json: bool
    api_url: str | None
    api_key: str | None
    _api: Api | None = field(default=None, repr=False)

    def api(self, key_required: bool = True) -> Api:
        if self._api is None:
            self._api = Api(self.api_url, self.api_key, key_required=key_required)
        return self._api

    def emit(self, value: Any, text: str) -> None:
        """The answer on stdout: JSON with --json, else `text`."""
        click.echo(json.dumps(value, indent=2) if self.as_json else text)

    def say(self, text: str) -> None:
        """A human message: stdout, or stderr with --json (stdout then holds JSON only)."""
        click.echo(text, err=self.as_json)


pass_state = click.make_pass_decorator(State)


@click.group(
    cls=Root,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
@click.option(
    "--api-url", metavar="URL", help="The API's address [default: $SOURCESYNC_API_URL, or the local stack's]."
)
@click.option("--api-key", metavar="KEY", help="The API key [default: $SOURCESYNC_API_KEY].")
@click.pass_context
def cli(ctx: click.Context, as_json: bool, api_url: str | None, api_key: str | None) -> None:
    """Erase and re-import the data of data sources: the client of SourceSync's HTTP API."""
    ctx.obj = State(as_json, api_url, api_key)


# ---------------------------------------------------------------------------------------------- helpers


def _value(text: str) -> Any:
    """An option's value from the command line: a number, `null`, `true`/`false`, else the text."""
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _options(pairs: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--option")
        options[name] = _value(value)
    return options


def read_credentials(fields: tuple[str, ...]) -> dict[str, str]:
    """Credentials from a hidden prompt per field (in a terminal), else from stdin: a JSON object, or the one
    field's value. Never from the command line, where shells and process lists keep them."""
    if sys.stdin.isatty():
        return {name: click.prompt(name, hide_input=True, err=True) for name in fields}
    text = sys.stdin.read().strip()
    if not text:
        raise UsageProblem("No credentials on stdin: pipe them in (a JSON object, or the key) or run in a terminal.")
    if not text.startswith("{"):
        if len(fields) != 1:
            raise UsageProblem("Several credential fields: give them as a JSON object on stdin.")
        return {fields[0]: text}
    try:
        loaded = json.loads(text)
    except ValueError:
        raise UsageProblem("The credentials on stdin are not a JSON object.") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
        raise UsageProblem("The credentials on stdin must be a JSON object of strings.")
    return loaded


def _finish(state: State, job: dict[str, Any], detach: bool) -> int:
    """Follow a started job to its end (live progress), or with --detach print it and return."""
    if detach:
        state.emit(job, render.job_text(job))
        return EXIT_OK
    return follow(state.api(), job, state.as_json)


def _overlay_lines(overlays: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {o.get('id')}  {o.get('kind')}" for o in overlays)


detach_option = click.option("--detach", is_flag=True, help="Print the job and return without following it.")
as_of_option = click.option("--as-of", metavar="YYYY-MM-DD", help="MRR as of this day [default: today, UTC].")


# ---------------------------------------------------------------------------------------------- sources


@cli.group()
def sources() -> None:
    """Data sources: list, show, create, update, delete, re-sync."""


@api_command(sources, "list", "listDataSources")
@pass_state
def sources_list(state: State) -> None:
    """List the account's data sources."""
    entries = list(state.api().pages("/v1/data_sources"))
    state.emit(entries, "\n".join(map(render.source_line, entries)) or "No data sources.")


@api_command(sources, "show", "getDataSource")
@click.argument("uuid")
@pass_state
def sources_show(state: State, uuid: str) -> None:
    """Show one data source: status, schedule, record counts, its running job."""
    source = state.api().call("GET", f"/v1/data_sources/{uuid}")
    state.emit(source, render.source_text(source))


credential_field_option = click.option(
    "--credential-field",
    "credential_fields",
    multiple=True,
    default=("api_key",),
    show_default=True,
    metavar="NAME",
    help="A credential's field, prompted for (repeat for several); stdin may hold a JSON object instead.",
)
option_option = click.option(
    "--option",
    "options",
    multiple=True,
    metavar="NAME=VALUE",
    help="An option: api_base, requests_per_second, max_retry_seconds (repeat; VALUE null: the default).",
)


@api_command(sources, "create", "createDataSource")
@click.argument("name")
@click.option("--system", required=True, help="stripe, chargebee, recurly, hubspot, …, or custom (Import API).")
@credential_field_option
@option_option
@click.option("--schedule", metavar="EXPR", help="Scheduled re-syncs: rate(1 day) or cron(0 3 * * ? *).")
@detach_option
@pass_state
def sources_create(
    state: State,
    name: str,
    system: str,
    credential_fields: tuple[str, ...],
    options: tuple[str, ...],
    schedule: str | None,
    detach: bool,
) -> int:
    """Create a data source; other systems than custom start (and follow) their first import.

    The credentials are read from a hidden prompt, or from stdin (`sourcesync sources create Stripe
    --system stripe < key.txt`, or a JSON object of fields)."""
    body: dict[str, Any] = {"name": name, "system": system}
    if system != "custom":
        body["credentials"] = read_credentials(credential_fields)
    if options:
        body["options"] = _options(options)
    if schedule:
        body["schedule"] = schedule
    api = state.api()
    created = api.call("POST", "/v1/data_sources", body)
    source, job = created["data_source"], created.get("job")
    if not job or detach:
        state.emit(created, render.source_text(source) + (f"\n{render.job_text(job)}" if job else ""))
        return EXIT_OK
    if state.as_json:
        job = wait(api, job)
        click.echo(json.dumps({"data_source": source, "job": job}))
        return EXIT_OK if job["status"] == "succeeded" else EXIT_JOB_FAILED
    click.echo(f"Created {source['uuid']} ({source['name']}); its first import:")
    return follow(api, job, as_json=False)


@api_command(sources, "update", "updateDataSource")
@click.argument("uuid")
@click.option("--name", help="A new name.")
@click.option("--schedule", metavar="EXPR", help="A new schedule: rate(1 day) or cron(0 3 * * ? *).")
@click.option("--no-schedule", is_flag=True, help="Turn the schedule off.")
@option_option
@click.option("--credentials", "new_credentials", is_flag=True, help="Read new credentials (prompt or stdin).")
@credential_field_option
@pass_state
def sources_update(
    state: State,
    uuid: str,
    name: str | None,
    schedule: str | None,
    no_schedule: bool,
    options: tuple[str, ...],
    new_credentials: bool,
    credential_fields: tuple[str, ...],
) -> None:
    """Change a data source's name, schedule, options or credentials (checked with the provider first)."""
    if schedule and no_schedule:
        raise click.UsageError("Give --schedule or --no-schedule, not both.")
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if schedule or no_schedule:
        body["schedule"] = schedule
    if options:
        body["options"] = _options(options)
    if new_credentials:
        body["credentials"] = read_credentials(credential_fields)
    if not body:
        raise click.UsageError("Nothing to change: give --name, --schedule, --no-schedule, --option or --credentials.")
    source = state.api().call("PATCH", f"/v1/data_sources/{uuid}", body)
    state.emit(source, render.source_text(source))


@api_command(sources, "delete", "deleteDataSource")
@click.argument("uuid")
@click.option("--yes", is_flag=True, help="Do not ask for the source's name.")
@click.option("--dry-run", is_flag=True, help="Only show what would be erased.")
@detach_option
@pass_state
def sources_delete(state: State, uuid: str, yes: bool, dry_run: bool, detach: bool) -> int:
    """Erase a data source and all its data: shows what goes, asks for the source's name, follows the purge."""
    api = state.api()
    source = api.call("GET", f"/v1/data_sources/{uuid}")
    preview = api.call("DELETE", f"/v1/data_sources/{uuid}", params={"dry_run": "true"})
    counts = ", ".join(f"{n} {kind}" for kind, n in preview["counts"].items())
    summary = (
        f"Deleting {source['name']} ({source['system']}, {source['uuid']}) erases for good: {counts}; "
        f"{len(preview['overlays_affected'])} pieces of manual data are affected."
    )
    if dry_run:
        state.emit(preview, summary + ("\n" + _overlay_lines(preview["overlays_affected"])).rstrip())
        return EXIT_OK
    state.say(summary)
    if not yes:
        click.echo(f"Type the source's name ({source['name']}) to confirm: ", nl=False, err=True)
        typed = sys.stdin.readline().strip()
        if typed != source["name"]:
            click.echo("The name does not match; nothing was deleted.", err=True)
            return EXIT_REFUSED
    return _finish(state, api.call("DELETE", f"/v1/data_sources/{uuid}"), detach)


@api_command(sources, "resync", "resyncDataSource")
@click.argument("uuid")
@click.option("--dry-run", is_flag=True, help="Only list the manual data the re-sync would remove.")
@detach_option
@pass_state
def sources_resync(state: State, uuid: str, dry_run: bool, detach: bool) -> int:
    """Re-sync a data source: lists the manual data it removes, then follows it with a live progress bar."""
    api = state.api()
    preview = api.call("POST", f"/v1/data_sources/{uuid}/resync", params={"dry_run": "true"})
    removed = preview["overlays_removed"]
    text = (
        f"This re-sync removes {len(removed)} pieces of manual data (the policy matrix):\n{_overlay_lines(removed)}"
        if removed
        else "This re-sync removes no manual data."
    )
    if dry_run:
        state.emit(preview, text)
        return EXIT_OK
    state.say(text)
    return _finish(state, api.call("POST", f"/v1/data_sources/{uuid}/resync"), detach)


@api_command(sources, "reprocess", "reprocessDataSource")
@click.argument("uuid")
@detach_option
@pass_state
def sources_reprocess(state: State, uuid: str, detach: bool) -> int:
    """Support keys only: rebuild a source's derived data from its stored records."""
    return _finish(state, state.api().call("POST", f"/v1/data_sources/{uuid}/reprocess"), detach)


# ---------------------------------------------------------------------------------------------- schedules


@cli.group()
def schedules() -> None:
    """Scheduled re-syncs (a data source's `schedule`)."""


@api_command(schedules, "list", "listDataSources")
@pass_state
def schedules_list(state: State) -> None:
    """The data sources with a schedule."""
    entries = [s for s in state.api().pages("/v1/data_sources") if s.get("schedule")]
    lines = [f"{s['uuid']}  {s['schedule']:<28} {s['name']}  last synced {s.get('last_synced_at')}" for s in entries]
    state.emit(
        [{k: s.get(k) for k in ("uuid", "name", "schedule", "last_synced_at")} for s in entries],
        "\n".join(lines) or "No schedules.",
    )


@api_command(schedules, "set", "updateDataSource")
@click.argument("uuid")
@click.argument("expression")
@pass_state
def schedules_set(state: State, uuid: str, expression: str) -> None:
    """Re-sync a data source on a schedule: "rate(1 day)" or "cron(0 3 * * ? *)"."""
    source = state.api().call("PATCH", f"/v1/data_sources/{uuid}", {"schedule": expression})
    state.emit(source, f"{source['uuid']}  schedule {source['schedule']}")


@api_command(schedules, "off", "updateDataSource")
@click.argument("uuid")
@pass_state
def schedules_off(state: State, uuid: str) -> None:
    """Turn a data source's schedule off."""
    source = state.api().call("PATCH", f"/v1/data_sources/{uuid}", {"schedule": None})
    state.emit(source, f"{source['uuid']}  schedule off")


# ---------------------------------------------------------------------------------------------- jobs


@cli.group()
def jobs() -> None:
    """Jobs: list a source's, show, watch, cancel."""


@api_command(jobs, "list", "listDataSourceJobs")
@click.argument("source")
@pass_state
def jobs_list(state: State, source: str) -> None:
    """A data source's jobs, newest first."""
    entries = list(state.api().pages(f"/v1/data_sources/{source}/jobs"))
    state.emit(entries, "\n".join(map(render.job_line, entries)) or "No jobs.")


@api_command(jobs, "show", "getJob")
@click.argument("job_id")
@pass_state
def jobs_show(state: State, job_id: str) -> None:
    """One job: status, phase, progress per kind, what it waits for, its clean-up state, its error."""
    job = state.api().call("GET", f"/v1/jobs/{job_id}")
    state.emit(job, render.job_text(job))


@api_command(jobs, "watch", "getJob")
@click.argument("job_id")
@pass_state
def jobs_watch(state: State, job_id: str) -> int:
    """Follow a job to its end with the live progress bar."""
    api = state.api()
    return follow(api, api.call("GET", f"/v1/jobs/{job_id}"), state.as_json)


@api_command(jobs, "cancel", "cancelJob")
@click.argument("job_id")
@pass_state
def jobs_cancel(state: State, job_id: str) -> None:
    """Ask a running job to stop; it ends cancelled and changes nothing."""
    job = state.api().call("POST", f"/v1/jobs/{job_id}/cancel")
    state.emit(job, f"cancelling {job['id']}\n{render.job_text(job)}")


# ---------------------------------------------------------------------------------------------- customers


@cli.group()
def customers() -> None:
    """Customers: list, show, re-sync one, merge two."""


@api_command(customers, "list", "listCustomers")
@click.option("--source", metavar="DS", help="Only this data source's customers.")
@click.option("--external-id", metavar="ID", help="Only the customer with this id at its provider.")
@as_of_option
@pass_state
def customers_list(state: State, source: str | None, external_id: str | None, as_of: str | None) -> None:
    """Customers of one data source or of all (merged customers as one)."""
    params = {"data_source_uuid": source, "external_id": external_id, "as_of": as_of}
    entries = list(state.api().pages("/v1/customers", {k: v for k, v in params.items() if v}))
    state.emit(entries, "\n".join(map(render.customer_line, entries)) or "No customers.")


@api_command(customers, "show", "getCustomer")
@click.argument("uuid")
@as_of_option
@pass_state
def customers_show(state: State, uuid: str, as_of: str | None) -> None:
    """One customer: MRR, subscriptions, the manual data that touches it."""
    customer = state.api().call("GET", f"/v1/customers/{uuid}", params={"as_of": as_of} if as_of else None)
    state.emit(customer, render.customer_text(customer))


@api_command(customers, "resync", "resyncCustomer")
@click.argument("source")
@click.argument("customer")
@detach_option
@pass_state
def customers_resync(state: State, source: str, customer: str, detach: bool) -> int:
    """Re-sync one customer of a data source, atomically, and follow it."""
    return _finish(state, state.api().call("POST", f"/v1/data_sources/{source}/customers/{customer}/resync"), detach)


def _customer_ref(value: str) -> dict[str, str]:
    if value.startswith("ds_") and ":" in value:
        source, _, external_id = value.partition(":")
        return {"data_source_uuid": source, "external_id": external_id}
    return {"customer_uuid": value}


@api_command(customers, "merge", "mergeCustomers")
@click.argument("from_customer", metavar="FROM")
@click.argument("into_customer", metavar="INTO")
@pass_state
def customers_merge(state: State, from_customer: str, into_customer: str) -> None:
    """Merge customer FROM into customer INTO (manual data). Each is cus_… or DS:EXTERNAL_ID."""
    body = {"from": _customer_ref(from_customer), "into": _customer_ref(into_customer)}
    customer = state.api().call("POST", "/v1/customers/merges", body)
    state.emit(customer, render.customer_text(customer))


# ---------------------------------------------------------------------------------------------- subscriptions


@cli.group()
def subscriptions() -> None:
    """Subscriptions: show, connect, disconnect (manual data)."""


@api_command(subscriptions, "show", "getSubscription")
@click.argument("uuid")
@as_of_option
@pass_state
def subscriptions_show(state: State, uuid: str, as_of: str | None) -> None:
    """One subscription with its MRR and MRR edits."""
    sub = state.api().call("GET", f"/v1/subscriptions/{uuid}", params={"as_of": as_of} if as_of else None)
    state.emit(sub, render.subscription_text(sub))


def _subscription_set(source: str, ids: tuple[str, ...], by_external_id: bool) -> dict[str, Any]:
    key = "external_id" if by_external_id else "uuid"
    return {"subscriptions": [{"data_source_uuid": source, key: value} for value in ids]}


def _connection_command(action: str, operation: str) -> None:
    @api_command(subscriptions, action, operation)
    @click.argument("customer")
    @click.argument("ids", nargs=-1, required=True, metavar="SUBSCRIPTION...")
    @click.option("--source", required=True, metavar="DS", help="The subscriptions' data source.")
    @click.option("--by-external-id", is_flag=True, help="The subscriptions are given by their provider's ids.")
    @pass_state
    def command(state: State, customer: str, ids: tuple[str, ...], source: str, by_external_id: bool) -> None:
        body = _subscription_set(source, ids, by_external_id)
        answer = state.api().call("POST", f"/v1/customers/{customer}/{action}_subscriptions", body)
        state.emit(answer, render.customer_text(answer))

    command.help = (
        f"{action.capitalize()} subscriptions of CUSTOMER (sub_… uuids, or provider ids with --by-external-id)."
    )


_connection_command("connect", "connectSubscriptions")
_connection_command("disconnect", "disconnectSubscriptions")


@cli.group("mrr-edits")
def mrr_edits() -> None:
    """MRR edits (manual data): a subscription's MRR set over a period."""


@api_command(mrr_edits, "add", "addMrrEdit")
@click.argument("subscription")
@click.option("--mrr", required=True, type=int, metavar="CENTS", help="The MRR, in cents.")
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD", help="The first day.")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="The last day [default: from then on].")
@pass_state
def mrr_edits_add(state: State, subscription: str, mrr: int, start: str, end: str | None) -> None:
    """Set a subscription's MRR from --from to --to."""
    edit = state.api().call(
        "POST", f"/v1/subscriptions/{subscription}/mrr_edits", {"mrr": mrr, "from": start, "to": end}
    )
    state.emit(edit, f"{edit['id']}  {subscription}  mrr {mrr} from {start} to {end or 'open end'}")


@api_command(mrr_edits, "delete", "deleteMrrEdit")
@click.argument("subscription")
@click.argument("edit_id")
@pass_state
def mrr_edits_delete(state: State, subscription: str, edit_id: str) -> None:
    """Remove an MRR edit."""
    state.api().call("DELETE", f"/v1/subscriptions/{subscription}/mrr_edits/{edit_id}")
    state.emit({"id": edit_id, "deleted": True}, f"{edit_id} deleted")


# ---------------------------------------------------------------------------------------------- import


@cli.group("import")
def import_group() -> None:
    """Import API: records of a custom data source, from a JSON file (all or nothing, up to 1,000 a call)."""


def _import_command(kind: str, operation: str) -> None:
    @api_command(import_group, kind, operation)
    @click.argument("source")
    @click.argument("file", type=click.File("r"))
    @pass_state
    def command(state: State, source: str, file: Any) -> None:
        try:
            loaded = json.load(file)
        except ValueError as error:
            raise UsageProblem(f"{getattr(file, 'name', 'the file')} is not JSON: {error}") from None
        body = loaded if isinstance(loaded, dict) else {kind: loaded}
        answer = state.api().call("POST", f"/v1/import/data_sources/{source}/{kind}", body)
        entries = answer["entries"]
        state.emit(
            answer, "\n".join(f"{e['external_id']}  {e['uuid']}" for e in entries) + f"\n{len(entries)} {kind} imported"
        )

    command.help = (
        f'Import {kind} into SOURCE from FILE (- for stdin): a JSON list of {kind}, or {{"{kind}": [...]}} '
        "as docs/api.md describes."
    )


for _kind, _operation in (("customers", "importCustomers"), ("plans", "importPlans"), ("invoices", "importInvoices")):
    _import_command(_kind, _operation)


# ---------------------------------------------------------------------------------------------- keys, accounts


@cli.group()
def key() -> None:
    """API keys: list, revoke, rotate (with a key); create (operator)."""


@api_command(key, "list", "listApiKeys")
@pass_state
def key_list(state: State) -> None:
    """The account's keys (never their secrets)."""
    entries = list(state.api().pages("/v1/api_keys"))
    state.emit(entries, "\n".join(map(render.key_line, entries)) or "No keys.")


@api_command(key, "revoke", "revokeApiKey")
@click.argument("key_id")
@pass_state
def key_revoke(state: State, key_id: str) -> None:
    """Revoke a key at once (the calling key too)."""
    state.api().call("DELETE", f"/v1/api_keys/{key_id}")
    state.emit({"id": key_id, "revoked": True}, f"{key_id} revoked")


@api_command(key, "rotate", "rotateApiKey")
@click.argument("key_id")
@click.option(
    "--grace-period", type=click.IntRange(0), default=3600, show_default=True, help="Seconds the old key still works."
)
@pass_state
def key_rotate(state: State, key_id: str, grace_period: int) -> None:
    """A new key of the same role; the old one stops working after the grace period."""
    answer = state.api().call("POST", f"/v1/api_keys/{key_id}/rotate", {"grace_period_seconds": grace_period})
    state.emit(
        answer,
        f"new key {answer['id']} ({answer['role']}): {answer['api_key']}\n"
        f"{key_id} stops working at {answer['old_key_expires_at']}; the new key is not shown again",
    )


stack_option = click.option(
    "--stack", metavar="NAME", help="A deployed stack [default: the local stack, or $ACCOUNTS_TABLE]."
)


@key.command("create")
@click.option("--account", required=True, metavar="ACCOUNT_ID")
@click.option("--role", type=click.Choice(["member", "support"]), default="member", show_default=True)
@stack_option
def key_create(account: str, role: str, stack: str | None) -> None:
    """Operator: another key for an account (written to the accounts table; prints its secret once, as JSON)."""
    from sourcesync_cli.operator import run_as_operator

    def create() -> Any:
        from sourcesync.services.accounts import create_key

        return create_key(account, role)  # type: ignore[arg-type]

    made = run_as_operator(stack, create)
    click.echo(
        json.dumps({"account_id": made.account_id, "key_id": made.key_id, "role": made.role, "api_key": made.api_key})
    )


@cli.group()
def account() -> None:
    """Accounts (operator)."""


@account.command("create")
@click.argument("name")
@stack_option
def account_create(name: str, stack: str | None) -> None:
    """Operator: an account and its first member key (prints the key once, as JSON)."""
    from sourcesync_cli.operator import run_as_operator

    def create() -> Any:
        from sourcesync.services.accounts import create_account

        return create_account(name)

    made = run_as_operator(stack, create)
    click.echo(json.dumps({"account_id": made.account_id, "api_key": made.api_key}))


@api_command(cli, "openapi", "getOpenApi")
@pass_state
def openapi(state: State) -> None:
    """Print the API's OpenAPI document (no key needed)."""
    click.echo(json.dumps(state.api(key_required=False).call("GET", "/v1/openapi.json"), indent=2))


# ---------------------------------------------------------------------------------------------- entry point

_ONE_LINE = re.compile(r"\s*\n\s*")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status (the epilog's table). Errors are one line on stderr."""
    try:
        status = cli.main(args=argv, prog_name="sourcesync", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("sourcesync: aborted; nothing was changed.", err=True)
        return EXIT_REFUSED
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except CliError as error:
        click.echo(f"sourcesync: {_ONE_LINE.sub(' ', str(error)).strip()}", err=True)
        return error.exit_code
    except KeyboardInterrupt:
        click.echo("sourcesync: interrupted (a job the command started keeps running).", err=True)
        return 130
    return status if isinstance(status, int) else EXIT_OK


def run() -> None:
    sys.exit(main())


def command_tree(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    """Every command of the tree by its words (`("sources", "list")`): what tests and docs walk."""
    found: dict[tuple[str, ...], click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.update(command_tree(command, (*prefix, name)))
        else:
            found[(*prefix, name)] = command
    return found
