"""/v1/subscriptions/{uuid} and its MRR edits."""

from __future__ import annotations

from sourcesync.api.app import json_response, parse_body, parse_query, principal
from sourcesync.api.params import AsOfQuery
from sourcesync.api.resolver import Response, Router

router = Router()


@router.get("/v1/subscriptions/<uuid>")
def get_subscription(uuid: str) -> Response[str]:
    from sourcesync.services import customers, overlays  # on first use, not at cold start

    query = parse_query(router, AsOfQuery)
    return json_response(200, overlays.get_subscription(principal(router), uuid, query.as_of or customers.today()))


@router.post("/v1/subscriptions/<uuid>/mrr_edits")
def add_mrr_edit(uuid: str) -> Response[str]:
    from sourcesync.api.models import MrrEditRequest  # on first use, not at cold start
    from sourcesync.services import overlays  # on first use, not at cold start

    request = parse_body(router, MrrEditRequest)
    return json_response(201, overlays.add_mrr_edit(principal(router), uuid, request))


@router.delete("/v1/subscriptions/<uuid>/mrr_edits/<edit_id>")
def delete_mrr_edit(uuid: str, edit_id: str) -> Response[str]:
    from sourcesync.services import overlays  # on first use, not at cold start

    overlays.delete_mrr_edit(principal(router), uuid, edit_id)
    return Response(status_code=204, content_type="application/json", body="")
