"""The foundation over HTTP: keys, accounts, data sources, jobs, errors, pagination, idempotency."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import Account, Client, run_cli

pytestmark = pytest.mark.e2e


def test_requests_without_a_valid_key_are_refused(stack: dict[str, Any]) -> None:
    for key in (None, "ssk_not-a-real-key", "Bearer", ""):
        answer = Client(stack["api"], key).get("/v1/data_sources")
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.json()["error"]["request_id"]


def test_basic_auth_with_the_key_as_user_name(stack: dict[str, Any], account: Account) -> None:
    token = base64.b64encode(f"{account.api_key}:".encode()).decode()
    client = Client(stack["api"], None)
    answer = client.get("/v1/data_sources", headers={"Authorization": f"Basic {token}"})
    assert answer.status_code == 200
    assert answer.json() == {"entries": [], "has_more": False, "cursor": None}


def test_a_custom_source_is_created_listed_read_and_updated(api: Client) -> None:
    created = api.ok("POST", "/v1/data_sources", {"name": "Pushed data", "system": "custom"}, status=201)
    source = created["data_source"]
    assert created["job"] is None
    assert source["uuid"].startswith("ds_") and source["status"] == "active"
    assert source["resync_supported"] is False and source["current_job"] is None
    assert source["counts"] == {"customers": 0, "plans": 0, "subscriptions": 0, "invoices": 0, "transactions": 0}
    assert api.ok("GET", f"/v1/data_sources/{source['uuid']}") == source
    assert api.ok("GET", "/v1/data_sources")["entries"] == [source]

    renamed = api.ok("PATCH", f"/v1/data_sources/{source['uuid']}", {"name": "Renamed"})
    assert renamed["name"] == "Renamed" and renamed["uuid"] == source["uuid"]
    assert api.ok("GET", f"/v1/data_sources/{source['uuid']}")["name"] == "Renamed"


def test_lists_paginate_in_creation_order(api: Client) -> None:
    made = [
        api.ok("POST", "/v1/data_sources", {"name": f"s{i}", "system": "custom"}, status=201)["data_source"]["uuid"]
        for i in range(5)
    ]
    seen, cursor, pages = [], None, 0
    while True:
        page = api.ok("GET", "/v1/data_sources", params={"per_page": 2, **({"cursor": cursor} if cursor else {})})
        seen += [s["uuid"] for s in page["entries"]]
        pages += 1
        if not page["has_more"]:
            break
        cursor = page["cursor"]
    assert seen == made
    assert pages >= 3


@pytest.mark.parametrize("params", [{"per_page": 0}, {"per_page": 201}, {"per_page": "x"}, {"cursor": "garbage"}])
def test_bad_list_parameters_are_400(api: Client, params: dict[str, Any]) -> None:
    answer = api.get("/v1/data_sources", params=params)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"
    assert answer.json()["error"]["details"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ('{"name": "x", "system": "custom"', "body"),
        ('{"name": "x", "system": "custom", "colour": "red"}', "colour"),
        ('{"name": 3, "system": "custom"}', "name"),
        ('{"system": "custom"}', "name"),
        ('{"name": "x", "system": "shopify"}', "system"),
        ('{"name": "x", "system": "custom", "credentials": {"api_key": "k"}}', "credentials"),
        ('{"name": "x", "system": "stripe", "credentials": {"api_key": "k"}, "schedule": "daily"}', "schedule"),
        ("[]", "body"),
    ],
    ids=[
        "malformed-json",
        "unknown-field",
        "wrong-type",
        "missing-field",
        "unknown-system",
        "custom-with-credentials",
        "bad-schedule",
        "not-an-object",
    ],
)
def test_bad_bodies_are_400_and_create_nothing(api: Client, body: str, loc: str) -> None:
    answer = api.request("POST", "/v1/data_sources", data=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert any(d["loc"] == loc for d in error["details"]) or (loc == "body" and error["details"])
    assert api.ok("GET", "/v1/data_sources")["entries"] == []


def test_a_body_over_one_megabyte_is_413_and_creates_nothing(api: Client) -> None:
    body = json.dumps({"name": "x" * (1024 * 1024), "system": "custom"})
    answer = api.request("POST", "/v1/data_sources", data=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"
    assert api.ok("GET", "/v1/data_sources")["entries"] == []


def test_a_system_without_a_connector_yet_is_refused_and_creates_nothing(api: Client) -> None:
    answer = api.post("/v1/data_sources", {"name": "CRM", "system": "hubspot", "credentials": {"token": "t"}})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "connector_unavailable"
    assert api.ok("GET", "/v1/data_sources")["entries"] == []


def test_stripe_credentials_are_checked_with_the_provider_first(api: Client, stack: dict[str, Any]) -> None:
    answer = api.post(
        "/v1/data_sources",
        {
            "name": "Stripe",
            "system": "stripe",
            "credentials": {"api_key": "pk_not_a_secret_key"},
            "options": {"api_base": stack["stripe"]},
        },
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "credentials_invalid"
    assert api.ok("GET", "/v1/data_sources")["entries"] == []


def test_credentials_go_to_secrets_manager_never_into_answers_or_tables(
    api: Client, stack: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    secret = "sk_test_e2e_secret_value_0123456789"
    created = api.ok(
        "POST",
        "/v1/data_sources",
        {
            "name": "Stripe",
            "system": "stripe",
            "credentials": {"api_key": secret},
            "options": {"api_base": stack["stripe"]},
        },
        status=201,
    )
    uuid = created["data_source"]["uuid"]
    assert secret not in json.dumps(created)
    api.wait_for_job(created["job"]["id"])
    assert secret not in api.get(f"/v1/data_sources/{uuid}").text
    secrets = aws("secretsmanager")
    names = [s["Name"] for s in secrets.list_secrets()["SecretList"]]
    stored = [n for n in names if n.endswith(uuid)]
    assert len(stored) == 1
    assert json.loads(secrets.get_secret_value(SecretId=stored[0])["SecretString"]) == {"api_key": secret}
    dynamodb = aws("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        for item in dynamodb.scan(TableName=table)["Items"]:
            assert secret not in json.dumps(item, default=str), f"the secret is stored in {table}"


def test_patch_schedule_accepts_rate_and_cron_and_null_turns_it_off(api: Client, stack: dict[str, Any]) -> None:
    created = api.ok(
        "POST",
        "/v1/data_sources",
        {
            "name": "Stripe",
            "system": "stripe",
            "credentials": {"api_key": "sk_test_schedule"},
            "options": {"api_base": stack["stripe"]},
            "schedule": "rate(1 day)",
        },
        status=201,
    )
    uuid = created["data_source"]["uuid"]
    assert created["data_source"]["schedule"] == "rate(1 day)"
    assert (
        api.ok("PATCH", f"/v1/data_sources/{uuid}", {"schedule": "cron(0 3 * * ? *)"})["schedule"]
        == "cron(0 3 * * ? *)"
    )
    bad = api.patch(f"/v1/data_sources/{uuid}", {"schedule": "at 3am"})
    assert bad.status_code == 400
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["schedule"] == "cron(0 3 * * ? *)"
    assert api.ok("PATCH", f"/v1/data_sources/{uuid}", {"schedule": None})["schedule"] is None
    api.wait_for_job(created["job"]["id"])


def test_jobs_are_readable_and_listed_per_source_newest_first(api: Client, stack: dict[str, Any]) -> None:
    created = api.ok(
        "POST",
        "/v1/data_sources",
        {
            "name": "Stripe",
            "system": "stripe",
            "credentials": {"api_key": "sk_test_jobs"},
            "options": {"api_base": stack["stripe"]},
        },
        status=201,
    )
    job = created["job"]
    assert job["kind"] == "import" and job["data_source_uuid"] == created["data_source"]["uuid"]
    assert set(job) == {
        "id",
        "kind",
        "status",
        "phase",
        "data_source_uuid",
        "customer_uuid",
        "created_at",
        "started_at",
        "finished_at",
        "progress",
        "waiting_for",
        "cleanup",
        "result",
        "error",
    }
    finished = api.wait_for_job(job["id"])
    assert finished["status"] == "succeeded", finished
    listed = api.ok("GET", f"/v1/data_sources/{job['data_source_uuid']}/jobs")
    assert [j["id"] for j in listed["entries"]] == [job["id"]]
    assert api.get("/v1/jobs/job_00000000000000000000000000").status_code == 404


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(api: Client) -> None:
    body = {"name": "Once", "system": "custom"}
    first = api.post("/v1/data_sources", body, headers={"Idempotency-Key": "create-once"})
    again = api.post("/v1/data_sources", body, headers={"Idempotency-Key": "create-once"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = api.post(
        "/v1/data_sources", {"name": "Other", "system": "custom"}, headers={"Idempotency-Key": "create-once"}
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(api.ok("GET", "/v1/data_sources")["entries"]) == 1


def test_two_accounts_never_see_or_change_each_others_sources(
    stack: dict[str, Any], new_account: Callable[[str], Account]
) -> None:
    alice, bob = (Client(stack["api"], new_account(name).api_key) for name in ("alice", "bob"))
    mine = alice.ok("POST", "/v1/data_sources", {"name": "Alice's", "system": "custom"}, status=201)
    uuid = mine["data_source"]["uuid"]
    assert bob.ok("GET", "/v1/data_sources")["entries"] == []
    for method, path, body in [
        ("GET", f"/v1/data_sources/{uuid}", None),
        ("PATCH", f"/v1/data_sources/{uuid}", {"name": "Bob was here"}),
        ("GET", f"/v1/data_sources/{uuid}/jobs", None),
        ("DELETE", f"/v1/data_sources/{uuid}", None),
        ("POST", f"/v1/import/data_sources/{uuid}/customers", {"customers": [{"external_id": "x", "name": "X"}]}),
    ]:
        answer = bob.request(method, path, json=body)
        assert answer.status_code == 404, f"{method} {path}: {answer.status_code}"
        assert answer.json()["error"]["code"] == "not_found"
    assert alice.ok("GET", f"/v1/data_sources/{uuid}")["name"] == "Alice's"
    assert alice.ok("GET", f"/v1/data_sources/{uuid}")["counts"]["customers"] == 0


def test_key_create_makes_another_working_key(stack: dict[str, Any], account: Account) -> None:
    done = run_cli(stack, "key", "create", "--account", account.account_id, "--role", "member")
    assert done.returncode == 0, done.stderr
    second = json.loads(done.stdout)
    assert second["api_key"] != account.api_key and second["role"] == "member"
    assert Client(stack["api"], second["api_key"]).get("/v1/data_sources").status_code == 200
    unknown = run_cli(stack, "key", "create", "--account", "acct_00000000000000000000000000")
    assert unknown.returncode != 0


def test_the_cli_lists_and_shows_sources(stack: dict[str, Any], api: Client, account: Account) -> None:
    uuid = api.ok("POST", "/v1/data_sources", {"name": "CLI", "system": "custom"}, status=201)["data_source"]["uuid"]
    listed = run_cli(stack, "sources", "list", "--json", key=account.api_key)
    assert listed.returncode == 0, listed.stderr
    assert [s["uuid"] for s in json.loads(listed.stdout)] == [uuid]
    shown = run_cli(stack, "sources", "show", uuid, key=account.api_key)
    assert shown.returncode == 0 and uuid in shown.stdout and "custom" in shown.stdout
    missing = run_cli(stack, "sources", "show", "ds_00000000000000000000000000", key=account.api_key)
    assert missing.returncode == 1 and "404" in missing.stderr
