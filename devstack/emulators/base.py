"""What every provider emulator shares: the HTTP server, per-tenant data, injected faults, the admin API.

An emulator (`ProviderEmulator` subclass) serves one provider's list and detail endpoints over the data of
the tenant that asks (`tenant(request)`: the API key or token it sent), in the provider's own shapes and
error bodies. Tests and seeds write that data through the admin API under `/<system>/_emulator`:

    PUT|PATCH|DELETE /_emulator/{tenant}/{collection}/{id}   store, shallow-merge or remove one object
    GET              /_emulator/{tenant}/{collection}        the objects, in creation order
    DELETE           /_emulator/{tenant}                     forget a tenant
    POST             /_emulator/faults                       {"status", "times", "retry_after", "tenant"}:
                                                             the next `times` provider requests (of that
                                                             tenant, or any) get `error(status, ...)`
    GET              /_emulator/{tenant}/_requests           {"count": provider requests served (every
                                                             answer), "throttled": of them, the 429s the
                                                             tenant's rate limit answered}
    PUT              /_emulator/latency                      {"seconds"}: every provider request waits that
                                                             long before its answer (benchmarks)
    PUT              /_emulator/rate_limit                   {"tenant", "requests_per_second", "burst"}: the
                                                             tenant's requests beyond a token bucket of that
                                                             rate and size (burst: default one second's worth)
                                                             get `error(429, retry_after)`, the wait until a
                                                             token is back; a rate of null or 0 lifts it

`EmulatorAdmin` wraps it; `EmulatorServer` runs every discovered emulator in a child process of the stack
(`python -m devstack.emulators --port N`); `serve_in_thread` runs them in this process, for tests that
need no stack.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

import requests

from devstack.ports import ensure_free, free_port, http_answers
from devstack.processes import ChildProcess, ManagedProcess

LOG = logging.getLogger("devstack.emulators")

ADMIN = "_emulator"


class Headers:
    """Request headers, looked up without regard to case."""

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = {name.lower(): value for name, value in items.items()}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._items.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items


@dataclass
class Request:
    """One provider request; `path` is what follows the `/<system>` prefix (`/api/v2/customers`)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes = b""

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        """An `application/x-www-form-urlencoded` body."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass
class Response:
    """A dict or list body is sent as JSON; str or bytes as given (set `Content-Type`, e.g. for XML)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.body is None:
            return b"", headers
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode("utf-8"), headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode("utf-8"), headers


class TenantData:
    """One tenant's objects: collection name -> {id: provider-shaped object}, in creation order."""

    def __init__(self) -> None:
        self._collections: dict[str, dict[str, dict[str, Any]]] = {}
        self.requests = 0
        #: the requests its rate limit answered with a 429
        self.throttled = 0

    def collection(self, name: str) -> dict[str, dict[str, Any]]:
        return self._collections.setdefault(name, {})


@dataclass
class RateLimitBucket:
    """A provider's request limit for one tenant: a token bucket of `burst` tokens refilled at `rate` a
    second; a request takes one token or is refused."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.tokens = self.burst
        self.updated = self.clock()

    def take(self) -> float:
        """0.0 when a token was taken; otherwise the seconds until one is back (nothing taken)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = max(now, self.updated)
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class _Fault:
    status: int
    times: int
    retry_after: float | None
    tenant: str | None


class ProviderEmulator:
    """One provider. Subclasses set `system` and implement `tenant`, `unauthorized`, `error`, `handle`."""

    system: ClassVar[str] = ""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tenants: dict[str, TenantData] = {}
        self.faults: list[_Fault] = []
        #: tenant -> its rate limit (none by default)
        self.rate_limits: dict[str, RateLimitBucket] = {}
        #: seconds each provider request waits before it is answered (outside the lock, as a provider
        #: across the internet would): 0 for tests; the benchmarks set a provider's typical latency
        self.latency = 0.0

    # -------------------------------------------------------------------- what a provider says
    def tenant(self, request: Request) -> str | None:
        """Who asks (an API key, a token); None answers `unauthorized`."""
        raise NotImplementedError

    def unauthorized(self, request: Request) -> Response:
        raise NotImplementedError

    def error(self, request: Request, status: int, retry_after: float | None) -> Response:
        """The provider's own error answer for `status` (429 with its Retry-After header, 5xx, 404...)."""
        raise NotImplementedError

    def handle(self, request: Request, data: TenantData) -> Response:
        """The provider's endpoints over one tenant's data (called under the emulator's lock)."""
        raise NotImplementedError

    # -------------------------------------------------------------------- dispatch
    def data(self, tenant: str) -> TenantData:
        with self.lock:
            return self.tenants.setdefault(tenant, TenantData())

    def serve(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if parts and parts[0] == ADMIN:
            with self.lock:
                return self._admin(request, parts[1:])
        if self.latency:
            time.sleep(self.latency)
        with self.lock:
            tenant = self.tenant(request)
            if tenant is None:
                return self.unauthorized(request)
            data = self.data(tenant)
            data.requests += 1
            fault = self._take_fault(tenant)
            if fault is not None:
                return self.error(request, fault.status, fault.retry_after)
            limit = self.rate_limits.get(tenant)
            wait = limit.take() if limit is not None else 0.0
            if wait > 0:
                data.throttled += 1
                return self.error(request, 429, wait)
            return self.handle(request, data)

    def _take_fault(self, tenant: str) -> _Fault | None:
        for fault in self.faults:
            if fault.tenant in (None, tenant):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _admin(self, request: Request, parts: list[str]) -> Response:
        method = request.method
        if parts == ["latency"] and method == "PUT":
            self.latency = max(0.0, float((request.json() or {}).get("seconds", 0)))
            return Response(204)
        if parts == ["rate_limit"] and method == "PUT":
            return self._set_rate_limit(request.json() or {})
        if parts == ["faults"] and method == "POST":
            spec = request.json() or {}
            self.faults.append(
                _Fault(
                    status=int(spec["status"]),
                    times=int(spec.get("times", 1)),
                    retry_after=spec.get("retry_after"),
                    tenant=spec.get("tenant"),
                )
            )
            return Response(204)
        if len(parts) == 1 and method == "DELETE":
            self.tenants.pop(parts[0], None)
            return Response(204)
        if len(parts) == 2 and parts[1] == "_requests" and method == "GET":
            data = self.data(parts[0])
            return Response(200, {"count": data.requests, "throttled": data.throttled})
        if len(parts) == 2 and method == "GET":
            return Response(200, list(self.data(parts[0]).collection(parts[1]).values()))
        if len(parts) == 3:
            objects = self.data(parts[0]).collection(parts[1])
            key = parts[2]
            if method == "PUT":
                objects[key] = request.json()
                return Response(200, objects[key])
            if method == "PATCH":
                if key not in objects:
                    return Response(404, {"error": f"no {parts[1]} {key}"})
                objects[key] = {**objects[key], **request.json()}
                return Response(200, objects[key])
            if method == "DELETE":
                return Response(204) if objects.pop(key, None) is not None else Response(404, {"error": "not found"})
        return Response(404, {"error": f"no admin route {method} /{'/'.join(parts)}"})

    def _set_rate_limit(self, spec: dict[str, Any]) -> Response:
        tenant, rate = spec.get("tenant"), spec.get("requests_per_second")
        if not isinstance(tenant, str) or not tenant:
            return Response(400, {"error": "a rate limit is set for one tenant: give its `tenant`"})
        if not rate:
            self.rate_limits.pop(tenant, None)
            return Response(204)
        try:
            burst = float(spec.get("burst") or max(1.0, float(rate)))
            self.rate_limits[tenant] = RateLimitBucket(float(rate), burst)
        except (TypeError, ValueError) as exc:
            return Response(400, {"error": f"bad rate limit: {exc}"})
        return Response(204)


# ------------------------------------------------------------------------------------------ the server
class _Handler(BaseHTTPRequestHandler):
    server: EmulatorHTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without it, 40 ms per answer

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        system, _, rest = url.path.lstrip("/").partition("/")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        emulator = self.server.emulators.get(system)
        if system == "_health":
            response = Response(200, {"systems": sorted(self.server.emulators)})
        elif emulator is None:
            response = Response(404, {"error": f"no emulator for {system!r}", "systems": sorted(self.server.emulators)})
        else:
            request = Request(
                method=self.command,
                path="/" + rest,
                query=parse_qs(url.query, keep_blank_values=True),
                headers=Headers(dict(self.headers.items())),
                body=body,
            )
            try:
                response = emulator.serve(request)
            except Exception as exc:  # an emulator defect: say so, as a 500 the connector would retry
                LOG.exception("%s emulator failed on %s %s", system, self.command, self.path)
                response = Response(500, {"error": f"emulator defect: {type(exc).__name__}: {exc}"})
        payload, headers = response.encode()
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, emulators: Mapping[str, ProviderEmulator], host: str = "127.0.0.1") -> None:
        super().__init__((host, port), _Handler)
        self.emulators = dict(emulators)


def all_emulators() -> dict[str, ProviderEmulator]:
    """A fresh instance of every discovered emulator."""
    from devstack.emulators import discover

    return {system: module.EMULATOR() for system, module in discover().items()}


@contextmanager
def serve_in_thread(port: int | None = None) -> Iterator[str]:
    """Every emulator in this process (tests without a stack); yields the server's URL."""
    server = EmulatorHTTPServer(port or free_port(), all_emulators())
    thread = threading.Thread(target=server.serve_forever, name="emulators", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class EmulatorServer(ManagedProcess):
    """Every emulator in one child process of the stack, one port; each under `/<system>`."""

    label = "the provider emulators"
    ready_timeout = 30.0
    log = LOG

    def __init__(self, port: int | None = None) -> None:
        super().__init__()
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return self.url

    def launch(self) -> EmulatorServer:
        ensure_free(self.port, "provider emulators")
        from devstack import REPO_ROOT

        argv = [sys.executable, "-m", "devstack.emulators", "--port", str(self.port)]
        self._child = ChildProcess("emulators", argv, cwd=REPO_ROOT).start()
        return self

    def answers(self) -> bool:
        return http_answers(f"{self.url}/_health")


# ------------------------------------------------------------------------------------------ the admin client
class EmulatorAdmin:
    """The admin API of one emulator; `base_url` is `{url}/<system>` (the endpoints file's value)."""

    def __init__(self, base_url: str, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()

    def _url(self, *parts: str) -> str:
        return "/".join([self.base_url, ADMIN, *(quote(part, safe="") for part in parts)])

    def _call(self, method: str, url: str, body: Any = None) -> Any:
        response = self.session.request(method, url, json=body, timeout=10)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def put(self, tenant: str, collection: str, object_id: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", self._url(tenant, collection, object_id), dict(obj))
        return result

    def patch(self, tenant: str, collection: str, object_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", self._url(tenant, collection, object_id), dict(changes))
        return result

    def delete(self, tenant: str, collection: str, object_id: str) -> None:
        self._call("DELETE", self._url(tenant, collection, object_id))

    def list(self, tenant: str, collection: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", self._url(tenant, collection))
        return result

    def drop(self, tenant: str) -> None:
        self._call("DELETE", self._url(tenant))

    def fault(self, status: int, times: int = 1, retry_after: float | None = None, tenant: str | None = None) -> None:
        self._call(
            "POST",
            self._url("faults"),
            {"status": status, "times": times, "retry_after": retry_after, "tenant": tenant},
        )

    def latency(self, seconds: float) -> None:
        """Every provider request of this emulator waits `seconds` before its answer (0: none)."""
        self._call("PUT", self._url("latency"), {"seconds": seconds})

    def requests(self, tenant: str) -> int:
        return int(self._call("GET", self._url(tenant, "_requests"))["count"])

    def throttled(self, tenant: str) -> int:
        """How many of the tenant's requests its rate limit answered with a 429."""
        return int(self._call("GET", self._url(tenant, "_requests"))["throttled"])

    def rate_limit(self, tenant: str, requests_per_second: float | None, burst: float | None = None) -> None:
        """Refuse the tenant's requests beyond `requests_per_second` (a token bucket of `burst` tokens,
        by default one second's worth) with the provider's 429 and Retry-After; None lifts the limit."""
        self._call(
            "PUT",
            self._url("rate_limit"),
            {"tenant": tenant, "requests_per_second": requests_per_second, "burst": burst},
        )
