"""Chargebee sources (`chargebee`: catalog 2.0, `chargebee_v1`: catalog 1.0) end to end on the local stack,
against the stack's Chargebee emulators: create (a wrong key is refused), import, a change at the
provider re-synced (exactly the change appears), one customer re-synced, the policy matrix cells of the
system with the real connector (`chargebee` keeps every overlay, `chargebee_v1` removes connected
subscriptions), orphans reported, delete (gone at once, then purged)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from devstack.emulators import chargebee as cb
from devstack.emulators import chargebee_v1 as cb1
from devstack.emulators.base import EmulatorAdmin
from tests.e2e.conftest import Client
from tests.e2e.test_import_and_delete import stored_items_mentioning

pytestmark = pytest.mark.e2e

MODULES: dict[str, ModuleType] = {"chargebee": cb, "chargebee_v1": cb1}
CUSTOMERS = 6


def seed(stack: dict[str, Any], system: str) -> tuple[dict[str, Any], EmulatorAdmin, str]:
    """A demo business of this test's own (its own API key, hence tenant) at the stack's emulator."""
    tenant = f"e2e_{system}_{secrets.token_hex(4)}"
    seeded = MODULES[system].seed_demo(stack[system], customers=CUSTOMERS, tenant=tenant)
    return seeded, EmulatorAdmin(stack[system]), tenant


def create_source(api: Client, system: str, seeded: dict[str, Any]) -> dict[str, Any]:
    created = api.ok(
        "POST",
        "/v1/data_sources",
        {"name": system, "system": system, "credentials": seeded["credentials"], "options": seeded["options"]},
        status=201,
    )
    finished = api.wait_for_job(created["job"]["id"])
    assert finished["status"] == "succeeded", finished
    source: dict[str, Any] = api.ok("GET", f"/v1/data_sources/{created['data_source']['uuid']}")
    return source


def customers_of(api: Client, uuid: str) -> dict[str, dict[str, Any]]:
    """external id -> the customer's detail (subscriptions, invoices, overlays)."""
    page = api.ok("GET", "/v1/customers", params={"data_source_uuid": uuid, "per_page": 200})
    assert not page["has_more"]
    return {c["external_id"]: api.ok("GET", f"/v1/customers/{c['uuid']}") for c in page["entries"]}


def subscriptions_of(customer: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {s["external_id"]: (s["status"], s["quantity"]) for s in customer["subscriptions"]}


def invoice_ids(customer: dict[str, Any]) -> set[str]:
    return {i["external_id"] for i in customer["invoices"]}


def new_invoice(system: str, index: int, customer_id: str, sub_id: str) -> dict[str, Any]:
    plan = "basic-USD-monthly" if system == "chargebee" else "basic-monthly"
    entity = "plan_item_price" if system == "chargebee" else "plan"
    date = cb.EPOCH + 100 * cb.DAY
    line = cb.line_item(
        f"li_new_{index}",
        customer_id=customer_id,
        entity_type=entity,
        entity_id=plan,
        unit_amount=1000,
        subscription_id=sub_id,
        date_from=date,
        date_to=date + 30 * cb.DAY,
    )
    return cb.invoice(f"inv_new_{index}", customer_id=customer_id, date=date, lines=[line], subscription_id=sub_id)


@pytest.mark.parametrize("system", ["chargebee", "chargebee_v1"])
def test_import_change_resync_one_customer_and_delete(
    stack: dict[str, Any], api: Client, aws: Callable[[str], Any], system: str
) -> None:
    seeded, admin, tenant = seed(stack, system)

    # a key the provider does not know: 422, nothing created
    wrong = {**seeded["credentials"], "api_key": "not_a_known_key"}
    refused = api.post(
        "/v1/data_sources", {"name": "x", "system": system, "credentials": wrong, "options": seeded["options"]}
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "credentials_invalid", refused.text
    assert api.ok("GET", "/v1/data_sources")["entries"] == []

    # import
    source = create_source(api, system, seeded)
    uuid = source["uuid"]
    assert source["counts"]["customers"] == CUSTOMERS
    assert source["counts"]["invoices"] == 5  # every customer but the one in trial (2)
    before = customers_of(api, uuid)
    assert set(before) == {f"cust_{i:05d}" for i in range(CUSTOMERS)}
    assert before["cust_00004"]["subscriptions"][0]["status"] == "cancelled"

    # at the provider: a new customer, a subscription cancelled, a new invoice for another customer
    admin.put(
        tenant,
        "customers",
        "cust_new",
        cb.customer("cust_new", first_name="New", last_name="Comer", email="new@example.com", created_at=cb.EPOCH),
    )
    admin.patch(tenant, "subscriptions", "sub_00001", {"status": "cancelled", "cancelled_at": cb.EPOCH + 50 * cb.DAY})
    admin.put(tenant, "invoices", "inv_new_3", new_invoice(system, 3, "cust_00003", "sub_00003"))
    job = api.ok("POST", f"/v1/data_sources/{uuid}/resync", status=202)
    assert api.wait_for_job(job["id"])["status"] == "succeeded"
    after = customers_of(api, uuid)

    # exactly the changes
    assert set(after) == set(before) | {"cust_new"}
    assert after["cust_new"]["name"] == "New Comer" and after["cust_new"]["subscriptions"] == []
    assert subscriptions_of(after["cust_00001"]) == {"sub_00001": ("cancelled", 1)}
    assert after["cust_00001"]["mrr"] == 0 and before["cust_00001"]["mrr"] > 0
    assert invoice_ids(after["cust_00003"]) == invoice_ids(before["cust_00003"]) | {"inv_new_3"}
    unchanged = set(before) - {"cust_00001", "cust_00003"}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}

    # one customer: its new invoice comes in, a change to someone else does not
    admin.put(tenant, "invoices", "inv_new_0", new_invoice(system, 0, "cust_00000", "sub_00000"))
    admin.patch(tenant, "customers", "cust_00005", {"first_name": "Renamed"})
    target = after["cust_00000"]["uuid"]
    job = api.ok("POST", f"/v1/data_sources/{uuid}/customers/{target}/resync", status=202)
    assert api.wait_for_job(job["id"])["status"] == "succeeded"
    now = customers_of(api, uuid)
    assert invoice_ids(now["cust_00000"]) == invoice_ids(after["cust_00000"]) | {"inv_new_0"}
    assert now["cust_00005"] == after["cust_00005"]
    assert {k: now[k] for k in set(now) - {"cust_00000"}} == {k: after[k] for k in set(after) - {"cust_00000"}}

    # delete: gone at once, then purged
    deleted = api.ok("DELETE", f"/v1/data_sources/{uuid}", status=202)
    assert api.get(f"/v1/data_sources/{uuid}").status_code == 404
    assert api.get(f"/v1/customers/{target}").status_code == 404
    assert api.wait_for_job(deleted["id"], timeout=180)["status"] == "succeeded"
    left = stored_items_mentioning(aws, uuid)
    assert sorted(item["sk"]["S"].split("#")[0] for items in left.values() for item in items) == ["AUDIT", "JOB"]


@pytest.mark.parametrize(("system", "connections"), [("chargebee", "kept"), ("chargebee_v1", "removed")])
def test_the_policy_matrix_with_the_real_connector(
    stack: dict[str, Any], api: Client, system: str, connections: str
) -> None:
    """Merges and MRR edits are kept by both; connected subscriptions are kept by `chargebee` and removed by
    `chargebee_v1` (the policy matrix's group for each), by a source re-sync and by a customer re-sync; an overlay
    whose records vanished at the provider is kept and reported orphaned."""
    seeded, admin, tenant = seed(stack, system)
    # customer 3 gets a second subscription, so that two of its subscriptions can be connected
    if system == "chargebee":
        extra = cb.subscription(
            "sub_extra",
            customer_id="cust_00003",
            status="active",
            created_at=cb.EPOCH,
            items=[("basic-USD-monthly", "plan", 1, 1000)],
        )
    else:
        extra = cb1.subscription(
            "sub_extra",
            customer_id="cust_00003",
            status="active",
            created_at=cb.EPOCH,
            plan_id="basic-monthly",
            plan_unit_price=1000,
        )
    admin.put(tenant, "subscriptions", "sub_extra", extra)
    source = create_source(api, system, seeded)
    uuid = source["uuid"]
    customers = customers_of(api, uuid)
    owner = customers["cust_00003"]
    edited = customers["cust_00000"]

    def make_overlays() -> dict[str, str]:
        connected = api.ok(
            "POST",
            f"/v1/customers/{owner['uuid']}/connect_subscriptions",
            {"subscriptions": [{"data_source_uuid": uuid, "external_id": e} for e in ("sub_00003", "sub_extra")]},
        )
        merged = api.ok(
            "POST",
            "/v1/customers/merges",
            {
                "from": {"customer_uuid": customers["cust_00005"]["uuid"]},
                "into": {"customer_uuid": customers["cust_00001"]["uuid"]},
            },
        )
        sub_uuid = edited["subscriptions"][0]["uuid"]
        edit = api.ok(
            "POST",
            f"/v1/subscriptions/{sub_uuid}/mrr_edits",
            {"mrr": 1234, "from": datetime.now(UTC).date().isoformat(), "to": None},
            status=201,
        )
        return {
            "connected_subscriptions": connected["overlays"]["connected_subscriptions"][0]["id"],
            "merges": merged["overlays"]["merges"][0]["id"],
            "mrr_edits": edit["id"],
        }

    overlays = make_overlays()
    expected_removed = [overlays["connected_subscriptions"]] if connections == "removed" else []

    # the dry run says what a source re-sync removes; the re-sync does it and lists it
    preview = api.ok("POST", f"/v1/data_sources/{uuid}/resync", params={"dry_run": "true"})
    assert [o["id"] for o in preview["overlays_removed"]] == expected_removed
    job = api.ok("POST", f"/v1/data_sources/{uuid}/resync", status=202)
    finished = api.wait_for_job(job["id"])
    assert finished["status"] == "succeeded", finished
    assert [o["id"] for o in finished["result"]["overlays_removed"]] == expected_removed
    assert finished["result"]["overlays_orphaned"] == []
    shown = api.ok("GET", f"/v1/customers/{owner['uuid']}")["overlays"]
    assert [o["id"] for o in shown["connected_subscriptions"]] == (
        [] if expected_removed else [overlays["connected_subscriptions"]]
    )
    merged_into = api.ok("GET", f"/v1/customers/{customers['cust_00001']['uuid']}")["overlays"]
    assert [o["id"] for o in merged_into["merges"]] == [overlays["merges"]]
    assert [o["id"] for o in api.ok("GET", f"/v1/customers/{edited['uuid']}")["overlays"]["mrr_edits"]] == [
        overlays["mrr_edits"]
    ]

    # a customer re-sync: the same cell for that customer's connections
    if expected_removed:
        again = api.ok(
            "POST",
            f"/v1/customers/{owner['uuid']}/connect_subscriptions",
            {"subscriptions": [{"data_source_uuid": uuid, "external_id": e} for e in ("sub_00003", "sub_extra")]},
        )["overlays"]["connected_subscriptions"][0]["id"]
        expected_removed = [again]
    job = api.ok("POST", f"/v1/data_sources/{uuid}/customers/{owner['uuid']}/resync", status=202)
    finished = api.wait_for_job(job["id"])
    assert finished["status"] == "succeeded", finished
    assert [o["id"] for o in finished["result"]["overlays_removed"]] == expected_removed

    # the merged-away customer vanishes at the provider: the merge is kept and reported orphaned
    admin.delete(tenant, "customers", "cust_00005")
    for collection, object_id in (
        ("subscriptions", "sub_00005"),
        ("invoices", "inv_00005"),
        ("transactions", "txn_00005"),
        ("transactions", "txn_00005_failed"),
    ):
        admin.delete(tenant, collection, object_id)
    job = api.ok("POST", f"/v1/data_sources/{uuid}/resync", status=202)
    finished = api.wait_for_job(job["id"])
    assert finished["status"] == "succeeded", finished
    assert [o["id"] for o in finished["result"]["overlays_orphaned"]] == [overlays["merges"]]
    assert all(o["orphaned"] for o in finished["result"]["overlays_orphaned"])
    assert overlays["merges"] not in [o["id"] for o in finished["result"]["overlays_removed"]]
