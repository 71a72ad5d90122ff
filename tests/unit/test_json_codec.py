"""`json_codec.loads` decodes what the standard library decodes, to the same values."""

from __future__ import annotations

import decimal
import json
import random
import typing
from datetime import datetime

import orjson
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


# --------------------------------------------------------------------------------------------------
# `canonical`: the standard library's sorted compact JSON, byte for byte (every stored content hash)
# --------------------------------------------------------------------------------------------------


def stdlib_canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


#: Characters from every class the two encoders could treat differently: printable ASCII, the quote and
#: backslash, every control character, DEL, Latin-1, other BMP text, astral characters.
ALPHABET = (
    [chr(c) for c in range(0x20, 0x7F)]
    + [chr(c) for c in range(0x20)]
    + ["\x7f", "\x80", "\xa0", "é", "ß", "€", "株", "\u2028", "\ufeff", "\U0001f4b3", "\U00010000"]
)


def random_value(rng: random.Random, depth: int = 0) -> object:
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(12)))
    if choice == 1:
        return rng.choice([0, 1, -1, 2**31, -(2**53), 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**70)])
    if choice == 2:
        return rng.choice([True, False, None])
    if choice == 3:
        return "".join(rng.choice(ALPHABET[:95]) for _ in range(rng.randrange(30)))  # printable ASCII only
    if choice == 4:
        return rng.randrange(-(10**12), 10**12)
    if choice == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["id", "name", "a", "B", "_x", "z9", "amount_in_cents", "é", "\x7f", "k\n"]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(6))}


def test_canonical_writes_the_standard_librarys_bytes_for_any_json_value_without_floats() -> None:
    rng = random.Random(20261201)
    values = [random_value(rng) for _ in range(20_000)]
    mismatched = [v for v in values if json_codec.canonical(v) != stdlib_canonical(v)]
    assert mismatched == []
    # the sample reaches both paths: ASCII bodies orjson writes, and bodies the standard library must write
    assert any(stdlib_canonical(v).isascii() and b"\x7f" not in stdlib_canonical(v) for v in values)
    assert any(not orjson.dumps(v, option=orjson.OPT_SORT_KEYS).isascii() for v in values if _orjson_can(v))


def _orjson_can(value: object) -> bool:
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True


@pytest.mark.parametrize(
    "value",
    [
        {"name": "Renée", "id": "cus_1"},  # beyond ASCII: escaped by the standard library
        {"note": "tab\there, del\x7f"},  # DEL: escaped by the standard library, not by orjson
        {"big": 2**64},  # beyond 64 bits: orjson refuses it
        {"b": [1, {"d": None, "c": True}], "a": "x"},  # nested keys sorted
    ],
)
def test_canonical_in_the_cases_where_the_two_encoders_part(value: object) -> None:
    assert json_codec.canonical(value) == stdlib_canonical(value)


def test_no_record_model_holds_a_float_which_canonical_cannot_write_like_the_standard_library() -> None:
    # a record's content hash is `canonical(model_dump(mode="json"))`; a float field would need another
    # encoding of hashes (orjson and the standard library write exponents differently)
    from pydantic import BaseModel

    from sourcesync.records import RECORD_MODEL

    def annotations(model: type[BaseModel]) -> list[object]:
        found: list[object] = []
        for field in model.model_fields.values():
            stack = [field.annotation]
            while stack:
                annotation = stack.pop()
                found.append(annotation)
                stack.extend(typing.get_args(annotation))
                if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                    found.extend(annotations(annotation))
        return found

    for model in RECORD_MODEL.values():
        kinds = annotations(model)
        assert float not in kinds and decimal.Decimal not in kinds, model.__name__
    # and the walk does see nested models' fields (LineItem's datetimes inside InvoiceRecord)
    assert datetime in annotations(RECORD_MODEL[next(iter(RECORD_MODEL))])
