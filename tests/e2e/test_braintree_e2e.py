"""Braintree end to end on the local stack, against the stack's Braintree emulator: a wrong key refused,
import, changes at the provider re-synced (exactly those), one customer re-synced, the policy matrix's
cells for the system with its real connector (all kept; overlays whose records vanished reported
orphaned), delete: gone at once and purged.

`run_story` is the same story for any emulated system; `test_paypal_e2e` runs it for PayPal.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.emulators import braintree as emulator
from devstack.emulators.base import EmulatorAdmin
from tests.e2e.conftest import Client
from tests.e2e.test_import_and_delete import stored_items_mentioning

pytestmark = pytest.mark.e2e

CUSTOMERS = 9  # the ninth has a refund (a PayPal refund names no customer)


@dataclass
class Provider:
    """What the story does at one provider's emulator; `n` numbers the seeded customers from 1."""

    system: str
    tenant: str
    seeded: dict[str, Any]
    customer_id: Callable[[int], str]
    wrong_credentials: dict[str, Any]
    rename: Callable[[int], str]  # returns the new name the API shows
    cancel: Callable[[int], None]
    charge: Callable[[int, str], str]  # a new paid invoice; returns its external id
    remove: Callable[[int], None]  # the customer and everything of it gone at the provider


def braintree_provider(base_url: str) -> Provider:
    tenant = f"e2e-bt-{secrets.token_hex(4)}"
    seeded = emulator.seed_demo(base_url, customers=CUSTOMERS, tenant=tenant)
    admin = EmulatorAdmin(base_url)

    def customer_id(n: int) -> str:
        return f"cust{n:05d}"

    def rename(n: int) -> str:
        admin.patch(tenant, "customers", customer_id(n), {"first_name": "Renamed"})
        return f"Renamed Customer {n}"

    def cancel(n: int) -> None:
        admin.patch(tenant, "subscriptions", f"sub{n:05d}", {"status": "Canceled"})

    def charge(n: int, transaction_id: str) -> str:
        customer = next(c for c in admin.list(tenant, "customers") if c["id"] == customer_id(n))
        subscription = next(s for s in admin.list(tenant, "subscriptions") if s["id"] == f"sub{n:05d}")
        created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        admin.put(
            tenant,
            "transactions",
            transaction_id,
            emulator.transaction_object(
                transaction_id,
                customer=customer,
                amount=subscription["price"],
                currency="USD",
                created=created,
                subscription_id=subscription["id"],
                plan_id=subscription["plan_id"],
            ),
        )
        return transaction_id

    def remove(n: int) -> None:
        admin.delete(tenant, "customers", customer_id(n))
        for transaction in admin.list(tenant, "transactions"):
            if transaction["customer"]["id"] == customer_id(n):
                admin.delete(tenant, "transactions", transaction["id"])

    return Provider(
        "braintree",
        tenant,
        seeded,
        customer_id,
        {"private_key": "not-the-private-key"},
        rename,
        cancel,
        charge,
        remove,
    )


# ------------------------------------------------------------------------------------------ the story


def _snapshot(api: Client, uuid: str) -> dict[str, Any]:
    page = api.ok("GET", "/v1/customers", params={"data_source_uuid": uuid, "per_page": 200})
    assert not page["has_more"]
    return {c["uuid"]: (c["name"], c["mrr"]) for c in page["entries"]}


def _customer(api: Client, source: str, external_id: str) -> dict[str, Any]:
    found = api.ok("GET", "/v1/customers", params={"data_source_uuid": source, "external_id": external_id})
    assert found["entries"], f"no customer {external_id}"
    return dict(api.ok("GET", f"/v1/customers/{found['entries'][0]['uuid']}"))


def _import(api: Client, provider: Provider) -> dict[str, Any]:
    body = {"name": provider.system, "system": provider.system, **provider.seeded}
    created = api.ok("POST", "/v1/data_sources", body, status=201)
    finished = api.wait_for_job(created["job"]["id"], timeout=180)
    assert finished["status"] == "succeeded", finished
    return dict(api.ok("GET", f"/v1/data_sources/{created['data_source']['uuid']}"))


def run_story(api: Client, aws: Callable[[str], Any], provider: Provider) -> None:
    # A wrong key is refused when the source is created, and nothing is created
    wrong = {**provider.seeded, "credentials": {**provider.seeded["credentials"], **provider.wrong_credentials}}
    refused = api.post("/v1/data_sources", {"name": "wrong", "system": provider.system, **wrong})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "credentials_invalid"
    assert api.ok("GET", "/v1/data_sources")["entries"] == []

    # Import
    source = _import(api, provider)
    uuid = source["uuid"]
    assert source["status"] == "active" and source["counts"]["customers"] == CUSTOMERS
    assert source["counts"]["subscriptions"] == CUSTOMERS and source["counts"]["plans"] == 3
    assert source["counts"]["invoices"] >= CUSTOMERS and source["counts"]["transactions"] > CUSTOMERS
    one, two, three = (_customer(api, uuid, provider.customer_id(n)) for n in (1, 2, 3))
    assert one["mrr"] > 0 and one["subscriptions"][0]["status"] == "active"

    # Manual data of every kind (the matrix's cells for this system: all kept)
    merged = api.ok("POST", "/v1/customers/merges", {"from": {"customer_uuid": two["uuid"]},
                                                     "into": {"customer_uuid": one["uuid"]}})  # fmt: skip
    merge_id = merged["overlays"]["merges"][0]["id"]
    connected = api.ok(
        "POST",
        f"/v1/customers/{one['uuid']}/connect_subscriptions",
        {"subscriptions": [{"data_source_uuid": uuid, "uuid": one["subscriptions"][0]["uuid"]},
                           {"data_source_uuid": uuid, "uuid": two["subscriptions"][0]["uuid"]}]},
    )  # fmt: skip
    connection_id = connected["overlays"]["connected_subscriptions"][0]["id"]
    edit = api.ok(
        "POST",
        f"/v1/subscriptions/{three['subscriptions'][0]['uuid']}/mrr_edits",
        {"mrr": 1234, "from": datetime.now(UTC).date().isoformat(), "to": None},
        status=201,
    )
    before = _snapshot(api, uuid)
    assert before[three["uuid"]][1] == 1234

    # Changes at the provider: a name, a cancellation, a new invoice, a customer gone
    new_name = provider.rename(4)
    provider.cancel(6)
    new_invoice = provider.charge(1, "NEWCHARGE0001")
    provider.remove(2)
    assert api.ok("POST", f"/v1/data_sources/{uuid}/resync", params={"dry_run": "true"}) == {"overlays_removed": []}
    job = api.ok("POST", f"/v1/data_sources/{uuid}/resync", status=202)
    finished = api.wait_for_job(job["id"], timeout=180)
    assert finished["status"] == "succeeded", finished

    # Exactly the changes appear
    after = _snapshot(api, uuid)
    four, six = (_customer(api, uuid, provider.customer_id(n)) for n in (4, 6))
    assert after[four["uuid"]] == (new_name, before[four["uuid"]][1])
    assert after[six["uuid"]] == (before[six["uuid"]][0], 0)
    assert {s["status"] for s in six["subscriptions"]} == {"cancelled"}
    primary = _customer(api, uuid, provider.customer_id(1))
    assert new_invoice in {i["external_id"] for i in primary["invoices"]}
    untouched = set(before) - {four["uuid"], six["uuid"], one["uuid"]}
    assert {u: after[u] for u in untouched} == {u: before[u] for u in untouched}
    assert (
        api.get("/v1/customers", params={"data_source_uuid": uuid, "external_id": provider.customer_id(2)}).json()[
            "entries"
        ]
        == []
    )
    # Every overlay kept; the merge and the connection lost a record at the provider: reported orphaned
    assert finished["result"]["overlays_removed"] == []
    assert {o["id"] for o in finished["result"]["overlays_orphaned"]} == {merge_id, connection_id}
    assert after[three["uuid"]][1] == 1234 and edit["id"] in {
        e["id"] for e in _customer(api, uuid, provider.customer_id(3))["overlays"]["mrr_edits"]
    }

    # One customer re-synced: its new invoice, nobody else touched
    second = provider.charge(4, "NEWCHARGE0002")
    bystander_name = provider.rename(5)
    job = api.ok("POST", f"/v1/data_sources/{uuid}/customers/{four['uuid']}/resync", status=202)
    finished = api.wait_for_job(job["id"], timeout=120)
    assert finished["status"] == "succeeded", finished
    assert second in {i["external_id"] for i in _customer(api, uuid, provider.customer_id(4))["invoices"]}
    assert finished["result"]["overlays_removed"] == [] and finished["result"]["overlays_orphaned"] == []
    final = _snapshot(api, uuid)
    assert final == after and bystander_name not in {name for name, _ in final.values()}
    # The customer scope of the matrix: re-syncing the customer whose subscription has the MRR edit keeps it
    job = api.ok("POST", f"/v1/data_sources/{uuid}/customers/{three['uuid']}/resync", status=202)
    finished = api.wait_for_job(job["id"], timeout=120)
    assert finished["status"] == "succeeded", finished
    assert finished["result"]["overlays_removed"] == []
    assert _snapshot(api, uuid)[three["uuid"]] == (before[three["uuid"]][0], 1234)

    # Delete: gone at once, then purged
    deleted = api.ok("DELETE", f"/v1/data_sources/{uuid}", status=202)
    assert api.get(f"/v1/data_sources/{uuid}").status_code == 404
    assert api.get(f"/v1/customers/{four['uuid']}").status_code == 404
    purge = api.wait_for_job(deleted["id"], timeout=180)
    assert purge["status"] == "succeeded", purge
    left = stored_items_mentioning(aws, uuid)
    leftovers = [item for items in left.values() for item in items]
    assert sorted({item["sk"]["S"].split("#")[0] for item in leftovers}) == ["AUDIT", "JOB"], left


def test_braintree_end_to_end(stack: dict[str, Any], api: Client, aws: Callable[[str], Any]) -> None:
    run_story(api, aws, braintree_provider(stack["braintree"]))
