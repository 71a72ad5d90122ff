"""The one HTTP client: retries, backoff, Retry-After, the error policy, redaction, the token bucket.

Time is fake everywhere (an injected clock and sleep), so every delay is asserted exactly and the
module runs in well under a second.
"""

from __future__ import annotations

import email.utils
import logging

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from sourcesync.connectors.errors import (
    CredentialsInvalidError,
    ProviderNotFoundError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from sourcesync.connectors.kit.budget import InProcessTokenBucket
from sourcesync.connectors.kit.http import (
    REDACTED,
    ErrorPolicy,
    HttpClient,
    RetryPolicy,
    full_jitter_delay,
    parse_retry_after,
    redact_headers,
)

BASE = "https://api.provider.test"
SECRET = "sk_test_51SecretValueThatMustNeverLeak"
WALL_START = 1_700_000_000.0


class FakeTime:
    """A monotonic clock that only moves when someone sleeps, and a wall clock that follows it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL_START + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_client(
    fake_time: FakeTime,
    *,
    rnd: float = 0.0,
    max_retry_seconds: float = 60.0,
    budget: InProcessTokenBucket | None = None,
) -> HttpClient:
    return HttpClient(
        BASE,
        headers={"Authorization": f"Bearer {SECRET}"},
        secrets=[SECRET],
        error_policy=ErrorPolicy(should_retry_header="Stripe-Should-Retry", request_id_header="Request-Id"),
        retry=RetryPolicy(max_retry_seconds=max_retry_seconds, backoff_base_seconds=1.0, backoff_cap_seconds=8.0),
        budget=budget,
        system="testprovider",
        clock=fake_time.clock,
        wall_clock=fake_time.wall,
        sleep=fake_time.sleep,
        random=lambda: rnd,
    )


# --------------------------------------------------------------------------------------------------
# Success and what is sent
# --------------------------------------------------------------------------------------------------


@responses.activate
def test_get_json_sends_credentials_and_repeated_list_params(fake_time: FakeTime) -> None:
    # Given a provider that answers only to the right header and query
    responses.get(
        f"{BASE}/v1/things",
        json={"data": [1, 2]},
        match=[
            responses.matchers.header_matcher({"Authorization": f"Bearer {SECRET}"}),
            responses.matchers.query_string_matcher("limit=2&expand%5B%5D=a&expand%5B%5D=b"),
        ],
    )
    # When the client asks with a list parameter
    body = make_client(fake_time).get_json("/v1/things", {"limit": 2, "expand[]": ["a", "b"]})
    # Then the list became repeated keys and nothing was retried
    assert body == {"data": [1, 2]}
    assert len(responses.calls) == 1
    assert fake_time.sleeps == []


# --------------------------------------------------------------------------------------------------
# Transient errors: backoff with full jitter
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408], ids=lambda s: f"http-{s}")
@pytest.mark.parametrize("rnd", [0.0, 0.5, 0.999], ids=["jitter-min", "jitter-mid", "jitter-max"])
@responses.activate
def test_transient_statuses_are_retried_with_exponential_full_jitter(
    fake_time: FakeTime, status: int, rnd: float
) -> None:
    for _ in range(4):
        responses.get(f"{BASE}/v1/x", status=status, json={"error": {"message": "busy"}})
    responses.get(f"{BASE}/v1/x", json={"ok": True})

    assert make_client(fake_time, rnd=rnd).get_json("/v1/x") == {"ok": True}

    # base 1 s, cap 8 s: ceilings 1, 2, 4, 8; full jitter scales each by the draw
    assert fake_time.sleeps == pytest.approx([rnd * 1, rnd * 2, rnd * 4, rnd * 8])
    assert len(responses.calls) == 5


@settings(max_examples=200, deadline=None)
@given(
    attempt=st.integers(min_value=1, max_value=200),
    base=st.floats(min_value=0.01, max_value=5),
    cap=st.floats(min_value=0.01, max_value=120),
    rnd=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_full_jitter_delay_stays_within_its_exponential_ceiling(
    attempt: int, base: float, cap: float, rnd: float
) -> None:
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delay = full_jitter_delay(attempt, base, cap, rnd)
    assert 0 <= delay <= ceiling
    assert delay == pytest.approx(rnd * ceiling)


@responses.activate
def test_connection_errors_and_timeouts_are_transient(fake_time: FakeTime) -> None:
    responses.get(f"{BASE}/v1/x", body=requests.ConnectionError("connection refused"))
    responses.get(f"{BASE}/v1/x", body=requests.ReadTimeout("read timed out"))
    responses.get(f"{BASE}/v1/x", json={"ok": 1})

    assert make_client(fake_time, rnd=0.5).get_json("/v1/x") == {"ok": 1}
    assert fake_time.sleeps == pytest.approx([0.5, 1.0])


# --------------------------------------------------------------------------------------------------
# Retry-After
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
@responses.activate
def test_retry_after_seconds_is_honoured(fake_time: FakeTime, status: int) -> None:
    responses.get(f"{BASE}/v1/x", status=status, headers={"Retry-After": "7"})
    responses.get(f"{BASE}/v1/x", json={"ok": 1})

    make_client(fake_time, rnd=0.999).get_json("/v1/x")

    # the wait is the provider's, not the (smaller) jittered backoff
    assert fake_time.sleeps == [7.0]


@responses.activate
def test_retry_after_http_date_is_honoured(fake_time: FakeTime) -> None:
    when = email.utils.formatdate(fake_time.wall() + 30, usegmt=True)
    responses.get(f"{BASE}/v1/x", status=429, headers={"Retry-After": when})
    responses.get(f"{BASE}/v1/x", json={"ok": 1})

    make_client(fake_time).get_json("/v1/x")

    assert fake_time.sleeps == pytest.approx([30.0], abs=1.0)  # HTTP dates have one-second resolution


@responses.activate
def test_retry_after_beyond_max_retry_seconds_fails_at_once(fake_time: FakeTime) -> None:
    responses.get(f"{BASE}/v1/x", status=429, headers={"Retry-After": "120"})

    with pytest.raises(ProviderUnavailableError) as caught:
        make_client(fake_time, max_retry_seconds=60).get_json("/v1/x")

    assert fake_time.sleeps == []  # no point waiting for a retry that may not happen
    assert caught.value.status == 429
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [("0", 0.0), ("2.5", 2.5), ("-3", 0.0), ("soon", None), ("", None), (None, None)],
    ids=["zero", "fractional", "negative", "garbage", "empty", "absent"],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, WALL_START) == expected


# --------------------------------------------------------------------------------------------------
# Giving up: max_retry_seconds
# --------------------------------------------------------------------------------------------------


@responses.activate
def test_transient_errors_beyond_max_retry_seconds_raise_provider_unavailable(fake_time: FakeTime) -> None:
    responses.get(f"{BASE}/v1/x", status=503)  # responses repeats the last registered answer

    with pytest.raises(ProviderUnavailableError) as caught:
        make_client(fake_time, rnd=0.5, max_retry_seconds=20).get_json("/v1/x")

    error = caught.value
    # backoff 0.5, 1, 2, 4, 4, 4, 4 (=19.5); the next 4 s would pass 20 s
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert error.attempts == len(responses.calls) == 8
    assert error.elapsed_seconds == pytest.approx(19.5)
    assert error.status == 503
    assert type(error).__name__ == "ProviderUnavailableError"  # what the state machine matches on


@responses.activate
def test_a_success_resets_the_retry_window(fake_time: FakeTime) -> None:
    # Given two requests that each fail for 15 s of a 20 s window
    for _ in range(2):
        for _ in range(4):
            responses.get(f"{BASE}/v1/x", status=502)
        responses.get(f"{BASE}/v1/x", json={"ok": 1})
    client = make_client(fake_time, rnd=0.999, max_retry_seconds=20)
    # Then both succeed: the window counts from each request's first attempt
    assert client.get_json("/v1/x") == {"ok": 1}
    assert client.get_json("/v1/x") == {"ok": 1}
    assert sum(fake_time.sleeps) > 20


# --------------------------------------------------------------------------------------------------
# Refusals: credentials, permanent errors, Stripe-Should-Retry
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, CredentialsInvalidError),
        (403, CredentialsInvalidError),
        (400, ProviderRequestError),
        (402, ProviderRequestError),
        (404, ProviderNotFoundError),
        (409, ProviderRequestError),
        (422, ProviderRequestError),
    ],
    ids=lambda v: v if isinstance(v, int) else v.__name__,
)
@responses.activate
def test_refusals_raise_at_once_without_retry(fake_time: FakeTime, status: int, error: type[Exception]) -> None:
    responses.get(
        f"{BASE}/v1/x",
        status=status,
        json={"error": {"code": "some_code", "message": "refused"}},
        headers={"Request-Id": "req_123"},
    )

    with pytest.raises(error) as caught:
        make_client(fake_time).get_json("/v1/x")

    assert len(responses.calls) == 1
    assert fake_time.sleeps == []
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert caught.value.provider_code == "some_code"  # type: ignore[attr-defined]
    assert caught.value.request_id == "req_123"  # type: ignore[attr-defined]


def test_not_found_is_a_request_error() -> None:
    assert issubclass(ProviderNotFoundError, ProviderRequestError)


@responses.activate
def test_should_retry_true_makes_a_refusal_transient(fake_time: FakeTime) -> None:
    responses.get(f"{BASE}/v1/x", status=409, headers={"Stripe-Should-Retry": "true"})
    responses.get(f"{BASE}/v1/x", json={"ok": 1})

    assert make_client(fake_time, rnd=0.5).get_json("/v1/x") == {"ok": 1}
    assert fake_time.sleeps == [0.5]


@responses.activate
def test_should_retry_false_makes_a_server_error_permanent(fake_time: FakeTime) -> None:
    responses.get(f"{BASE}/v1/x", status=500, headers={"Stripe-Should-Retry": "false"})

    with pytest.raises(ProviderRequestError):
        make_client(fake_time).get_json("/v1/x")
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("status", "headers", "outcome"),
    [
        (200, {}, "ok"),
        (204, {}, "ok"),
        (401, {}, "credentials"),
        (403, {"Stripe-Should-Retry": "true"}, "credentials"),
        (429, {}, "transient"),
        (500, {}, "transient"),
        (599, {}, "transient"),
        (404, {}, "not_found"),
        (301, {}, "permanent"),
        (400, {}, "permanent"),
    ],
    ids=["200", "204", "401", "403-should-retry", "429", "500", "599", "404", "301", "400"],
)
def test_error_policy_table(status: int, headers: dict[str, str], outcome: str) -> None:
    assert ErrorPolicy(should_retry_header="Stripe-Should-Retry").classify(status, headers) == outcome


@responses.activate
def test_a_2xx_that_is_not_json_is_a_response_error(fake_time: FakeTime) -> None:
    responses.get(f"{BASE}/v1/x", body="<html>proxy says hi</html>", content_type="text/html")

    with pytest.raises(ProviderResponseError):
        make_client(fake_time).get_json("/v1/x")


@responses.activate
def test_links_to_another_origin_are_never_followed(fake_time: FakeTime) -> None:
    with pytest.raises(ProviderResponseError):
        make_client(fake_time).get_json("https://evil.test/steal?x=1")
    assert len(responses.calls) == 0
    # the provider's own absolute links are fine
    responses.get(f"{BASE}/v1/next", json={"ok": 1})
    assert make_client(fake_time).get_json(f"{BASE}/v1/next") == {"ok": 1}


# --------------------------------------------------------------------------------------------------
# Credentials never leak
# --------------------------------------------------------------------------------------------------


@responses.activate
def test_credentials_never_appear_in_logs_or_errors(fake_time: FakeTime, caplog: pytest.LogCaptureFixture) -> None:
    responses.get(f"{BASE}/v1/ok", json={"ok": 1})
    responses.get(f"{BASE}/v1/flaky", status=500)
    responses.get(f"{BASE}/v1/flaky", json={"ok": 1})
    # a provider that echoes the key back in its error message
    responses.get(f"{BASE}/v1/bad", status=400, json={"error": {"message": f"bad key {SECRET} used"}})
    responses.get(f"{BASE}/v1/denied", status=401, json={"error": {"message": f"Invalid API Key {SECRET}"}})
    responses.get(f"{BASE}/v1/down", body=requests.ConnectionError(f"cannot reach with {SECRET}"))

    client = make_client(fake_time, max_retry_seconds=0.0)
    errors: list[Exception] = []
    # the client's logger sits under the product's "sourcesync" logger, whose level Powertools sets
    with caplog.at_level(logging.DEBUG, logger="sourcesync.connectors.kit.http"):
        client.get_json("/v1/ok")
        make_client(fake_time).get_json("/v1/flaky")
        for path in ("/v1/bad", "/v1/denied", "/v1/down"):
            with pytest.raises(Exception) as caught:  # each path raises its own class, checked below
                client.get_json(path)
            errors.append(caught.value)

    # the logs are not empty: requests and the retry were logged...
    assert "/v1/ok" in caplog.text
    assert "retry 1" in caplog.text
    # ...but never the key or the header carrying it
    assert SECRET not in caplog.text
    assert "Authorization" not in caplog.text
    assert "Bearer" not in caplog.text
    assert [type(e).__name__ for e in errors] == [
        "ProviderRequestError",
        "CredentialsInvalidError",
        "ProviderUnavailableError",
    ]
    for error in errors:
        assert SECRET not in str(error)
        assert SECRET not in repr(error)
    assert REDACTED in str(errors[0])
    assert SECRET not in repr(client)


def test_redact_headers_hides_credentials_only() -> None:
    headers = {"Authorization": f"Bearer {SECRET}", "Stripe-Version": "2024-06-20", "X-Api-Key": "k"}
    assert redact_headers(headers) == {
        "Authorization": REDACTED,
        "Stripe-Version": "2024-06-20",
        "X-Api-Key": REDACTED,
    }


# --------------------------------------------------------------------------------------------------
# The in-process token bucket
# --------------------------------------------------------------------------------------------------


def test_token_bucket_grants_the_burst_then_paces_at_the_rate(fake_time: FakeTime) -> None:
    bucket = InProcessTokenBucket(rate=2.0, burst=3.0, clock=fake_time.clock)

    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire() == pytest.approx(0.5)  # one token takes 1/rate seconds
    fake_time.now += 0.25
    assert bucket.acquire() == pytest.approx(0.25)
    fake_time.now += 0.25
    assert bucket.acquire() == 0.0
    # a long idle refills to the burst, never beyond
    fake_time.now += 1000
    assert [bucket.acquire() for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert bucket.acquire() > 0


def test_token_bucket_take_sleeps_exactly_what_is_needed(fake_time: FakeTime) -> None:
    bucket = InProcessTokenBucket(rate=4.0, burst=1.0, clock=fake_time.clock)
    waited = [bucket.take(sleep=fake_time.sleep) for _ in range(3)]
    assert waited == pytest.approx([0.0, 0.25, 0.25])
    assert fake_time.now == pytest.approx(100.5)


def test_token_bucket_refuses_more_than_its_burst(fake_time: FakeTime) -> None:
    with pytest.raises(ValueError, match="cannot take"):
        InProcessTokenBucket(rate=1.0, burst=2.0, clock=fake_time.clock).acquire(3)


@settings(max_examples=150, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=100),
    burst=st.floats(min_value=1, max_value=20),
    steps=st.lists(st.tuples(st.floats(min_value=0, max_value=2), st.integers(1, 3)), min_size=1, max_size=80),
)
def test_token_bucket_never_grants_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: float, steps: list[tuple[float, int]]
) -> None:
    clock = FakeTime()
    start = clock.now
    bucket = InProcessTokenBucket(rate=rate, burst=burst, clock=clock.clock)
    granted = 0
    for advance, n in steps:
        clock.now += advance
        n = min(n, int(burst))
        wait = bucket.acquire(n)
        if wait == 0:
            granted += n
        else:
            # liveness: after the announced wait, the same request is granted
            clock.now += wait
            assert bucket.acquire(n) == 0
            granted += n
        assert granted <= burst + rate * (clock.now - start) + 1e-6


@responses.activate
def test_every_request_and_retry_draws_from_the_budget(fake_time: FakeTime) -> None:
    responses.get(f"{BASE}/v1/x", status=500)
    responses.get(f"{BASE}/v1/x", json={"ok": 1})
    responses.get(f"{BASE}/v1/y", json={"ok": 2})
    bucket = InProcessTokenBucket(rate=2.0, burst=1.0, clock=fake_time.clock)

    client = make_client(fake_time, rnd=0.0, budget=bucket)
    client.get_json("/v1/x")
    client.get_json("/v1/y")

    # 3 requests at 2/s with a burst of 1: the 2nd and 3rd each wait half a second for a token
    # (the retry's backoff drew 0 s: rnd is 0)
    assert fake_time.sleeps == pytest.approx([0.0, 0.5, 0.5])
    assert len(responses.calls) == 3


class _Proxy:
    """A forward proxy on 127.0.0.1 that answers every request itself with `{"via": "proxy"}` and records
    the request lines it was sent (a proxied request names the absolute URL)."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        lines: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                lines.append(self.requestline)
                body = json.dumps({"via": "proxy"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.lines = lines
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_environments_proxy_is_read_once_when_the_client_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = _Proxy()
    try:
        # Given a proxy in the environment when the client is made (a host only the proxy can reach)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = HttpClient("http://provider.invalid", retry=RetryPolicy(max_retry_seconds=0))
        # When the environment changes afterwards
        monkeypatch.delenv("HTTP_PROXY")
        # Then the client's requests still go through the proxy it was made with
        assert client.get_json("/v1/things", {"limit": 2}) == {"via": "proxy"}
        assert proxy.lines == ["GET http://provider.invalid/v1/things?limit=2 HTTP/1.1"]
        client.close()
    finally:
        proxy.close()


def test_no_proxy_and_the_ca_bundle_of_the_environment_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "api.provider.test")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    direct = HttpClient(BASE)
    assert direct._session.proxies == {}
    assert direct._session.verify == "/etc/ssl/certs/ca-certificates.crt"
    proxied = HttpClient("https://other.provider.test")
    assert proxied._session.proxies.get("https") == "http://127.0.0.1:9"
    # (nothing is read from the environment per request, a .netrc included)
    assert direct._session.trust_env is False
