"""The API contract (api/contract.py) against what serves it: the routers, the template's routes, the local
gateway's `$default`, and the OpenAPI document in docs/."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from devstack import REPO_ROOT
from devstack.api_gateway import ApiGateway
from devstack.stack import load_template
from sourcesync.api.app import PUBLIC_ROUTES, create_app
from sourcesync.api.contract import OPERATIONS, allowed_methods, operation_of, valid_path_parameters
from sourcesync.api.openapi import document
from sourcesync.api.params import CustomerQuery, DryRunQuery, PageQuery
from sourcesync.api.routes import (
    api_keys,
    console,
    customers,
    data_sources,
    delete_source,
    imports,
    jobs,
    openapi,
    resync,
    resync_customer,
    subscriptions,
)

ROUTERS = (
    api_keys,
    console,
    customers,
    data_sources,
    delete_source,
    imports,
    jobs,
    openapi,
    resync,
    resync_customer,
    subscriptions,
)
ID = "ds_01jbx0000000000000000000aa"


def test_every_route_served_is_in_the_contract_and_the_reverse() -> None:
    app = create_app(*(module.router for module in ROUTERS))
    served = {f"{r.method} {r.path}" for r in app._static_routes + app._dynamic_routes}
    assert all(
        operation_of(*key.split(" ", 1)) is not None for key in served if key.split(" ", 1)[1] not in PUBLIC_ROUTES
    )
    contract = {op.route_key for op in OPERATIONS}
    console_files = {f"GET {path}" for path in PUBLIC_ROUTES}  # static files, not API operations
    assert {key.replace("<", "{").replace(">", "}") for key in served - console_files} == contract
    assert console_files <= served


def test_the_template_routes_every_operation_and_sends_the_rest_to_the_api_function() -> None:
    routes = load_template().routes()
    keys = {r.route_key for r in routes}
    public = {op.route_key for op in OPERATIONS if op.public}
    console = {"GET /console", "GET /console/{proxy+}"}  # the console's static files (docs/console.md)
    assert keys == {op.route_key for op in OPERATIONS} - public | {"$default"} | console
    default = next(r for r in routes if r.route_key == "$default")
    assert (default.method, default.function_logical_id) == ("ANY", "ApiFunction")


@pytest.mark.parametrize(
    ("method", "path", "route_key", "function"),
    [
        ("GET", f"/v1/data_sources/{ID}", "GET /v1/data_sources/{uuid}", "ApiFunction"),
        ("DELETE", f"/v1/data_sources/{ID}", "DELETE /v1/data_sources/{uuid}", "DeleteSourceFunction"),
        ("POST", f"/v1/data_sources/{ID}/resync", "POST /v1/data_sources/{uuid}/resync", "ResyncSourceFunction"),
        ("PUT", f"/v1/data_sources/{ID}", "$default", "ApiFunction"),
        ("HEAD", "/v1/data_sources", "$default", "ApiFunction"),  # werkzeug's implicit HEAD is no route
        ("GET", f"/v1/data_sources/{ID}/resync", "$default", "ApiFunction"),
        ("GET", "/v1/openapi.json", "$default", "ApiFunction"),
        ("GET", "/nowhere", "$default", "ApiFunction"),
    ],
)
def test_the_local_gateway_uses_default_only_when_no_route_matches(
    method: str, path: str, route_key: str, function: str
) -> None:
    gateway = ApiGateway(load_template().routes())
    matched = gateway.match(Request(EnvironBuilder(path=path, method=method).get_environ()))
    assert matched is not None
    assert (matched[0].route_key, matched[0].function_logical_id) == (route_key, function)


def test_allowed_methods_and_path_shapes() -> None:
    assert allowed_methods(f"/v1/data_sources/{ID}") == ["DELETE", "GET", "PATCH"]
    assert allowed_methods("/v1/data_sources") == ["GET", "POST"]
    assert allowed_methods("/v1/data_sources/a/b/c") == []
    assert allowed_methods("/v1/customers/merges") == ["POST"]  # not the GET of /v1/customers/{uuid}
    operation = operation_of("GET", "/v1/data_sources/<uuid>")
    assert operation is not None
    assert valid_path_parameters(operation, {"uuid": ID})
    for odd in ("ds_" + "a" * 3000, "job_01jbx0000000000000000000aa", ID.upper(), ID + "\x00", ""):
        assert not valid_path_parameters(operation, {"uuid": odd})


@pytest.mark.parametrize("value", ["on", "1", "", "True", "yes", "0", "false ", "TRUE"])
def test_query_booleans_are_exactly_true_or_false(value: str) -> None:
    with pytest.raises(ValueError):
        DryRunQuery.model_validate({"dry_run": value})
    assert DryRunQuery.model_validate({"dry_run": "true"}).dry_run is True
    assert DryRunQuery.model_validate({"dry_run": "false"}).dry_run is False
    assert DryRunQuery.model_validate({}).dry_run is False


def test_unknown_query_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="per_pages"):
        PageQuery.model_validate({"per_pages": "5"})


@pytest.mark.parametrize(
    "query",
    [
        {"per_page": " 5"},
        {"per_page": "5.0"},
        {"per_page": "1e1"},
        {"per_page": "5,5"},
        {"as_of": "0"},
        {"as_of": "2026-02-30"},
        {"as_of": "2026-01-01T00:00:00"},
        {"external_id": "a\x00"},
        {"cursor": ""},
    ],
)
def test_query_numbers_dates_and_strings_are_written_one_way(query: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(query))):
        CustomerQuery.model_validate(query)


def test_well_written_queries_parse() -> None:
    parsed = CustomerQuery.model_validate({"per_page": "7", "as_of": "2026-02-28", "external_id": "c-1"})
    assert (parsed.per_page, parsed.as_of, parsed.external_id) == (7, date(2026, 2, 28), "c-1")


def test_docs_openapi_json_is_the_generated_document() -> None:
    """docs/openapi.json is `python -m sourcesync.api.openapi > docs/openapi.json`; regenerate it when this fails."""
    assert json.loads((REPO_ROOT / "docs" / "openapi.json").read_text()) == document()


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_the_document_describes_every_operation_with_its_errors() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    assert all(path.startswith("/v1/") for path in doc["paths"])
    ids = set()
    for op in OPERATIONS:
        described = doc["paths"][op.path][op.method.lower()]
        ids.add(described["operationId"])
        for status in op.error_statuses:
            assert described["responses"][str(status)]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorResponse"
            }
        names = {p["name"] for p in described.get("parameters", []) if p["in"] == "path"}
        assert names == set(op.params)
        for answer in described["responses"].values():
            for link in answer.get("links", {}).values():
                assert link["operationId"] in {o.operation_id for o in OPERATIONS}
    assert len(ids) == len(OPERATIONS)
    schemas = doc["components"]["schemas"]
    assert {ref.rsplit("/", 1)[1] for ref in _refs(doc["paths"])} <= set(schemas)
    assert {"waiting_for", "cleanup"} <= set(schemas["JobResponse"]["properties"])
