"""A support key: may reprocess any account's source (audited), and nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import Account, Client, run_cli
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
