"""Erasing a data source (docs/architecture.md#concepts, "Erase"): the API's side.

The delete itself is one conditional write on the source item (status `deleting`): from that write on,
every read treats the source and all of its data as gone, whatever its size, and nothing can commit
into it. The physical purge runs afterwards in the purge state machine.
"""

from __future__ import annotations

import json
from typing import Any

from sourcesync.aws import client
from sourcesync.clock import now_iso
from sourcesync.config import get_settings
from sourcesync.errors import NotFoundError
from sourcesync.log import logger
from sourcesync.services.audit import publish
from sourcesync.services.data_sources import COUNT_KINDS, live_source
from sourcesync.services.jobs import execution_name, new_job
from sourcesync.store.accounts import Principal
from sourcesync.store.dynamo import Item, ddb, is_condition_failure, to_item
from sourcesync.store.sources import source_key


def _counts(source: Item) -> dict[str, int]:
    stored = source.get("counts") or {}
    return {kind: int(stored.get(kind, 0)) for kind in COUNT_KINDS}


def preview(principal: Principal, uuid: str) -> dict[str, Any]:
    """`?dry_run=true`: what a delete would erase, and nothing erased."""
    from sourcesync.services.overlays import overlays_of_source

    source = live_source(principal, uuid)
    return {"counts": _counts(source), "overlays_affected": overlays_of_source(principal.account_id, uuid)}


def delete(principal: Principal, uuid: str) -> Item:
    """Mark the source deleted (one conditional write, with the job's creation), audit, start the purge."""
    source = live_source(principal, uuid)
    settings = get_settings()
    job = new_job(principal.account_id, uuid, "delete_source", principal.key_id)
    job.update(status="queued", phase="purging", running_job_id=source.get("current_job_id"))
    deleted_at = now_iso()
    try:
        ddb().transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": settings.sources_table,
                        "Key": source_key(principal.account_id, uuid),
                        "UpdateExpression": "SET #status = :deleting, deleted_at = :now, deleted_by = :who, "
                        "delete_job_id = :job, schedule_shard = :purge",
                        "ConditionExpression": "attribute_exists(pk) AND #status <> :deleting",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": to_item(
                            {
                                ":deleting": "deleting",
                                ":now": deleted_at,
                                ":who": principal.key_id,
                                ":job": job["job_id"],
                                ":purge": PURGE_SHARD,
                            }
                        ),
                    }
                },
                {
                    "Put": {
                        "TableName": settings.jobs_table,
                        "Item": to_item({"pk": f"A#{principal.account_id}", "sk": f"JOB#{job['job_id']}", **job}),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    except Exception as error:
        if is_condition_failure(error):
            raise NotFoundError("No such data source.") from None
        raise
    audit(principal, source, job, deleted_at)
    start_purge(job)
    return job


#: Deleting sources sit in the sparse `scheduled` index under this shard, so the scheduler can restart
#: a purge whose start was lost; a finished purge removes the source item and with it the entry.
PURGE_SHARD = "purge"


def start_purge(job: Item, attempt: int = 1) -> None:
    name = execution_name(job["data_source_uuid"], job["job_id"]) + ("" if attempt == 1 else f"-{attempt}")
    execution_input = {
        "job": {
            "account_id": job["account_id"],
            "data_source_uuid": job["data_source_uuid"],
            "job_id": job["job_id"],
            "kind": "delete_source",
            "running_job_id": job.get("running_job_id"),
        }
    }
    try:
        client("stepfunctions").start_execution(
            stateMachineArn=get_settings().purge_state_machine_arn, name=name, input=json.dumps(execution_input)
        )
    except Exception:  # the source is deleted already; the scheduler restarts a purge that did not start
        logger.exception("The purge could not be started", job_id=job["job_id"])


def audit(principal: Principal, source: Item, job: Item, deleted_at: str) -> None:
    """Every delete leaves an audit record: a structured log line, an EventBridge event on the audit bus,
    and an item of the account's (which outlives the source). No secret in any of them."""
    record = {
        "action": "delete_source",
        "account_id": principal.account_id,
        "data_source_uuid": source["uuid"],
        "data_source_name": source["name"],
        "system": source["system"],
        "key_id": principal.key_id,
        "role": principal.role,
        "at": deleted_at,
        "job_id": job["job_id"],
        "counts": _counts(source),
    }
    publish("DataSourceDeleted", principal.account_id, f"{deleted_at}#{job['job_id']}", record)
