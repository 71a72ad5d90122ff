"""`aws.WireBatchWrites`: BatchWriteItem's request is byte for byte the one botocore's serializer makes."""

from __future__ import annotations

import random
import string
from typing import Any

import boto3
import pytest
from botocore.config import Config

from sourcesync.aws import WireBatchWrites


@pytest.fixture(scope="module")
def dynamodb() -> Any:
    # a client only for its serializer: nothing is sent
    return boto3.session.Session().client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(parameter_validation=False),
    )


def _text(rng: random.Random) -> str:
    alphabet = string.printable + 'éü株式会社\U0001f4b3"\\\u2028'
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def _value(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["S", "N", "B", "BOOL", "NULL", "SS", "BS", "L", "M"])
    if kind == "S":
        return {"S": _text(rng)}
    if kind == "N":
        return {"N": str(rng.randint(-(10**12), 10**12))}
    if kind == "B":
        return {"B": rng.randbytes(rng.randint(0, 300))}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "SS":
        return {"SS": [_text(rng) for _ in range(rng.randint(1, 3))]}
    if kind == "BS":
        return {"BS": [rng.randbytes(rng.randint(1, 20)) for _ in range(rng.randint(1, 3))]}
    if kind == "L":
        return {"L": [{"S": _text(rng)}, {"N": "1"}]}
    return {"M": {"inner": {"B": rng.randbytes(5)}, "s": {"S": _text(rng)}}}


def _batch(rng: random.Random) -> dict[str, Any]:
    requests: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 25)):
        if rng.random() < 0.8:
            item = {"pk": {"S": _text(rng)}, "sk": {"S": _text(rng)}}
            item.update({f"a{n}": _value(rng) for n in range(rng.randint(0, 9))})
            requests.append({"PutRequest": {"Item": item}})
        else:
            requests.append({"DeleteRequest": {"Key": {"pk": {"S": _text(rng)}, "sk": {"B": rng.randbytes(8)}}}})
    parameters: dict[str, Any] = {"RequestItems": {"records": requests}}
    if rng.random() < 0.5:
        parameters["ReturnConsumedCapacity"] = rng.choice(["TOTAL", "INDEXES", "NONE"])
    return parameters


def test_batch_writes_serialize_to_botocores_bytes(dynamodb: Any) -> None:
    botocore_serializer = dynamodb._serializer
    wire = WireBatchWrites(botocore_serializer)
    operation = dynamodb.meta.service_model.operation_model("BatchWriteItem")
    rng = random.Random(2026)
    for _ in range(300):
        parameters = _batch(rng)
        assert wire.serialize_to_request(parameters, operation) == botocore_serializer.serialize_to_request(
            parameters, operation
        )


def test_every_other_operation_is_botocores(dynamodb: Any) -> None:
    botocore_serializer = dynamodb._serializer
    wire = WireBatchWrites(botocore_serializer)
    parameters = {"TableName": "records", "Key": {"pk": {"S": "a"}, "sk": {"B": b"\x00\x01"}}}
    operation = dynamodb.meta.service_model.operation_model("GetItem")
    assert wire.serialize_to_request(parameters, operation) == botocore_serializer.serialize_to_request(
        parameters, operation
    )


def test_the_products_dynamodb_client_writes_batches_this_way(monkeypatch: pytest.MonkeyPatch) -> None:
    from sourcesync import aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(aws, "_CLIENTS", {})
    assert isinstance(aws.client("dynamodb")._serializer, WireBatchWrites)
    assert not isinstance(aws.client("s3")._serializer, WireBatchWrites)


def test_a_set_is_written_as_botocore_writes_it_and_anything_else_json_cannot_hold_is_refused(dynamodb: Any) -> None:
    botocore_serializer = dynamodb._serializer
    wire = WireBatchWrites(botocore_serializer)
    operation = dynamodb.meta.service_model.operation_model("BatchWriteItem")
    item = {"a": {"SS": {"x", "y", "z"}}, "b": {"BS": frozenset({b"\x00", b"\x01"})}}
    parameters = {"RequestItems": {"t": [{"PutRequest": {"Item": item}}]}}
    assert wire.serialize_to_request(parameters, operation) == botocore_serializer.serialize_to_request(
        parameters, operation
    )
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        wire.serialize_to_request(
            {"RequestItems": {"t": [{"PutRequest": {"Item": {"a": {"S": object()}}}}]}}, operation
        )
