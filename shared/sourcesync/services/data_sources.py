"""Data sources: create (with the first import), list, read, update (docs/api.md#data-sources)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sourcesync.clock import now_iso
from sourcesync.config import get_settings
from sourcesync.errors import ApiBaseNotAllowedError, InvalidRequestError, NotFoundError
from sourcesync.ids import new_id
from sourcesync.policy_matrix import CURRENT_VERSION
from sourcesync.services import connections
from sourcesync.services.jobs import present_job, start_source_job
from sourcesync.services.live_sources import COUNT_KINDS, live_source
from sourcesync.store.accounts import Principal
from sourcesync.store.credentials import get_credential_store
from sourcesync.store.dynamo import Item
from sourcesync.store.jobs import get_job_store
from sourcesync.store.sources import get_source_store
from sourcesync.systems import SYSTEMS, System

if TYPE_CHECKING:  # the request models are loaded by the routes that create and change sources
    from sourcesync.domain.sources import DataSourceChanges, DataSourceOptions, DataSourceOptionsPatch, NewDataSource

SCHEDULE_SHARDS = 1  # the `scheduled` index's partitions; raise it (and the scheduler's loop) if it gets hot


def _options(options: DataSourceOptions | None) -> dict[str, Any]:
    from sourcesync.domain.sources import DataSourceOptions  # on first use, not at cold start

    options = options or DataSourceOptions()
    if options.api_base is not None and not get_settings().allow_api_base:
        raise ApiBaseNotAllowedError()
    stored: dict[str, Any] = {"max_retry_seconds": options.max_retry_seconds}
    if options.api_base is not None:
        stored["api_base"] = str(options.api_base).rstrip("/")
    if options.requests_per_second is not None:
        stored["requests_per_second"] = options.requests_per_second
    return stored


def _merged_options(stored: dict[str, Any], patch: DataSourceOptionsPatch) -> dict[str, Any]:
    """The stored options with the fields the PATCH names changed: a value replaces the stored one, `null`
    puts the option back to its default (`max_retry_seconds` 300, the others unset); the rest stay."""
    from sourcesync.domain.sources import DEFAULT_MAX_RETRY_SECONDS  # on first use, not at cold start

    merged = dict(stored)
    named = patch.model_fields_set
    if "api_base" in named:
        if patch.api_base is None:
            merged.pop("api_base", None)
        elif not get_settings().allow_api_base:
            raise ApiBaseNotAllowedError()
        else:
            merged["api_base"] = str(patch.api_base).rstrip("/")
    if "requests_per_second" in named:
        if patch.requests_per_second is None:
            merged.pop("requests_per_second", None)
        else:
            merged["requests_per_second"] = patch.requests_per_second
    if "max_retry_seconds" in named:
        merged["max_retry_seconds"] = (
            DEFAULT_MAX_RETRY_SECONDS if patch.max_retry_seconds is None else patch.max_retry_seconds
        )
    return merged


def _schedule_attributes(schedule: str | None) -> dict[str, Any]:
    if schedule is None:
        return {}
    return {"schedule": schedule, "schedule_shard": "0", "schedule_anchor": now_iso()}


def create(principal: Principal, request: NewDataSource) -> dict[str, Any]:
    options = _options(request.options)
    system = request.system
    if system is System.CUSTOM:
        if request.credentials:
            raise InvalidRequestError(
                "A custom source takes no credentials.",
                [{"loc": "credentials", "msg": "custom sources take no credentials"}],
            )
        if request.schedule:
            raise InvalidRequestError(
                "A custom source cannot be re-synced, so it takes no schedule.",
                [{"loc": "schedule", "msg": "custom sources are never re-synced"}],
            )
    else:
        if not request.credentials:
            raise InvalidRequestError(
                "This system needs credentials.", [{"loc": "credentials", "msg": "field required"}]
            )
        connections.check_credentials(system, request.credentials, options)

    uuid = new_id("ds")
    item: Item = {
        "uuid": uuid,
        "account_id": principal.account_id,
        "name": request.name,
        "system": system.value,
        "status": "active" if system is System.CUSTOM else "importing",
        "options": options,
        "created_at": now_iso(),
        "created_by": principal.key_id,
        "last_synced_at": None,
        "counts": dict.fromkeys(COUNT_KINDS, 0),
        **_schedule_attributes(request.schedule),
    }
    if system is System.CUSTOM:  # pushed data lives in one generation, readable at once
        item.update(committed_generation=1, next_generation=1)
    else:  # the policy matrix may differ between versions of an integration: a source keeps its own
        item["integration_version"] = CURRENT_VERSION[system]
    if request.credentials:
        get_credential_store().put(principal.account_id, uuid, request.credentials)
    get_source_store().create(item)
    job = None
    if system is not System.CUSTOM:
        job = start_source_job(principal.account_id, uuid, "import", principal.key_id)
        item = get_source_store().get(principal.account_id, uuid) or item
    return {"data_source": present(item, job), "job": present_job(job) if job else None}


def get(principal: Principal, uuid: str) -> dict[str, Any]:
    return present(live_source(principal, uuid))


def list_page(principal: Principal, per_page: int, after: str | None) -> tuple[list[dict[str, Any]], str | None]:
    items, last = get_source_store().list_page(principal.account_id, per_page, after)
    return [present(item) for item in items], last


def update(principal: Principal, uuid: str, request: DataSourceChanges) -> dict[str, Any]:
    source = live_source(principal, uuid)
    fields = request.model_fields_set
    set_values: dict[str, Any] = {}
    remove: tuple[str, ...] = ()
    if "name" in fields:
        if request.name is None:
            raise InvalidRequestError("name cannot be null.", [{"loc": "name", "msg": "may not be null"}])
        set_values["name"] = request.name
    if "schedule" in fields:
        if request.schedule is None:
            remove = ("schedule", "schedule_shard", "schedule_anchor")
        elif not SYSTEMS[System(source["system"])].resync_source:
            raise InvalidRequestError(
                "This source cannot be re-synced, so it takes no schedule.",
                [{"loc": "schedule", "msg": "custom sources are never re-synced"}],
            )
        else:
            set_values.update(_schedule_attributes(request.schedule))
    if "options" in fields and request.options is not None:
        merged = _merged_options(source.get("options") or {}, request.options)
        if merged != (source.get("options") or {}):
            set_values["options"] = merged
    if "credentials" in fields and request.credentials is not None:
        _check_new_credentials(source, request.credentials, set_values.get("options") or source.get("options") or {})
    if not set_values and not remove and request.credentials is None:
        return present(source)
    # The conditional write on the source first: a PATCH racing a DELETE must not re-create its secret.
    updated = get_source_store().update(principal.account_id, uuid, {**set_values, "updated_at": now_iso()}, remove)
    if updated is None:
        raise NotFoundError("No such data source.")
    if "credentials" in fields and request.credentials is not None:
        get_credential_store().put(principal.account_id, uuid, request.credentials)
    return present(updated)


def _check_new_credentials(source: Item, credentials: dict[str, str], options: dict[str, Any]) -> None:
    """New credentials are checked with the provider (with the options as they will be) before anything
    is written: 422 `credentials_invalid` or `provider_unavailable` changes nothing."""
    if source["system"] == System.CUSTOM.value:
        raise InvalidRequestError(
            "A custom source takes no credentials.",
            [{"loc": "credentials", "msg": "custom sources take no credentials"}],
        )
    connections.check_credentials(System(source["system"]), credentials, options)


def present(source: Item, job: Item | None = None) -> dict[str, Any]:
    if job is None and source.get("current_job_id"):
        job = get_job_store().get(source["account_id"], source["current_job_id"])
    counts = source.get("counts") or {}
    return {
        "uuid": source["uuid"],
        "name": source["name"],
        "system": source["system"],
        "status": source["status"],
        "resync_supported": SYSTEMS[System(source["system"])].resync_source,
        "schedule": source.get("schedule"),
        "options": source.get("options", {}),
        "created_at": source["created_at"],
        "last_synced_at": source.get("last_synced_at"),
        "current_job": present_job(job) if job else None,
        "counts": {kind: int(counts.get(kind, 0)) for kind in COUNT_KINDS},
    }
