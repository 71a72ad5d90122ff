"""`json_codec.loads` decodes what the standard library decodes, to the same values."""

from __future__ import annotations

import json

import pytest

from sourcesync import json_codec

SAMPLES = [
    b'{"object":"list","data":[{"id":"cus_1","name":"Ren\\u00e9e","balance":-1250,"rate":0.175,"tags":[]}],'
    b'"has_more":true,"next":null}',
    '{"name":"Zoë Ørsted 株式会社","emoji":"\U0001f4b3"}'.encode(),
    b'[1, 2.5e-3, true, false, null, ""]',
    b'{"a": 1, "a": 2}',  # a repeated key: the last one wins, as in the standard library
]


@pytest.mark.parametrize("body", SAMPLES)
def test_the_same_values_as_the_standard_library(body: bytes) -> None:
    assert json_codec.loads(body) == json.loads(body)
    assert json_codec.loads(body.decode()) == json.loads(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"ratio": NaN}', None),  # compared below: NaN is not equal to itself
        ('{"note": "caf\u00e9"}'.encode("utf-16"), {"note": "caf\u00e9"}),
        (b'{"broken": "\\ud800"}', {"broken": "\ud800"}),
    ],
)
def test_what_orjson_refuses_decodes_as_the_standard_library_does(body: bytes, expected: object) -> None:
    decoded = json_codec.loads(body)
    if expected is None:
        assert isinstance(decoded["ratio"], float) and decoded["ratio"] != decoded["ratio"]
    else:
        assert decoded == expected == json.loads(body)


def test_an_integer_beyond_64_bits_decodes_as_a_float() -> None:
    # the one known difference from the standard library (documented in the module)
    assert json_codec.loads(b'{"n": 18446744073709551615}') == {"n": 18446744073709551615}  # 2**64 - 1: whole
    beyond = json_codec.loads(b'{"n": 123456789012345678901234567890}')["n"]
    assert isinstance(beyond, float) and beyond == pytest.approx(1.2345678901234568e29)


@pytest.mark.parametrize("body", [b"", b"<html>busy</html>", b'{"a": 1', b"\xff\xfe\x00"])
def test_what_is_not_json_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        json_codec.loads(body)
