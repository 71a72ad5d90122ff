"""/v1/api_keys: the caller's account's keys (list), revoke one, rotate one."""

from __future__ import annotations

from sourcesync.api.app import json_response, parse_query, principal, raw_body
from sourcesync.api.pagination import decode_cursor, encode_cursor
from sourcesync.api.params import PageQuery
from sourcesync.api.resolver import Response, Router
from sourcesync.services import accounts

router = Router()


@router.get("/v1/api_keys")
def list_api_keys() -> Response[str]:
    page = parse_query(router, PageQuery)
    keys, last = accounts.list_keys(principal(router), page.per_page, decode_cursor(page.cursor))
    entries = [accounts.present_key(key) for key in keys]
    return json_response(200, {"entries": entries, "has_more": last is not None, "cursor": encode_cursor(last)})


@router.delete("/v1/api_keys/<key_id>")
def revoke_api_key(key_id: str) -> Response[str]:
    accounts.revoke(principal(router), key_id)
    return Response(status_code=204, content_type="application/json", body="")


@router.post("/v1/api_keys/<key_id>/rotate")
def rotate_api_key(key_id: str) -> Response[str]:
    from sourcesync.api.models import RotateKeyRequest  # on first use, not at cold start

    request = RotateKeyRequest.model_validate_json(raw_body(router) or b"{}")  # no body: the default grace
    new, old_key_expires_at = accounts.rotate(principal(router), key_id, request.grace_period_seconds)
    body = {
        "id": new.key_id,
        "role": new.role,
        "created_at": new.created_at,
        "last_used_at": None,
        "expires_at": None,
        "api_key": new.api_key,
        "old_key_expires_at": old_key_expires_at,
    }
    return json_response(201, body)
