"""/v1/data_sources: create, list, read, update."""

from __future__ import annotations

from sourcesync.api.app import json_response, parse_body, parse_query, principal
from sourcesync.api.pagination import decode_cursor, encode_cursor
from sourcesync.api.params import PageQuery
from sourcesync.api.resolver import Response, Router

router = Router()


@router.post("/v1/data_sources")
def create_data_source() -> Response[str]:
    from sourcesync.api.models import DataSourceCreateRequest  # on first use, not at cold start
    from sourcesync.services import data_sources  # on first use, not at cold start

    created = data_sources.create(principal(router), parse_body(router, DataSourceCreateRequest))
    return json_response(201, created)


@router.get("/v1/data_sources")
def list_data_sources() -> Response[str]:
    from sourcesync.services import data_sources  # on first use, not at cold start

    page = parse_query(router, PageQuery)
    entries, last = data_sources.list_page(principal(router), page.per_page, decode_cursor(page.cursor))
    return json_response(200, {"entries": entries, "has_more": last is not None, "cursor": encode_cursor(last)})


@router.get("/v1/data_sources/<uuid>")
def get_data_source(uuid: str) -> Response[str]:
    from sourcesync.services import data_sources  # on first use, not at cold start

    return json_response(200, data_sources.get(principal(router), uuid))


@router.patch("/v1/data_sources/<uuid>")
def update_data_source(uuid: str) -> Response[str]:
    from sourcesync.api.models import DataSourceUpdateRequest  # on first use, not at cold start
    from sourcesync.services import data_sources  # on first use, not at cold start

    return json_response(200, data_sources.update(principal(router), uuid, parse_body(router, DataSourceUpdateRequest)))
