"""The OpenAPI 3.1 document of the API, generated from the contract (`api/contract.py`) and the pydantic
models the handlers validate with. Served at GET /v1/openapi.json; `python -m sourcesync.api.openapi`
prints it (docs/openapi.json is that output, and a test keeps the two equal)."""

from __future__ import annotations

import json
from functools import cache
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from sourcesync.api.contract import OPERATIONS, Operation, adapter, model
from sourcesync.api.responses import ErrorResponse

REF = "#/components/schemas/{model}"
VERSION = "1"


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: an optional one's `null` branch does not apply."""
    branches = schema.get("anyOf")
    if branches:
        kept = [b for b in branches if b.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**kept[0], **rest}
    return schema


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null({k: v for k, v in prop.items() if k != "title"})
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            parameter["description"] = prop["description"]
        out.append(parameter)
    return out


def _path_parameters(operation: Operation) -> list[dict[str, Any]]:
    out = []
    for name, kind in operation.params.items():
        schema = adapter(kind).json_schema()
        out.append(
            {"name": name, "in": "path", "required": True, "schema": schema, "description": schema.get("description")}
        )
    return out


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    for operation in OPERATIONS:
        if operation.body is not None:
            keys.append((model(operation.body), "validation"))
        keys += [(model(answer), "serialization") for answer in operation.responses.values() if answer is not None]
    return list(dict.fromkeys(keys))


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(operation: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, reference in sorted(operation.responses.items()):
        answer: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        if reference is not None:
            answer["content"] = _json(refs[(model(reference), "serialization")])
        elif status != 204:
            answer["content"] = _json({"type": "object"})
        if status == 202:
            answer["headers"] = {"Location": {"description": "The job's address.", "schema": {"type": "string"}}}
        links = operation.links.get(status)
        if links:
            answer["links"] = {
                name: {"operationId": link.operation_id, "parameters": link.parameters} for name, link in links.items()
            }
        responses[str(status)] = answer
    for status in operation.error_statuses:
        responses[str(status)] = {
            "description": f"{HTTPStatus(status).phrase} (the error envelope; `error.code` says which rule)",
            "content": _json(refs[(ErrorResponse, "serialization")]),
        }
    out: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": responses,
    }
    parameters = _path_parameters(operation) + _query_parameters(model(operation.query))
    if parameters:
        out["parameters"] = parameters
    if operation.body is not None:
        out["requestBody"] = {
            "required": operation.body_required,
            "content": _json(refs[(model(operation.body), "validation")]),
        }
    if operation.public:
        out["security"] = []
    return out


@cache
def document() -> dict[str, Any]:
    refs, definitions = models_json_schema(_models(), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SourceSync API",
            "version": VERSION,
            "description": "Erase and re-import the data of subscription-analytics data sources. "
            'Errors are `{"error": {"code", "message", "request_id", ...}}`; see docs/api.md.',
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key."},
                "basic": {"type": "http", "scheme": "basic", "description": "The API key as user name."},
            },
        },
        "security": [{"bearer": []}, {"basic": []}],
    }


def main() -> None:
    print(json.dumps(document(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
