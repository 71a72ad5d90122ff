"""A local API Gateway: the template's HttpApi (and Api) routes, served by werkzeug, handlers in-process.

For each request: match a route of the template (`/v1/data_sources/{uuid}`, greedy `{proxy+}`, `$default`),
build the proxy event (HTTP API payload format 2.0; 1.0 for REST `Api` events or PayloadFormatVersion 1.0),
call the function through `devstack.lambda_runtime` (the same loader moto's Lambda uses) and write its answer
the way API Gateway does. API Gateway's own answers: no route 404 `{"message":"Not Found"}`, a body over
10 MB 413 `{"message":"Request Entity Too Large"}`, a route over the stage's throttling (the HttpApi's
`DefaultRouteSettings`: a token bucket per route) 429 `{"message":"Too Many Requests"}`, a crashed or
malformed handler 500 `{"message":"Internal Server Error"}` (the traceback goes to the log).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from devstack import ACCOUNT_ID
from devstack.lambda_runtime import RUNTIME, LambdaRuntime
from devstack.template import RouteSpec, Throttling

LOG = logging.getLogger("devstack.api")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit (the app enforces its own, smaller one)
_PARAM = re.compile(r"\{([^}]+)\}")
_DROPPED_RESPONSE_HEADERS = {"content-length", "transfer-encoding", "connection"}


@dataclass(frozen=True)
class _Compiled:
    route: RouteSpec
    names: dict[str, str]  # werkzeug variable -> API Gateway parameter name


def werkzeug_rule(path: str) -> tuple[str, dict[str, str]]:
    """`/v1/x/{uuid}/{proxy+}` -> (`/v1/x/<v0>/<path:v1>`, {"v0": "uuid", "v1": "proxy"})."""
    names: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        variable = f"v{len(names)}"
        if name.endswith("+"):
            names[variable] = name[:-1]
            return f"<path:{variable}>"
        names[variable] = name
        return f"<{variable}>"

    return _PARAM.sub(replace, path), names


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Repeated keys joined with commas (how payload 2.0 merges repeated headers and query parameters)."""
    out: dict[str, str] = {}
    for key, value in pairs:
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def _multi(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def _body(request: Request) -> tuple[str | None, bool]:
    data = request.get_data(cache=True)
    if not data:
        return None, False
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), True


def _raw_path(request: Request) -> str:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return str(raw).split("?", 1)[0]
    return urllib.parse.quote(request.path)


@dataclass(frozen=True)
class RequestInfo:
    """What API Gateway adds to a request: ids, time, the API's names."""

    request_id: str
    now: datetime
    api_id: str
    stage: str
    account_id: str = ACCOUNT_ID

    @property
    def epoch_ms(self) -> int:
        return int(self.now.timestamp() * 1000)

    @property
    def clf_time(self) -> str:
        return self.now.strftime("%d/%b/%Y:%H:%M:%S +0000")


def _forwarded_headers(request: Request) -> list[tuple[str, str]]:
    host = request.host or ""
    port = host.rsplit(":", 1)[1] if ":" in host else "80"
    return [
        ("x-forwarded-for", request.remote_addr or "127.0.0.1"),
        ("x-forwarded-port", port),
        ("x-forwarded-proto", request.scheme),
        ("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"),
    ]


def build_v2_event(
    request: Request, route: RouteSpec, path_parameters: dict[str, str], info: RequestInfo
) -> dict[str, Any]:
    """The HTTP API payload format 2.0 event."""
    header_pairs = [(k.lower(), v) for k, v in request.headers.items()]
    header_pairs += [(k, v) for k, v in _forwarded_headers(request) if k not in dict(header_pairs)]
    headers = _joined(header_pairs)
    cookie_header = headers.pop("cookie", None)
    raw_query = request.query_string.decode("latin-1")
    query = _joined(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
    body, is_base64 = _body(request)
    raw_path = _raw_path(request)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookie_header:
        event["cookies"] = [c.strip() for c in cookie_header.replace(",", ";").split(";") if c.strip()]
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": info.account_id,
        "apiId": info.api_id,
        "domainName": request.host,
        "domainPrefix": (request.host or "").split(".")[0].split(":")[0],
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": request.remote_addr or "127.0.0.1",
            "userAgent": request.headers.get("User-Agent", ""),
        },
        "requestId": info.request_id,
        "routeKey": route.route_key,
        "stage": info.stage,
        "time": info.clf_time,
        "timeEpoch": info.epoch_ms,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = is_base64
    return event


def build_v1_event(
    request: Request, route: RouteSpec, path_parameters: dict[str, str], info: RequestInfo
) -> dict[str, Any]:
    """The REST API (payload format 1.0) proxy event."""
    header_pairs = list(request.headers.items())
    multi_headers = _multi(header_pairs)
    raw_query = request.query_string.decode("latin-1")
    query_pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
    multi_query = _multi(query_pairs)
    body, is_base64 = _body(request)
    return {
        "resource": route.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": {k: v[-1] for k, v in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": info.account_id,
            "apiId": info.api_id,
            "domainName": request.host,
            "httpMethod": request.method,
            "identity": {
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "path": f"/{info.stage}{request.path}",
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "requestId": info.request_id,
            "requestTime": info.clf_time,
            "requestTimeEpoch": info.epoch_ms,
            "resourcePath": route.path,
            "stage": info.stage,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


class MalformedResponseError(ValueError):
    pass


def _response_body(result: dict[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if result.get("isBase64Encoded"):
        return base64.b64decode(body)
    return (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")


def response_from_result(result: Any, payload_format: str = "2.0") -> Response:
    """Turn a handler's return value into the HTTP answer, as API Gateway does for that payload format."""
    if not isinstance(result, dict) or "statusCode" not in result:
        if payload_format == "1.0":
            raise MalformedResponseError("a REST proxy integration must return a dict with statusCode")
        # Payload 2.0: any JSON without statusCode is the body of a 200 application/json answer.
        return Response(json.dumps(result), status=200, content_type="application/json")
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError) as exc:
        raise MalformedResponseError(f"statusCode {result['statusCode']!r} is not a number") from exc
    response = Response(_response_body(result), status=status)
    response.headers.remove("Content-Type")
    for key, value in (result.get("headers") or {}).items():
        if key.lower() not in _DROPPED_RESPONSE_HEADERS:
            response.headers.set(key, str(value))
    for key, values in (result.get("multiValueHeaders") or {}).items():
        if key.lower() in _DROPPED_RESPONSE_HEADERS:
            continue
        if key in response.headers:
            response.headers.remove(key)
        for value in values:
            response.headers.add(key, str(value))
    for cookie in result.get("cookies") or ():
        response.headers.add("Set-Cookie", str(cookie))
    if payload_format == "2.0" and "Content-Type" not in response.headers and response.content_length:
        response.headers["Content-Type"] = "application/json"
    return response


def _method_routes(route: RouteSpec, method: str) -> bool:
    """werkzeug lets HEAD match a GET rule; API Gateway routes a method only to its own routes (or ANY)."""
    return route.method in ("ANY", method.upper())


def _message(status: int, message: str) -> Response:
    # API Gateway's own compact JSON: {"message":"Not Found"}
    return Response(
        json.dumps({"message": message}, separators=(",", ":")), status=status, content_type="application/json"
    )


class TokenBucket:
    """API Gateway's throttling algorithm: a bucket of `burst` tokens refilled at `rate` per second; a request
    takes one token or is throttled."""

    def __init__(self, throttling: Throttling, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = throttling.rate
        self.burst = throttling.burst
        self._clock = clock
        self._tokens = throttling.burst
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class StageThrottle:
    """The stage's route throttling: one token bucket per route (API Gateway applies `DefaultRouteSettings`
    to each route of the stage), for every caller together."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._guard = threading.Lock()

    def allow(self, route: RouteSpec) -> bool:
        if route.throttling is None:
            return True
        key = (route.api_logical_id, route.route_key)
        with self._guard:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(route.throttling, self._clock)
        return bucket.take()


class ApiGateway:
    """The WSGI app of the local API, and its threaded server."""

    def __init__(
        self,
        routes: Iterable[RouteSpec],
        runtime: LambdaRuntime = RUNTIME,
        *,
        api_id: str = "devstack01",
        stage: str = "$default",
        rest_stage: str = "Prod",
        throttle: StageThrottle | None = None,
    ) -> None:
        self.runtime = runtime
        self.throttle = throttle or StageThrottle()
        self.api_id = api_id
        self.stage = stage
        self.rest_stage = rest_stage
        self.routes = list(routes)
        self._compiled: dict[str, _Compiled] = {}
        self._default: RouteSpec | None = None
        rules = []
        for index, route in enumerate(self.routes):
            if route.path == "$default":
                self._default = route
                continue
            path, names = werkzeug_rule(route.path)
            endpoint = f"r{index}"
            self._compiled[endpoint] = _Compiled(route, names)
            methods = None if route.method == "ANY" else [route.method]
            rules.append(Rule(path, endpoint=endpoint, methods=methods))
        self.url_map = Map(rules, strict_slashes=False, merge_slashes=False, redirect_defaults=False)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        # Lambda gives each function its own process, and an execution environment one request at a time. A
        # handler may keep a request's state in globals: Powertools' resolver keeps the current event on a
        # class attribute (`BaseRouter.current_event`) that every resolver of a process shares. Here every
        # function shares this one process, so the gateway hands the HTTP functions one request at a time,
        # all of them together (two functions answering at once would read each other's query strings).
        self._in_process = threading.Lock()

    # ------------------------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.monotonic()
        response = self.handle(request)
        LOG.info(
            "%s %s -> %d (%.0f ms)",
            request.method,
            request.full_path.rstrip("?"),
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response(environ, start_response)

    def match(self, request: Request) -> tuple[RouteSpec, dict[str, str]] | None:
        """The route API Gateway would pick: a route of the request's path and method, else `$default`
        (if the API has one), else none (API Gateway's own 404)."""
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match(return_rule=False)
        except (NotFound, MethodNotAllowed):
            return self._default_route()
        except HTTPException:
            return None
        compiled = self._compiled[str(endpoint)]
        if not _method_routes(compiled.route, request.method):
            return self._default_route()
        return compiled.route, {compiled.names[k]: str(v) for k, v in values.items()}

    def _default_route(self) -> tuple[RouteSpec, dict[str, str]] | None:
        return (self._default, {}) if self._default else None

    def handle(self, request: Request) -> Response:
        matched = self.match(request)
        if matched is None:
            return _message(404, "Not Found")
        if not self.throttle.allow(matched[0]):  # API Gateway throttles before it reads the request
            return _message(429, "Too Many Requests")
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            return _message(413, "Request Entity Too Large")
        if length is None and len(request.stream.read(MAX_BODY_BYTES + 1)) > MAX_BODY_BYTES:
            return _message(413, "Request Entity Too Large")
        route, path_parameters = matched
        v2 = route.payload_format != "1.0"
        info = RequestInfo(str(uuid.uuid4()), datetime.now(UTC), self.api_id, self.stage if v2 else self.rest_stage)
        builder = build_v2_event if v2 else build_v1_event
        event = builder(request, route, path_parameters, info)
        try:
            with self._in_process:
                result = self.runtime.invoke(route.function_name, event, request_id=info.request_id)
        except Exception as exc:
            LOG.error(
                "%s %s -> %s raised:\n%s",
                request.method,
                request.path,
                route.function_name,
                "".join(traceback.format_exception(exc)).rstrip(),
            )
            return _message(500, "Internal Server Error")
        try:
            return response_from_result(result, route.payload_format)
        except (MalformedResponseError, ValueError, TypeError) as exc:
            LOG.error(
                "%s %s -> %s returned a malformed response: %s", request.method, request.path, route.function_name, exc
            )
            if v2:
                return _message(500, "Internal Server Error")
            return _message(502, "Internal server error")

    # ------------------------------------------------------------------------------------ server
    def start(self, port: int, host: str = "127.0.0.1") -> ApiGateway:
        from devstack.ports import ensure_free

        ensure_free(port, "local API Gateway")
        self._server = make_server(host, port, self, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="devstack-api", daemon=True)
        self._thread.start()
        LOG.info("API on http://%s:%d (%d routes)", host, port, len(self.routes))
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
