"""The console's static route: public, strict CSP, only its own files."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sourcesync import console
from sourcesync.api.app import create_app
from sourcesync.api.routes import console as console_route


def event(path: str, route_key: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": path},
            "requestId": "r1",
            "routeKey": route_key,
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("path", "route_key", "content_type"),
    [
        ("/console", "GET /console", "text/html"),
        ("/console/", "GET /console", "text/html"),
        ("/console/app.js", "GET /console/{proxy+}", "text/javascript"),
        ("/console/style.css", "GET /console/{proxy+}", "text/css"),
    ],
)
def test_the_console_is_served_without_a_key_and_with_its_csp(path: str, route_key: str, content_type: str) -> None:
    answer = create_app(console_route.router).resolve(event(path, route_key), None)
    assert answer["statusCode"] == 200, answer
    assert answer["headers"]["Content-Type"].startswith(content_type)
    assert answer["headers"]["Content-Security-Policy"] == console.CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in console.CONTENT_SECURITY_POLICY and "unsafe" not in console.CONTENT_SECURITY_POLICY


def test_the_html_has_no_inline_script_or_style() -> None:
    page = console.asset("index.html")
    assert page is not None
    assert "<script>" not in page.body and "<style" not in page.body and " style=" not in page.body
    assert re.search(r"\son[a-z]+\s*=", page.body) is None  # no inline event handlers either


@pytest.mark.parametrize("name", ["../app.py", "..", ".hidden.js", "__init__.py", "nothing.js", "static/app.js", ""])
def test_only_the_static_files_are_served(name: str) -> None:
    assert console.asset(name) is None


def test_another_route_without_a_key_is_still_refused() -> None:
    from sourcesync.api.routes import jobs

    answer = create_app(jobs.router, console_route.router).resolve(event("/v1/jobs/j1", "GET /v1/jobs/{job_id}"), None)
    assert answer["statusCode"] == 401, answer


def test_a_route_outside_the_contract_and_the_console_still_needs_a_key() -> None:
    # Given a route the resolver serves that is neither an API operation nor a console file
    from aws_lambda_powertools.event_handler.api_gateway import Router

    stray = Router()

    @stray.get("/v1/not_in_the_contract")
    def _stray() -> dict[str, str]:
        return {"leaked": "yes"}

    # When it is called without a key
    answer = create_app(stray, console_route.router).resolve(event("/v1/not_in_the_contract", "$default"), None)
    # Then it is refused (authentication fails closed), not served
    assert answer["statusCode"] == 401, answer
    assert "leaked" not in answer["body"]
