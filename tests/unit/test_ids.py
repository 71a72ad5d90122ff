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


def _b32_one_digit_at_a_time(value: int, length: int) -> str:
    """The base32 of the ids as it was first written: one digit a step (what every stored uuid was made with)."""
    chars = []
    for _ in range(length):
        chars.append("0123456789abcdefghjkmnpqrstvwxyz"[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def test_base32_two_digits_a_step_writes_the_same_digits_as_one_at_a_time() -> None:
    import random

    from sourcesync.ids import _b32

    rng = random.Random(14)
    for length in range(0, 30):
        edges = [0, 1, 31, 32, 1023, 1024, (1 << (5 * length)) - 1, 1 << (5 * length)]
        for value in [*edges, *(rng.getrandbits(160) for _ in range(200))]:
            assert _b32(value, length) == _b32_one_digit_at_a_time(value, length), (value, length)


def test_a_record_uuid_is_the_one_stored_before() -> None:
    # computed by the code before `_b32` took two digits a step: a record keeps its uuid across versions
    assert record_uuid("cus", "acct_1", "ds_1", "customers", "cus_123") == "cus_bvt7pwk27kksb7ecsbbfrckk10"
    assert source_tag("acct_1", "ds_1") == "bvt7"
