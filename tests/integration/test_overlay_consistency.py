"""Manual data under concurrency and deletes, on the real parts: a purge racing a re-sync's matrix step loses
nothing, and deleting the source of a merged customer's primary keeps the other sources' part together."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sourcesync import errors
from sourcesync.api.import_models import ImportCustomersRequest
from sourcesync.api.models import DataSourceCreateRequest, MergeRequest
from sourcesync.overlays import Overlay, Ref, Removal
from sourcesync.policy_matrix import OverlayKind
from sourcesync.records import RecordKind, SubscriptionRecord
from sourcesync.services import accounts, customers, data_sources, delete_source, imports
from sourcesync.services import overlays as overlay_service
from sourcesync.store import manifests
from sourcesync.store.accounts import Principal
from sourcesync.store.jobs import get_job_store
from sourcesync.store.manifests import ManifestStore
from sourcesync.store.overlays import OverlayStore, get_overlay_store
from sourcesync.store.records import uuid_for
from sourcesync.store.sources import get_source_store
from sourcesync.systems import System
from tests.fixtures.replay import Replay, import_source, make_source, recorded, resync

pytestmark = pytest.mark.integration


@pytest.fixture
def principal(deployed_stack: Any) -> Principal:
    key = accounts.create_account("overlays")
    return Principal(key.account_id, key.key_id, key.role)


def test_a_purge_racing_a_resyncs_removal_mark_keeps_the_mark(
    principal: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = (
        Ref("ds_deleted", RecordKind.SUBSCRIPTIONS, "s1", "c1"),
        Ref("ds_resyncing", RecordKind.SUBSCRIPTIONS, "s2", "c1"),
        Ref("ds_resyncing", RecordKind.SUBSCRIPTIONS, "s3", "c1"),
    )
    connection = Overlay("con_race", OverlayKind.CONNECTED_SUBSCRIPTIONS, refs, "key_x", "2026-01-01T00:00:00Z")
    get_overlay_store().write(principal.account_id, 0, [connection])
    removal = Removal("ds_resyncing", 7, "job_resync")
    original = OverlayStore.snapshot
    calls = {"n": 0}

    def snapshot_then_mark(self: OverlayStore, account_id: str) -> Any:
        read = original(self, account_id)
        calls["n"] += 1
        if calls["n"] == 1:  # the re-sync marks the connection between the purge's read and its write
            overlay_service.mark_removed(account_id, {"con_race"}, removal)
        return read

    monkeypatch.setattr(OverlayStore, "snapshot", snapshot_then_mark)
    overlay_service.purge_source(principal.account_id, "ds_deleted")
    monkeypatch.setattr(OverlayStore, "snapshot", original)
    (after,) = get_overlay_store().snapshot(principal.account_id).overlays
    assert after.removed == removal  # the purge re-read and kept the mark
    assert [r.external_id for r in after.refs] == ["s2", "s3"]
    # and the re-sync's finish then deletes it, as its result says
    assert overlay_service.finish_removals(principal.account_id, "job_resync") == 1
    assert get_overlay_store().snapshot(principal.account_id).overlays == []


def custom_source(principal: Principal, name: str, customers_: list[str]) -> str:
    created = data_sources.create(principal, DataSourceCreateRequest.model_validate({"name": name, "system": "custom"}))
    uuid: str = created["data_source"]["uuid"]
    body = {"customers": [{"external_id": c, "name": f"Customer {c}"} for c in customers_]}
    imports.import_customers(principal, uuid, ImportCustomersRequest.model_validate(body))
    return uuid


def merge(principal: Principal, source: str, merged: str, into_source: str, into: str) -> dict[str, Any]:
    request = {
        "from": {"data_source_uuid": source, "external_id": merged},
        "into": {"data_source_uuid": into_source, "external_id": into},
    }
    return overlay_service.merge(principal, MergeRequest.model_validate(request), customers.today())


def shown(principal: Principal) -> list[tuple[str, list[str]]]:
    entries, _ = customers.list_page(principal, None, None, 200, None, customers.today())
    return sorted((e["external_id"], sorted(s["external_id"] for s in e["sources"])) for e in entries)


def test_deleting_the_primarys_source_keeps_the_rest_of_the_merged_customer_together(principal: Principal) -> None:
    primary_source = custom_source(principal, "Primary", ["p"])
    other = custom_source(principal, "Other", ["m1", "m2", "m3", "alone"])
    merge(principal, other, "m1", primary_source, "p")
    merge(principal, other, "m2", primary_source, "p")
    merge(principal, other, "m3", other, "m2")  # m2 is merged away: this merges m3 into p
    assert shown(principal) == [("alone", ["alone"]), ("p", ["m1", "m2", "m3", "p"])]

    job = delete_source.delete(principal, primary_source)
    expected = [("alone", ["alone"]), ("m1", ["m1", "m2", "m3"])]  # m1, merged first, takes p's place
    assert shown(principal) == expected  # at once, before the purge
    deadline = time.monotonic() + 60
    while (get_job_store().get(principal.account_id, job["job_id"]) or {}).get("status") != "succeeded":
        assert time.monotonic() < deadline, "the purge did not finish"
        time.sleep(0.2)
    assert shown(principal) == expected  # and the same after it
    stored = get_overlay_store().snapshot(principal.account_id).overlays
    assert stored and all(primary_source not in o.sources for o in stored)
    m1 = customers.find_group(principal, uuid_for(principal.account_id, other, RecordKind.CUSTOMERS, "m3"))[1]
    assert m1.primary.record.external_id == "m1"
    assert {o["from"]["external_id"] for o in m1.detail(customers.today())["overlays"]["merges"]} == {"m2", "m3"}


@pytest.mark.parametrize("layout", ["one object", "32 shards"])
def test_a_subscription_is_found_by_uuid_with_one_small_read_after_a_resync_and_a_customer_resync(
    principal: Principal, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """`GET /v1/subscriptions/{uuid}` reads the owners object or one owner shard of the committed generation,
    never the whole subscriptions manifest, after a full re-sync (nothing changed: the owners are copied) and
    after a customer re-sync rewrote some of them; in both layouts (a small source's one object, a large
    one's shards)."""
    if layout == "32 shards":
        monkeypatch.setattr(manifests, "OWNERS_IN_ONE_OBJECT", 0)
    replay = Replay().install(monkeypatch)
    source = make_source(principal, System.STRIPE, replay)
    import_source(principal, source)
    resync(principal, source, "resync_source")
    story = recorded()
    resync(principal, source, "resync_customer", story.customer("two products"))
    committed = int((get_source_store().get(principal.account_id, source["uuid"]) or {})["committed_generation"])
    store = manifests.get_manifest_store()
    prefix = f"{store.source_prefix(principal.account_id, source['uuid'])}g{committed}/{manifests.OWNERS}/"
    names = {key.rsplit("/", 1)[-1] for key in store._keys(prefix)}
    expected = {"all.json.z"} if layout == "one object" else {f"{c}.json.z" for c in manifests.SHARD_CHARACTERS}
    assert names == expected
    subscriptions = [r for r in story.business.of(RecordKind.SUBSCRIPTIONS) if isinstance(r, SubscriptionRecord)]
    assert len(subscriptions) > 3

    def whole_manifest(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the lookup read the whole subscriptions manifest")

    monkeypatch.setattr(ManifestStore, "load", whole_manifest)
    today = customers.today()
    for record in subscriptions:
        uuid = uuid_for(principal.account_id, source["uuid"], RecordKind.SUBSCRIPTIONS, record.external_id)
        found = overlay_service.get_subscription(principal, uuid, today)
        owner = uuid_for(principal.account_id, source["uuid"], RecordKind.CUSTOMERS, record.customer_external_id)
        assert (found["external_id"], found["customer_uuid"]) == (record.external_id, owner)
    unknown = uuid_for(principal.account_id, source["uuid"], RecordKind.SUBSCRIPTIONS, "sub_never_there")
    with pytest.raises(errors.NotFoundError):
        overlay_service.get_subscription(principal, unknown, today)
