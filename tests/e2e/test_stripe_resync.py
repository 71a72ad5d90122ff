"""Import and re-sync a Stripe source against the Stripe emulator, end to end over HTTP."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.stripe_seed import StripeEmulator, seeded_emulator
from tests.e2e.conftest import Client, run_cli
from tests.e2e.faults import FaultProxy
from tests.e2e.test_import_and_delete import stored_items_mentioning

pytestmark = pytest.mark.e2e

KEY = {"api_key": "sk_test_e2e_resync"}


@pytest.fixture(scope="module")
def stripe() -> Iterator[str]:
    """A Stripe emulator of this module's own (the stack's is shared by other tests), seeded once."""
    with seeded_emulator(customers=40, seed=11) as url:
        yield url


def create_stripe_source(api: Client, api_base: str, **options: Any) -> dict[str, Any]:
    created = api.ok(
        "POST",
        "/v1/data_sources",
        {"name": "Stripe", "system": "stripe", "credentials": KEY, "options": {"api_base": api_base, **options}},
        status=201,
    )
    assert created["job"]["kind"] == "import"
    finished = api.wait_for_job(created["job"]["id"])
    assert finished["status"] == "succeeded", finished
    return api.ok("GET", f"/v1/data_sources/{created['data_source']['uuid']}")


def snapshot(api: Client, uuid: str) -> dict[str, Any]:
    """What one reader sees in one request: every customer of the source, with its MRR."""
    page = api.ok("GET", "/v1/customers", params={"data_source_uuid": uuid, "per_page": 200})
    assert not page["has_more"]
    return {c["uuid"]: (c["name"], c["mrr"]) for c in page["entries"]}


def test_a_resync_finds_the_changes_and_readers_never_see_a_mix(api: Client, stripe: str) -> None:
    with FaultProxy(stripe) as proxy:  # slowed below, so that the job is still running when asked
        source = create_stripe_source(api, proxy.url)
        uuid = source["uuid"]
        assert source["status"] == "active" and source["last_synced_at"]
        before = snapshot(api, uuid)
        assert len(before) == source["counts"]["customers"] >= 40
        assert source["counts"]["subscriptions"] >= 40 and source["counts"]["invoices"] >= 40

        # changes at the provider: a new customer, a cancelled subscription, a new invoice
        emulator = StripeEmulator(stripe)
        newcomer = emulator.add_customer("Newcomer", "new@example.com", "US")
        emulator.subscribe(newcomer, "growth-monthly", 2)
        active = [s for s in emulator.get("/v1/subscriptions", {"limit": 100})["data"] if s["status"] == "active"]
        to_cancel = active[0]
        emulator.cancel(to_cancel["id"])
        invoiced = active[1]["customer"]
        emulator.post(
            "/v1/invoiceitems", {"customer": invoiced, "amount": 4200, "currency": "usd", "description": "Onboarding"}
        )
        new_invoice = emulator.post("/v1/invoices", {"customer": invoiced})
        emulator.post(f"/v1/invoices/{new_invoice['id']}/pay", {})

        # a reader polls while the re-sync runs
        seen: list[dict[str, Any]] = []
        stop = threading.Event()

        def poll() -> None:
            reader = Client(api.base, api.session.headers["Authorization"].split(" ", 1)[1])
            while not stop.is_set():
                seen.append(snapshot(reader, uuid))

        reader = threading.Thread(target=poll)
        reader.start()
        try:
            one = api.ok("GET", f"/v1/customers?data_source_uuid={uuid}&per_page=1")["entries"][0]["uuid"]
            proxy.set(delay=1.0)  # a slow provider: the re-sync is still running at the next requests
            answer = api.post(f"/v1/data_sources/{uuid}/resync")
            assert answer.status_code == 202, answer.text
            job = answer.json()
            assert job["kind"] == "resync_source" and answer.headers["Location"] == f"/v1/jobs/{job['id']}"
            running = api.ok("GET", f"/v1/data_sources/{uuid}")
            assert running["current_job"]["id"] == job["id"]
            second = api.post(f"/v1/data_sources/{uuid}/resync")
            assert second.status_code == 409
            assert second.json()["error"]["code"] == "job_running" and second.json()["error"]["job_id"] == job["id"]
            one_customer = api.post(f"/v1/data_sources/{uuid}/customers/{one}/resync")  # nor one of its customers
            assert one_customer.status_code == 409 and one_customer.json()["error"]["job_id"] == job["id"]
            finished = api.wait_for_job(job["id"])
        finally:
            stop.set()
            reader.join()
        assert finished["status"] == "succeeded", finished
        assert finished["progress"]["percent"] == 100
        after = snapshot(api, uuid)

        # the changes are there
        assert len(after) == len(before) + 1
        assert "Newcomer" in {name for name, _ in after.values()}
        cancelled_customer = next(
            c
            for c in api.ok(
                "GET", "/v1/customers", params={"data_source_uuid": uuid, "external_id": to_cancel["customer"]}
            )["entries"]
        )
        detail = api.ok("GET", f"/v1/customers/{cancelled_customer['uuid']}")
        assert {s["status"] for s in detail["subscriptions"]} == {"cancelled"}
        assert detail["mrr"] == 0
        invoiced_customer = api.ok("GET", "/v1/customers", params={"data_source_uuid": uuid, "external_id": invoiced})[
            "entries"
        ][0]
        invoices = api.ok("GET", f"/v1/customers/{invoiced_customer['uuid']}")["invoices"]
        assert new_invoice["id"] in {i["external_id"] for i in invoices}
        # and every reader saw either the old data or the new data, never a mix of the two
        assert len(seen) >= 3
        assert all(s in (before, after) for s in seen), [len(s) for s in seen if s not in (before, after)]
        counts = api.ok("GET", f"/v1/data_sources/{uuid}")["counts"]
        assert counts["customers"] == len(after)


def test_an_unchanged_resync_changes_nothing_readers_see(api: Client, stripe: str) -> None:
    source = create_stripe_source(api, stripe)
    before = snapshot(api, source["uuid"])
    job = api.ok("POST", f"/v1/data_sources/{source['uuid']}/resync", status=202)
    assert api.wait_for_job(job["id"])["status"] == "succeeded"
    assert snapshot(api, source["uuid"]) == before


def test_a_provider_failing_longer_than_max_retry_seconds_fails_the_job_and_keeps_the_data(
    api: Client, stripe: str
) -> None:
    with FaultProxy(stripe) as proxy:
        source = create_stripe_source(api, proxy.url, max_retry_seconds=2)
        before = snapshot(api, source["uuid"])
        proxy.set(fail_after=3, status=503)  # a few pages go through, then the provider keeps failing
        job = api.ok("POST", f"/v1/data_sources/{source['uuid']}/resync", status=202)
        finished = api.wait_for_job(job["id"])
        assert proxy.failures > 1  # it was retried before giving up
    assert finished["status"] == "failed"
    assert finished["error"]["code"] == "provider_unavailable"
    after = api.ok("GET", f"/v1/data_sources/{source['uuid']}")
    assert after["status"] == "active" and after["current_job"] is None
    assert after["counts"] == source["counts"]
    assert snapshot(api, source["uuid"]) == before


def test_credentials_that_stop_working_fail_the_job_with_that_code(api: Client, stripe: str) -> None:
    with FaultProxy(stripe) as proxy:
        source = create_stripe_source(api, proxy.url)
        before = snapshot(api, source["uuid"])
        proxy.set(fail_after=0, status=401)
        job = api.ok("POST", f"/v1/data_sources/{source['uuid']}/resync", status=202)
        finished = api.wait_for_job(job["id"])
    assert finished["status"] == "failed" and finished["error"]["code"] == "credentials_invalid"
    assert snapshot(api, source["uuid"]) == before


def test_a_cancelled_resync_changes_nothing(api: Client, stripe: str) -> None:
    with FaultProxy(stripe) as proxy:
        source = create_stripe_source(api, proxy.url)
        before = snapshot(api, source["uuid"])
        proxy.set(delay=1.0)  # a slow provider: the re-sync is still running when the cancel comes
        job = api.ok("POST", f"/v1/data_sources/{source['uuid']}/resync", status=202)
        cancelled = api.post(f"/v1/jobs/{job['id']}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        finished = api.wait_for_job(job["id"])
        proxy.set()
    assert finished["status"] == "cancelled"
    assert api.post(f"/v1/jobs/{job['id']}/cancel").status_code == 409
    assert snapshot(api, source["uuid"]) == before
    assert api.ok("GET", f"/v1/data_sources/{source['uuid']}")["status"] == "active"


def test_a_delete_during_a_resync_wins_and_nothing_comes_back(
    api: Client, stripe: str, aws: Callable[[str], Any]
) -> None:
    with FaultProxy(stripe) as proxy:
        # (the purge waits for the re-sync's workers to stop, max_retry_seconds included)
        source = create_stripe_source(api, proxy.url, max_retry_seconds=2)
        proxy.set(delay=2.0)  # a slow provider: the re-sync is still fetching when the delete comes
        job = api.ok("POST", f"/v1/data_sources/{source['uuid']}/resync", status=202)
        time.sleep(1.0)
        deleted = api.ok("DELETE", f"/v1/data_sources/{source['uuid']}", status=202)
        assert api.get(f"/v1/data_sources/{source['uuid']}").status_code == 404
        purge = api.wait_for_job(deleted["id"], timeout=180)
    assert purge["status"] == "succeeded", purge
    resync = api.ok("GET", f"/v1/jobs/{job['id']}", status=404)  # a job of a deleted source is gone with it
    assert resync is not None
    left = stored_items_mentioning(aws, source["uuid"])
    leftovers = [item for items in left.values() for item in items]
    assert sorted(item["sk"]["S"].split("#")[0] for item in leftovers) == ["AUDIT", "JOB"], left


def test_custom_sources_cannot_be_resynced(api: Client) -> None:
    uuid = api.ok("POST", "/v1/data_sources", {"name": "Pushed", "system": "custom"}, status=201)["data_source"]["uuid"]
    answer = api.post(f"/v1/data_sources/{uuid}/resync")
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "resync_not_supported"
    assert "delete the source" in error["message"].lower() and "support" in error["message"].lower()
    assert api.post(f"/v1/data_sources/{uuid}/resync", params={"dry_run": "true"}).status_code == 422


def test_dry_run_lists_what_a_resync_would_remove_and_starts_nothing(api: Client, stripe: str) -> None:
    source = create_stripe_source(api, stripe)
    preview = api.ok("POST", f"/v1/data_sources/{source['uuid']}/resync", params={"dry_run": "true"})
    assert preview == {"overlays_removed": []}
    assert len(api.ok("GET", f"/v1/data_sources/{source['uuid']}/jobs")["entries"]) == 1


def test_the_cli_follows_a_resync_to_its_end(stack: dict[str, Any], api: Client, stripe: str) -> None:
    source = create_stripe_source(api, stripe)
    key = api.session.headers["Authorization"].split(" ", 1)[1]
    done = run_cli(stack, "sources", "resync", source["uuid"], key=key)
    assert done.returncode == 0, done.stderr
    assert "100%" in done.stdout and "resync_source succeeded" in done.stdout
    as_json = run_cli(stack, "sources", "resync", source["uuid"], "--json", key=key)
    job = json.loads(as_json.stdout.strip().splitlines()[-1])
    shown = run_cli(stack, "jobs", "show", job["id"], "--json", key=key)
    assert json.loads(shown.stdout)["status"] == "succeeded"


def test_executions_are_named_within_aws_rules(stack: dict[str, Any], aws: Callable[[str], Any]) -> None:
    sfn = aws("stepfunctions")
    names = [
        e["name"]
        for machine in sfn.list_state_machines()["stateMachines"]
        for e in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    ]
    assert names, "no execution ran"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name) for name in names), names


def test_the_cli_exits_non_zero_when_the_resync_fails(stack: dict[str, Any], api: Client, stripe: str) -> None:
    key = api.session.headers["Authorization"].split(" ", 1)[1]
    with FaultProxy(stripe) as proxy:
        source = create_stripe_source(api, proxy.url, max_retry_seconds=1)
        proxy.set(fail_after=0, status=503)
        done = run_cli(stack, "sources", "resync", source["uuid"], key=key)
    assert done.returncode == 4  # the followed job failed (sourcesync --help: exit status)
    assert "resync_source failed: provider_unavailable" in done.stdout


def test_resyncing_one_customer_brings_its_new_invoice_and_touches_no_one_else(
    stack: dict[str, Any], api: Client, stripe: str
) -> None:
    source = create_stripe_source(api, stripe)
    uuid = source["uuid"]
    before = snapshot(api, uuid)
    emulator = StripeEmulator(stripe)
    customers = emulator.get("/v1/customers", {"limit": 20})["data"]
    # the emulator invoices only a customer with a current subscription (seeding order varies between runs)
    subscribed = {
        s["customer"] for s in emulator.get("/v1/subscriptions", {"limit": 100})["data"] if s["status"] == "active"
    }
    target = next(c["id"] for c in customers[5:] if c["id"] in subscribed)
    bystander = next(c["id"] for c in customers[5:] if c["id"] != target)
    # at the provider: a new invoice for the target, a new name for someone else
    emulator.post("/v1/invoiceitems", {"customer": target, "amount": 1500, "currency": "usd", "description": "Extra"})
    invoice = emulator.post("/v1/invoices", {"customer": target})
    emulator.post(f"/v1/invoices/{invoice['id']}/pay", {})
    emulator.post(f"/v1/customers/{bystander}", {"name": "Renamed at the provider"})

    def find(external_id: str) -> dict[str, Any]:
        found = api.ok("GET", "/v1/customers", params={"data_source_uuid": uuid, "external_id": external_id})
        return api.ok("GET", f"/v1/customers/{found['entries'][0]['uuid']}")

    customer = find(target)
    assert invoice["id"] not in {i["external_id"] for i in customer["invoices"]}
    key = api.session.headers["Authorization"].split(" ", 1)[1]
    done = run_cli(stack, "customers", "resync", uuid, customer["uuid"], key=key)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resync_customer succeeded" in done.stdout

    # the customer has its invoice; nobody else changed; the counts follow
    assert invoice["id"] in {i["external_id"] for i in find(target)["invoices"]}
    assert find(bystander)["name"] == before[find(bystander)["uuid"]][0]
    after = snapshot(api, uuid)
    assert {u: v for u, v in after.items() if u != customer["uuid"]} == {
        u: v for u, v in before.items() if u != customer["uuid"]
    }
    counts = api.ok("GET", f"/v1/data_sources/{uuid}")["counts"]
    assert counts["invoices"] == source["counts"]["invoices"] + 1
    jobs = api.ok("GET", f"/v1/data_sources/{uuid}/jobs")["entries"]
    assert jobs[0]["kind"] == "resync_customer" and jobs[0]["customer_uuid"] == customer["uuid"]

    # a full re-sync afterwards keeps the invoice and brings the other change
    job = api.ok("POST", f"/v1/data_sources/{uuid}/resync", status=202)
    assert api.wait_for_job(job["id"])["status"] == "succeeded"
    assert invoice["id"] in {i["external_id"] for i in find(target)["invoices"]}
    assert find(bystander)["name"] == "Renamed at the provider"
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["counts"]["invoices"] == counts["invoices"]


def test_resyncing_a_customer_the_source_does_not_have_is_404(api: Client, stripe: str) -> None:
    source = create_stripe_source(api, stripe)
    answer = api.post(f"/v1/data_sources/{source['uuid']}/customers/cus_00000000000000000000000000/resync")
    assert answer.status_code == 404
    custom = api.ok("POST", "/v1/data_sources", {"name": "Pushed", "system": "custom"}, status=201)["data_source"]
    refused = api.post(f"/v1/data_sources/{custom['uuid']}/customers/cus_00000000000000000000000000/resync")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "resync_not_supported"


def execution_history(aws: Callable[[str], Any], prefix: str) -> list[dict[str, Any]]:
    """Every event of the executions whose name starts with `prefix`, as the Step Functions console shows."""
    sfn = aws("stepfunctions")
    events: list[dict[str, Any]] = []
    for machine in sfn.list_state_machines()["stateMachines"]:
        for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
            if execution["name"].startswith(prefix):
                pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"])
                events.extend(event for page in pages for event in page["events"])
    return events


def test_a_provider_refusal_is_a_provider_error_and_what_it_echoes_is_redacted_everywhere(
    api: Client, stripe: str, aws: Callable[[str], Any]
) -> None:
    from devstack import REPO_ROOT

    key = f"sk_test_echo_{secrets.token_hex(8)}"
    with FaultProxy(stripe) as proxy:
        # Given a source whose provider starts refusing requests with a 404 that quotes the key it was sent,
        # in its message, its error code and its Request-Id header
        created = api.ok(
            "POST",
            "/v1/data_sources",
            {"name": "Echo", "system": "stripe", "credentials": {"api_key": key}, "options": {"api_base": proxy.url}},
            status=201,
        )
        uuid = created["data_source"]["uuid"]
        assert api.wait_for_job(created["job"]["id"])["status"] == "succeeded"
        proxy.set(fail_after=0, status=404, echo_credential=True)
        # When a re-sync runs into it
        job = api.ok("POST", f"/v1/data_sources/{uuid}/resync", status=202)
        finished = api.wait_for_job(job["id"])
        assert proxy.failures >= 1
    # Then the job read through the API says what happened: the provider's status, its message redacted
    assert finished["status"] == "failed", finished
    error = finished["error"]
    assert error["code"] == "provider_error" and error["provider_status"] == 404, error
    assert "No such object for key [REDACTED]" in error["message"] and "req_[REDACTED]" in error["message"]
    assert key not in json.dumps(finished)
    # and neither the execution history (the failed task's Cause) nor the stack's log holds the key
    history = json.dumps(execution_history(aws, f"{uuid}-{job['id']}"), default=str)
    assert "req_[REDACTED]" in history and key not in history
    log = (REPO_ROOT / ".local" / "e2e-stack.log").read_text(errors="replace")
    assert "req_[REDACTED]" in log and key not in log


def test_a_delete_waiting_for_a_stopped_resync_says_what_for_and_until_when(
    stack: dict[str, Any], api: Client, stripe: str, aws: Callable[[str], Any]
) -> None:
    key = api.session.headers["Authorization"].split(" ", 1)[1]
    with FaultProxy(stripe) as proxy:
        source = create_stripe_source(api, proxy.url, max_retry_seconds=2)
        # every page takes 3 s: the re-sync (all its partitions at once) is still fetching when the delete comes
        proxy.set(delay=3.0)
        resync = api.ok("POST", f"/v1/data_sources/{source['uuid']}/resync", status=202)
        time.sleep(1.0)
        assert api.ok("GET", f"/v1/jobs/{resync['id']}")["status"] == "running"
        # When the CLI deletes the source and follows the delete job...
        cli: dict[str, Any] = {}
        deleting = threading.Thread(
            target=lambda: cli.update(done=run_cli(stack, "sources", "delete", source["uuid"], "--yes", key=key))
        )
        deleting.start()
        try:
            delete_job = _delete_job_id(aws, stack["environment"]["JOBS_TABLE"], source["uuid"])
            # ...and a reader samples that job through the API
            samples: list[dict[str, Any]] = []
            while not samples or samples[-1]["status"] == "running" or samples[-1]["status"] == "queued":
                samples.append(api.ok("GET", f"/v1/jobs/{delete_job}"))
                time.sleep(0.25)
        finally:
            deleting.join(timeout=240)
    # Then while it waits, the job says what for and until when...
    waits = [s["waiting_for"] for s in samples if s["waiting_for"]]
    assert waits, [(s["status"], s["progress"]) for s in samples]
    reasons = {w["reason"] for w in waits}
    assert reasons <= {"the running re-sync to stop", "the stopped re-sync's workers"}, reasons
    assert "the stopped re-sync's workers" in reasons
    for wait in waits:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", wait["until"]), wait
    stopped = next(s for s in samples if s["waiting_for"] and s["waiting_for"]["reason"].startswith("the stopped"))
    assert stopped["progress"]["eta_seconds"] is not None and stopped["progress"]["eta_seconds"] <= 2 + 3 * 5 + 1
    # ...and no longer once the purge runs
    assert samples[-1]["status"] == "succeeded" and samples[-1]["waiting_for"] is None
    # and the CLI's progress bar says the same
    done = cli["done"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"waiting for the stopped re-sync's workers until \d\d:\d\d:\d\d", done.stdout), done.stdout
    assert "delete_source succeeded" in done.stdout


def _delete_job_id(aws: Callable[[str], Any], jobs_table: str, uuid: str) -> str:
    """The id of the source's delete job, from the jobs table (the source itself answers 404 by then)."""
    deadline = time.monotonic() + 60
    while True:
        answer = aws("dynamodb").query(
            TableName=jobs_table,
            IndexName="by_source",
            KeyConditionExpression="data_source_uuid = :ds",
            ExpressionAttributeValues={":ds": {"S": uuid}},
        )
        found = [i["job_id"]["S"] for i in answer["Items"] if i["kind"]["S"] == "delete_source"]
        if found:
            return found[0]
        assert time.monotonic() < deadline, "no delete job"
        time.sleep(0.2)
