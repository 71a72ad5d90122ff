"""What a reader sees of versioned records: per record, the newest version its view admits."""

from datetime import UTC, datetime

import pytest

from sourcesync.records import CustomerRecord, RecordKind
from sourcesync.store.records import RecordStore, Version, View, encode, partition_keys, placement


def version_item(uuid: str, gen: int, name: str | None) -> dict:
    record = CustomerRecord(external_id=uuid, name=name, created_at=datetime(2026, 1, 1, tzinfo=UTC)) if name else None
    return Version(
        kind=RecordKind.CUSTOMERS, uuid=uuid, customer_uuid=None, external_id=uuid, generation=gen, record=record
    ).item("ds_x")


def names(items: list[dict], view: View) -> dict[str, str]:
    return {r.uuid: r.record.name for r in RecordStore.visible(items, view)}  # type: ignore[union-attr]


def test_a_reader_sees_the_newest_admitted_version() -> None:
    items = [version_item("a", 1, "old"), version_item("a", 3, "new"), version_item("b", 1, "kept")]
    assert names(items, View(1)) == {"a": "old", "b": "kept"}
    assert names(items, View(3)) == {"a": "new", "b": "kept"}


def test_an_uncommitted_generation_is_invisible_until_committed() -> None:
    items = [version_item("a", 1, "committed"), version_item("a", 2, "being written")]
    assert names(items, View(1)) == {"a": "committed"}


def test_a_pending_or_aborted_generation_stays_invisible_after_a_later_commit() -> None:
    # generation 2 failed half-way; generation 3 committed without touching "a"
    items = [version_item("a", 1, "good"), version_item("a", 2, "from the failed attempt")]
    assert names(items, View(3, aborted=frozenset({2}))) == {"a": "good"}


def test_a_tombstone_hides_a_vanished_record_from_its_generation_on() -> None:
    items = [version_item("a", 1, "here"), version_item("a", 2, None)]
    assert names(items, View(1)) == {"a": "here"}
    assert names(items, View(2)) == {}


def test_unchanged_content_has_the_same_hash_and_changed_content_another() -> None:
    one = CustomerRecord(external_id="c", name="Acme")
    assert encode(one)[1] == encode(CustomerRecord(external_id="c", name="Acme"))[1]
    assert encode(one)[1] != encode(CustomerRecord(external_id="c", name="Acme Inc"))[1]


def test_children_live_beside_their_customer_and_every_partition_is_listed() -> None:
    customer = placement("ds_x", RecordKind.CUSTOMERS, "cus_1", None)
    invoice = placement("ds_x", RecordKind.INVOICES, "inv_1", "cus_1")
    assert invoice.sk_prefix.startswith("cus_1#")
    keys = set(partition_keys("ds_x"))
    assert customer.pk in keys and invoice.pk in keys
    assert placement("ds_x", RecordKind.PLANS, "pl_1", None).pk in keys
    assert customer.key(10)["sk"] < customer.key(11)["sk"]  # versions sort by generation


def test_the_wire_item_a_write_sends_is_the_item_in_dynamodbs_format() -> None:
    from sourcesync.records import SubscriptionRecord
    from sourcesync.store.dynamo import to_item

    subscription = SubscriptionRecord(
        external_id="sub_1",
        customer_external_id="cus_1",
        status="active",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    versions = [
        Version(RecordKind.SUBSCRIPTIONS, "sub_x", "cus_x", "sub_1", 7, subscription),
        Version(RecordKind.SUBSCRIPTIONS, "sub_x", "cus_x", "", 8, None),  # a tombstone
        Version(RecordKind.PLANS, "pl_x", None, "gold", 2**40, None),
    ]
    for version in versions:
        assert version.wire_item("ds_x") == to_item(version.item("ds_x"))


@pytest.mark.parametrize("size", [0, 1, 300, 511, 512, 513, 4_000, 4_096, 4_097, 40_000, 200_000])
def test_a_payload_decompresses_to_its_body_whatever_its_size(size: int) -> None:
    import random
    import zlib

    from sourcesync.store.records import SMALL_BODY, compress

    rng = random.Random(size)
    body = bytes(rng.choice(b'{}":,abcdefgh0123456789') for _ in range(size))
    payload = compress(body)
    assert zlib.decompress(payload) == body
    if size > SMALL_BODY:
        assert payload == zlib.compress(body, 6)
    else:  # as small as zlib's defaults make it, within a few bytes
        assert len(payload) <= len(zlib.compress(body, 6)) * 1.02 + 8
