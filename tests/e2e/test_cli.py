"""The command line client against the local stack: every command at least once (a check below walks the
command tree against this file), the one-line errors and their exit statuses, global options anywhere,
credentials from stdin and never echoed. The CLI runs as a subprocess (`python -m sourcesync_cli`, or the
installed `sourcesync` with nothing but PATH set), its output not a terminal: plain lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.stripe_seed import seeded_emulator
from sourcesync_cli.main import command_tree
from tests.e2e.conftest import Account, Client, run_cli
from tests.e2e.faults import FaultProxy

pytestmark = pytest.mark.e2e

STRIPE_KEY = "sk_test_cli_e2e"
INSTALLED_CLI = Path(sys.executable).parent / "sourcesync"
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def stripe() -> Iterator[str]:
    with seeded_emulator(customers=6, seed=23) as url:
        yield url


@pytest.fixture
def cli(stack: dict[str, Any], account: Account) -> Cli:
    """`sourcesync ARGS` with the account's key in SOURCESYNC_API_KEY (and SOURCESYNC_API_URL set)."""

    def run(*args: str, stdin: str | None = None, key: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(stack, *args, key=key or account.api_key, stdin=stdin)

    return run


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess[str], status: int) -> str:
    assert done.returncode == status, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sourcesync: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def create_stripe(cli: Cli, api_base: str, name: str = "Stripe") -> dict[str, Any]:
    done = cli("sources", "create", name, "--system", "stripe", "--option", f"api_base={api_base}", stdin=STRIPE_KEY)
    out = ok(done)
    assert "import succeeded" in out and "100%" in out
    assert STRIPE_KEY not in out + done.stderr
    uuid = re.search(r"Created (ds_\w+)", out)
    assert uuid, out
    return {"uuid": uuid.group(1)}


# ---------------------------------------------------------------------------------------------- sources


def test_sources_create_list_show_update_for_a_custom_source(cli: Cli, api: Client) -> None:
    created = json.loads(ok(cli("sources", "create", "Shop", "--system", "custom", "--json")))
    uuid = created["data_source"]["uuid"]
    assert created["job"] is None
    assert uuid in ok(cli("sources", "list"))
    shown = ok(cli("sources", "show", uuid))
    assert "custom" in shown and "Shop" in shown and "not supported" in shown
    ok(cli("sources", "update", uuid, "--name", "Shop two"))
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["name"] == "Shop two"
    nothing = cli("sources", "update", uuid)
    assert nothing.returncode == 2 and "Nothing to change" in nothing.stderr
    # a custom source cannot be re-synced: the API's message, one line, exit 1
    refused = one_line_error(cli("sources", "resync", uuid), 1)
    assert "422 resync_not_supported" in refused
    # --json: stdout holds the finished job only; the impact summary and the prompt go to stderr
    deleted = cli("sources", "delete", uuid, "--json", stdin="Shop two\n")
    assert json.loads(ok(deleted))["status"] == "succeeded" and len(deleted.stdout.splitlines()) == 1
    assert "erases for good" in deleted.stderr and "to confirm" in deleted.stderr


def test_stripe_source_from_stdin_credentials_schedules_resync_jobs_and_delete(
    cli: Cli, api: Client, stripe: str
) -> None:
    uuid = create_stripe(cli, stripe)["uuid"]
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["counts"]["customers"] == 6

    # schedules
    ok(cli("schedules", "set", uuid, "rate(1 day)"))
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["schedule"] == "rate(1 day)"
    assert uuid in ok(cli("schedules", "list"))
    ok(cli("schedules", "off", uuid))
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["schedule"] is None
    assert ok(cli("schedules", "list")).strip() == "No schedules."

    # new credentials, as a JSON object on stdin, checked by the provider (the emulator takes any sk_test_)
    updated = cli("sources", "update", uuid, "--credentials", stdin=json.dumps({"api_key": "sk_test_cli_other"}))
    assert "sk_test_cli_other" not in ok(updated) + updated.stderr
    wrong = cli("sources", "update", uuid, "--credentials", stdin=json.dumps({"api_key": "not-a-stripe-key"}))
    assert "422 credentials_invalid" in one_line_error(wrong, 1)

    # re-sync: the dry-run list, then the progress in plain lines to 100%
    assert "removes no manual data" in ok(cli("sources", "resync", uuid, "--dry-run"))
    resynced = ok(cli("sources", "resync", uuid))
    assert "100%" in resynced and "resync_source succeeded" in resynced

    # jobs: list, show (the clean-up state when the job has one), watch a finished job
    listed = json.loads(ok(cli("jobs", "list", uuid, "--json")))
    assert [j["kind"] for j in listed] == ["resync_source", "import"]
    job = listed[0]
    shown = ok(cli("jobs", "show", job["id"]))
    assert job["id"] in shown and "succeeded" in shown
    if (job.get("cleanup") or {}).get("status"):
        assert f"clean-up of the previous data: {job['cleanup']['status']}" in shown
    assert "resync_source succeeded" in ok(cli("jobs", "watch", job["id"]))
    assert "import" in ok(cli("jobs", "list", uuid))

    # one customer
    customer = api.ok("GET", "/v1/customers", params={"data_source_uuid": uuid, "per_page": 1})["entries"][0]
    assert "resync_customer succeeded" in ok(cli("customers", "resync", uuid, customer["uuid"]))

    # delete: what it erases, the name typed on stdin
    preview = ok(cli("sources", "delete", uuid, "--dry-run"))
    assert "6 customers" in preview
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["status"] == "active"
    deleted = cli("sources", "delete", uuid, stdin="Stripe\n")
    assert "delete_source succeeded" in ok(deleted)
    assert "Type the source's name (Stripe) to confirm" in deleted.stderr  # the prompt is on stderr
    assert api.get(f"/v1/data_sources/{uuid}").status_code == 404


def test_a_running_job_is_cancelled_and_watching_it_exits_4(cli: Cli, stripe: str) -> None:
    with FaultProxy(stripe) as proxy:
        uuid = create_stripe(cli, proxy.url, name="Slow")["uuid"]
        proxy.set(delay=2.0)  # the re-sync is still fetching when the cancel comes
        job = json.loads(ok(cli("sources", "resync", uuid, "--detach", "--json")))
        assert job["status"] in ("queued", "running")
        assert job["id"] in ok(cli("jobs", "cancel", job["id"]))
        watched = cli("jobs", "watch", job["id"])
    assert watched.returncode == 4, watched.stdout + watched.stderr
    assert "resync_source cancelled" in watched.stdout


def test_a_support_key_reprocesses_a_source(cli: Cli, stack: dict[str, Any], account: Account, stripe: str) -> None:
    uuid = create_stripe(cli, stripe, name="Reprocessed")["uuid"]
    made = run_cli(stack, "key", "create", "--account", account.account_id, "--role", "support")
    support = json.loads(ok(made))["api_key"]
    assert "reprocess succeeded" in ok(cli("sources", "reprocess", uuid, key=support))
    refused = one_line_error(cli("sources", "reprocess", uuid), 1)  # a member key may not
    assert "403 forbidden" in refused


# ----------------------------------------------------------------------------- import, customers, manual data


def _business(tmp_path: Path) -> tuple[Path, str, Path]:
    customers = tmp_path / "customers.json"
    customers.write_text(
        json.dumps([{"external_id": f"c{i}", "name": f"Customer {i}", "email": f"c{i}@example.com"} for i in range(2)])
    )
    plans = json.dumps(
        {"plans": [{"external_id": "monthly", "name": "Monthly", "interval_count": 1, "interval_unit": "month"}]}
    )

    def line(sub: str, cents: int) -> dict[str, Any]:
        return {
            "type": "subscription",
            "subscription_external_id": sub,
            "plan_external_id": "monthly",
            "service_period_start": "2026-11-01",
            "service_period_end": "2026-12-01",
            "amount_in_cents": cents,
        }

    invoices = tmp_path / "invoices.json"
    invoices.write_text(
        json.dumps(
            {
                "invoices": [
                    {
                        "external_id": "inv0",
                        "customer_external_id": "c0",
                        "date": "2026-11-01",
                        "currency": "EUR",
                        "line_items": [line("s0a", 1000), line("s0b", 2000)],
                    },
                    {
                        "external_id": "inv1",
                        "customer_external_id": "c1",
                        "date": "2026-11-01",
                        "currency": "EUR",
                        "line_items": [line("s1", 3000)],
                    },
                ]
            }
        )
    )
    return customers, plans, invoices


def test_import_customers_subscriptions_and_manual_data(cli: Cli, api: Client, tmp_path: Path) -> None:
    uuid = api.ok("POST", "/v1/data_sources", {"name": "Custom", "system": "custom"}, status=201)["data_source"]["uuid"]
    customers_file, plans, invoices_file = _business(tmp_path)
    assert "2 customers imported" in ok(cli("import", "customers", uuid, str(customers_file)))
    assert "1 plans imported" in ok(cli("import", "plans", uuid, "-", stdin=plans))
    assert "2 invoices imported" in ok(cli("import", "invoices", uuid, str(invoices_file)))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"external_id": "c9"}]))  # no name
    assert "400 invalid_request" in one_line_error(cli("import", "customers", uuid, str(bad)), 1)

    listed = json.loads(ok(cli("customers", "list", "--source", uuid, "--as-of", "2026-11-15", "--json")))
    by_external = {c["external_id"]: c for c in listed}
    assert set(by_external) == {"c0", "c1"}
    assert by_external["c0"]["mrr"] == 3000
    c0, c1 = by_external["c0"]["uuid"], by_external["c1"]["uuid"]
    assert "Customer 1" in ok(cli("customers", "list", "--external-id", "c1"))
    shown = json.loads(ok(cli("customers", "show", c0, "--json")))
    subs = {s["external_id"]: s["uuid"] for s in shown["subscriptions"]}
    assert "Customer 0" in ok(cli("customers", "show", c0, "--as-of", "2026-11-15"))

    # connect two subscriptions (by provider ids), then disconnect them (by uuids)
    connected = json.loads(
        ok(cli("subscriptions", "connect", c0, "s0a", "s0b", "--source", uuid, "--by-external-id", "--json"))
    )
    assert connected["overlays"]["connected_subscriptions"]
    ok(cli("subscriptions", "disconnect", c0, subs["s0a"], subs["s0b"], "--source", uuid))
    assert not api.ok("GET", f"/v1/customers/{c0}")["overlays"]["connected_subscriptions"]

    # an MRR edit, seen on the subscription, then removed
    edit = json.loads(ok(cli("mrr-edits", "add", subs["s0a"], "--mrr", "5000", "--from", "2026-11-01", "--json")))
    sub = ok(cli("subscriptions", "show", subs["s0a"], "--as-of", "2026-11-15"))
    assert "mrr 5000" in sub and edit["id"] in sub
    ok(cli("mrr-edits", "delete", subs["s0a"], edit["id"]))
    assert api.ok("GET", f"/v1/subscriptions/{subs['s0a']}")["mrr_edits"] == []

    # merge c1 (named by its source and provider id) into c0
    merged = json.loads(ok(cli("customers", "merge", f"{uuid}:c1", c0, "--json")))
    assert merged["uuid"] == c0
    assert [c["uuid"] for c in api.ok("GET", "/v1/customers", params={"data_source_uuid": uuid})["entries"]] == [c0]
    assert api.ok("GET", f"/v1/customers/{c1}")["uuid"] == c0


# ---------------------------------------------------------------------------------------------- keys, accounts, openapi


def test_keys_list_rotate_revoke_and_the_operator_commands(cli: Cli, stack: dict[str, Any], account: Account) -> None:
    made = json.loads(ok(run_cli(stack, "account", "create", "CLI operator")))
    assert made["account_id"].startswith("acct_") and made["api_key"]
    extra = json.loads(ok(run_cli(stack, "key", "create", "--account", account.account_id)))
    listed = json.loads(ok(cli("key", "list", "--json")))
    assert extra["key_id"] in {k["id"] for k in listed}
    assert extra["key_id"] in ok(cli("keys", "list"))  # `keys` is `key`
    rotated = json.loads(ok(cli("key", "rotate", extra["key_id"], "--grace-period", "0", "--json")))
    assert rotated["api_key"] != extra["api_key"]
    assert f"{rotated['id']} revoked" in ok(cli("key", "revoke", rotated["id"]))
    assert {k["id"] for k in json.loads(ok(cli("key", "list", "--json")))}.isdisjoint({extra["key_id"], rotated["id"]})


def test_openapi_needs_no_key(stack: dict[str, Any]) -> None:
    document = json.loads(ok(run_cli(stack, "openapi")))
    assert document["openapi"].startswith("3.1") and "/v1/data_sources" in document["paths"]


# ---------------------------------------------------------------------------------------------- errors, global options


def test_a_wrong_key_is_one_line_with_exit_1(stack: dict[str, Any]) -> None:
    line = one_line_error(run_cli(stack, "sources", "list", key="ssk_not_a_real_key"), 1)
    assert "401 unauthorized" in line and "SOURCESYNC_API_KEY" in line


def test_a_4xx_gives_the_apis_message(cli: Cli) -> None:
    line = one_line_error(cli("jobs", "show", "job_00000000000000000000000000"), 1)
    assert line.startswith("sourcesync: 404 not_found: ")


def test_the_unreachable_api_is_one_line_and_exit_3(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SOURCESYNC_API_KEY": "ssk_whatever"}
    done = subprocess.run(
        [str(INSTALLED_CLI), "sources", "list", "--api-url", "http://127.0.0.1:9"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    line = one_line_error(done, 3)
    assert "Cannot reach the API at http://127.0.0.1:9" in line


def test_global_options_work_after_the_subcommand(stack: dict[str, Any], account: Account, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCESYNC_", "AWS_"))}
    done = subprocess.run(
        [str(INSTALLED_CLI), "sources", "list", "--api-key", account.api_key, "--api-url", stack["api"], "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert json.loads(ok(done)) == []
    before = subprocess.run(
        [str(INSTALLED_CLI), "--json", "--api-url", stack["api"], "--api-key", account.api_key, "sources", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert json.loads(ok(before)) == []


def test_credentials_are_never_taken_from_the_command_line(cli: Cli) -> None:
    done = cli("sources", "create", "S", "--system", "stripe", "--credentials", '{"api_key": "sk_test_argv"}')
    assert done.returncode == 2 and "No such option" in done.stderr
    empty = cli("sources", "create", "S", "--system", "stripe", stdin="")
    assert "No credentials on stdin" in one_line_error(empty, 2)


def test_every_command_is_run_by_a_test_here() -> None:
    """The command tree against this file: a command added without an end-to-end test fails here."""
    source = Path(__file__).read_text()
    calls = {
        tuple(re.findall(r'"([^"]+)"', m))
        for m in re.findall(r'(?:cli|run_cli)\((?:stack, )?((?:"[a-z-]+", )*"[a-z-]+")', source)
    }
    untested = [" ".join(words) for words in command_tree() if not any(call[: len(words)] == words for call in calls)]
    assert not untested, f"commands without an end-to-end test: {untested}"
