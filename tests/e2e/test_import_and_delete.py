"""Import API into a custom source, then erase it: gone at once for readers, then purged completely."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import Account, Client, run_cli

pytestmark = pytest.mark.e2e


def import_business(api: Client, uuid: str, prefix: str, customers: int = 12) -> dict[str, str]:
    """Customers, two plans, an invoice per customer (subscription + one-time line, a payment)."""
    created = api.ok(
        "POST",
        f"/v1/import/data_sources/{uuid}/customers",
        {
            "customers": [
                {
                    "external_id": f"{prefix}-c{i}",
                    "name": f"{prefix} customer {i}",
                    "email": f"c{i}@example.com",
                    "country": "DE",
                }
                for i in range(customers)
            ]
        },
        status=201,
    )
    api.ok(
        "POST",
        f"/v1/import/data_sources/{uuid}/plans",
        {
            "plans": [
                {"external_id": "monthly", "name": "Monthly", "interval_count": 1, "interval_unit": "month"},
                {"external_id": "yearly", "name": "Yearly", "interval_count": 1, "interval_unit": "year"},
            ]
        },
        status=201,
    )
    api.ok(
        "POST",
        f"/v1/import/data_sources/{uuid}/invoices",
        {
            "invoices": [
                {
                    "external_id": f"{prefix}-inv{i}",
                    "customer_external_id": f"{prefix}-c{i}",
                    "date": "2026-11-01",
                    "currency": "EUR",
                    "line_items": [
                        {
                            "type": "subscription",
                            "subscription_external_id": f"{prefix}-sub{i}",
                            "plan_external_id": "monthly" if i % 2 else "yearly",
                            "service_period_start": "2026-11-01",
                            "service_period_end": "2026-12-01" if i % 2 else "2027-11-01",
                            "amount_in_cents": 1200 * (i + 1),
                        },
                        {"type": "one_time", "amount_in_cents": 500},
                    ],
                    "transactions": [
                        {
                            "external_id": f"{prefix}-tr{i}",
                            "type": "payment",
                            "date": "2026-11-01",
                            "result": "successful",
                            "amount_in_cents": 1200 * (i + 1) + 500,
                        }
                    ],
                }
                for i in range(customers)
            ]
        },
        status=201,
    )
    return {entry["external_id"]: entry["uuid"] for entry in created["entries"]}


def test_the_import_api_writes_records_readable_through_the_customers_api(api: Client) -> None:
    uuid = api.ok("POST", "/v1/data_sources", {"name": "Pushed", "system": "custom"}, status=201)["data_source"]["uuid"]
    customers = import_business(api, uuid, "a", customers=3)
    assert len(customers) == 3 and all(u.startswith("cus_") for u in customers.values())
    source = api.ok("GET", f"/v1/data_sources/{uuid}")
    assert source["counts"] == {"customers": 3, "plans": 2, "subscriptions": 3, "invoices": 3, "transactions": 3}

    one = api.ok("GET", f"/v1/customers/{customers['a-c1']}", params={"as_of": "2026-11-15"})
    assert one["external_id"] == "a-c1" and one["data_source_uuid"] == uuid
    assert one["mrr"] == 2400 and one["currency"] == "EUR"
    assert [s["external_id"] for s in one["subscriptions"]] == ["a-sub1"]
    assert one["subscriptions"][0]["plan"]["external_id"] == "monthly"
    assert one["invoices"][0]["transactions"][0]["external_id"] == "a-tr1"
    yearly = api.ok("GET", f"/v1/customers/{customers['a-c0']}", params={"as_of": "2026-11-15"})
    assert yearly["mrr"] == 100  # 1,200 cents a year

    listed = api.ok("GET", "/v1/customers", params={"data_source_uuid": uuid})
    assert sorted(c["uuid"] for c in listed["entries"]) == sorted(customers.values())
    by_external = api.ok("GET", "/v1/customers", params={"data_source_uuid": uuid, "external_id": "a-c2"})
    assert [c["uuid"] for c in by_external["entries"]] == [customers["a-c2"]]

    # a repeated external_id updates the record, and the counts do not grow
    again = api.ok(
        "POST",
        f"/v1/import/data_sources/{uuid}/customers",
        {"customers": [{"external_id": "a-c1", "name": "Renamed"}]},
        status=201,
    )
    assert again["entries"] == [{"external_id": "a-c1", "uuid": customers["a-c1"]}]
    assert api.ok("GET", f"/v1/customers/{customers['a-c1']}")["name"] == "Renamed"
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["counts"]["customers"] == 3


def test_one_bad_record_rejects_the_whole_request(api: Client) -> None:
    uuid = api.ok("POST", "/v1/data_sources", {"name": "Pushed", "system": "custom"}, status=201)["data_source"]["uuid"]
    answer = api.post(
        f"/v1/import/data_sources/{uuid}/customers",
        {"customers": [{"external_id": "ok", "name": "Fine"}, {"external_id": "bad", "name": "Bad", "email": 42}]},
    )
    assert answer.status_code == 400
    assert [d["loc"] for d in answer.json()["error"]["details"]] == ["customers.1.email"]
    assert api.ok("GET", "/v1/customers", params={"data_source_uuid": uuid})["entries"] == []
    unknown_customer = api.post(
        f"/v1/import/data_sources/{uuid}/invoices",
        {
            "invoices": [
                {
                    "external_id": "i",
                    "customer_external_id": "nobody",
                    "date": "2026-01-01",
                    "currency": "USD",
                    "line_items": [{"type": "one_time", "amount_in_cents": 5}],
                }
            ]
        },
    )
    assert unknown_customer.status_code == 400
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["counts"]["invoices"] == 0


def test_the_import_api_refuses_sources_that_are_not_custom(api: Client, stack: dict[str, Any]) -> None:
    created = api.ok(
        "POST",
        "/v1/data_sources",
        {
            "name": "Stripe",
            "system": "stripe",
            "credentials": {"api_key": "sk_test_import"},
            "options": {"api_base": stack["stripe"]},
        },
        status=201,
    )
    answer = api.post(
        f"/v1/import/data_sources/{created['data_source']['uuid']}/customers",
        {"customers": [{"external_id": "x", "name": "X"}]},
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "not_custom_source"
    assert (
        api.post(
            "/v1/import/data_sources/ds_00000000000000000000000000/customers",
            {"customers": [{"external_id": "x", "name": "X"}]},
        ).status_code
        == 404
    )
    api.wait_for_job(created["job"]["id"])


def stored_items_mentioning(aws: Callable[[str], Any], needle: str) -> dict[str, list[dict[str, Any]]]:
    """Every item of every table, and every object and secret, that mentions `needle`."""
    found: dict[str, list[dict[str, Any]]] = {}
    dynamodb = aws("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        paginator = dynamodb.get_paginator("scan")
        for page in paginator.paginate(TableName=table):
            for item in page["Items"]:
                if needle in json.dumps(item, default=str):
                    found.setdefault(table, []).append(item)
    s3 = aws("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        for obj in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            if needle in obj["Key"]:
                found.setdefault(f"s3:{bucket['Name']}", []).append({"key": obj["Key"]})
    for secret in aws("secretsmanager").list_secrets()["SecretList"]:
        if needle in secret["Name"]:
            found.setdefault("secretsmanager", []).append({"name": secret["Name"]})
    return found


def test_delete_is_immediate_for_readers_then_purges_everything(
    stack: dict[str, Any],
    api: Client,
    account: Account,
    new_account: Callable[[str], Account],
    aws: Callable[[str], Any],
) -> None:
    # Given two custom sources of one account and one of another account, all imported
    doomed = api.ok("POST", "/v1/data_sources", {"name": "Doomed", "system": "custom"}, status=201)["data_source"]
    kept = api.ok("POST", "/v1/data_sources", {"name": "Kept", "system": "custom"}, status=201)["data_source"]
    other = Client(stack["api"], new_account("neighbour").api_key)
    theirs = other.ok("POST", "/v1/data_sources", {"name": "Theirs", "system": "custom"}, status=201)["data_source"]
    doomed_customers = import_business(api, doomed["uuid"], "d", customers=40)
    kept_customers = import_business(api, kept["uuid"], "k", customers=5)
    import_business(other, theirs["uuid"], "t", customers=5)
    assert stored_items_mentioning(aws, doomed["uuid"])

    # When we preview, then delete it
    preview = api.ok("DELETE", f"/v1/data_sources/{doomed['uuid']}", params={"dry_run": "true"})
    assert preview["counts"] == {"customers": 40, "plans": 2, "subscriptions": 40, "invoices": 40, "transactions": 40}
    assert preview["overlays_affected"] == []
    assert api.ok("GET", f"/v1/data_sources/{doomed['uuid']}")["status"] == "active"
    answer = api.delete(f"/v1/data_sources/{doomed['uuid']}")
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["kind"] == "delete_source" and answer.headers["Location"] == f"/v1/jobs/{job['id']}"

    # Then at once: 404, absent from lists, none of its customers anywhere
    assert api.get(f"/v1/data_sources/{doomed['uuid']}").status_code == 404
    assert [s["uuid"] for s in api.ok("GET", "/v1/data_sources")["entries"]] == [kept["uuid"]]
    assert api.get(f"/v1/customers/{doomed_customers['d-c0']}").status_code == 404
    assert api.get("/v1/customers", params={"data_source_uuid": doomed["uuid"]}).status_code == 404
    everyone = api.ok("GET", "/v1/customers", params={"per_page": 200})["entries"]
    assert sorted(c["uuid"] for c in everyone) == sorted(kept_customers.values())
    assert api.get(f"/v1/data_sources/{doomed['uuid']}/jobs").status_code == 404
    again = api.delete(f"/v1/data_sources/{doomed['uuid']}")
    assert again.status_code == 404

    # And when the purge has finished, nothing of it is stored but the delete job and the audit record
    finished = api.wait_for_job(job["id"])
    assert finished["status"] == "succeeded", finished
    assert finished["progress"]["percent"] == 100
    assert finished["result"]["counts"]["customers"] == 40
    left = stored_items_mentioning(aws, doomed["uuid"])
    tables = {name: items for name, items in left.items() if not name.startswith(("s3:", "secretsmanager"))}
    assert set(left) == set(tables), f"objects or secrets left: {left}"
    leftovers = [item for items in tables.values() for item in items]
    kinds = sorted(item["sk"]["S"].split("#")[0] for item in leftovers)
    assert kinds == ["AUDIT", "JOB"], leftovers
    audit = next(item for item in leftovers if item["sk"]["S"].startswith("AUDIT#"))
    assert audit["key_id"]["S"].startswith("key_") and audit["counts"]["M"]["customers"]["N"] == "40"
    assert account.api_key not in json.dumps(leftovers)

    # while the other source of the account and the other account's source are untouched
    assert api.ok("GET", f"/v1/data_sources/{kept['uuid']}")["counts"]["customers"] == 5
    assert len(api.ok("GET", "/v1/customers", params={"data_source_uuid": kept["uuid"]})["entries"]) == 5
    assert len(other.ok("GET", "/v1/customers", params={"data_source_uuid": theirs["uuid"]})["entries"]) == 5


def test_the_cli_shows_what_will_be_erased_and_asks_for_the_name(
    stack: dict[str, Any], api: Client, account: Account
) -> None:
    created = api.ok("POST", "/v1/data_sources", {"name": "Precious", "system": "custom"}, status=201)
    uuid = created["data_source"]["uuid"]
    import_business(api, uuid, "p", customers=2)
    refused = run_cli(stack, "sources", "delete", uuid, key=account.api_key, stdin="wrong name\n")
    assert refused.returncode != 0
    assert "2 customers" in refused.stdout
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["name"] == "Precious"
    confirmed = run_cli(stack, "sources", "delete", uuid, key=account.api_key, stdin="Precious\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert api.get(f"/v1/data_sources/{uuid}").status_code == 404
    assert "succeeded" in confirmed.stdout
    other = api.ok("POST", "/v1/data_sources", {"name": "Other", "system": "custom"}, status=201)["data_source"]["uuid"]
    quiet = run_cli(stack, "sources", "delete", other, "--yes", "--json", key=account.api_key)
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout.strip().splitlines()[-1])["status"] == "succeeded"
