"""The Import API: /v1/import/data_sources/{uuid}/customers, /plans and /invoices (custom sources)."""

from __future__ import annotations

from sourcesync.api.app import json_response, parse_body, principal
from sourcesync.api.resolver import Response, Router

router = Router()


@router.post("/v1/import/data_sources/<uuid>/customers")
def import_customers(uuid: str) -> Response[str]:
    from sourcesync.api.import_models import ImportCustomersRequest  # on first use, not at cold start
    from sourcesync.services import imports  # on first use, not at cold start

    request = parse_body(router, ImportCustomersRequest)
    return json_response(201, imports.import_customers(principal(router), uuid, request))


@router.post("/v1/import/data_sources/<uuid>/plans")
def import_plans(uuid: str) -> Response[str]:
    from sourcesync.api.import_models import ImportPlansRequest  # on first use, not at cold start
    from sourcesync.services import imports  # on first use, not at cold start

    request = parse_body(router, ImportPlansRequest)
    return json_response(201, imports.import_plans(principal(router), uuid, request))


@router.post("/v1/import/data_sources/<uuid>/invoices")
def import_invoices(uuid: str) -> Response[str]:
    from sourcesync.api.import_models import ImportInvoicesRequest  # on first use, not at cold start
    from sourcesync.services import imports  # on first use, not at cold start

    request = parse_body(router, ImportInvoicesRequest)
    return json_response(201, imports.import_invoices(principal(router), uuid, request))
