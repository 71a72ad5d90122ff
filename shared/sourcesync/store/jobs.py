"""Jobs and their progress (JobsTable).

``pk=A#<account_id>, sk=JOB#<job_id>``: one item per job, with its status, phase, progress and result.
Job ids are time-ordered, so the `by_source` index (data_source_uuid, job_id) lists a source's jobs
newest first. The same table holds the short-lived work items of running jobs (`store/work_items.py`)
and the sources' provider request budgets (`store/request_budget.py`) under their own `pk` prefixes.
"""

from __future__ import annotations

import time
from typing import Any

from sourcesync.config import get_settings
from sourcesync.errors import JobRunningError, NotFoundError
from sourcesync.store import work_items
from sourcesync.store.dynamo import (
    Item,
    all_items,
    ddb,
    delete_keys,
    from_item,
    is_condition_failure,
    to_item,
    to_value,
)
from sourcesync.store.sources import source_key


def budget_key(data_source_uuid: str) -> dict[str, str]:
    """The key of a source's request budget item (`store/request_budget.py`; a purge deletes it)."""
    return {"pk": f"BUDGET#{data_source_uuid}", "sk": "BUDGET"}


def job_key(account_id: str, job_id: str) -> dict[str, Any]:
    return to_item({"pk": f"A#{account_id}", "sk": f"JOB#{job_id}"})


class JobStore:
    def __init__(self, table_name: str, sources_table: str) -> None:
        self.table = table_name
        self.sources_table = sources_table

    def _put(self, job: Item) -> dict[str, Any]:
        return {
            "TableName": self.table,
            "Item": to_item({"pk": f"A#{job['account_id']}", "sk": f"JOB#{job['job_id']}", **job}),
            "ConditionExpression": "attribute_not_exists(pk)",
        }

    def create(self, job: Item) -> None:
        ddb().put_item(**self._put(job))

    def create_holding_source(self, job: Item, source_status: str) -> None:
        """Create the job and make it the source's one running job, in one transaction.

        Raises JobRunningError (with the running job's id) if the source already has one, and
        NotFoundError if the source is gone or being deleted.
        """
        account_id, uuid = job["account_id"], job["data_source_uuid"]
        try:
            ddb().transact_write_items(
                TransactItems=[
                    {"Put": self._put(job)},
                    {
                        "Update": {
                            "TableName": self.sources_table,
                            "Key": source_key(account_id, uuid),
                            "UpdateExpression": "SET current_job_id = :job, #status = :status",
                            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(current_job_id)"
                            " AND #status <> :deleting",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": to_item(
                                {":job": job["job_id"], ":status": source_status, ":deleting": "deleting"}
                            ),
                        }
                    },
                ]
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            answer = ddb().get_item(TableName=self.sources_table, Key=source_key(account_id, uuid), ConsistentRead=True)
            source = from_item(answer["Item"]) if "Item" in answer else None
            if source and source.get("status") != "deleting" and source.get("current_job_id"):
                raise JobRunningError(source["current_job_id"]) from None
            raise NotFoundError("No such data source.") from None

    def create_deleting_source(self, job: Item, deleted_at: str, schedule_shard: str) -> bool:
        """Erase a source: mark it `deleting` (by and when, the delete job, the scheduler's shard that
        restarts a lost purge) and create the delete job, in one transaction. False if the source is gone
        or being deleted already (nothing written)."""
        account_id, uuid = job["account_id"], job["data_source_uuid"]
        try:
            ddb().transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.sources_table,
                            "Key": source_key(account_id, uuid),
                            "UpdateExpression": "SET #status = :deleting, deleted_at = :now, deleted_by = :who, "
                            "delete_job_id = :job, schedule_shard = :purge",
                            "ConditionExpression": "attribute_exists(pk) AND #status <> :deleting",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": to_item(
                                {
                                    ":deleting": "deleting",
                                    ":now": deleted_at,
                                    ":who": job["created_by"],
                                    ":job": job["job_id"],
                                    ":purge": schedule_shard,
                                }
                            ),
                        }
                    },
                    {"Put": self._put(job)},
                ]
            )
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def get(self, account_id: str, job_id: str) -> Item | None:
        answer = ddb().get_item(TableName=self.table, Key=job_key(account_id, job_id), ConsistentRead=True)
        return from_item(answer["Item"]) if "Item" in answer else None

    def with_source(self, account_id: str, job_id: str, data_source_uuid: str) -> tuple[Item | None, Item | None]:
        """The job and its source as they are now (None for a missing one), in one strongly consistent
        BatchGetItem: a fetch worker asks every few seconds whether its job may go on."""
        keys: dict[str, list[dict[str, Any]]] = {}
        keys.setdefault(self.table, []).append(job_key(account_id, job_id))
        keys.setdefault(self.sources_table, []).append(source_key(account_id, data_source_uuid))
        request: dict[str, Any] = {table: {"Keys": wanted, "ConsistentRead": True} for table, wanted in keys.items()}
        found: dict[str, Item] = {}
        delay = 0.05
        while request:
            answer = ddb().batch_get_item(RequestItems=request)
            for items in answer.get("Responses", {}).values():
                for item in items:
                    found[item["sk"]["S"].split("#", 1)[0]] = from_item(item)
            request = answer.get("UnprocessedKeys") or {}
            if request:
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        return found.get("JOB"), found.get("DS")

    def list_for_source(
        self, data_source_uuid: str, limit: int, before_job_id: str | None
    ) -> tuple[list[Item], str | None]:
        """One page of a source's jobs, newest first, and the job id to continue before."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "by_source",
            "KeyConditionExpression": "data_source_uuid = :ds",
            "ExpressionAttributeValues": to_item({":ds": data_source_uuid}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if before_job_id:
            job = self._locate(data_source_uuid, before_job_id)
            if job is None:
                return [], None
            request["ExclusiveStartKey"] = to_item(
                {"pk": job["pk"], "sk": job["sk"], "data_source_uuid": data_source_uuid, "job_id": before_job_id}
            )
        answer = ddb().query(**request)
        items = [from_item(i) for i in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        return items, (from_item(last)["job_id"] if last else None)

    def _locate(self, data_source_uuid: str, job_id: str) -> Item | None:
        answer = ddb().query(
            TableName=self.table,
            IndexName="by_source",
            KeyConditionExpression="data_source_uuid = :ds AND job_id = :job",
            ExpressionAttributeValues=to_item({":ds": data_source_uuid, ":job": job_id}),
        )
        items = answer.get("Items", [])
        return from_item(items[0]) if items else None

    def update(self, account_id: str, job_id: str, set_values: Item, only_if_status: tuple[str, ...] = ()) -> bool:
        """Set attributes of a job; with `only_if_status`, only while its status is one of those."""
        names = {f"#s{i}": k for i, k in enumerate(set_values)}
        values = {f":s{i}": to_value(v) for i, v in enumerate(set_values.values())}
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": job_key(account_id, job_id),
            "UpdateExpression": "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(set_values))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        request["ConditionExpression"] = "attribute_exists(pk)"  # never re-create a purged job
        if only_if_status:
            names["#status"] = "status"
            placeholders = []
            for i, status in enumerate(only_if_status):
                values[f":w{i}"] = to_value(status)
                placeholders.append(f":w{i}")
            request["ConditionExpression"] = f"attribute_exists(pk) AND #status IN ({', '.join(placeholders)})"
        try:
            ddb().update_item(**request)
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def raise_percent_shown(self, account_id: str, job_id: str, percent: int) -> None:
        """Remember the highest percent a running job has shown, so that it never goes down (a no-op
        when a reader already showed as much, or the job has ended)."""
        try:
            ddb().update_item(
                TableName=self.table,
                Key=job_key(account_id, job_id),
                UpdateExpression="SET percent_shown = :p",
                ConditionExpression="#status = :running"
                " AND (attribute_not_exists(percent_shown) OR percent_shown < :p)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_item({":p": percent, ":running": "running"}),
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise

    def set_waiting_for(self, account_id: str, job_id: str, reason: str | None, until: str | None = None) -> None:
        """`waiting_for: {"reason", "until"}` while the job waits for something, null once it no longer does."""
        value = {"reason": reason, "until": until} if reason else None
        self.update(account_id, job_id, {"waiting_for": value})

    def for_source(self, data_source_uuid: str) -> list[Item]:
        """Every job of a source (the `by_source` index, all pages)."""
        return list(
            all_items(
                {
                    "TableName": self.table,
                    "IndexName": "by_source",
                    "KeyConditionExpression": "data_source_uuid = :ds",
                    "ExpressionAttributeValues": to_item({":ds": data_source_uuid}),
                }
            )
        )

    def delete_source_jobs(self, data_source_uuid: str, keep_job_id: str) -> int:
        """A purge: delete a source's jobs but `keep_job_id` (the delete job), their work items and the
        source's request budget, in one series of batch writes. Returns how many jobs went."""
        keys: list[dict[str, Any]] = []
        removed = 0
        for item in self.for_source(data_source_uuid):
            if item["job_id"] != keep_job_id:
                keys.append({"pk": item["pk"], "sk": item["sk"]})
                keys.extend(work_items.keys_of(work_items.of_job(item["job_id"])))
                removed += 1
        keys.append(budget_key(data_source_uuid))
        delete_keys(self.table, keys)
        return removed

    def commit_with_source(self, source_update: dict[str, Any], account_id: str, job_id: str, ended: Item) -> bool:
        """A re-sync's switch: the source's half (`SourceStore.commit_and_release_transaction_item`) and the
        job's end (`ended`, on the condition that the job runs and was not cancelled) in one transaction.
        False if a condition failed (nothing written)."""
        names = {f"#e{i}": k for i, k in enumerate(ended)}
        values = {f":e{i}": v for i, v in enumerate(ended.values())}
        job_update = {
            "Update": {
                "TableName": self.table,
                "Key": job_key(account_id, job_id),
                "UpdateExpression": "SET " + ", ".join(f"#e{i} = :e{i}" for i in range(len(ended))),
                "ConditionExpression": "attribute_not_exists(cancel_requested) AND #status = :running",
                "ExpressionAttributeNames": {**names, "#status": "status"},
                "ExpressionAttributeValues": to_item({**values, ":running": "running"}),
            }
        }
        try:
            ddb().transact_write_items(TransactItems=[source_update, job_update])
        except Exception as error:
            if not is_condition_failure(error):
                raise
            return False
        return True

    def request_cancel(self, account_id: str, job_id: str) -> bool:
        """Flag a running job for cancellation (its workers and its commit check the flag)."""
        try:
            ddb().update_item(
                TableName=self.table,
                Key=job_key(account_id, job_id),
                UpdateExpression="SET cancel_requested = :true",
                ConditionExpression="#status IN (:queued, :running) AND attribute_not_exists(committed)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_item({":true": True, ":queued": "queued", ":running": "running"}),
            )
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True


def get_job_store() -> JobStore:
    settings = get_settings()
    return JobStore(settings.jobs_table, settings.sources_table)
