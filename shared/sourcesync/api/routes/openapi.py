"""GET /v1/openapi.json: the API's OpenAPI 3.1 document (no key needed)."""

from __future__ import annotations

from sourcesync.api.app import json_response
from sourcesync.api.resolver import Response, Router

router = Router()


@router.get("/v1/openapi.json")
def get_openapi() -> Response[str]:
    from sourcesync.api.openapi import document  # lazily: cold init (the document is built on demand)

    return json_response(200, document())
