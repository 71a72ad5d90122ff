"""A Recurly source end to end on the local stack, against the stack's Recurly emulator: a refused key, the
import, a change at the provider and a re-sync that brings exactly that change, a one-customer re-sync,
the policy matrix's cells for Recurly (all kept, on both scopes; orphans reported), and the delete.

`story` holds what both this file and tests/e2e/test_gocardless_e2e.py do; each system's test says what
changes at its provider and what its matrix group keeps."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.emulators import recurly as emu
from devstack.emulators.base import EmulatorAdmin
from tests.e2e.conftest import Client
from tests.e2e.test_import_and_delete import stored_items_mentioning

pytestmark = pytest.mark.e2e

CUSTOMERS = 10


# ---------------------------------------------------------------------------------------------- shared steps
@dataclass
class Story:
    """One source of `system` over HTTP, and the readers' view of it."""

    api: Client
    system: str
    uuid: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def refused(self, credentials: dict[str, Any], options: dict[str, Any]) -> None:
        body = {"name": self.system, "system": self.system, "credentials": credentials, "options": options}
        answer = self.api.post("/v1/data_sources", body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "credentials_invalid"
        assert self.api.ok("GET", "/v1/data_sources")["entries"] == []

    def create(self, credentials: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        body = {"name": self.system, "system": self.system, "credentials": credentials, "options": options}
        created = self.api.ok("POST", "/v1/data_sources", body, status=201)
        finished = self.api.wait_for_job(created["job"]["id"])
        assert finished["status"] == "succeeded", finished
        self.uuid = created["data_source"]["uuid"]
        source: dict[str, Any] = self.api.ok("GET", f"/v1/data_sources/{self.uuid}")
        self.counts = source["counts"]
        return source

    def snapshot(self) -> dict[str, tuple[str, int]]:
        page = self.api.ok("GET", "/v1/customers", params={"data_source_uuid": self.uuid, "per_page": 200})
        assert not page["has_more"]
        return {c["external_id"]: (c["name"], c["mrr"]) for c in page["entries"]}

    def customer(self, external_id: str) -> dict[str, Any]:
        found = self.api.ok("GET", "/v1/customers", params={"data_source_uuid": self.uuid, "external_id": external_id})
        assert len(found["entries"]) == 1, found
        detail: dict[str, Any] = self.api.ok("GET", f"/v1/customers/{found['entries'][0]['uuid']}")
        return detail

    def merge(self, away: str, into: str) -> str:
        body = {"from": {"data_source_uuid": self.uuid, "external_id": away}, "into": {"customer_uuid": into}}
        before = ids(self.api.ok("GET", f"/v1/customers/{into}")["overlays"]["merges"])
        self.api.ok("POST", "/v1/customers/merges", body)
        (made,) = ids(self.api.ok("GET", f"/v1/customers/{into}")["overlays"]["merges"]) - before
        return made

    def connect(self, customer_uuid: str, *subscription_external_ids: str) -> str:
        subscriptions = [{"data_source_uuid": self.uuid, "external_id": s} for s in subscription_external_ids]
        before = ids(self.api.ok("GET", f"/v1/customers/{customer_uuid}")["overlays"]["connected_subscriptions"])
        self.api.ok("POST", f"/v1/customers/{customer_uuid}/connect_subscriptions", {"subscriptions": subscriptions})
        after = ids(self.api.ok("GET", f"/v1/customers/{customer_uuid}")["overlays"]["connected_subscriptions"])
        (made,) = after - before
        return made

    def edit_mrr(self, subscription_uuid: str) -> str:
        today = datetime.now(UTC).date()
        body = {"mrr": 1234, "from": today.isoformat(), "to": (today + timedelta(days=30)).isoformat()}
        return str(self.api.ok("POST", f"/v1/subscriptions/{subscription_uuid}/mrr_edits", body, status=201)["id"])

    def resync(self, customer_uuid: str | None = None) -> dict[str, Any]:
        path = f"/v1/data_sources/{self.uuid}" + (f"/customers/{customer_uuid}" if customer_uuid else "") + "/resync"
        job = self.api.ok("POST", path, status=202)
        finished = self.api.wait_for_job(job["id"])
        assert finished["status"] == "succeeded", finished
        self.counts = self.api.ok("GET", f"/v1/data_sources/{self.uuid}")["counts"]
        return finished

    def preview(self) -> set[str]:
        return {
            o["id"]
            for o in self.api.ok("POST", f"/v1/data_sources/{self.uuid}/resync", params={"dry_run": "true"})[
                "overlays_removed"
            ]
        }

    def delete_and_purge(self, aws: Callable[[str], Any]) -> None:
        deleted = self.api.ok("DELETE", f"/v1/data_sources/{self.uuid}", status=202)
        assert self.api.get(f"/v1/data_sources/{self.uuid}").status_code == 404  # gone at once
        assert self.api.get("/v1/customers", params={"data_source_uuid": self.uuid}).status_code == 404
        everyone = self.api.ok("GET", "/v1/customers", params={"per_page": 200})["entries"]
        assert all(c["data_source_uuid"] != self.uuid for c in everyone)
        purge = self.api.wait_for_job(deleted["id"], timeout=180)
        assert purge["status"] == "succeeded", purge
        left = stored_items_mentioning(aws, self.uuid)
        leftovers = [item for items in left.values() for item in items]
        assert sorted(str(item.get("sk", {}).get("S", "?")).split("#")[0] for item in leftovers) == ["AUDIT", "JOB"], (
            left
        )


def ids(overlays: list[dict[str, Any]]) -> set[str]:
    return {o["id"] for o in overlays}


# ---------------------------------------------------------------------------------------------- Recurly
def test_a_recurly_source_from_create_to_purge(api: Client, stack: dict[str, Any], aws: Callable[[str], Any]) -> None:
    base = stack["recurly"]
    key = f"e2e_recurly_{secrets.token_hex(6)}"
    admin = EmulatorAdmin(base)
    objects = emu.demo_objects(CUSTOMERS)
    emu.put_all(admin, key, objects)
    options = {"api_base": base}
    story = Story(api, "recurly")

    # a key Recurly refuses creates nothing; a region that is not Recurly's neither
    story.refused({"api_key": "e2e_recurly_never_issued", "region": "us"}, options)
    story.refused({"api_key": key, "region": "mars"}, options)

    # the import brings every account, plan price, subscription, invoice and transaction
    source = story.create({"api_key": key, "region": "eu"}, options)
    assert source["status"] == "active" and source["last_synced_at"]
    assert story.counts == {
        "customers": CUSTOMERS,
        "plans": sum(len(p["currencies"]) for p in objects["plans"]),
        "subscriptions": CUSTOMERS,
        "invoices": len(objects["invoices"]),
        "transactions": len(objects["transactions"]),
    }
    accounts = [a["id"] for a in objects["accounts"]]
    subs_of = {s["account"]["id"]: s["id"] for s in objects["subscriptions"]}

    # manual data: account 1 merged into account 0, their subscriptions connected, account 2's MRR edited
    first = story.customer(accounts[0])
    merge = story.merge(accounts[1], first["uuid"])
    connection = story.connect(first["uuid"], subs_of[accounts[0]], subs_of[accounts[1]])
    edit = story.edit_mrr(story.customer(accounts[2])["subscriptions"][0]["uuid"])
    before = story.snapshot()

    # at the provider: a new account with a subscription and an invoice, a renamed account, an expired
    # subscription, and account 1's subscription deleted (its connection is then orphaned, and kept)
    newcomer = emu.account("newcomer", first_name="New", last_name="Comer", created_at=datetime.now(UTC))
    new_sub = emu.subscription(newcomer, objects["plans"][1], currency="USD", activated_at=datetime.now(UTC))
    line = emu.line_item(
        newcomer,
        amount=99.0,
        currency="USD",
        description="Growth",
        subscription_id=new_sub["id"],
        plan_obj=objects["plans"][1],
        start=datetime.now(UTC),
    )
    new_invoice = emu.invoice(
        newcomer, [line], currency="USD", created_at=datetime.now(UTC), number="9001", subscription_ids=[new_sub["id"]]
    )
    emu.put_all(admin, key, {"accounts": [newcomer], "subscriptions": [new_sub], "invoices": [new_invoice]})
    admin.patch(key, "accounts", accounts[3], {"first_name": "Renamed", "last_name": "At Recurly"})
    earning = [a for a in accounts[4:] if before[a][1] > 0]
    assert len(earning) >= 2, before
    to_expire = earning[0]
    expired_at = emu.iso(datetime.now(UTC) - timedelta(days=1))
    admin.patch(key, "subscriptions", subs_of[to_expire], {"state": "expired", "expires_at": expired_at})
    admin.delete(key, "subscriptions", subs_of[accounts[1]])

    # the re-sync: nothing removed (all kept), the connection reported orphaned, exactly the change appears
    assert story.preview() == set()
    result = story.resync()["result"]
    assert result["overlays_removed"] == []
    assert ids(result["overlays_orphaned"]) == {connection}
    after = story.snapshot()
    assert after[newcomer["id"]][0] == "New Comer" and after[accounts[3]][0] == "Renamed At Recurly"
    assert after[to_expire][1] == 0
    assert 0 < after[accounts[0]][1] < before[accounts[0]][1]  # the merged customer lost account 1's subscription
    unchanged = set(before) - {accounts[0], accounts[3], to_expire}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert set(after) == set(before) | {newcomer["id"]}
    assert story.counts["customers"] == CUSTOMERS + 1 and story.counts["subscriptions"] == CUSTOMERS
    assert story.counts["invoices"] == len(objects["invoices"]) + 1
    assert {s["status"] for s in story.customer(to_expire)["subscriptions"]} == {"cancelled"}
    overlays = story.customer(accounts[0])["overlays"]
    assert ids(overlays["merges"]) == {merge} and ids(overlays["connected_subscriptions"]) == {connection}
    assert ids(story.customer(accounts[2])["overlays"]["mrr_edits"]) == {edit}

    # one customer re-synced: its new invoice, nobody else touched, every overlay kept
    target = story.customer(accounts[4])
    bill = emu.invoice(
        objects["accounts"][4],
        [
            emu.line_item(
                objects["accounts"][4],
                amount=15.0,
                currency="USD",
                description="Extra",
                origin="one_time",
                start=datetime.now(UTC),
            )
        ],
        currency="USD",
        created_at=datetime.now(UTC),
        number="9002",
    )
    emu.put_all(admin, key, {"invoices": [bill]})
    admin.patch(key, "accounts", accounts[5], {"first_name": "Not yet"})
    result = story.resync(target["uuid"])["result"]
    assert result["overlays_removed"] == [] and ids(result["overlays_orphaned"]) <= {connection}
    assert bill["id"] in {i["external_id"] for i in story.customer(accounts[4])["invoices"]}
    assert story.snapshot()[accounts[5]] == after[accounts[5]]  # the renamed bystander waits for a full re-sync
    assert story.counts["invoices"] == len(objects["invoices"]) + 2
    # the customer scope keeps every kind too: the merge and its (orphaned) connection, the MRR edit
    result = story.resync(story.customer(accounts[0])["uuid"])["result"]
    assert result["overlays_removed"] == [] and ids(result["overlays_orphaned"]) == {connection}
    assert ids(story.customer(accounts[0])["overlays"]["merges"]) == {merge}
    result = story.resync(story.customer(accounts[2])["uuid"])["result"]
    assert result["overlays_removed"] == [] and result["overlays_orphaned"] == []
    assert ids(story.customer(accounts[2])["overlays"]["mrr_edits"]) == {edit}
    assert ids(story.customer(accounts[0])["overlays"]["connected_subscriptions"]) == {connection}

    story.delete_and_purge(aws)
