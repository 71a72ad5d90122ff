"""A fault-injecting HTTP proxy between a connector and a provider emulator (none answers 429 or 5xx by
itself): passes requests through, or delays them, or answers an error after some number of requests."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


@dataclass
class Mode:
    fail_after: int | None = None  # answer `status` to every request after this many
    status: int = 503
    delay: float = 0.0
    echo_credential: bool = False  # the error answer quotes the request's credential (body and Request-Id)


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = Mode()
        self.requests = 0
        self.failures = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                with proxy._lock:
                    proxy.requests += 1
                    count, mode = proxy.requests, proxy.mode
                if mode.delay:
                    time.sleep(mode.delay)
                if mode.fail_after is not None and count > mode.fail_after:
                    with proxy._lock:
                        proxy.failures += 1
                    body = b'{"error": {"message": "injected fault", "type": "api_error"}}'
                    token = (self.headers.get("Authorization") or "").split(" ", 1)[-1]
                    if mode.echo_credential:  # a careless provider quoting the key it was sent
                        error = {"message": f"No such object for key {token}", "code": f"missing:{token}"}
                        body = json.dumps({"error": {**error, "type": "invalid_request_error"}}).encode()
                    self.send_response(mode.status)
                    if mode.echo_credential:
                        self.send_header("Request-Id", f"req_{token}")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.request(
                    self.command, proxy.upstream + self.path, headers=headers, data=data, timeout=30
                )
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = _forward
            do_POST = _forward
            do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def set(self, **mode: Any) -> None:
        with self._lock:
            self.mode = Mode(**mode)
            self.requests = 0
