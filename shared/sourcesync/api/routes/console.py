"""GET /console/ and its static files: public (no API key), served with the console's CSP."""

from __future__ import annotations

from sourcesync.api.app import json_response
from sourcesync.api.errors import error_body
from sourcesync.api.resolver import Response, Router

router = Router()  # its route keys are in `sourcesync.api.app.PUBLIC_ROUTES`


def _serve(name: str) -> Response[str]:
    from sourcesync import console  # on a browser's first request for the console, not at cold start

    found = console.asset(name)
    if found is None:
        return json_response(404, error_body("not_found", "No such file.", ""), headers=console.HEADERS)
    return Response(status_code=200, content_type=found.content_type, body=found.body, headers=console.HEADERS)


@router.get("/console")
def index() -> Response[str]:
    return _serve("index.html")


@router.get("/console/")
def index_slash() -> Response[str]:
    return _serve("index.html")


@router.get("/console/<name>")
def static_file(name: str) -> Response[str]:
    return _serve(name)
