"""A support key: may reprocess any account's source (audited), and nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import Account, AuditBus, Client, run_cli
from tests.e2e.test_import_and_delete import import_business

pytestmark = pytest.mark.e2e


@pytest.fixture
def support(stack: dict[str, Any], new_account: Callable[[str], Account]) -> Client:
    operators = new_account("operators")
    done = run_cli(stack, "key", "create", "--account", operators.account_id, "--role", "support")
    assert done.returncode == 0, done.stderr
    return Client(stack["api"], json.loads(done.stdout)["api_key"])


def test_support_reprocesses_another_accounts_source_and_is_audited(
    api: Client, support: Client, aws: Callable[[str], Any], stack: dict[str, Any]
) -> None:
    uuid = api.ok("POST", "/v1/data_sources", {"name": "Pushed", "system": "custom"}, status=201)["data_source"]["uuid"]
    import_business(api, uuid, "r", customers=4)
    before = api.ok("GET", f"/v1/data_sources/{uuid}")["counts"]
    # derived data gone wrong: the source's counts say nothing is there
    account_id = next(
        item["account_id"]["S"]
        for item in aws("dynamodb").scan(TableName=stack["resources"]["SourcesTable"])["Items"]
        if item.get("uuid", {}).get("S") == uuid  # overlay items in the same table have no uuid
    )
    aws("dynamodb").update_item(
        TableName=stack["resources"]["SourcesTable"],
        Key={"pk": {"S": f"A#{account_id}"}, "sk": {"S": f"DS#{uuid}"}},
        UpdateExpression="SET counts = :zero",
        ExpressionAttributeValues={":zero": {"M": {}}},
    )
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["counts"]["customers"] == 0

    answer = support.post(f"/v1/data_sources/{uuid}/reprocess")
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["kind"] == "reprocess"
    finished = api.wait_for_job(job["id"])
    assert finished["status"] == "succeeded", finished
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["counts"] == before
    assert len(api.ok("GET", "/v1/customers", params={"data_source_uuid": uuid})["entries"]) == 4
    audits = [
        item
        for item in aws("dynamodb").scan(TableName=stack["resources"]["AccountsTable"])["Items"]
        if item["sk"]["S"].startswith("AUDIT#")
        and item.get("action", {}).get("S") == "reprocess"
        and item["data_source_uuid"]["S"] == uuid
    ]
    assert len(audits) == 1 and audits[0]["job_id"]["S"] == job["id"]


def test_support_may_do_nothing_else(api: Client, support: Client) -> None:
    uuid = api.ok("POST", "/v1/data_sources", {"name": "Pushed", "system": "custom"}, status=201)["data_source"]["uuid"]
    for method, path in [
        ("GET", "/v1/data_sources"),
        ("GET", f"/v1/data_sources/{uuid}"),
        ("DELETE", f"/v1/data_sources/{uuid}"),
        ("POST", f"/v1/data_sources/{uuid}/resync"),
    ]:
        answer = support.request(method, path)
        assert answer.status_code == 403, f"{method} {path}: {answer.status_code}"
        assert answer.json()["error"]["code"] == "forbidden"
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["status"] == "active"
    assert support.post("/v1/data_sources/ds_00000000000000000000000000/reprocess").status_code == 404


def test_a_member_key_may_not_reprocess(api: Client) -> None:
    uuid = api.ok("POST", "/v1/data_sources", {"name": "Pushed", "system": "custom"}, status=201)["data_source"]["uuid"]
    answer = api.post(f"/v1/data_sources/{uuid}/reprocess")
    assert answer.status_code == 403


def test_support_reprocess_is_published_like_a_delete_and_support_reads_only_its_jobs(
    api: Client,
    account: Account,
    support: Client,
    stack: dict[str, Any],
    new_account: Callable[[str], Account],
    audit_bus: AuditBus,
) -> None:
    uuid = api.ok("POST", "/v1/data_sources", {"name": "Pushed", "system": "custom"}, status=201)["data_source"]["uuid"]
    import_business(api, uuid, "r", customers=2)
    doomed = api.ok("POST", "/v1/data_sources", {"name": "Doomed", "system": "custom"}, status=201)["data_source"]
    member_job = api.ok("DELETE", f"/v1/data_sources/{doomed['uuid']}", status=202)

    job = support.ok("POST", f"/v1/data_sources/{uuid}/reprocess", status=202)

    # the same audit event a delete publishes: on the audit bus, from sourcesync, naming the key and the job
    (event,) = audit_bus.events_of(account.account_id, "reprocess")
    (deleted,) = audit_bus.events_of(account.account_id, "delete_source")
    assert event["source"] == deleted["source"] == "sourcesync"
    assert event["detail"]["job_id"] == job["id"] and event["detail"]["data_source_uuid"] == uuid
    assert event["detail"]["key_id"].startswith("key_") and event["detail"]["role"] == "support"
    assert {"account_id", "key_id", "role", "at", "job_id", "data_source_uuid"} <= set(deleted["detail"]) & set(
        event["detail"]
    )
    # the support key follows the job it started, in the other account...
    seen = support.ok("GET", f"/v1/jobs/{job['id']}")
    assert seen["id"] == job["id"] and seen["kind"] == "reprocess"
    assert api.wait_for_job(job["id"])["status"] == "succeeded"
    # ...and nothing else of that account: not its other jobs, not its sources
    for path in (f"/v1/jobs/{member_job['id']}", "/v1/jobs/job_00000000000000000000000000", "/v1/jobs/nope"):
        answer = support.get(path)
        assert answer.status_code == 404, f"{path}: {answer.status_code}"
    assert support.get(f"/v1/data_sources/{uuid}/jobs").status_code == 403
    assert support.get(f"/v1/data_sources/{uuid}").status_code == 403
    # nor a job another support key started
    operators = new_account("other operators")
    done = run_cli(stack, "key", "create", "--account", operators.account_id, "--role", "support")
    other_support = Client(stack["api"], json.loads(done.stdout)["api_key"])
    assert other_support.get(f"/v1/jobs/{job['id']}").status_code == 404
