"""Manual data (overlays: merged customers, connected subscriptions, edited MRR) over HTTP, end to end:
written by hand, kept by a re-sync and a customer re-sync of a Stripe source, cut down to what is left
when a data source is deleted, and refused, changing nothing, for bad input (docs/api.md#manual-data)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from devstack.stripe_seed import StripeEmulator, seeded_emulator
from tests.e2e.conftest import Account, Client
from tests.e2e.faults import FaultProxy
from tests.e2e.test_import_and_delete import stored_items_mentioning
from tests.e2e.test_stripe_resync import create_stripe_source

pytestmark = pytest.mark.e2e

OFFSETS = (0, 20, 60)  # the days (from today) whose MRR a test compares: monthly and yearly plans earn, yearly only
AUDIT_AND_JOB = ["AUDIT", "JOB"]  # what the purge of a source leaves of it: the delete job and the audit record


# ---------------------------------------------------------------------------------------------- helpers
@pytest.fixture
def days() -> Callable[[int], str]:
    """`days(n)`: the ISO date n days from today (UTC), today fixed once per test."""
    today = datetime.now(UTC).date()

    def on(offset: int) -> str:
        return (today + timedelta(days=offset)).isoformat()

    return on


@pytest.fixture
def stripe() -> Iterator[str]:
    """A Stripe emulator of this test's own (tests here change it), seeded with a few customers."""
    with seeded_emulator(customers=3, seed=5) as url:
        yield url


def error_of(answer: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, f"{answer.status_code} {answer.text}"
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code, error
    assert error["message"] and error["request_id"]
    return error


def find(api: Client, data_source_uuid: str, external_id: str) -> dict[str, Any]:
    """The customer a source's external id answers with (its primary, when it was merged away)."""
    found = api.ok("GET", "/v1/customers", params={"data_source_uuid": data_source_uuid, "external_id": external_id})
    assert len(found["entries"]) == 1, found
    entry: dict[str, Any] = found["entries"][0]
    return entry


def uuid_of(api: Client, data_source_uuid: str, external_id: str) -> str:
    """The customer's own uuid (find() would answer with a primary)."""
    entry = find(api, data_source_uuid, external_id)
    assert entry["external_id"] == external_id and entry["data_source_uuid"] == data_source_uuid, entry
    return str(entry["uuid"])


def detail(api: Client, uuid: str, as_of: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = api.ok("GET", f"/v1/customers/{uuid}", params={"as_of": as_of} if as_of else None)
    return body


def mrr_table(api: Client, days: Callable[[int], str]) -> dict[int, dict[str, tuple[Any, ...]]]:
    """Every customer the account's list shows, with its MRR (and per currency), on each day of OFFSETS."""
    table = {}
    for offset in OFFSETS:
        page = api.ok("GET", "/v1/customers", params={"per_page": 200, "as_of": days(offset)})
        assert not page["has_more"]
        table[offset] = {c["uuid"]: (c["mrr"], c.get("mrr_by_currency")) for c in page["entries"]}
    return table


def listed(api: Client, data_source_uuid: str | None = None) -> dict[str, dict[str, Any]]:
    params: dict[str, Any] = {"per_page": 200}
    if data_source_uuid:
        params["data_source_uuid"] = data_source_uuid
    page = api.ok("GET", "/v1/customers", params=params)
    assert not page["has_more"]
    return {c["uuid"]: c for c in page["entries"]}


def sources_of(customer: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((s["data_source_uuid"], s["external_id"]) for s in customer["sources"])


def subscription(customer: dict[str, Any], **where: Any) -> dict[str, Any]:
    found = [s for s in customer["subscriptions"] if all(s[k] == v for k, v in where.items())]
    assert len(found) == 1, (where, customer["subscriptions"])
    return found[0]


def overlay_ids(customer: dict[str, Any]) -> dict[str, list[str]]:
    return {kind: sorted(o["id"] for o in entries) for kind, entries in customer["overlays"].items()}


def stored_overlays(aws: Callable[[str], Any], account_id: str) -> list[dict[str, Any]]:
    """The account's overlay items as stored (its own key space in the sources table), the version counter
    included: an unchanged list means that nothing was written."""
    dynamodb = aws("dynamodb")
    table = next(name for name in dynamodb.list_tables()["TableNames"] if name.endswith("SourcesTable"))
    items = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"OV#{account_id}"}},
        ConsistentRead=True,
    )["Items"]
    return sorted(items, key=lambda item: item["sk"]["S"])


def expected_mrr(customer: dict[str, Any]) -> int:
    """A customer's MRR from its subscriptions' own MRR (edits included): connected subscriptions count as
    one, the last started of those that earn."""
    subs = {s["uuid"]: s for s in customer["subscriptions"]}
    total, seen = 0, set()
    for sub in subs.values():
        if sub["uuid"] in seen:
            continue
        group = [subs[u] for u in [sub["uuid"], *sub["connected_to"]]]
        seen |= {s["uuid"] for s in group}
        earning = sorted((s for s in group if s["mrr"]), key=lambda s: (s["started_at"], s["uuid"]))
        total += earning[-1]["mrr"] if earning else 0
    return total


def custom_source(api: Client, name: str = "Pushed") -> str:
    created = api.ok("POST", "/v1/data_sources", {"name": name, "system": "custom"}, status=201)
    return str(created["data_source"]["uuid"])


def import_custom(
    api: Client,
    uuid: str,
    customers: dict[str, dict[str, tuple[int, int]]],
    days: Callable[[int], str],
    currency: str = "USD",
) -> dict[str, str]:
    """Customers through the Import API, each with monthly subscriptions given as
    {subscription external id: (MRR in cents, first day as an offset from today)}, one invoice each."""
    created = api.ok(
        "POST",
        f"/v1/import/data_sources/{uuid}/customers",
        {
            "customers": [
                {"external_id": external_id, "name": f"Custom {external_id}", "email": f"{external_id}@example.com"}
                for external_id in customers
            ]
        },
        status=201,
    )
    api.ok(
        "POST",
        f"/v1/import/data_sources/{uuid}/plans",
        {"plans": [{"external_id": "monthly", "name": "Monthly", "interval_count": 1, "interval_unit": "month"}]},
        status=201,
    )
    invoices = [
        {
            "external_id": f"{external_id}-inv",
            "customer_external_id": external_id,
            "date": days(min(start for _, start in subscriptions.values())),
            "currency": currency,
            "line_items": [
                {
                    "type": "subscription",
                    "subscription_external_id": sub,
                    "plan_external_id": "monthly",
                    "service_period_start": days(start),
                    "service_period_end": days(start + 30),
                    "amount_in_cents": mrr,
                }
                for sub, (mrr, start) in subscriptions.items()
            ],
            "transactions": [],
        }
        for external_id, subscriptions in customers.items()
        if subscriptions
    ]
    if invoices:
        api.ok("POST", f"/v1/import/data_sources/{uuid}/invoices", {"invoices": invoices}, status=201)
    return {entry["external_id"]: entry["uuid"] for entry in created["entries"]}


def wait_for_purge(api: Client, job: dict[str, Any]) -> None:
    assert job["kind"] == "delete_source"
    finished = api.wait_for_job(job["id"], timeout=120)
    assert finished["status"] == "succeeded", finished


def assert_nothing_of_source_left(aws: Callable[[str], Any], account_id: str, data_source_uuid: str) -> None:
    left = stored_items_mentioning(aws, data_source_uuid)
    leftovers = [item for items in left.values() for item in items]
    assert sorted(str(item.get("sk", {}).get("S", "?")).split("#")[0] for item in leftovers) == AUDIT_AND_JOB, left
    assert not [o for o in stored_overlays(aws, account_id) if data_source_uuid in str(o)]


# ---------------------------------------------------------------------------------------------- 1. done when
def test_overlays_are_kept_by_a_resync_and_a_customer_resync_of_a_stripe_source(
    api: Client, account: Account, aws: Callable[[str], Any], stripe: str, days: Callable[[int], str]
) -> None:
    # Given at the provider: Alpha moved from one plan to another (one subscription cancelled, one new),
    # and Beta, another record of the same business
    emulator = StripeEmulator(stripe)
    alpha = emulator.add_customer("Alpha", "alpha@example.com", "US")
    emulator.cancel(emulator.subscribe(alpha, "growth-monthly", 2))
    emulator.subscribe(alpha, "starter-monthly", 3)  # 8,700 a month
    beta = emulator.add_customer("Beta", "beta@example.com", "US")
    emulator.subscribe(beta, "growth-yearly", 1)  # 8,250 a month
    source = create_stripe_source(api, stripe)
    ds = source["uuid"]
    a, b = uuid_of(api, ds, alpha), uuid_of(api, ds, beta)
    imported = mrr_table(api, days)
    assert [imported[o][a][0] for o in OFFSETS] == [8700, 8700, 0]
    assert [imported[o][b][0] for o in OFFSETS] == [8250, 8250, 8250]
    alpha_detail = detail(api, a)
    cancelled = subscription(alpha_detail, status="cancelled")
    new = subscription(alpha_detail, status="active")
    beta_sub = detail(api, b)["subscriptions"][0]

    # When Beta is merged into Alpha (with an Idempotency-Key: a replay answers the same)
    body = {"from": {"data_source_uuid": ds, "external_id": beta}, "into": {"customer_uuid": a}}
    headers = {"Idempotency-Key": "merge-beta-into-alpha"}
    merged = api.post("/v1/customers/merges", body, headers=headers)
    assert merged.status_code == 200, merged.text
    assert merged.json()["uuid"] == a
    assert sources_of(merged.json()) == sorted([(ds, alpha), (ds, beta)])
    replay = api.post("/v1/customers/merges", body, headers=headers)
    assert (replay.status_code, replay.json()) == (200, merged.json())
    other_body = {"from": {"customer_uuid": b}, "into": {"customer_uuid": a}}
    error_of(api.post("/v1/customers/merges", other_body, headers=headers), 422, "idempotency_key_reused")
    assert len(detail(api, a)["overlays"]["merges"]) == 1

    # Then lists show the primary only, the merged-away uuid answers with it, and its MRR counts both
    assert b not in listed(api, ds) and a in listed(api, ds)
    assert detail(api, b)["uuid"] == a
    after_merge = mrr_table(api, days)
    for offset in OFFSETS:
        expected = {u: v for u, v in imported[offset].items() if u not in (a, b)}
        expected[a] = (imported[offset][a][0] + imported[offset][b][0], None)
        assert after_merge[offset] == expected

    # When the cancelled and the new subscription are connected (through the merged-away uuid, one by its
    # external id) and Beta's MRR is edited for 21 days
    connected = api.ok(
        "POST",
        f"/v1/customers/{b}/connect_subscriptions",
        {
            "subscriptions": [
                {"data_source_uuid": ds, "external_id": cancelled["external_id"]},
                {"data_source_uuid": ds, "uuid": new["uuid"]},
            ]
        },
    )
    assert connected["uuid"] == a
    assert subscription(connected, uuid=cancelled["uuid"])["connected_to"] == [new["uuid"]]
    assert subscription(connected, uuid=new["uuid"])["connected_to"] == [cancelled["uuid"]]
    edit = api.ok(
        "POST",
        f"/v1/subscriptions/{beta_sub['uuid']}/mrr_edits",
        {"mrr": 5000, "from": days(10), "to": days(30)},
        status=201,
    )
    assert edit["id"].startswith("mre_") and edit["mrr"] == 5000
    assert (edit["from"], edit["to"]) == (days(10), days(30))

    overlays = detail(api, a)["overlays"]
    assert {kind: len(entries) for kind, entries in overlays.items()} == {
        "merges": 1,
        "connected_subscriptions": 1,
        "mrr_edits": 1,
    }
    for entry in (o for entries in overlays.values() for o in entries):
        assert entry["id"] and entry["created_by"].startswith("key_") and entry["created_at"]
        assert entry["orphaned"] is False
    assert overlays["mrr_edits"][0]["id"] == edit["id"]
    expected_mrr_before = mrr_table(api, days)
    assert [expected_mrr_before[o][a][0] for o in OFFSETS] == [8700 + 8250, 8700 + 5000, 8250]
    stored_before = stored_overlays(aws, account.account_id)
    details_before = {offset: detail(api, a, days(offset)) for offset in OFFSETS}

    # When the source is re-synced (the dry run says it removes nothing)
    preview = api.ok("POST", f"/v1/data_sources/{ds}/resync", params={"dry_run": "true"})
    assert preview == {"overlays_removed": []}
    job = api.ok("POST", f"/v1/data_sources/{ds}/resync", status=202)
    finished = api.wait_for_job(job["id"])
    assert finished["status"] == "succeeded", finished

    # Then every overlay is kept, not orphaned, and every customer's MRR is what it was
    assert finished["result"]["overlays_removed"] == []
    assert finished["result"]["overlays_orphaned"] == []
    assert mrr_table(api, days) == expected_mrr_before
    assert {offset: detail(api, a, days(offset)) for offset in OFFSETS} == details_before
    assert detail(api, b)["uuid"] == a
    assert stored_overlays(aws, account.account_id) == stored_before

    # When Alpha gets a new invoice at the provider and only Alpha is re-synced
    emulator.post("/v1/invoiceitems", {"customer": alpha, "amount": 4200, "currency": "usd", "description": "Setup"})
    invoice = emulator.post("/v1/invoices", {"customer": alpha})
    emulator.post(f"/v1/invoices/{invoice['id']}/pay", {})
    assert invoice["id"] not in {i["external_id"] for i in detail(api, a)["invoices"]}
    job = api.ok("POST", f"/v1/data_sources/{ds}/customers/{a}/resync", status=202)
    assert job["kind"] == "resync_customer" and job["customer_uuid"] == a
    finished = api.wait_for_job(job["id"])
    assert finished["status"] == "succeeded", finished

    # Then the invoice is there, the overlays stay, and MRR is what it was
    assert finished["result"]["overlays_removed"] == [] and finished["result"]["overlays_orphaned"] == []
    now = detail(api, a)
    assert invoice["id"] in {i["external_id"] for i in now["invoices"]}
    assert now["overlays"] == details_before[0]["overlays"]
    assert now["subscriptions"] == details_before[0]["subscriptions"]
    assert mrr_table(api, days) == expected_mrr_before
    assert stored_overlays(aws, account.account_id) == stored_before
    assert api.ok("GET", f"/v1/data_sources/{ds}")["counts"]["invoices"] == source["counts"]["invoices"] + 1


# ---------------------------------------------------------------------------------------------- 2. across sources
def test_a_customer_merged_across_sources_loses_only_the_deleted_sources_part(
    api: Client, account: Account, aws: Callable[[str], Any], stripe: str, days: Callable[[int], str]
) -> None:
    # Given Alpha at Stripe (two subscriptions) and c0 pushed through the Import API, in USD both
    emulator = StripeEmulator(stripe)
    alpha = emulator.add_customer("Alpha", "alpha@example.com", "US")
    emulator.subscribe(alpha, "starter-monthly", 1)  # 2,900
    emulator.subscribe(alpha, "growth-monthly", 1)  # 9,900
    ds = create_stripe_source(api, stripe)["uuid"]
    pushed = custom_source(api)
    custom = import_custom(api, pushed, {"c0": {"c0-s": (4000, -5)}, "c1": {"c1-s": (700, -5)}}, days)
    a, c0 = uuid_of(api, ds, alpha), custom["c0"]
    before = mrr_table(api, days)
    assert before[0][a][0] == 2900 + 9900 and before[0][c0][0] == 4000

    # When c0 is merged into Alpha
    merged = api.ok(
        "POST",
        "/v1/customers/merges",
        {"from": {"data_source_uuid": pushed, "external_id": "c0"}, "into": {"customer_uuid": a}},
    )

    # Then the list shows Alpha with both sources, c0's uuid answers with Alpha, MRR counts both
    assert merged["uuid"] == a and sources_of(merged) == sorted([(ds, alpha), (pushed, "c0")])
    everyone = listed(api)
    assert c0 not in everyone and sources_of(everyone[a]) == sources_of(merged)
    assert list(listed(api, pushed)) == [custom["c1"]]
    assert find(api, pushed, "c0")["uuid"] == a
    assert detail(api, c0)["uuid"] == a
    after_merge = mrr_table(api, days)
    for offset in OFFSETS:
        assert after_merge[offset][a] == (before[offset][a][0] + before[offset][c0][0], None)
        assert c0 not in after_merge[offset]
    assert {i["data_source_uuid"] for i in detail(api, a)["invoices"]} == {ds, pushed}

    # And manual data on both parts: an edit of Alpha's own subscription, one of c0's, a connection of all three
    customer = detail(api, a)
    starter = subscription(customer, data_source_uuid=ds, mrr=2900)
    growth = subscription(customer, data_source_uuid=ds, mrr=9900)
    c0_sub = subscription(customer, data_source_uuid=pushed)
    own_edit = api.ok(
        "POST", f"/v1/subscriptions/{starter['uuid']}/mrr_edits", {"mrr": 1000, "from": days(0), "to": None}, status=201
    )
    doomed_edit = api.ok(
        "POST",
        f"/v1/subscriptions/{c0_sub['uuid']}/mrr_edits",
        {"mrr": 3000, "from": days(5), "to": days(9)},
        status=201,
    )
    connection = api.ok(
        "POST",
        f"/v1/customers/{a}/connect_subscriptions",
        {
            "subscriptions": [
                {"data_source_uuid": ds, "uuid": starter["uuid"]},
                {"data_source_uuid": ds, "uuid": growth["uuid"]},
                {"data_source_uuid": pushed, "external_id": "c0-s"},
            ]
        },
    )["overlays"]["connected_subscriptions"][0]
    customer = detail(api, a)
    merge_id = customer["overlays"]["merges"][0]["id"]
    assert sorted(subscription(customer, uuid=c0_sub["uuid"])["connected_to"]) == sorted(
        [starter["uuid"], growth["uuid"]]
    )
    assert customer["mrr"] == expected_mrr(customer)
    preview = api.ok("DELETE", f"/v1/data_sources/{pushed}", params={"dry_run": "true"})
    assert sorted(o["id"] for o in preview["overlays_affected"]) == sorted(
        [merge_id, doomed_edit["id"], connection["id"]]
    )

    # When the pushed source is deleted
    job = api.ok("DELETE", f"/v1/data_sources/{pushed}", status=202)

    # Then at once, and after the purge: Alpha keeps its own part and its own overlays; the merge, c0's edit
    # and c0's subscription in the connection are gone
    def alpha_alone() -> None:
        now = detail(api, a)
        assert sources_of(now) == [(ds, alpha)] and {s["data_source_uuid"] for s in now["subscriptions"]} == {ds}
        assert {i["data_source_uuid"] for i in now["invoices"]} == {ds}
        assert now["overlays"]["merges"] == []
        assert [e["id"] for e in now["overlays"]["mrr_edits"]] == [own_edit["id"]]
        assert [c["id"] for c in now["overlays"]["connected_subscriptions"]] == [connection["id"]]
        assert sorted(s["uuid"] for s in now["overlays"]["connected_subscriptions"][0]["subscriptions"]) == sorted(
            [starter["uuid"], growth["uuid"]]
        )
        assert subscription(now, uuid=starter["uuid"])["connected_to"] == [growth["uuid"]]
        assert subscription(now, uuid=starter["uuid"])["mrr"] == 1000
        assert now["mrr"] == expected_mrr(now) and now["mrr"] in (1000, 9900)
        everyone = listed(api)
        assert a in everyone and set(everyone) == set(listed(api, ds))  # the pushed source's customers are gone
        assert api.get(f"/v1/customers/{c0}").status_code == 404

    alpha_alone()
    wait_for_purge(api, job)
    alpha_alone()
    assert_nothing_of_source_left(aws, account.account_id, pushed)
    assert [o["sk"]["S"] for o in stored_overlays(aws, account.account_id) if o["sk"]["S"] != "VERSION"] == sorted(
        [f"O#{own_edit['id']}", f"O#{connection['id']}"]
    )


def test_deleting_the_primarys_source_makes_the_merged_away_customer_a_primary_again(
    api: Client, account: Account, aws: Callable[[str], Any], stripe: str, days: Callable[[int], str]
) -> None:
    # Given Beta at Stripe merged into p0, pushed through the Import API, and an edit of Beta's subscription
    emulator = StripeEmulator(stripe)
    beta = emulator.add_customer("Beta", "beta@example.com", "US")
    emulator.subscribe(beta, "growth-monthly", 2)  # 19,800
    ds = create_stripe_source(api, stripe)["uuid"]
    pushed = custom_source(api)
    p0 = import_custom(api, pushed, {"p0": {"p0-s": (1500, -3)}}, days)["p0"]
    b = uuid_of(api, ds, beta)
    merged = api.ok(
        "POST",
        "/v1/customers/merges",
        {"from": {"customer_uuid": b}, "into": {"data_source_uuid": pushed, "external_id": "p0"}},
    )
    assert merged["uuid"] == p0 and sources_of(merged) == sorted([(pushed, "p0"), (ds, beta)])
    beta_sub = subscription(merged, data_source_uuid=ds)
    edit = api.ok(
        "POST", f"/v1/subscriptions/{beta_sub['uuid']}/mrr_edits", {"mrr": 777, "from": days(1), "to": None}, status=201
    )
    assert b not in listed(api) and detail(api, b)["uuid"] == p0
    assert detail(api, p0, days(0))["mrr"] == 19800 + 1500
    assert detail(api, p0, days(2))["mrr"] == 777 + 1500

    # When the primary's source is deleted
    job = api.ok("DELETE", f"/v1/data_sources/{pushed}", status=202)

    # Then Beta is a primary again, with its own MRR and its own edit, at once and after the purge
    def beta_alone() -> None:
        now = detail(api, b)
        assert now["uuid"] == b and sources_of(now) == [(ds, beta)]
        assert now["overlays"]["merges"] == []
        assert [e["id"] for e in now["overlays"]["mrr_edits"]] == [edit["id"]]
        assert detail(api, b, days(0))["mrr"] == 19800 and detail(api, b, days(2))["mrr"] == 777
        assert b in listed(api, ds) and find(api, ds, beta)["uuid"] == b
        assert api.get(f"/v1/customers/{p0}").status_code == 404

    beta_alone()
    wait_for_purge(api, job)
    beta_alone()
    assert_nothing_of_source_left(aws, account.account_id, pushed)


# ---------------------------------------------------------------------------------------------- 3. bad input
def test_bad_input_is_refused_and_changes_nothing(
    api: Client,
    account: Account,
    aws: Callable[[str], Any],
    stack: dict[str, Any],
    new_account: Callable[[str], Account],
    days: Callable[[int], str],
) -> None:
    pushed = custom_source(api)
    customers = import_custom(
        api,
        pushed,
        {"c0": {"c0-a": (1000, -10), "c0-b": (2000, -2)}, "c1": {"c1-a": (500, -4)}, "c2": {"c2-a": (900, -1)}},
        days,
    )
    c0, c1, c2 = customers["c0"], customers["c1"], customers["c2"]
    api.ok("POST", "/v1/customers/merges", {"from": {"customer_uuid": c1}, "into": {"customer_uuid": c0}})
    customer = detail(api, c0)
    sub_a = subscription(customer, external_id="c0-a")["uuid"]
    sub_b = subscription(customer, external_id="c0-b")["uuid"]
    sub_c1 = subscription(customer, external_id="c1-a")["uuid"]
    sub_c2 = detail(api, c2)["subscriptions"][0]["uuid"]
    edit = api.ok(
        "POST", f"/v1/subscriptions/{sub_a}/mrr_edits", {"mrr": 1, "from": days(0), "to": days(10)}, status=201
    )

    # another account, with manual data of its own
    other = Client(stack["api"], new_account("neighbour").api_key)
    theirs = custom_source(other, "Theirs")
    their_customers = import_custom(other, theirs, {"t0": {"t0-a": (100, -1), "t0-b": (200, -1)}}, days)
    t0 = their_customers["t0"]
    their_subs = [s["uuid"] for s in detail(other, t0)["subscriptions"]]
    their_edit = other.ok(
        "POST", f"/v1/subscriptions/{their_subs[0]}/mrr_edits", {"mrr": 5, "from": days(0), "to": None}, status=201
    )
    their_detail = detail(other, t0)

    stored = stored_overlays(aws, account.account_id)
    mine = {u: detail(api, u) for u in (c0, c2)}

    def unchanged() -> None:
        assert stored_overlays(aws, account.account_id) == stored
        assert {u: detail(api, u) for u in (c0, c2)} == mine
        assert detail(other, t0) == their_detail

    merges, edits = "/v1/customers/merges", f"/v1/subscriptions/{sub_a}/mrr_edits"
    connect = f"/v1/customers/{c0}/connect_subscriptions"

    def ref(uuid: str, source: str = pushed) -> dict[str, str]:
        return {"data_source_uuid": source, "uuid": uuid}

    refused: list[tuple[str, str, Any, int, str]] = [
        # merges: into self, with its primary (either way round), by natural keys too
        ("POST", merges, {"from": {"customer_uuid": c0}, "into": {"customer_uuid": c0}}, 422, "merge_into_self"),
        ("POST", merges, {"from": {"customer_uuid": c1}, "into": {"customer_uuid": c0}}, 422, "merge_into_self"),
        ("POST", merges, {"from": {"customer_uuid": c0}, "into": {"customer_uuid": c1}}, 422, "merge_into_self"),
        (
            "POST",
            merges,
            {"from": {"data_source_uuid": pushed, "external_id": "c1"}, "into": {"customer_uuid": c0}},
            422,
            "merge_into_self",
        ),
        # connections: of two customers, of one subscription, of one subscription twice
        ("POST", connect, {"subscriptions": [ref(sub_a), ref(sub_c2)]}, 422, "subscriptions_of_different_customers"),
        ("POST", connect, {"subscriptions": [ref(sub_a)]}, 400, "invalid_request"),
        ("POST", connect, {"subscriptions": [ref(sub_a), ref(sub_a)]}, 400, "invalid_request"),
        ("POST", connect, {"subscriptions": []}, 400, "invalid_request"),
        # MRR edits: overlapping the edit (its last day; open-ended), no such edit
        ("POST", edits, {"mrr": 2, "from": days(10), "to": days(20)}, 409, "mrr_edit_overlap"),
        ("POST", edits, {"mrr": 2, "from": days(-30), "to": None}, 409, "mrr_edit_overlap"),
        ("DELETE", f"{edits}/mre_00000000000000000000000000", None, 404, "not_found"),
        ("DELETE", f"{edits}/nonsense", None, 404, "not_found"),
        ("DELETE", f"/v1/subscriptions/{sub_b}/mrr_edits/{edit['id']}", None, 404, "not_found"),
        # unknown fields, wrong types, missing fields
        ("POST", merges, {"from": {"customer_uuid": c2}, "into": {"customer_uuid": c0}, "force": True}, 400, ""),
        ("POST", merges, {"from": {"customer_uuid": 5}, "into": {"customer_uuid": c0}}, 400, ""),
        ("POST", merges, {"from": {"customer_uuid": c2, "external_id": "c2"}, "into": {"customer_uuid": c0}}, 400, ""),
        ("POST", merges, {"from": {"data_source_uuid": pushed}, "into": {"customer_uuid": c0}}, 400, ""),
        ("POST", merges, {"into": {"customer_uuid": c0}}, 400, ""),
        ("POST", merges, [c2, c0], 400, ""),
        ("POST", connect, {"subscriptions": [ref(sub_a), {**ref(sub_b), "note": "x"}]}, 400, ""),
        ("POST", connect, {"subscriptions": [ref(sub_a), {"uuid": sub_b}]}, 400, ""),
        ("POST", connect, {"subscriptions": [ref(sub_a), {**ref(sub_b), "external_id": "c0-b"}]}, 400, ""),
        ("POST", connect, {"subscriptions": ref(sub_a)}, 400, ""),
        ("POST", edits, {"mrr": "2", "from": days(20), "to": None}, 400, ""),
        ("POST", edits, {"mrr": 2.5, "from": days(20), "to": None}, 400, ""),
        ("POST", edits, {"mrr": -1, "from": days(20), "to": None}, 400, ""),
        ("POST", edits, {"mrr": 2, "from": "tomorrow", "to": None}, 400, ""),
        ("POST", edits, {"mrr": 2, "from": days(20), "to": None, "note": "x"}, 400, ""),
        ("POST", edits, {"mrr": 2, "to": None}, 400, ""),
        # unknown ids
        (
            "POST",
            merges,
            {"from": {"customer_uuid": "cus_00000000000000000000000000"}, "into": {"customer_uuid": c0}},
            404,
            "not_found",
        ),
        (
            "POST",
            "/v1/customers/cus_00000000000000000000000000/connect_subscriptions",
            {"subscriptions": [ref(sub_a), ref(sub_b)]},
            404,
            "not_found",
        ),
        (
            "POST",
            "/v1/subscriptions/sub_00000000000000000000000000/mrr_edits",
            {"mrr": 2, "from": days(20), "to": None},
            404,
            "not_found",
        ),
        # another account's customer, subscriptions and edit
        ("POST", merges, {"from": {"customer_uuid": t0}, "into": {"customer_uuid": c0}}, 404, "not_found"),
        ("POST", merges, {"from": {"customer_uuid": c2}, "into": {"customer_uuid": t0}}, 404, "not_found"),
        (
            "POST",
            merges,
            {"from": {"data_source_uuid": theirs, "external_id": "t0"}, "into": {"customer_uuid": c0}},
            404,
            "not_found",
        ),
        (
            "POST",
            f"/v1/customers/{t0}/connect_subscriptions",
            {"subscriptions": [ref(s, theirs) for s in their_subs]},
            404,
            "not_found",
        ),
        (
            "POST",
            f"/v1/customers/{t0}/disconnect_subscriptions",
            {"subscriptions": [ref(s, theirs) for s in their_subs]},
            404,
            "not_found",
        ),
        ("POST", connect, {"subscriptions": [ref(sub_a), ref(their_subs[0], theirs)]}, 404, "not_found"),
        ("POST", connect, {"subscriptions": [ref(sub_a), ref(their_subs[0])]}, 404, "not_found"),
        (
            "POST",
            f"/v1/subscriptions/{their_subs[1]}/mrr_edits",
            {"mrr": 2, "from": days(20), "to": None},
            404,
            "not_found",
        ),
        ("DELETE", f"/v1/subscriptions/{their_subs[0]}/mrr_edits/{their_edit['id']}", None, 404, "not_found"),
        ("DELETE", f"{edits}/{their_edit['id']}", None, 404, "not_found"),
    ]
    for method, path, body, status, code in refused:
        answer = api.request(method, path, json=body)
        assert answer.status_code == status, f"{method} {path} {body}: {answer.status_code} {answer.text}"
        error_of(answer, status, code or "invalid_request")
        unchanged()

    # malformed JSON, and `to` before `from` (400, at `to`)
    answer = api.request("POST", merges, data=b'{"from": {', headers={"Content-Type": "application/json"})
    error_of(answer, 400, "invalid_request")
    backwards = error_of(api.post(edits, {"mrr": 2, "from": days(30), "to": days(29)}), 400, "invalid_request")
    assert [d["loc"] for d in backwards["details"]] == ["to"]
    wrong_type = error_of(api.post(edits, {"mrr": "2", "from": days(20), "to": None}), 400, "invalid_request")
    assert [d["loc"] for d in wrong_type["details"]] == ["mrr"]
    unchanged()

    # reads of another account's ids are 404 too, and nothing of theirs changed
    assert api.get(f"/v1/customers/{t0}").status_code == 404
    assert api.get(f"/v1/subscriptions/{their_subs[0]}").status_code == 404
    assert other.get(f"/v1/subscriptions/{sub_a}").status_code == 404
    assert [e["id"] for e in detail(other, t0)["overlays"]["mrr_edits"]] == [their_edit["id"]]
    unchanged()

    # the same requests, right, do change things: an edit from the day after the other one ends
    api.ok("POST", edits, {"mrr": 2, "from": days(11), "to": None}, status=201)
    assert stored_overlays(aws, account.account_id) != stored
    # and subscriptions of two merged customers connect: they are one customer's
    joined = api.ok("POST", f"/v1/customers/{c1}/connect_subscriptions", {"subscriptions": [ref(sub_a), ref(sub_c1)]})
    assert joined["uuid"] == c0 and subscription(joined, uuid=sub_c1)["connected_to"] == [sub_a]


def test_overlay_writes_on_a_source_whose_resync_runs_are_refused_with_job_running(
    api: Client, account: Account, aws: Callable[[str], Any], stripe: str, days: Callable[[int], str]
) -> None:
    emulator = StripeEmulator(stripe)
    alpha = emulator.add_customer("Alpha", "alpha@example.com", "US")
    emulator.subscribe(alpha, "starter-monthly", 1)
    emulator.subscribe(alpha, "growth-monthly", 1)
    beta = emulator.add_customer("Beta", "beta@example.com", "US")
    emulator.subscribe(beta, "growth-yearly", 1)
    with FaultProxy(stripe) as proxy:
        ds = create_stripe_source(api, proxy.url)["uuid"]
        a, b = uuid_of(api, ds, alpha), uuid_of(api, ds, beta)
        pushed = custom_source(api)
        p0 = import_custom(api, pushed, {"p0": {"p0-s": (300, -1)}}, days)["p0"]
        subs = [s["uuid"] for s in detail(api, a)["subscriptions"]]
        edit = api.ok(
            "POST", f"/v1/subscriptions/{subs[0]}/mrr_edits", {"mrr": 10, "from": days(0), "to": days(3)}, status=201
        )
        stored = stored_overlays(aws, account.account_id)
        before = {u: detail(api, u) for u in (a, b, p0)}
        writes: list[tuple[str, str, Any]] = [
            ("POST", "/v1/customers/merges", {"from": {"customer_uuid": b}, "into": {"customer_uuid": a}}),
            ("POST", "/v1/customers/merges", {"from": {"customer_uuid": p0}, "into": {"customer_uuid": a}}),
            (
                "POST",
                f"/v1/customers/{a}/connect_subscriptions",
                {"subscriptions": [{"data_source_uuid": ds, "uuid": u} for u in subs]},
            ),
            ("POST", f"/v1/subscriptions/{subs[1]}/mrr_edits", {"mrr": 20, "from": days(0), "to": None}),
            ("DELETE", f"/v1/subscriptions/{subs[0]}/mrr_edits/{edit['id']}", None),
        ]

        retry_key = {"Idempotency-Key": "merge-while-busy"}  # a refused write may be retried with its key

        def refused_while(start: str) -> bool:
            """Start a job with a slow provider, write at once: 409 job_running for every write. False if the
            job ended before the writes were done (then the check proved nothing and is run again)."""
            job = api.ok("POST", start, status=202)
            for method, path, body in writes:
                answer = api.request(method, path, json=body, headers=retry_key if body is writes[0][2] else None)
                error = error_of(answer, 409, "job_running")
                assert error["job_id"] == job["id"], error
            still_running = api.ok("GET", f"/v1/jobs/{job['id']}")["status"] in ("queued", "running")
            proxy.set()
            finished = api.wait_for_job(job["id"])
            assert finished["status"] == "succeeded", finished
            assert stored_overlays(aws, account.account_id) == stored
            assert {u: detail(api, u) for u in (a, b, p0)} == before
            return still_running

        for start in (f"/v1/data_sources/{ds}/resync", f"/v1/data_sources/{ds}/customers/{a}/resync"):
            for delay in (0.3, 1.0, 2.0):
                proxy.set(delay=delay)
                if refused_while(start):
                    break
            else:
                pytest.fail(f"{start}: the job ended before the writes were refused, even with a slow provider")

    # once the source is idle, the same writes go through (a 409 was not saved as the key's answer)
    assert api.ok("POST", *writes[0][1:], headers=retry_key)["uuid"] == a
    assert api.ok("POST", *writes[0][1:], headers=retry_key)["uuid"] == a  # and now it was: a replay
    assert len(detail(api, a)["overlays"]["merges"]) == 1
    assert stored_overlays(aws, account.account_id) != stored


def test_an_overlay_whose_records_vanished_at_the_provider_is_kept_and_reported_orphaned(
    api: Client, account: Account, aws: Callable[[str], Any], stripe: str, days: Callable[[int], str]
) -> None:
    emulator = StripeEmulator(stripe)
    alpha = emulator.add_customer("Alpha", "alpha@example.com", "US")
    emulator.subscribe(alpha, "starter-monthly", 1)  # 2,900
    gamma = emulator.add_customer("Gamma", "gamma@example.com", "US")
    emulator.subscribe(gamma, "growth-monthly", 1)  # 9,900
    ds = create_stripe_source(api, stripe)["uuid"]
    a, g = uuid_of(api, ds, alpha), uuid_of(api, ds, gamma)
    gamma_sub = detail(api, g)["subscriptions"][0]["uuid"]
    merge = api.ok("POST", "/v1/customers/merges", {"from": {"customer_uuid": g}, "into": {"customer_uuid": a}})
    edit = api.ok(
        "POST", f"/v1/subscriptions/{gamma_sub}/mrr_edits", {"mrr": 100, "from": days(0), "to": None}, status=201
    )
    assert merge["mrr"] == 2900 + 9900
    stored = stored_overlays(aws, account.account_id)

    # Gamma is deleted at the provider; the source is re-synced
    emulator.delete(f"/v1/customers/{gamma}")
    job = api.ok("POST", f"/v1/data_sources/{ds}/resync", status=202)
    finished = api.wait_for_job(job["id"])
    assert finished["status"] == "succeeded", finished

    # nothing removed; the merge and the edit are kept, reported orphaned; Alpha stands alone
    assert finished["result"]["overlays_removed"] == []
    orphaned = finished["result"]["overlays_orphaned"]
    merge_id = merge["overlays"]["merges"][0]["id"]
    # (the emulator keeps Gamma's subscription, active, after the customer is deleted: whether the edit of a
    # subscription that is still at the provider, but whose customer is not, counts as orphaned is left open)
    assert merge_id in {o["id"] for o in orphaned} and {o["id"] for o in orphaned} <= {merge_id, edit["id"]}
    assert all(o["orphaned"] is True for o in orphaned)
    assert stored_overlays(aws, account.account_id) == stored
    now = detail(api, a)
    assert [(m["id"], m["orphaned"]) for m in now["overlays"]["merges"]] == [
        (merge["overlays"]["merges"][0]["id"], True)
    ]
    assert sources_of(now) == [(ds, alpha)] and now["mrr"] == 2900
    assert api.get(f"/v1/customers/{g}").status_code == 404
    assert api.get(f"/v1/subscriptions/{gamma_sub}").status_code == 404


# ---------------------------------------------------------------------------------------------- 4. MRR edits
def test_mrr_edits_override_their_days_and_disconnect_undoes_a_connection(
    api: Client, account: Account, aws: Callable[[str], Any], days: Callable[[int], str]
) -> None:
    pushed = custom_source(api)
    c0 = import_custom(
        api, pushed, {"c0": {"c0-a": (3000, -10), "c0-b": (5000, -3), "c0-c": (200, -1)}, "c1": {}}, days
    )["c0"]
    customer = detail(api, c0)
    sub_a, sub_b, sub_c = (subscription(customer, external_id=x)["uuid"] for x in ("c0-a", "c0-b", "c0-c"))

    def sub_mrr(uuid: str, offset: int) -> int:
        found = api.ok("GET", f"/v1/subscriptions/{uuid}", params={"as_of": days(offset)})
        assert found["uuid"] == uuid
        return int(found["mrr"])

    def customer_mrr(offset: int) -> int:
        return int(detail(api, c0, days(offset))["mrr"])

    shown = api.ok("GET", f"/v1/subscriptions/{sub_a}", params={"as_of": days(0)})
    assert shown["external_id"] == "c0-a" and shown["data_source_uuid"] == pushed and shown["customer_uuid"] == c0
    assert (shown["mrr"], shown["mrr_edits"], shown["connected_to"]) == (3000, [], [])
    assert [customer_mrr(o) for o in (0, 25)] == [8200, 5200]  # c0-a's month ended on day 20

    # an edit of days 2 to 4, made with an Idempotency-Key: a replay answers the same edit and adds none
    request = {"mrr": 1234, "from": days(2), "to": days(4)}
    key = {"Idempotency-Key": "edit-c0-a"}
    first = api.post(f"/v1/subscriptions/{sub_a}/mrr_edits", request, headers=key)
    assert first.status_code == 201, first.text
    edit = first.json()
    replay = api.post(f"/v1/subscriptions/{sub_a}/mrr_edits", request, headers=key)
    assert (replay.status_code, replay.json()) == (201, edit)
    assert edit["subscription"]["uuid"] == sub_a and edit["subscription"]["external_id"] == "c0-a"
    assert (edit["mrr"], edit["from"], edit["to"], edit["orphaned"]) == (1234, days(2), days(4), False)
    assert edit["created_by"].startswith("key_") and edit["created_at"]
    assert [sub_mrr(sub_a, o) for o in (1, 2, 3, 4, 5)] == [3000, 1234, 1234, 1234, 3000]
    assert [customer_mrr(o) for o in (1, 3, 5)] == [8200, 1234 + 5200, 8200]
    shown = api.ok("GET", f"/v1/subscriptions/{sub_a}", params={"as_of": days(3)})
    assert [e["id"] for e in shown["mrr_edits"]] == [edit["id"]]
    assert [e["id"] for e in detail(api, c0)["overlays"]["mrr_edits"]] == [edit["id"]]
    assert sub_mrr(sub_b, 3) == 5000  # another subscription's MRR is its own

    # an open-ended edit sets MRR after the imported months too
    open_ended = api.ok(
        "POST", f"/v1/subscriptions/{sub_a}/mrr_edits", {"mrr": 99, "from": days(40), "to": None}, status=201
    )
    assert [sub_mrr(sub_a, o) for o in (39, 40, 400)] == [0, 99, 99]

    # deleting an edit restores the imported MRR; a second delete is 404
    assert api.delete(f"/v1/subscriptions/{sub_a}/mrr_edits/{edit['id']}").status_code == 204
    assert [sub_mrr(sub_a, o) for o in (2, 3, 4)] == [3000, 3000, 3000]
    assert customer_mrr(3) == 8200
    error_of(api.delete(f"/v1/subscriptions/{sub_a}/mrr_edits/{edit['id']}"), 404, "not_found")
    assert [e["id"] for e in detail(api, c0)["overlays"]["mrr_edits"]] == [open_ended["id"]]

    # connected subscriptions count as one, the last started; disconnect undoes it
    def refs(*uuids: str) -> dict[str, Any]:
        return {"subscriptions": [{"data_source_uuid": pushed, "uuid": u} for u in uuids]}

    connected = api.ok("POST", f"/v1/customers/{c0}/connect_subscriptions", refs(sub_a, sub_b))
    assert subscription(connected, uuid=sub_a)["connected_to"] == [sub_b]
    assert subscription(connected, uuid=sub_c)["connected_to"] == []
    assert customer_mrr(0) == 5000 + 200  # c0-b started after c0-a
    assert customer_mrr(18) == 5000 + 200
    assert sub_mrr(sub_a, 0) == 3000  # the subscription itself shows its own MRR
    disconnected = api.ok("POST", f"/v1/customers/{c0}/disconnect_subscriptions", refs(sub_a))
    assert disconnected["overlays"]["connected_subscriptions"] == []
    assert all(s["connected_to"] == [] for s in disconnected["subscriptions"])
    assert customer_mrr(0) == 8200

    # a connection of three loses one subscription on a disconnect and stays, the same connection
    three = api.ok("POST", f"/v1/customers/{c0}/connect_subscriptions", refs(sub_a, sub_b, sub_c))
    connection = three["overlays"]["connected_subscriptions"][0]
    assert customer_mrr(0) == 200  # c0-c started last
    two = api.ok("POST", f"/v1/customers/{c0}/disconnect_subscriptions", refs(sub_c))
    assert [c["id"] for c in two["overlays"]["connected_subscriptions"]] == [connection["id"]]
    assert sorted(s["uuid"] for s in two["overlays"]["connected_subscriptions"][0]["subscriptions"]) == sorted(
        [sub_a, sub_b]
    )
    assert subscription(two, uuid=sub_c)["connected_to"] == []
    assert customer_mrr(0) == 5000 + 200
    api.ok("POST", f"/v1/customers/{c0}/disconnect_subscriptions", refs(sub_a, sub_b))
    assert customer_mrr(0) == 8200
    assert [o["sk"]["S"] for o in stored_overlays(aws, account.account_id) if o["sk"]["S"] != "VERSION"] == [
        f"O#{open_ended['id']}"
    ]
