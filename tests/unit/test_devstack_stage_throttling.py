"""The local API Gateway's stage throttling: the HttpApi's DefaultRouteSettings as a token bucket per route,
answered with API Gateway's own 429 body, through werkzeug's test client and the test stack's functions."""

from __future__ import annotations

import dataclasses
import json

import pytest
from werkzeug.test import Client

from devstack import REPO_ROOT
from devstack.api_gateway import ApiGateway, StageThrottle, TokenBucket
from devstack.lambda_runtime import LambdaRuntime
from devstack.stack import load_template
from devstack.template import Template, Throttling

FIXTURE_TEMPLATE = REPO_ROOT / "tests" / "integration" / "fixtures" / "template.yaml"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(clock: ManualClock) -> Client:
    """The test stack's HTTP API with a stage throttling of 2 requests per second and a burst of 3."""
    template = Template(FIXTURE_TEMPLATE, stack_name="throttleunit")
    runtime = LambdaRuntime()
    for fn in template.functions():
        runtime.register(fn)
    routes = [dataclasses.replace(r, throttling=Throttling(rate=2, burst=3)) for r in template.routes()]
    return Client(ApiGateway(routes, runtime, throttle=StageThrottle(clock)), use_cookies=False)


def test_a_route_over_its_burst_is_answered_with_api_gateways_own_429(client: Client, clock: ManualClock) -> None:
    # Given a full bucket of 3: three requests pass
    for _ in range(3):
        assert client.get("/items/one").status_code == 200
    # When a fourth comes in the same instant
    answer = client.get("/items/one")
    # Then API Gateway answers it itself, with its compact body and no Retry-After
    assert answer.status_code == 429
    assert answer.get_data(as_text=True) == '{"message":"Too Many Requests"}'
    assert answer.headers["Content-Type"] == "application/json"
    assert "Retry-After" not in answer.headers
    # and a path with another id is the same route: throttled too
    assert client.get("/items/two").status_code == 429
    # while another route has its own bucket
    assert client.get("/plain").status_code == 200
    # When half a second passes (2 per second: one token)
    clock.now += 0.5
    # Then one more request passes, and the next does not
    assert client.get("/items/one").status_code == 200
    assert client.get("/items/one").status_code == 429


def test_unmatched_paths_are_not_throttled_by_any_route(client: Client) -> None:
    for _ in range(5):
        answer = client.get("/nowhere")
        assert answer.status_code == 404
        assert json.loads(answer.get_data(as_text=True)) == {"message": "Not Found"}


def test_routes_without_throttling_are_never_throttled(clock: ManualClock) -> None:
    template = Template(FIXTURE_TEMPLATE, stack_name="throttleunit")
    runtime = LambdaRuntime()
    for fn in template.functions():
        runtime.register(fn)
    gateway = Client(ApiGateway(template.routes(), runtime, throttle=StageThrottle(clock)), use_cookies=False)
    assert all(route.throttling is None for route in template.routes())
    for _ in range(20):
        assert gateway.get("/plain").status_code == 200


def test_token_bucket_refills_at_its_rate_up_to_its_burst(clock: ManualClock) -> None:
    bucket = TokenBucket(Throttling(rate=10, burst=2), clock)
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.now += 10  # a long pause refills no more than the burst
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.now += 0.1
    assert [bucket.take() for _ in range(2)] == [True, False]
    assert TokenBucket(Throttling(rate=5, burst=0), clock).take() is False  # burst 0: every request throttled


def test_the_product_template_throttles_every_route_from_its_parameters() -> None:
    template = load_template(parameters={"ApiThrottlingRateLimit": "7", "ApiThrottlingBurstLimit": "11"})
    routes = [r for r in template.routes() if r.api_logical_id == "HttpApi"]
    assert routes
    assert {r.throttling for r in routes} == {Throttling(rate=7.0, burst=11.0)}
