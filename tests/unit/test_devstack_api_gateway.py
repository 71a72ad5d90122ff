"""devstack.api_gateway: routing, the proxy events and API Gateway's answers, through werkzeug's test client.

The handlers are the test stack's real functions (tests/integration/fixtures), loaded by the real runtime.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from werkzeug.test import Client

from devstack import REPO_ROOT
from devstack.api_gateway import MAX_BODY_BYTES, ApiGateway, response_from_result, werkzeug_rule
from devstack.lambda_runtime import LambdaRuntime
from devstack.template import Template

FIXTURE_TEMPLATE = REPO_ROOT / "tests" / "integration" / "fixtures" / "template.yaml"


@pytest.fixture(scope="module")
def client() -> Client:
    template = Template(FIXTURE_TEMPLATE, stack_name="apiunit")
    runtime = LambdaRuntime()
    for fn in template.functions():
        runtime.register(fn)
    return Client(ApiGateway(template.routes(), runtime, api_id="abcdefghij"), use_cookies=False)


def echoed(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    body: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return body


def test_path_templates_become_werkzeug_rules() -> None:
    assert werkzeug_rule("/v1/data_sources/{uuid}/jobs") == ("/v1/data_sources/<v0>/jobs", {"v0": "uuid"})
    assert werkzeug_rule("/files/{bucket}/{proxy+}") == ("/files/<v0>/<path:v1>", {"v0": "bucket", "v1": "proxy"})


def test_v2_event_shape(client: Client) -> None:
    response = client.get(
        "/items/it%2042?a=1&a=2&empty=",
        headers=[
            ("User-Agent", "unit/1.0"),
            ("X-Multi", "one"),
            ("X-Multi", "two"),
            ("Cookie", "c1=x; c2=y"),
            ("Authorization", "Bearer k"),
        ],
    )
    body = echoed(response)
    event = body["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["rawPath"] == "/items/it%2042"
    assert event["rawQueryString"] == "a=1&a=2&empty="
    assert event["queryStringParameters"] == {"a": "1,2", "empty": ""}
    assert event["pathParameters"] == {"item_id": "it 42"}
    assert event["cookies"] == ["c1=x", "c2=y"]
    headers = event["headers"]
    assert all(name == name.lower() for name in headers)
    assert headers["x-multi"].replace(" ", "") == "one,two"  # WSGI joins repeated headers (the test client with ", ")
    assert headers["authorization"] == "Bearer k"
    assert "cookie" not in headers
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    context = event["requestContext"]
    assert context["http"]["method"] == "GET"
    assert context["http"]["path"] == "/items/it%2042"
    assert context["http"]["userAgent"] == "unit/1.0"
    assert context["http"]["sourceIp"]
    assert context["stage"] == "$default"
    assert context["apiId"] == "abcdefghij"
    assert context["routeKey"] == "GET /items/{item_id}"
    assert context["accountId"] == "123456789012"
    assert isinstance(context["timeEpoch"], int)
    assert context["requestId"] == body["request_id"]  # the Lambda context's aws_request_id
    assert body["function_name"] == "apiunit-echo"
    assert body["pid"] == os.getpid()  # the handler ran in this process


def test_response_headers_status_and_cookies(client: Client) -> None:
    response = client.post("/items", data=b'{"name": "x"}', content_type="application/json")
    assert response.status_code == 201
    assert response.headers["x-echo"] == "yes"
    assert response.headers.getlist("Set-Cookie") == ["first=1; Path=/", "second=2"]
    event = echoed(response)["event"]
    assert event["body"] == '{"name": "x"}'
    assert event["isBase64Encoded"] is False
    assert "pathParameters" not in event


def test_binary_request_body_is_base64(client: Client) -> None:
    payload = bytes([0xFF, 0xFE, 0x00, 0x80])
    event = echoed(client.post("/items", data=payload, content_type="application/octet-stream"))["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_greedy_path_any_method(client: Client) -> None:
    event = echoed(client.delete("/files/a/b/c.txt"))["event"]
    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["requestContext"]["http"]["method"] == "DELETE"


def test_binary_response_is_decoded(client: Client) -> None:
    response = client.get("/binary")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.get_data() == bytes(range(256))


def test_non_dict_result_becomes_200_json(client: Client) -> None:
    response = client.get("/plain")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == ["not", "a", "dict"]


def test_api_gateway_own_answers(client: Client) -> None:
    not_found = client.get("/nope")
    assert (not_found.status_code, not_found.get_data(as_text=True)) == (404, '{"message":"Not Found"}')
    wrong_method = client.put("/items")  # HTTP APIs answer an unrouted method with 404, not 405
    assert wrong_method.status_code == 404
    crash = client.get("/crash")
    assert (crash.status_code, crash.get_json()) == (500, {"message": "Internal Server Error"})
    too_big = client.post("/items", data=b"x" * (MAX_BODY_BYTES + 1))
    assert (too_big.status_code, too_big.get_json()) == (413, {"message": "Request Entity Too Large"})


def test_rest_api_event_is_payload_1_0(client: Client) -> None:
    event = echoed(client.get("/rest/7?x=1&x=2", headers={"X-One": "1"}))["event"]
    assert event["resource"] == "/rest/{id}"
    assert event["path"] == "/rest/7"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "7"}
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["headers"]["X-One"] == "1"
    assert event["requestContext"]["stage"] == "Prod"
    assert event["body"] is None


def test_response_conversion_rules() -> None:
    plain = response_from_result({"statusCode": 204})
    assert (plain.status_code, plain.get_data()) == (204, b"")
    multi = response_from_result({"statusCode": 200, "body": "x", "multiValueHeaders": {"X-A": ["1", "2"]}})
    assert multi.headers.getlist("X-A") == ["1", "2"]
    no_status = response_from_result({"message": "hi"})
    assert (no_status.status_code, no_status.get_json()) == (200, {"message": "hi"})
    with pytest.raises(ValueError, match="statusCode"):
        response_from_result({"message": "hi"}, payload_format="1.0")


def test_a_function_serves_one_request_at_a_time_as_one_lambda_container_would() -> None:
    template = Template(FIXTURE_TEMPLATE, stack_name="apiunit")

    class CountingRuntime:
        """Stands in for the in-process runtime: records how many invocations of a function overlap."""

        def __init__(self) -> None:
            import threading

            self.lock = threading.Lock()
            self.running: dict[str, int] = {}
            self.most: dict[str, int] = {}

        def invoke(self, function_name: str, event: Any, request_id: str | None = None) -> Any:
            import time

            with self.lock:
                self.running[function_name] = self.running.get(function_name, 0) + 1
                self.most[function_name] = max(self.most.get(function_name, 0), self.running[function_name])
            time.sleep(0.05)
            with self.lock:
                self.running[function_name] -= 1
            return {"statusCode": 200, "body": "{}"}

    runtime = CountingRuntime()
    gateway = ApiGateway(template.routes(), runtime, api_id="abcdefghij")  # type: ignore[arg-type]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: Client(gateway).get("/items/1").status_code, range(6)))
    assert statuses == [200] * 6
    assert list(runtime.most.values()) == [1]
