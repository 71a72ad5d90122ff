"""Rate limits over HTTP against a local stack of its own, started with low limits through the template's
parameters: the per-account limit (429 `rate_limited` with `Retry-After`, from the API's functions) and the
stage's route throttling behind it (API Gateway's own 429)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devstack import REPO_ROOT
from devstack.stack import LocalStack
from tests.e2e.conftest import Client, run_cli

pytestmark = pytest.mark.e2e

ACCOUNT_LIMIT = 3
WINDOW_SECONDS = 4
STAGE_BURST = 25
PARAMETERS = {
    "AccountRequestLimit": str(ACCOUNT_LIMIT),
    "AccountRequestWindowSeconds": str(WINDOW_SECONDS),
    "ApiThrottlingRateLimit": "1",
    "ApiThrottlingBurstLimit": str(STAGE_BURST),
}


@pytest.fixture(scope="module")
def limited_stack() -> Iterator[dict[str, Any]]:
    log = REPO_ROOT / ".local" / "e2e-rate-limit-stack.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    with LocalStack.start_subprocess(parameters=PARAMETERS, log_path=log, extra_args=("--no-stripe",)) as endpoints:
        yield endpoints


def new_client(stack: dict[str, Any], name: str) -> Client:
    done = run_cli(stack, "account", "create", name)
    assert done.returncode == 0, done.stderr
    return Client(stack["api"], json.loads(done.stdout)["api_key"])


def first_refusal(client: Client, path: str, attempts: int) -> Any:
    """Requests until one is answered 429 (the window may end between two of them: then it counts afresh)."""
    for _ in range(attempts):
        answer = client.get(path)
        if answer.status_code == 429:
            return answer
        assert answer.status_code == 200, answer.text
    pytest.fail(f"no 429 in {attempts} requests to {path}")


def test_an_account_over_its_limit_gets_429_until_retry_after(limited_stack: dict[str, Any]) -> None:
    # Given two accounts of one deployment whose limit is 3 requests in 4 s
    busy = new_client(limited_stack, "busy")
    quiet = new_client(limited_stack, "quiet")
    # When one of them goes on calling
    refused = first_refusal(busy, "/v1/data_sources", attempts=10 * ACCOUNT_LIMIT)
    # Then it is answered 429 in the error envelope, with Retry-After within the window
    body = refused.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"]
    assert body["error"]["request_id"]
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_SECONDS
    # and the other account is not affected
    assert quiet.get("/v1/data_sources").status_code == 200
    # and after Retry-After the first account's requests succeed again
    time.sleep(retry_after)
    answer = busy.get("/v1/data_sources")
    assert answer.status_code == 200, answer.text


def test_requests_without_a_key_get_the_stage_throttling_only(limited_stack: dict[str, Any]) -> None:
    # Given no key at all, on a route the other test does not use (throttling is per route)
    anonymous = Client(limited_stack["api"], None)
    answers = []
    # When it floods the route beyond the stage's burst
    for _ in range(4 * STAGE_BURST):
        answer = anonymous.get("/v1/customers")
        answers.append(answer)
        if answer.status_code == 429:
            break
    # Then the requests the stage lets through are 401 (no account is counted) and the rest are API
    # Gateway's own 429, without the error envelope or Retry-After
    assert {a.status_code for a in answers[:-1]} == {401}
    assert len(answers) > ACCOUNT_LIMIT  # more than one account's limit went through to the function
    throttled = answers[-1]
    assert throttled.status_code == 429
    assert throttled.text == '{"message":"Too Many Requests"}'
    assert "Retry-After" not in throttled.headers
