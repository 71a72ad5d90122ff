"""`python -m devstack serve|up|down|run`: the local stack's commands (the Makefile calls them).

serve  run the whole stack in the foreground until Ctrl-C / SIGTERM
up     start `serve` in the background (logs in .local/stack.log), return once everything answers
down   stop what `up` started (its whole process group) and wait until its ports are free
run    `serve` plus a demo account, a demo source (--system, default stripe) and commands to try
seed   seed a running stack's emulator of SYSTEM; print the credentials and options of a source for it
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devstack import DEFAULT_TEMPLATE, LOCAL_DIR, STACK_NAME, load_endpoints

LOG = logging.getLogger("devstack")

UP_TIMEOUT = 60.0
DEMO_CUSTOMERS = 300
#: what the stack serves on a port of its own (endpoints.json also names each emulated system's URL)
SERVED = ("api", "dynamodb", "aws", "stripe", "emulators")
DOWN_TIMEOUT = 30.0


# ------------------------------------------------------------------------------------------ arguments
def _parameter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--free-ports", action="store_true", help="pick free ports (tests) instead of the fixed ones")
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template (infra/template.yaml)")
    parser.add_argument(
        "--parameter",
        type=_parameter,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a template parameter (repeatable)",
    )
    parser.add_argument("--stack-name", default=STACK_NAME)
    parser.add_argument(
        "--endpoints-file",
        type=Path,
        default=None,
        help="where to write endpoints.json (default: <state dir>/endpoints.json)",
    )
    parser.add_argument(
        "--dynamodb-db-path",
        type=Path,
        default=None,
        help="keep DynamoDB Local's data in this directory (-dbPath) instead of in memory",
    )
    parser.add_argument("--no-stripe", action="store_true", help="do not start the Stripe emulator")
    parser.add_argument(
        "--no-emulators", action="store_true", help="do not start the other providers' emulators (devstack/emulators)"
    )
    parser.add_argument("--no-scheduler", action="store_true", help="do not fire the template's schedules")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=LOCAL_DIR,
        help="where stack.pid, stack.log and endpoints.json live (default .local/)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("serve", "run the stack in the foreground"),
        ("run", "serve, plus a demo account and a first command to try"),
        ("up", "start the stack in the background and wait until it answers"),
    ):
        sub = commands.add_parser(name, help=text)
        _stack_options(sub)
        if name == "up":
            sub.add_argument("--timeout", type=float, default=UP_TIMEOUT)
        if name == "run":
            sub.add_argument(
                "--system",
                default="stripe",
                help="the demo data source's system: stripe or any system with an emulator (default stripe)",
            )
    seed = commands.add_parser(
        "seed",
        help="seed a demo business at a running stack's emulator of SYSTEM; print the source's credentials and options",
    )
    seed.add_argument("system", help="stripe, or a system of devstack/emulators")
    seed.add_argument("--customers", type=int, default=DEMO_CUSTOMERS, help=f"how many (default {DEMO_CUSTOMERS})")
    seed.add_argument("--tenant", default="demo", help="the emulator tenant (its API key or client id) to seed")
    down = commands.add_parser("down", help="stop the stack `up` started")
    down.add_argument("--timeout", type=float, default=DOWN_TIMEOUT)
    return parser


def _endpoints_file(args: argparse.Namespace) -> Path:
    return Path(args.endpoints_file or args.state_dir / "endpoints.json").resolve()


def _stack_config(args: argparse.Namespace) -> Any:
    from devstack.stack import Ports, StackConfig

    return StackConfig(
        ports=Ports.free() if args.free_ports else Ports.from_env(),
        template_path=args.template.resolve(),
        parameters=dict(args.parameter),
        stack_name=args.stack_name,
        endpoints_file=_endpoints_file(args),
        dynamodb_db_path=args.dynamodb_db_path.resolve() if args.dynamodb_db_path else None,
        stripe=not args.no_stripe,
        emulators=not args.no_emulators,
        scheduler=not args.no_scheduler,
    )


# ------------------------------------------------------------------------------------------ serve / run
class _Stop(Exception):
    pass


def serve(args: argparse.Namespace, after_start: Any = None) -> int:
    from devstack.stack import LocalStack
    from devstack.template import TemplateError

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        LOG.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()
        if not started.is_set():
            raise _Stop()

    started = threading.Event()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack = LocalStack(_stack_config(args))
    except (TemplateError, OSError, ValueError) as exc:
        LOG.error("%s", exc)
        return 2
    try:
        endpoints = stack.start()
        started.set()
        LOG.info("endpoints: %s", json.dumps({k: endpoints.get(k) for k in SERVED}))
        if after_start is not None:
            after_start(endpoints)
        while not stop.wait(1.0):
            failed = stack.failed_part()
            if failed:
                LOG.error("%s\nstopping the stack", failed)
                return 1
        return 0
    except _Stop:
        return 0
    except Exception as exc:
        LOG.error("the local stack failed: %s", exc, exc_info=args.verbose)
        return 1
    finally:
        started.set()
        stack.stop()
        LOG.info("local stack stopped")


def demo(endpoints: dict[str, Any], system: str = "stripe") -> None:
    """What `run` shows a newcomer once the stack is up: a demo account, a small subscription business at
    the emulator of `system` (localstripe for Stripe), a data source importing it (followed with the
    progress bar), and what to try next."""
    from devstack.seeding import seed_source
    from devstack.stack import clear_settings_cache
    from sourcesync.services.accounts import create_account
    from sourcesync_cli import Api, follow

    api = endpoints["api"]
    clear_settings_cache()
    account = create_account(name="demo")
    print(
        f"\nSeeding the {system} emulator with a demo business ({DEMO_CUSTOMERS} customers on monthly and "
        "yearly plans, some cancelled)...",
        flush=True,
    )
    seeded = seed_source(system, endpoints, customers=DEMO_CUSTOMERS)
    client = Api(api, account.api_key)
    created = client.call(
        "POST",
        "/v1/data_sources",
        {"name": f"Demo {system}", "system": system, **seeded},
    )
    source = created["data_source"]["uuid"]
    print(f"Created the data source {source}; its first import:", flush=True)
    follow(client, created["job"], as_json=False)
    customer = client.call("GET", "/v1/customers", params={"data_source_uuid": source, "per_page": 2})["entries"]
    print(
        "\n"
        "SourceSync is running locally.\n"
        f"  API             {api}\n"
        f"  DynamoDB Local  {endpoints['dynamodb']}\n"
        f"  AWS (moto)      {endpoints['aws']}  (Step Functions executions: list_executions on it)\n"
        f"  {system + ' (local)':15} {endpoints[system]}\n"
        f"\nDemo account {account.account_id}, API key:\n  {account.api_key}\n"
        "\nTry, in another terminal:\n"
        f"  export SOURCESYNC_API_URL={api} SOURCESYNC_API_KEY={account.api_key}\n"
        '  curl -H "Authorization: Bearer $SOURCESYNC_API_KEY" $SOURCESYNC_API_URL/v1/data_sources\n'
        "  .venv/bin/sourcesync sources list\n"
        f"  .venv/bin/sourcesync sources resync {source}      # re-sync, with a live progress bar\n"
        + (
            f'  curl -H "Authorization: Bearer $SOURCESYNC_API_KEY" '
            f"$SOURCESYNC_API_URL/v1/customers/{customer[0]['uuid']}\n"
            if customer
            else ""
        )
        + (f"  .venv/bin/sourcesync customers resync {source} {customer[0]['uuid']}\n" if customer else "")
        + (_merge_example(customer[1]["uuid"], customer[0]["uuid"]) if len(customer) > 1 else "")
        + f"  .venv/bin/sourcesync sources delete {source}      # erase it (asks for its name)\n"
        "\nCtrl-C stops everything.\n",
        flush=True,
    )


def _merge_example(merged: str, into: str) -> str:
    body = json.dumps({"from": {"customer_uuid": merged}, "into": {"customer_uuid": into}})
    return (
        '  curl -H "Authorization: Bearer $SOURCESYNC_API_KEY" -H "Content-Type: application/json" '
        f"$SOURCESYNC_API_URL/v1/customers/merges -d '{body}'   # manual data: merge two customers\n"
    )


def run(args: argparse.Namespace) -> int:
    """`serve` plus the demo, quieter: the functions log warnings only and requests are not logged."""
    if not any(key == "LogLevel" for key, _ in args.parameter):
        args.parameter.append(("LogLevel", "WARNING"))
    if not args.verbose:
        logging.getLogger("devstack.api").setLevel(logging.WARNING)
        logging.getLogger("devstack.scheduler").setLevel(logging.WARNING)
    from devstack.seeding import seedable_systems

    if args.system not in seedable_systems():
        LOG.error("no emulator for %r; systems with one: %s", args.system, ", ".join(seedable_systems()))
        return 2
    return serve(args, after_start=lambda endpoints: demo(endpoints, args.system))


def seed(args: argparse.Namespace) -> int:
    """Seed a running stack's emulator of `args.system`; print the source's credentials and options as JSON."""
    from devstack.seeding import seed_source

    endpoints_file = args.state_dir / "endpoints.json"
    try:
        endpoints = load_endpoints(endpoints_file)
    except FileNotFoundError:
        print(f"the local stack is not running ({endpoints_file} is missing): start it with `make up`", file=sys.stderr)
        return 1
    try:
        seeded = seed_source(args.system, endpoints, customers=args.customers, tenant=args.tenant)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps(seeded, indent=2))
    return 0


# ------------------------------------------------------------------------------------------ up / down
def _pid_file(args: argparse.Namespace) -> Path:
    return Path(args.state_dir).resolve() / "stack.pid"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        return None


def _running(pid: int | None) -> bool:
    from devstack.stack import _pid_running

    return pid is not None and _pid_running(pid)


def _all_answer(endpoints: dict[str, Any]) -> bool:
    from devstack.dynamodb_local import dynamodb_client
    from devstack.ports import http_answers
    from devstack.stripe_emulator import TEST_SECRET_KEY

    if not http_answers(f"{endpoints['api']}/"):
        return False
    dynamodb_client(endpoints["dynamodb"]).list_tables(Limit=1)
    if not http_answers(f"{endpoints['aws']}/moto-api/"):
        return False
    stripe = endpoints.get("stripe")
    return not stripe or http_answers(f"{stripe}/v1/customers?limit=1", {"Authorization": f"Bearer {TEST_SECRET_KEY}"})


def up(args: argparse.Namespace) -> int:
    from devstack.ports import wait_until
    from devstack.stack import stop_process_group, tail

    state_dir = Path(args.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    pid_file, log_file, endpoints_file = _pid_file(args), state_dir / "stack.log", _endpoints_file(args)
    pid = _read_pid(pid_file)
    if _running(pid):
        print(f"the local stack is already up (pid {pid}); endpoints in {endpoints_file}")
        return 0
    pid_file.unlink(missing_ok=True)
    endpoints_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "devstack", "--state-dir", str(state_dir)]
    argv += ["-v"] if args.verbose else []
    argv += [
        "serve",
        "--template",
        str(args.template.resolve()),
        "--stack-name",
        args.stack_name,
        "--endpoints-file",
        str(endpoints_file),
    ]
    argv += ["--free-ports"] if args.free_ports else []
    argv += ["--no-stripe"] if args.no_stripe else []
    argv += ["--no-emulators"] if args.no_emulators else []
    argv += ["--no-scheduler"] if args.no_scheduler else []
    if args.dynamodb_db_path:
        argv += ["--dynamodb-db-path", str(args.dynamodb_db_path.resolve())]
    for key, value in args.parameter:
        argv += ["--parameter", f"{key}={value}"]
    started = time.monotonic()
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            argv,
            cwd=Path(__file__).resolve().parents[1],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(f"{process.pid}\n", encoding="ascii")

    def ready() -> bool:
        return endpoints_file.exists() and _all_answer(json.loads(endpoints_file.read_text(encoding="utf-8")))

    if not wait_until(ready, args.timeout, 0.2, alive=lambda: process.poll() is None):
        code = process.poll()
        stop_process_group(process.pid, timeout=10)
        pid_file.unlink(missing_ok=True)
        reason = f"exited with code {code}" if code is not None else f"did not answer in {args.timeout:.0f} s"
        print(f"the local stack {reason}; the end of {log_file}:\n{tail(log_file)}", file=sys.stderr)
        return 1
    endpoints = load_endpoints(endpoints_file)
    print(f"the local stack is up in {time.monotonic() - started:.1f} s (pid {process.pid}, log {log_file})")
    for name in SERVED:
        print(f"  {name:9} {endpoints.get(name)}")
    print(f"  endpoints {endpoints_file}")
    return 0


def down(args: argparse.Namespace) -> int:
    from devstack.ports import wait_port_free
    from devstack.stack import stop_process_group

    state_dir = Path(args.state_dir).resolve()
    pid_file = _pid_file(args)
    endpoints_file = state_dir / "endpoints.json"
    pid = _read_pid(pid_file)
    if not _running(pid):
        pid_file.unlink(missing_ok=True)
        print("the local stack is not running")
        return 0
    assert pid is not None
    ports: list[int] = []
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        endpoints = load_endpoints(endpoints_file)
        ports = [int(str(endpoints[k]).rsplit(":", 1)[1]) for k in SERVED if endpoints.get(k)]
    started = time.monotonic()
    orderly = stop_process_group(pid, timeout=args.timeout)
    busy = [port for port in ports if not wait_port_free(port, 10)]
    pid_file.unlink(missing_ok=True)
    endpoints_file.unlink(missing_ok=True)
    how = "" if orderly else " (it had to be killed)"
    print(f"the local stack (pid {pid}) is down in {time.monotonic() - started:.1f} s{how}")
    if busy:
        print(f"ports still in use: {busy}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    commands = {"serve": serve, "run": run, "up": up, "down": down, "seed": seed}
    return int(commands[args.command](args))


def _exit_now(code: int) -> None:
    """Leave without the interpreter's teardown: after serve, deallocating moto's thousands of modules and
    objects takes seconds, and everything that needed stopping (children, servers, files) already is."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
