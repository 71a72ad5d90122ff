"""A GoCardless source end to end on the local stack, against the stack's GoCardless emulator: a refused
token, the import, a change at the provider and a re-sync that brings exactly that change, a one-customer
re-sync, the policy matrix's cells for GoCardless (connections removed on both scopes, merges and MRR
edits kept; orphans reported), and the delete. The steps are `Story`'s (tests/e2e/test_recurly_e2e.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.emulators import gocardless as emu
from devstack.emulators.base import EmulatorAdmin
from tests.e2e.conftest import Client
from tests.e2e.test_recurly_e2e import Story, ids

pytestmark = pytest.mark.e2e

CUSTOMERS = 9


def test_a_gocardless_source_from_create_to_purge(
    api: Client, stack: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    base = stack["gocardless"]
    token = f"e2e_gocardless_{secrets.token_hex(6)}"
    admin = EmulatorAdmin(base)
    objects = emu.demo_objects(CUSTOMERS)
    emu.put_all(admin, token, objects)
    options = {"api_base": base}
    story = Story(api, "gocardless")

    # a token GoCardless refuses creates nothing; an environment that is not GoCardless's neither
    story.refused({"access_token": "e2e_gocardless_never_issued"}, options)
    story.refused({"access_token": token, "environment": "staging.example.com"}, options)

    # the import: customers; each subscription also as its plan; payments as invoices and, once settled,
    # as transactions with their refunds
    source = story.create({"access_token": token, "environment": "sandbox"}, options)
    assert source["status"] == "active"
    claims = [p for p in objects["payments"] if p["status"] not in ("cancelled", "customer_approval_denied")]
    settled = [p for p in claims if p["status"] in ("confirmed", "paid_out", "failed", "charged_back")]
    assert story.counts == {
        "customers": CUSTOMERS,
        "plans": CUSTOMERS,
        "subscriptions": CUSTOMERS,
        "invoices": len(claims),
        "transactions": len(settled) + len(objects["refunds"]),
    }
    customers = [c["id"] for c in objects["customers"]]
    mandate_of = {m["links"]["customer"]: m for m in objects["mandates"]}
    sub_of = {
        m["links"]["customer"]: s
        for m in objects["mandates"]
        for s in objects["subscriptions"]
        if s["links"]["mandate"] == m["id"]
    }

    # manual data: customer 1 merged into customer 0, their subscriptions connected, MRR edits on
    # customer 2's and customer 3's subscriptions
    first = story.customer(customers[0])
    merge = story.merge(customers[1], first["uuid"])
    connection = story.connect(first["uuid"], sub_of[customers[0]]["id"], sub_of[customers[1]]["id"])
    kept_edit = story.edit_mrr(story.customer(customers[2])["subscriptions"][0]["uuid"])
    orphaned_edit = story.edit_mrr(story.customer(customers[3])["subscriptions"][0]["uuid"])
    before = story.snapshot()

    # at the provider: a new customer with a subscription and a payment, a renamed customer, a cancelled
    # subscription, and customer 3's subscription deleted (its MRR edit is then orphaned, and kept)
    now = datetime.now(UTC)
    newcomer = emu.customer(given_name="New", family_name="Payer", created_at=now)
    new_mandate = emu.mandate(newcomer, created_at=now)
    new_sub = emu.subscription(new_mandate, amount=4000, currency="GBP", name="Platinum", start=now - timedelta(days=2))
    new_payment = emu.payment(
        new_mandate, amount=4000, currency="GBP", charge_date=now - timedelta(days=1), subscription_id=new_sub["id"]
    )
    emu.put_all(
        admin,
        token,
        {"customers": [newcomer], "mandates": [new_mandate], "subscriptions": [new_sub], "payments": [new_payment]},
    )
    admin.patch(token, "customers", customers[4], {"given_name": "Renamed", "family_name": "At GoCardless"})
    earning = [c for c in customers[5:] if before[c][1] > 0 and sub_of[c]["status"] == "active"]
    assert earning, before
    to_cancel = earning[0]
    admin.patch(
        token,
        "subscriptions",
        sub_of[to_cancel]["id"],
        {"status": "cancelled", "end_date": emu.day(now - timedelta(days=1))},
    )
    admin.delete(token, "subscriptions", sub_of[customers[3]]["id"])

    # the re-sync: the connection removed (the dry run said so), the orphaned MRR edit reported and kept
    assert story.preview() == {connection}
    result = story.resync()["result"]
    assert ids(result["overlays_removed"]) == {connection}
    assert ids(result["overlays_orphaned"]) == {orphaned_edit}
    after = story.snapshot()
    assert after[newcomer["id"]][0] == "New Payer" and after[customers[4]][0] == "Renamed At GoCardless"
    assert after[newcomer["id"]][1] > 0 and after[to_cancel][1] == 0 and before[to_cancel][1] > 0
    changed = {customers[0], customers[3], customers[4], to_cancel}  # 0: its connection is gone
    assert {k: v for k, v in after.items() if k not in changed | {newcomer["id"]}} == {
        k: v for k, v in before.items() if k not in changed
    }
    assert story.counts["customers"] == CUSTOMERS + 1 and story.counts["subscriptions"] == CUSTOMERS
    assert story.counts["invoices"] == len(claims) + 1
    assert {s["status"] for s in story.customer(to_cancel)["subscriptions"]} == {"cancelled"}
    overlays = story.customer(customers[0])["overlays"]
    assert ids(overlays["merges"]) == {merge} and overlays["connected_subscriptions"] == []
    assert ids(story.customer(customers[2])["overlays"]["mrr_edits"]) == {kept_edit}
    assert ids(story.customer(customers[3])["overlays"]["mrr_edits"]) == {orphaned_edit}

    # one customer re-synced: its new one-off payment arrives, a new connection of its own is removed
    # (connections removed on the customer scope too), nobody else is touched
    target = customers[6]
    one_off = emu.payment(mandate_of[target], amount=1234, currency="GBP", charge_date=now, description="Extra")
    emu.put_all(admin, token, {"payments": [one_off]})
    admin.patch(token, "customers", customers[7], {"given_name": "Not yet"})
    merged = story.customer(customers[0])
    again = story.connect(merged["uuid"], sub_of[customers[0]]["id"], sub_of[customers[1]]["id"])
    result = story.resync(merged["uuid"])["result"]
    assert ids(result["overlays_removed"]) == {again}
    assert ids(story.customer(customers[0])["overlays"]["merges"]) == {merge}  # merges kept on this scope
    result = story.resync(story.customer(customers[3])["uuid"])["result"]  # so are MRR edits, orphaned or not
    assert result["overlays_removed"] == [] and ids(result["overlays_orphaned"]) == {orphaned_edit}
    assert ids(story.customer(customers[3])["overlays"]["mrr_edits"]) == {orphaned_edit}
    assert story.customer(customers[0])["overlays"]["connected_subscriptions"] == []
    result = story.resync(story.customer(target)["uuid"])["result"]
    assert result["overlays_removed"] == []
    assert one_off["id"] in {i["external_id"] for i in story.customer(target)["invoices"]}
    assert story.snapshot()[customers[7]] == after[customers[7]]  # waits for a full re-sync
    assert story.counts["invoices"] == len(claims) + 2

    story.delete_and_purge(aws)
