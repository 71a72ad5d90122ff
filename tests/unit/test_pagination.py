"""List cursors are opaque, round-trip, and a tampered one is a 400."""

import pytest

from sourcesync.api.pagination import decode_cursor, encode_cursor
from sourcesync.errors import InvalidRequestError

POSITION = "ds_01m89c70xcrssq8b5sbwzkyzzg"


def test_round_trip() -> None:
    cursor = encode_cursor(POSITION)
    assert cursor is not None and POSITION not in cursor
    assert decode_cursor(cursor) == POSITION
    composite = f"{POSITION}/cus_t8pnfjnf3n9sw5a23k4rhn4zb6"
    assert decode_cursor(encode_cursor(composite)) == composite


def test_no_more_pages_is_no_cursor() -> None:
    assert encode_cursor(None) is None
    assert decode_cursor(None) is None


@pytest.mark.parametrize("bad", ["zzz", "", "%%%", encode_cursor("ds_x") or "", encode_cursor("A#acct#DS#x") or ""])
def test_a_cursor_we_did_not_return_is_refused(bad: str) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        decode_cursor(bad)
    assert raised.value.extra["details"][0]["loc"] == "cursor"
