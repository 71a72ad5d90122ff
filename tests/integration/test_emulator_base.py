"""The emulators' shared server: tenants, the admin API, injected faults (a toy provider, no stack)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack.emulators import discover, emulator_urls
from devstack.emulators.base import (
    EmulatorAdmin,
    EmulatorHTTPServer,
    ProviderEmulator,
    RateLimitBucket,
    Request,
    Response,
    TenantData,
)
from devstack.ports import free_port


class ToyEmulator(ProviderEmulator):
    """A provider with one list endpoint and a Bearer key."""

    system = "toy"

    def tenant(self, request: Request) -> str | None:
        auth = request.headers.get("authorization") or ""
        return auth.removeprefix("Bearer ") or None

    def unauthorized(self, request: Request) -> Response:
        return Response(401, {"message": "who are you"})

    def error(self, request: Request, status: int, retry_after: float | None) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return Response(status, {"message": f"toy error {status}"}, headers)

    def handle(self, request: Request, data: TenantData) -> Response:
        if request.path == "/things":
            limit = int(request.param("limit", "10") or 10)
            return Response(200, {"data": list(data.collection("things").values())[:limit]})
        return self.error(request, 404, None)


@pytest.fixture
def toy() -> Iterator[str]:
    server = EmulatorHTTPServer(free_port(), {"toy": ToyEmulator()})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/toy"
    server.shutdown()
    server.server_close()


def _things(url: str, key: str, **params: Any) -> requests.Response:
    return requests.get(f"{url}/things", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=5)


def test_each_tenant_sees_its_own_objects_in_creation_order(toy: str) -> None:
    admin = EmulatorAdmin(toy)
    admin.put("key_a", "things", "t2", {"id": "t2", "n": 2})
    admin.put("key_a", "things", "t1", {"id": "t1", "n": 1})
    admin.put("key_b", "things", "t9", {"id": "t9", "n": 9})

    assert [t["id"] for t in _things(toy, "key_a").json()["data"]] == ["t2", "t1"]
    assert [t["id"] for t in _things(toy, "key_b").json()["data"]] == ["t9"]
    assert _things(toy, "key_c").json() == {"data": []}
    assert _things(toy, "key_a", limit=1).json()["data"] == [{"id": "t2", "n": 2}]


def test_admin_changes_what_the_provider_serves(toy: str) -> None:
    admin = EmulatorAdmin(toy)
    admin.put("k", "things", "t1", {"id": "t1", "name": "old", "n": 1})
    assert admin.patch("k", "things", "t1", {"name": "new"}) == {"id": "t1", "name": "new", "n": 1}
    admin.put("k", "things", "t2", {"id": "t2"})
    admin.delete("k", "things", "t2")
    assert admin.list("k", "things") == [{"id": "t1", "name": "new", "n": 1}]
    with pytest.raises(RuntimeError, match="404"):
        admin.patch("k", "things", "missing", {"name": "x"})
    admin.drop("k")
    assert admin.list("k", "things") == []


def test_faults_answer_the_next_requests_of_their_tenant_with_the_providers_error(toy: str) -> None:
    admin = EmulatorAdmin(toy)
    admin.put("k", "things", "t1", {"id": "t1"})
    admin.fault(429, times=2, retry_after=1.5, tenant="k")

    assert _things(toy, "other").status_code == 200  # another tenant is not affected
    first, second, third = (_things(toy, "k") for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"], first.json()) == (429, "1.5", {"message": "toy error 429"})
    assert second.status_code == 429
    assert third.json() == {"data": [{"id": "t1"}]}
    assert admin.requests("k") == 3

    admin.fault(503)  # any tenant
    assert _things(toy, "other").status_code == 503
    assert _things(toy, "other").status_code == 200


def test_latency_delays_provider_answers_only(toy: str) -> None:
    admin = EmulatorAdmin(toy)
    admin.latency(0.3)
    started = time.monotonic()
    assert _things(toy, "k").status_code == 200
    delayed = time.monotonic() - started
    admin.latency(0)
    assert delayed >= 0.3  # a lower bound only: the answer waited at least the latency it was given


def test_no_key_is_the_providers_401_and_unknown_paths_are_404(toy: str) -> None:
    assert requests.get(f"{toy}/things", timeout=5).json() == {"message": "who are you"}
    assert _things(toy.removesuffix("/toy") + "/nobody", "k").status_code == 404
    assert requests.get(f"{toy}/_emulator/k/things/x/y", timeout=5).status_code == 404
    health = requests.get(toy.removesuffix("/toy") + "/_health", timeout=5)
    assert health.json() == {"systems": ["toy"]}


def test_every_emulator_module_declares_its_system_and_seed() -> None:
    modules = discover()
    for system, module in modules.items():
        assert issubclass(module.EMULATOR, ProviderEmulator) and module.EMULATOR.system == system
        assert callable(module.seed_demo) and callable(module.plain_fetch), system
    assert emulator_urls("http://h:1", modules) == {system: f"http://h:1/{system}" for system in modules}


def test_a_rate_limit_bucket_refuses_beyond_its_burst_and_refills_at_its_rate() -> None:
    now = [100.0]
    bucket = RateLimitBucket(rate=4.0, burst=2.0, clock=lambda: now[0])
    assert [bucket.take(), bucket.take()] == [0.0, 0.0]
    assert bucket.take() == pytest.approx(0.25)  # a token is back in 1/4 s
    now[0] += 0.25
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(0.25)
    now[0] += 10  # refills to its burst, never beyond
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, pytest.approx(0.25)]
    with pytest.raises(ValueError):
        RateLimitBucket(rate=0.0, burst=1.0)


def test_a_tenants_rate_limit_answers_the_providers_429_with_retry_after(toy: str) -> None:
    admin = EmulatorAdmin(toy)
    admin.put("k", "things", "t1", {"id": "t1"})
    admin.put("other", "things", "t2", {"id": "t2"})
    admin.rate_limit("k", 0.2, burst=2)  # a token every 5 s: the third request at once is refused

    answers = [_things(toy, "k") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json() == {"message": "toy error 429"}
    assert 0 < float(answers[2].headers["Retry-After"]) <= 5
    assert [_things(toy, "other").status_code for _ in range(3)] == [200, 200, 200]  # no limit of its own
    assert (admin.requests("k"), admin.throttled("k"), admin.throttled("other")) == (3, 1, 0)

    admin.rate_limit("k", None)  # lifted
    assert [_things(toy, "k").status_code for _ in range(3)] == [200, 200, 200]
    assert admin.throttled("k") == 1


def test_a_rate_limit_needs_a_tenant_and_a_valid_bucket(toy: str) -> None:
    for spec in ({"requests_per_second": 5}, {"tenant": "k", "requests_per_second": 5, "burst": 0.5}):
        answer = requests.put(f"{toy}/_emulator/rate_limit", json=spec, timeout=5)
        assert answer.status_code == 400, spec
