"""The API's resolver: authentication, body limits, idempotency and error mapping, shared by every
function behind the HTTP API. A handler builds one with its routers and calls `resolve`."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sourcesync import errors
from sourcesync.api.contract import Operation, allowed_methods, model, operation_of, valid_path_parameters
from sourcesync.api.errors import error_body, headers_of, status_of, validation_details
from sourcesync.api.rate_limit import limit_requests
from sourcesync.api.resolver import APIGatewayHttpResolver, NextMiddleware, Response, Router
from sourcesync.config import get_settings
from sourcesync.services.accounts import authenticate
from sourcesync.store.accounts import Principal

ModelT = TypeVar("ModelT", bound=BaseModel)
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
#: The only routes a `support` key may call (docs/api.md#the-support-role: reprocess, in any account, and nothing else),
#: and the read of a job it started itself (services.jobs.visible_job: any other job is 404 to it).
SUPPORT_ROUTES = frozenset({"POST /v1/data_sources/{uuid}/reprocess", "GET /v1/jobs/{job_id}"})
#: POSTs whose answer holds a secret shown once (a new API key): never stored for an Idempotency-Key replay.
UNREPLAYABLE_ROUTES = frozenset({"POST /v1/api_keys/{key_id}/rotate"})
#: Routes of the resolver any caller may reach without a key: the console's static files (the OpenAPI
#: document is public through its contract entry).
PUBLIC_ROUTES = frozenset({"/console", "/console/", "/console/<name>"})


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=headers)


def request_id(app: APIGatewayHttpResolver) -> str:
    return str(app.current_event.request_context.request_id or "")


def principal(app: APIGatewayHttpResolver | Router) -> Principal:
    found: Principal = app.context["principal"]
    return found


def raw_body(app: APIGatewayHttpResolver | Router) -> bytes:
    event = app.current_event
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


def parse_body(app: APIGatewayHttpResolver | Router, model: type[ModelT]) -> ModelT:
    """The request body as `model`: malformed JSON, unknown fields and wrong types are 400s."""
    body = raw_body(app)
    return model.model_validate_json(body or b"null")


def parse_query(app: APIGatewayHttpResolver | Router, model: type[ModelT]) -> ModelT:
    return model.model_validate(app.current_event.query_string_parameters or {})


def _api_key(app: APIGatewayHttpResolver) -> str | None:
    header = app.current_event.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            user, _, _password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user or None
    return None


def _served(app: APIGatewayHttpResolver, route: Any) -> bool:
    """Whether the resolver matched one of its routes (for a request no route takes, Powertools hands the
    middlewares a stand-in route around its not-found handler)."""
    return any(route is served for served in (*app._static_routes, *app._dynamic_routes))


def _authenticate(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    route = app.context.get("_route")
    if route is None or not _served(app, route):  # a route nobody serves: 404/405 without asking for a key
        return next_middleware(app)
    if route.path in PUBLIC_ROUTES:
        return next_middleware(app)
    body = raw_body(app)
    if len(body) > get_settings().max_body_bytes:
        raise errors.PayloadTooLargeError("Request bodies are limited to 1 MB.")
    operation = route_operation(app)
    if operation is not None and operation.public:  # the OpenAPI document
        return next_middleware(app)
    caller = authenticate(_api_key(app))
    if caller.role == "support" and app.current_event.raw_event.get("routeKey") not in SUPPORT_ROUTES:
        raise errors.ForbiddenError("A support key may only reprocess data sources and read the jobs it started.")
    app.append_context(principal=caller)
    return next_middleware(app)


# ------------------------------------------------------------------------------------ the request contract
def route_operation(app: APIGatewayHttpResolver) -> Operation | None:
    """The contract's operation of the route the resolver matched; None when no route matched."""
    route = app.context.get("_route")
    return operation_of(app.current_event.http_method.upper(), route.path) if route is not None else None


def _is_json(app: APIGatewayHttpResolver, body: bytes) -> bool:
    media_type = (app.current_event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_request(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Before any handler or store: a body is JSON (415), path ids have the shape of their kind (else
    404: no such thing), and the query string holds only the operation's parameters, well typed (400)."""
    operation = route_operation(app)
    if operation is None:
        return next_middleware(app)
    body = raw_body(app)
    if body and not _is_json(app, body):
        raise errors.UnsupportedMediaTypeError("Request bodies are JSON: send Content-Type: application/json.")
    if not valid_path_parameters(operation, app.context.get("_route_args", {})):
        allow = allowed_methods(app.current_event.path)
        if allow and operation.method not in allow:  # GET /v1/customers/merges: a resource, not a customer id
            raise errors.MethodNotAllowedError(operation.method, allow)
        raise errors.NotFoundError("No such resource: an id in the path is not one this API gives out.")
    parse_query(app, model(operation.query))
    return next_middleware(app)


def _no_route(app: APIGatewayHttpResolver) -> Response[str]:
    """404 for a path the API does not serve, 405 (with `Allow`) for a method a served path does not take."""
    path = app.current_event.path
    allow = allowed_methods(path)
    if allow:
        error: errors.SourceSyncError = errors.MethodNotAllowedError(app.current_event.http_method.upper(), allow)
    else:
        error = errors.NotFoundError("No such route.")
    return json_response(
        status_of(error), error_body(error.code, error.message, request_id(app), **error.extra), headers_of(error)
    )


@lru_cache(maxsize=4)
def _persistence(table_name: str) -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from sourcesync.aws import client

    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client("dynamodb"))


def _idempotency(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """`Idempotency-Key` on a POST: scoped to (account, method, path, key), kept 24 hours; the same body
    replays the first answer, another body is 422 `idempotency_key_reused`."""
    key = app.current_event.headers.get("idempotency-key")
    if app.current_event.http_method != "POST" or not key:
        return next_middleware(app)
    if app.current_event.raw_event.get("routeKey") in UNREPLAYABLE_ROUTES:
        return next_middleware(app)
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="body_sha256",
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )
    config.register_lambda_context(app.lambda_context)

    @idempotent_function(
        data_keyword_argument="request", persistence_store=_persistence(get_settings().idempotency_table), config=config
    )
    def answer(request: dict[str, str]) -> dict[str, Any]:
        response = next_middleware(app)
        body = response.body if isinstance(response.body, str) else json.dumps(response.body)
        return {
            "path": app.current_event.path,  # a purge finds a deleted source's saved answers by its uuid
            "status": response.status_code,
            "body": body,
            "headers": dict(response.headers or {}),
            "content_type": response.headers.get("Content-Type", "application/json"),
        }

    scope = "|".join((principal(app).account_id, "POST", app.current_event.path, key))
    try:
        stored = answer(request={"scope": scope, "body_sha256": hashlib.sha256(raw_body(app)).hexdigest()})
    except IdempotencyValidationError:
        raise errors.IdempotencyKeyReusedError() from None
    except IdempotencyAlreadyInProgressError:
        raise errors.IdempotencyInProgressError("A request with this Idempotency-Key is still running.") from None
    headers = {k: v for k, v in stored["headers"].items() if k.lower() != "content-type"}
    return Response(
        status_code=stored["status"], content_type=stored["content_type"], body=stored["body"], headers=headers
    )


def create_app(*routers: Router) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(strip_prefixes=None)
    for router in routers:
        app.include_router(router)
    app.use(middlewares=[_authenticate, limit_requests, _check_request, _idempotency])

    @app.exception_handler(errors.SourceSyncError)
    def _domain_error(error: errors.SourceSyncError) -> Response[str]:
        body = error_body(error.code, error.message, request_id(app), **error.extra)
        return json_response(status_of(error), body, headers=headers_of(error))

    @app.exception_handler(ValidationError)
    def _invalid(error: ValidationError) -> Response[str]:
        details = validation_details(list(error.errors(include_url=False)))
        message = (
            "Malformed JSON."
            if any(e["type"] == "json_invalid" for e in error.errors())
            else "The request does not match the schema."
        )
        return json_response(400, error_body("invalid_request", message, request_id(app), details=details))

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return _no_route(app)

    return app
