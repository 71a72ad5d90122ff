"""API keys an operator manages over the API and the CLI: list, revoke (a key may revoke itself), rotate
with a grace period; every change audited (log line, event on the audit bus, AUDIT# item)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Account, AuditBus, Client, run_cli

pytestmark = pytest.mark.e2e


def audit_items(aws: Callable[[str], Any], stack: dict[str, Any], account_id: str, action: str) -> list[Any]:
    answer = aws("dynamodb").query(
        TableName=stack["resources"]["AccountsTable"],
        KeyConditionExpression="pk = :pk AND begins_with(sk, :audit)",
        ExpressionAttributeValues={":pk": {"S": f"ACCOUNT#{account_id}"}, ":audit": {"S": "AUDIT#"}},
    )
    return [item for item in answer["Items"] if item["action"]["S"] == action]


def second_key(stack: dict[str, Any], account: Account, role: str = "member") -> dict[str, Any]:
    done = run_cli(stack, "key", "create", "--account", account.account_id, "--role", role)
    assert done.returncode == 0, done.stderr
    created: dict[str, Any] = json.loads(done.stdout)
    return created


def own_key_id(api: Client) -> str:
    """The id of the key `api` calls with: the one whose last_used_at its own calls have set."""
    used = [k for k in api.ok("GET", "/v1/api_keys")["entries"] if k["last_used_at"]]
    assert len(used) == 1, used
    return str(used[0]["id"])


def test_list_shows_the_accounts_keys_and_never_a_secret(
    api: Client, account: Account, stack: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    other = second_key(stack, account, "support")

    answer = api.get("/v1/api_keys")

    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["has_more"] is False and page["cursor"] is None
    by_role = {k["role"]: k for k in page["entries"]}
    assert set(by_role) == {"member", "support"} and by_role["support"]["id"] == other["key_id"]
    for key in page["entries"]:
        assert set(key) == {"id", "role", "created_at", "last_used_at", "expires_at"}
        assert key["id"].startswith("key_") and key["created_at"].endswith("Z")
    assert by_role["member"]["last_used_at"] is not None  # this very request used it
    assert by_role["support"]["last_used_at"] is None
    assert account.api_key not in answer.text and other["api_key"] not in answer.text
    # paginated like every list
    first = api.ok("GET", "/v1/api_keys", params={"per_page": 1})
    assert len(first["entries"]) == 1 and first["has_more"] is True
    rest = api.ok("GET", "/v1/api_keys", params={"per_page": 1, "cursor": first["cursor"]})
    assert {k["id"] for k in first["entries"] + rest["entries"]} == set(k["id"] for k in page["entries"])
    # the creation of a key is audited too
    assert [i["api_key_id"]["S"] for i in audit_items(aws, stack, account.account_id, "create_api_key")] == [
        own_key_id(api),
        other["key_id"],
    ]


def test_last_used_at_is_written_at_most_once_a_minute(
    api: Client, account: Account, stack: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    # Given the key's lookup item as a use a few seconds ago left it
    table, ddb = stack["resources"]["AccountsTable"], aws("dynamodb")
    lookup = {"pk": {"S": f"KEYHASH#{hashlib.sha256(account.api_key.encode()).hexdigest()}"}, "sk": {"S": "KEY"}}

    def used_at(when: str) -> None:
        ddb.update_item(
            TableName=table,
            Key=lookup,
            UpdateExpression="SET last_used_at = :at",
            ExpressionAttributeValues={":at": {"S": when}},
        )

    recent = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    used_at(recent)

    # When it is used again within the minute: nothing is written
    for _ in range(3):
        api.ok("GET", "/v1/data_sources")
    assert ddb.get_item(TableName=table, Key=lookup, ConsistentRead=True)["Item"]["last_used_at"]["S"] == recent
    assert api.ok("GET", "/v1/api_keys")["entries"][0]["last_used_at"] == recent

    # and once the stored use is older than a minute, the next request records it
    used_at("2026-01-01T00:00:00Z")
    api.ok("GET", "/v1/data_sources")
    listed = api.ok("GET", "/v1/api_keys")["entries"][0]["last_used_at"]
    assert listed > recent


def test_a_key_may_revoke_itself_even_the_accounts_last(
    api: Client, account: Account, stack: dict[str, Any], aws: Callable[[str], Any], audit_bus: AuditBus
) -> None:
    key_id = own_key_id(api)

    answer = api.delete(f"/v1/api_keys/{key_id}")

    assert answer.status_code == 204, answer.text
    refused = api.get("/v1/data_sources")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert api.get("/v1/api_keys").status_code == 401
    # audited three ways, without the secret
    items = audit_items(aws, stack, account.account_id, "revoke_api_key")
    assert len(items) == 1 and items[0]["api_key_id"]["S"] == key_id and items[0]["key_id"]["S"] == key_id
    events = audit_bus.events_of(account.account_id, "revoke_api_key")
    assert len(events) == 1 and events[0]["detail-type"] == "ApiKeyRevoked"
    assert events[0]["detail"]["api_key_id"] == key_id
    assert account.api_key not in json.dumps(events) + json.dumps(items)
    # and the operator makes another
    fresh = second_key(stack, account)
    assert Client(stack["api"], fresh["api_key"]).get("/v1/data_sources").status_code == 200


def test_revoking_another_key_of_the_account(api: Client, account: Account, stack: dict[str, Any]) -> None:
    other = second_key(stack, account)
    client = Client(stack["api"], other["api_key"])
    assert client.get("/v1/data_sources").status_code == 200

    assert api.delete(f"/v1/api_keys/{other['key_id']}").status_code == 204

    assert client.get("/v1/data_sources").status_code == 401
    assert other["key_id"] not in {k["id"] for k in api.ok("GET", "/v1/api_keys")["entries"]}
    assert api.delete(f"/v1/api_keys/{other['key_id']}").status_code == 404  # gone already
    assert api.get("/v1/data_sources").status_code == 200


def test_another_accounts_key_ids_are_404(
    api: Client, stack: dict[str, Any], new_account: Callable[[str], Account]
) -> None:
    theirs = new_account("someone else")
    their_api = Client(stack["api"], theirs.api_key)
    their_key = own_key_id(their_api)

    for method, path in [("DELETE", f"/v1/api_keys/{their_key}"), ("POST", f"/v1/api_keys/{their_key}/rotate")]:
        answer = api.request(method, path, json={"grace_period_seconds": 0} if method == "POST" else None)
        assert answer.status_code == 404, f"{method} {path}: {answer.status_code}"
        assert answer.json()["error"]["code"] == "not_found"
    assert their_key not in {k["id"] for k in api.ok("GET", "/v1/api_keys")["entries"]}
    assert their_api.get("/v1/data_sources").status_code == 200
    for bad in ("key_nope", "x" * 2000, "KEY%23x"):
        assert api.delete(f"/v1/api_keys/{bad}").status_code == 404


def test_rotate_keeps_the_old_key_for_the_grace_period_then_401(
    api: Client, account: Account, stack: dict[str, Any], aws: Callable[[str], Any], audit_bus: AuditBus
) -> None:
    key_id = own_key_id(api)

    rotated = api.ok("POST", f"/v1/api_keys/{key_id}/rotate", {"grace_period_seconds": 600}, status=201)

    new = Client(stack["api"], rotated["api_key"])
    assert rotated["id"] != key_id and rotated["role"] == "member" and rotated["api_key"].startswith("ssk_")
    assert new.get("/v1/data_sources").status_code == 200
    assert api.get("/v1/data_sources").status_code == 200  # within the grace period
    listed = {k["id"]: k for k in new.ok("GET", "/v1/api_keys")["entries"]}
    assert listed[key_id]["expires_at"] == rotated["old_key_expires_at"] and listed[rotated["id"]]["expires_at"] is None
    assert rotated["api_key"] not in json.dumps(listed)

    # a shorter grace on a second rotation ends the old key sooner; once it has passed, 401
    again = new.ok("POST", f"/v1/api_keys/{key_id}/rotate", {"grace_period_seconds": 1}, status=201)
    assert again["old_key_expires_at"] < rotated["old_key_expires_at"]
    deadline = time.monotonic() + 30
    while api.get("/v1/data_sources").status_code != 401:
        assert time.monotonic() < deadline, "the old key still works long after its grace period"
        time.sleep(0.5)
    assert new.get("/v1/data_sources").status_code == 200
    assert Client(stack["api"], again["api_key"]).get("/v1/data_sources").status_code == 200
    assert key_id not in {k["id"] for k in new.ok("GET", "/v1/api_keys")["entries"]}

    items = audit_items(aws, stack, account.account_id, "rotate_api_key")
    assert sorted(i["new_api_key_id"]["S"] for i in items) == sorted([rotated["id"], again["id"]])
    events = audit_bus.events_of(account.account_id, "rotate_api_key", count=2)
    assert {e["detail"]["new_api_key_id"] for e in events} == {rotated["id"], again["id"]}
    assert {e["detail-type"] for e in events} == {"ApiKeyRotated"}
    assert rotated["api_key"] not in json.dumps(events) + json.dumps(items)


def test_a_rotation_answer_is_never_stored_for_replay(
    api: Client, stack: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    key_id = own_key_id(api)
    headers = {"Idempotency-Key": "rotate-once"}

    first = api.ok("POST", f"/v1/api_keys/{key_id}/rotate", {"grace_period_seconds": 600}, status=201, headers=headers)

    # the secret is in no table (the idempotency records would keep it 24 hours)
    for table in (stack["resources"]["IdempotencyTable"], stack["resources"]["AccountsTable"]):
        assert first["api_key"] not in json.dumps(aws("dynamodb").scan(TableName=table)["Items"])
    # so the same key rotates again instead of replaying a secret
    second = api.ok("POST", f"/v1/api_keys/{key_id}/rotate", {"grace_period_seconds": 600}, status=201, headers=headers)
    assert second["id"] != first["id"]


def test_rotate_with_no_grace_revokes_at_once_and_bad_bodies_change_nothing(api: Client, stack: dict[str, Any]) -> None:
    key_id = own_key_id(api)
    for body in (
        {"grace_period_seconds": -1},
        {"grace_period_seconds": 10**9},
        {"grace_period_seconds": "60"},
        {"x": 1},
    ):
        answer = api.post(f"/v1/api_keys/{key_id}/rotate", body)
        assert answer.status_code == 400, f"{body}: {answer.status_code}"
        assert answer.json()["error"]["code"] == "invalid_request"
    assert len(api.ok("GET", "/v1/api_keys")["entries"]) == 1

    rotated = api.ok("POST", f"/v1/api_keys/{key_id}/rotate", {"grace_period_seconds": 0}, status=201)

    assert api.get("/v1/data_sources").status_code == 401
    assert Client(stack["api"], rotated["api_key"]).get("/v1/data_sources").status_code == 200


def test_cli_lists_rotates_and_revokes(api: Client, account: Account, stack: dict[str, Any]) -> None:
    listed = run_cli(stack, "key", "list", "--json", key=account.api_key)
    assert listed.returncode == 0, listed.stderr
    (key,) = json.loads(listed.stdout)
    assert account.api_key not in listed.stdout

    rotated = run_cli(stack, "key", "rotate", key["id"], "--grace-period", "0", "--json", key=account.api_key)
    assert rotated.returncode == 0, rotated.stderr
    new_key = json.loads(rotated.stdout)["api_key"]
    assert api.get("/v1/data_sources").status_code == 401

    revoked = run_cli(stack, "key", "revoke", json.loads(rotated.stdout)["id"], key=new_key)
    assert revoked.returncode == 0, revoked.stderr
    assert Client(stack["api"], new_key).get("/v1/data_sources").status_code == 401
    refused = run_cli(stack, "key", "list", key=new_key)
    assert refused.returncode != 0 and "401" in refused.stderr
