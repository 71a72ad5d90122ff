"""/v1/customers: lists, one customer, and the manual data written on customers (merges, connections)."""

from __future__ import annotations

from sourcesync.api.app import json_response, parse_body, parse_query, principal
from sourcesync.api.pagination import decode_cursor, encode_cursor
from sourcesync.api.params import AsOfQuery, CustomerQuery
from sourcesync.api.resolver import Response, Router

router = Router()


@router.get("/v1/customers")
def list_customers() -> Response[str]:
    from sourcesync.services import customers  # on first use, not at cold start

    query = parse_query(router, CustomerQuery)
    entries, last = customers.list_page(
        principal(router),
        query.data_source_uuid,
        query.external_id,
        query.per_page,
        decode_cursor(query.cursor),
        query.as_of or customers.today(),
    )
    return json_response(200, {"entries": entries, "has_more": last is not None, "cursor": encode_cursor(last)})


@router.get("/v1/customers/<uuid>")
def get_customer(uuid: str) -> Response[str]:
    from sourcesync.services import customers  # on first use, not at cold start

    query = parse_query(router, AsOfQuery)
    return json_response(200, customers.get(principal(router), uuid, query.as_of or customers.today()))


@router.post("/v1/customers/merges")
def merge_customers() -> Response[str]:
    from sourcesync.api.models import MergeRequest  # on first use, not at cold start
    from sourcesync.services import customers, overlays  # on first use, not at cold start

    request = parse_body(router, MergeRequest)
    return json_response(200, overlays.merge(principal(router), request, customers.today()))


@router.post("/v1/customers/<uuid>/connect_subscriptions")
def connect_subscriptions(uuid: str) -> Response[str]:
    from sourcesync.api.models import SubscriptionsRequest  # on first use, not at cold start
    from sourcesync.services import customers, overlays  # on first use, not at cold start

    request = parse_body(router, SubscriptionsRequest)
    return json_response(200, overlays.connect(principal(router), uuid, request, customers.today()))


@router.post("/v1/customers/<uuid>/disconnect_subscriptions")
def disconnect_subscriptions(uuid: str) -> Response[str]:
    from sourcesync.api.models import SubscriptionsRequest  # on first use, not at cold start
    from sourcesync.services import customers, overlays  # on first use, not at cold start

    request = parse_body(router, SubscriptionsRequest)
    return json_response(200, overlays.disconnect(principal(router), uuid, request, customers.today()))
