"""The API's operations: method, path, and the models that parse their path, query and body and describe
their answers. Three things read this one table: the request checks in `api/app.py` (path ids and query
strings, before any handler runs), the 404/405 answers for routes nobody serves, and the OpenAPI document
(`api/openapi.py`). The handlers parse their bodies and queries with the same models."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from pydantic import TypeAdapter

#: What any authenticated operation may answer besides its own codes: a bad path id or query (404/400), no
#: key (401), the wrong role (403), a body over 1 MB (413), a body that is not JSON (415), too many
#: requests (429).
COMMON_ERRORS = (400, 401, 403, 404, 413, 415, 429)


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: an answer's value used as a parameter of another operation."""

    operation_id: str
    parameters: dict[str, str]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # "/v1/data_sources/{uuid}"
    operation_id: str
    summary: str
    responses: dict[int, str | None]  # success status -> its model ("module:Class" in sourcesync.api); None: no body
    params: dict[str, str] = field(default_factory=dict)  # path parameter -> its type ("params:DataSourceId")
    query: str = "params:NoQuery"  # the model of its query string
    body: str | None = None  # "module:Class" in sourcesync.api: what the handler validates its body with
    body_required: bool = True
    errors: tuple[int, ...] = ()  # statuses beyond COMMON_ERRORS
    public: bool = False
    links: dict[int, dict[str, Link]] = field(default_factory=dict)
    tag: str = ""

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def error_statuses(self) -> tuple[int, ...]:
        if self.public:
            return tuple(sorted({400, 415, 429, *self.errors}))
        return tuple(sorted({*COMMON_ERRORS, *self.errors}))


_DS = {"uuid": "params:DataSourceId"}
_SOURCE_LINKS = {
    name: Link(target, {"uuid": "$response.body#/data_source/uuid"})
    for name, target in (
        ("GetDataSource", "getDataSource"),
        ("UpdateDataSource", "updateDataSource"),
        ("DeleteDataSource", "deleteDataSource"),
        ("ResyncDataSource", "resyncDataSource"),
        ("ListDataSourceJobs", "listDataSourceJobs"),
        ("ImportCustomers", "importCustomers"),
        ("ImportPlans", "importPlans"),
        ("ImportInvoices", "importInvoices"),
    )
}
_CUSTOMER_LINKS = {
    "GetCustomer": Link("getCustomer", {"uuid": "$response.body#/entries/0/uuid"}),
    "ConnectSubscriptions": Link("connectSubscriptions", {"uuid": "$response.body#/entries/0/uuid"}),
    "DisconnectSubscriptions": Link("disconnectSubscriptions", {"uuid": "$response.body#/entries/0/uuid"}),
    "ResyncCustomer": Link(
        "resyncCustomer", {"uuid": "$request.path.uuid", "customer_uuid": "$response.body#/entries/0/uuid"}
    ),
}
_SUBSCRIPTION_LINKS = {
    "GetSubscription": Link("getSubscription", {"uuid": "$response.body#/subscriptions/0/uuid"}),
    "AddMrrEdit": Link("addMrrEdit", {"uuid": "$response.body#/subscriptions/0/uuid"}),
}
_JOB_LINKS = {
    "GetJob": Link("getJob", {"job_id": "$response.body#/id"}),
    "CancelJob": Link("cancelJob", {"job_id": "$response.body#/id"}),
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/v1/openapi.json",
        "getOpenApi",
        "This document (no key needed).",
        {200: None},
        public=True,
        tag="meta",
    ),
    Operation(
        "POST",
        "/v1/data_sources",
        "createDataSource",
        "Create a data source; other systems than `custom` start their first import.",
        {201: "models:DataSourceCreatedResponse"},
        body="models:DataSourceCreateRequest",
        errors=(409, 422),
        links={201: _SOURCE_LINKS},
        tag="data sources",
    ),
    Operation(
        "GET",
        "/v1/data_sources",
        "listDataSources",
        "The account's data sources, in creation order.",
        {200: "responses:DataSourcePage"},
        query="params:PageQuery",
        tag="data sources",
    ),
    Operation(
        "GET",
        "/v1/data_sources/{uuid}",
        "getDataSource",
        "One data source.",
        {200: "models:DataSourceResponse"},
        params=_DS,
        tag="data sources",
    ),
    Operation(
        "PATCH",
        "/v1/data_sources/{uuid}",
        "updateDataSource",
        "Change what the body names: name, schedule, credentials (checked first), options.",
        {200: "models:DataSourceResponse"},
        params=_DS,
        body="models:DataSourceUpdateRequest",
        errors=(409, 422),
        tag="data sources",
    ),
    Operation(
        "DELETE",
        "/v1/data_sources/{uuid}",
        "deleteDataSource",
        "Erase a data source (202 with the delete job); `dry_run=true` only says what would go (200).",
        {202: "models:JobResponse", 200: "responses:DeletePreviewResponse"},
        params=_DS,
        query="params:DryRunQuery",
        errors=(409, 422),
        links={202: _JOB_LINKS},
        tag="data sources",
    ),
    Operation(
        "POST",
        "/v1/data_sources/{uuid}/resync",
        "resyncDataSource",
        "Re-sync a data source (202 with the job); `dry_run=true` only says what manual data would go (200).",
        {202: "models:JobResponse", 200: "responses:ResyncPreviewResponse"},
        params=_DS,
        query="params:DryRunQuery",
        errors=(409, 422),
        links={202: _JOB_LINKS},
        tag="data sources",
    ),
    Operation(
        "POST",
        "/v1/data_sources/{uuid}/reprocess",
        "reprocessDataSource",
        "Support keys only: rebuild derived data from the stored records (202 with the job).",
        {202: "models:JobResponse"},
        params=_DS,
        errors=(409, 422),
        links={202: _JOB_LINKS},
        tag="data sources",
    ),
    Operation(
        "POST",
        "/v1/data_sources/{uuid}/customers/{customer_uuid}/resync",
        "resyncCustomer",
        "Re-sync one customer of a data source (202 with the job).",
        {202: "models:JobResponse"},
        params={"uuid": "params:DataSourceId", "customer_uuid": "params:CustomerId"},
        errors=(409, 422),
        links={202: _JOB_LINKS},
        tag="data sources",
    ),
    Operation(
        "GET",
        "/v1/data_sources/{uuid}/jobs",
        "listDataSourceJobs",
        "A data source's jobs, newest first.",
        {200: "responses:JobPage"},
        params=_DS,
        query="params:PageQuery",
        tag="jobs",
    ),
    Operation(
        "GET",
        "/v1/jobs/{job_id}",
        "getJob",
        "One job.",
        {200: "models:JobResponse"},
        params={"job_id": "params:JobId"},
        tag="jobs",
    ),
    Operation(
        "POST",
        "/v1/jobs/{job_id}/cancel",
        "cancelJob",
        "Ask a running job to stop (202); 409 once it has finished or committed.",
        {202: "models:JobResponse"},
        params={"job_id": "params:JobId"},
        errors=(409,),
        tag="jobs",
    ),
    Operation(
        "GET",
        "/v1/customers",
        "listCustomers",
        "Customers of one source or of every source of the account.",
        {200: "responses:CustomerPage"},
        query="params:CustomerQuery",
        tag="customers",
    ),
    Operation(
        "GET",
        "/v1/customers/{uuid}",
        "getCustomer",
        "One customer with its subscriptions, invoices and manual data.",
        {200: "responses:CustomerResponse"},
        params={"uuid": "params:CustomerId"},
        query="params:AsOfQuery",
        links={200: _SUBSCRIPTION_LINKS},
        tag="customers",
    ),
    Operation(
        "POST",
        "/v1/customers/merges",
        "mergeCustomers",
        "Merge one customer into another.",
        {200: "responses:CustomerResponse"},
        body="models:MergeRequest",
        errors=(409, 422),
        tag="manual data",
    ),
    Operation(
        "POST",
        "/v1/customers/{uuid}/connect_subscriptions",
        "connectSubscriptions",
        "Connect subscriptions of a customer.",
        {200: "responses:CustomerResponse"},
        params={"uuid": "params:CustomerId"},
        body="models:SubscriptionsRequest",
        errors=(409, 422),
        tag="manual data",
    ),
    Operation(
        "POST",
        "/v1/customers/{uuid}/disconnect_subscriptions",
        "disconnectSubscriptions",
        "Disconnect subscriptions of a customer.",
        {200: "responses:CustomerResponse"},
        params={"uuid": "params:CustomerId"},
        body="models:SubscriptionsRequest",
        errors=(409, 422),
        tag="manual data",
    ),
    Operation(
        "GET",
        "/v1/subscriptions/{uuid}",
        "getSubscription",
        "One subscription.",
        {200: "responses:SubscriptionResponse"},
        params={"uuid": "params:SubscriptionId"},
        query="params:AsOfQuery",
        tag="manual data",
    ),
    Operation(
        "POST",
        "/v1/subscriptions/{uuid}/mrr_edits",
        "addMrrEdit",
        "Set a subscription's MRR over a period.",
        {201: "responses:OverlayResponse"},
        params={"uuid": "params:SubscriptionId"},
        body="models:MrrEditRequest",
        errors=(409, 422),
        links={
            201: {
                "DeleteMrrEdit": Link("deleteMrrEdit", {"uuid": "$request.path.uuid", "edit_id": "$response.body#/id"})
            }
        },
        tag="manual data",
    ),
    Operation(
        "DELETE",
        "/v1/subscriptions/{uuid}/mrr_edits/{edit_id}",
        "deleteMrrEdit",
        "Remove an MRR edit.",
        {204: None},
        params={"uuid": "params:SubscriptionId", "edit_id": "params:MrrEditId"},
        errors=(409, 422),
        tag="manual data",
    ),
    Operation(
        "GET",
        "/v1/api_keys",
        "listApiKeys",
        "The account's API keys (never their secrets).",
        {200: "responses:ApiKeyPage"},
        query="params:PageQuery",
        tag="api keys",
    ),
    Operation(
        "DELETE",
        "/v1/api_keys/{key_id}",
        "revokeApiKey",
        "Revoke a key at once (a key may revoke itself).",
        {204: None},
        params={"key_id": "params:ApiKeyId"},
        tag="api keys",
    ),
    Operation(
        "POST",
        "/v1/api_keys/{key_id}/rotate",
        "rotateApiKey",
        "A new key of the same role; the old one stops working after the grace period.",
        {201: "responses:RotatedKeyResponse"},
        params={"key_id": "params:ApiKeyId"},
        body="models:RotateKeyRequest",
        body_required=False,
        tag="api keys",
    ),
    Operation(
        "POST",
        "/v1/import/data_sources/{uuid}/customers",
        "importCustomers",
        "Import API: customers of a `custom` source (all or nothing).",
        {201: "responses:ImportResponse"},
        params=_DS,
        body="import_models:ImportCustomersRequest",
        errors=(409, 422),
        links={201: _CUSTOMER_LINKS},
        tag="import",
    ),
    Operation(
        "POST",
        "/v1/import/data_sources/{uuid}/plans",
        "importPlans",
        "Import API: plans of a `custom` source (all or nothing).",
        {201: "responses:ImportResponse"},
        params=_DS,
        body="import_models:ImportPlansRequest",
        errors=(409, 422),
        tag="import",
    ),
    Operation(
        "POST",
        "/v1/import/data_sources/{uuid}/invoices",
        "importInvoices",
        "Import API: invoices of a `custom` source (all or nothing).",
        {201: "responses:ImportResponse"},
        params=_DS,
        body="import_models:ImportInvoicesRequest",
        errors=(409, 422),
        tag="import",
    ),
)

BY_ROUTE_KEY = {op.route_key: op for op in OPERATIONS}
_PARAM = re.compile(r"\{([^}/]+)\}")


@cache
def _path_pattern(path: str) -> re.Pattern[str]:
    parts = _PARAM.split(path)
    regex = "".join(re.escape(part) if i % 2 == 0 else "[^/]+" for i, part in enumerate(parts))
    return re.compile(f"^{regex}$")


def allowed_methods(path: str) -> list[str]:
    """The methods of the resource at `path` (empty: no such resource). Where templates overlap
    (`/v1/customers/merges` and `/v1/customers/{uuid}`), the one with the fewest parameters is the
    resource, as API Gateway routes the most specific match."""
    matches = [op for op in OPERATIONS if _path_pattern(op.path).match(path)]
    if not matches:
        return []
    fewest = min(op.path.count("{") for op in matches)
    return sorted({op.method for op in matches if op.path.count("{") == fewest})


def operation_of(method: str, route_path: str) -> Operation | None:
    """The operation of a resolver route (`/v1/data_sources/<uuid>`, Powertools' notation)."""
    return BY_ROUTE_KEY.get(f"{method} {route_path.replace('<', '{').replace('>', '}')}")


@cache
def resolve(reference: str) -> Any:
    """What a reference names ("import_models:ImportPlansRequest", "params:DataSourceId"), imported on first
    use: a function's cold start does not pay for the models of operations it does not serve, and the
    OpenAPI document's answer models are loaded only when it is built."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(f"sourcesync.api.{module}"), name)


def model(reference: str) -> type[BaseModel]:
    """A body, query or answer model by its reference."""
    found = resolve(reference)
    if not (isinstance(found, type) and issubclass(found, BaseModel)):
        raise TypeError(f"{reference} is not a model")
    return found


@cache
def adapter(reference: str) -> TypeAdapter[Any]:
    """The validator of a path parameter's type, by its reference, built on first use."""
    from pydantic import TypeAdapter  # on first use, not at cold start (it loads pydantic's JSON Schema)

    return TypeAdapter(resolve(reference))


def valid_path_parameters(operation: Operation, values: dict[str, str]) -> bool:
    """Whether every path parameter has the shape of the id it names (checked before any store is asked)."""
    for name, kind in operation.params.items():
        try:
            adapter(kind).validate_python(values.get(name, ""))
        except ValueError:
            return False
    return True
