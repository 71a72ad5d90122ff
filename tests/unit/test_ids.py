"""Ids: time-ordered for what we create, deterministic for source records."""

from sourcesync.ids import is_id, new_id, record_uuid, source_tag


def test_new_ids_sort_by_creation_time() -> None:
    earlier = new_id("ds", now_ms=1_700_000_000_000)
    later = new_id("ds", now_ms=1_700_000_000_001)
    assert earlier < later
    assert is_id(earlier, "ds") and not is_id(earlier, "job")


def test_new_ids_differ_within_the_same_millisecond() -> None:
    assert len({new_id("job", now_ms=5) for _ in range(1000)}) == 1000


def test_record_uuids_are_deterministic_and_scoped() -> None:
    a = record_uuid("cus", "acct_1", "ds_1", "customers", "cus_123")
    assert a == record_uuid("cus", "acct_1", "ds_1", "customers", "cus_123")
    assert a != record_uuid("cus", "acct_2", "ds_1", "customers", "cus_123")
    assert a != record_uuid("cus", "acct_1", "ds_2", "customers", "cus_123")
    assert a != record_uuid("cus", "acct_1", "ds_1", "customers", "cus_124")
    assert is_id(a, "cus")


def test_record_uuids_start_with_their_sources_tag() -> None:
    tag = source_tag("acct_1", "ds_1")
    assert len(tag) == 4
    assert record_uuid("inv", "acct_1", "ds_1", "invoices", "in_9").startswith(f"inv_{tag}")
