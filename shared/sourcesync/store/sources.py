"""Data sources (SourcesTable): one small item per source, the gate every read goes through.

``pk=A#<account_id>, sk=DS#<uuid>``. Data source uuids are time-ordered, so a Query on the account's
partition lists its sources in creation order, strongly consistently (a source deleted a moment ago
never shows in a list). The item carries the source's `status`, its `committed_generation` (which
generation of records readers see), `current_job_id` (the one running job: a conditional write on it
is what makes "one job per source" hold) and, when it has a schedule, `schedule_shard` and
`schedule_anchor` (the sparse `scheduled` and `schedule_changes` indexes) and the scheduler's own
`next_due`/`due_bucket` (the sparse `due` index). Deleting a source is one conditional update of this item.
"""

from __future__ import annotations

from typing import Any

from sourcesync.config import get_settings
from sourcesync.store.dynamo import Item, all_items, ddb, from_item, is_condition_failure, to_item, to_value

DELETED_STATUSES = ("deleting",)


def source_key(account_id: str, uuid: str) -> dict[str, Any]:
    return to_item({"pk": f"A#{account_id}", "sk": f"DS#{uuid}"})


class SourceStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def create(self, item: Item) -> None:
        ddb().put_item(
            TableName=self.table,
            Item=to_item({"pk": f"A#{item['account_id']}", "sk": f"DS#{item['uuid']}", **item}),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, account_id: str, uuid: str) -> Item | None:
        """The source as stored, whatever its status (callers decide what a deleted one means)."""
        answer = ddb().get_item(TableName=self.table, Key=source_key(account_id, uuid), ConsistentRead=True)
        return from_item(answer["Item"]) if "Item" in answer else None

    def delete(self, account_id: str, uuid: str) -> None:
        """Remove the source item (a purge's last step)."""
        ddb().delete_item(TableName=self.table, Key=source_key(account_id, uuid))

    def find(self, uuid: str) -> Item | None:
        """A source by uuid in any account (support operations only), through the `by_uuid` index."""
        answer = ddb().query(
            TableName=self.table,
            IndexName="by_uuid",
            KeyConditionExpression="#u = :u",
            ExpressionAttributeNames={"#u": "uuid"},
            ExpressionAttributeValues=to_item({":u": uuid}),
        )
        items = answer.get("Items", [])
        if not items:
            return None
        keys = from_item(items[0])
        return self.get(keys["pk"].removeprefix("A#"), uuid)

    def list_page(self, account_id: str, limit: int, after_uuid: str | None) -> tuple[list[Item], str | None]:
        """One page of the account's live sources and the uuid to continue after (None: no more)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :ds)",
            "FilterExpression": "NOT #status IN (:deleting)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": to_item({":pk": f"A#{account_id}", ":ds": "DS#", ":deleting": "deleting"}),
            "Limit": limit,
            "ConsistentRead": True,
        }
        if after_uuid:
            request["ExclusiveStartKey"] = source_key(account_id, after_uuid)
        answer = ddb().query(**request)
        items = [from_item(i) for i in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        return items, (from_item(last)["sk"].removeprefix("DS#") if last else None)

    def update(self, account_id: str, uuid: str, set_values: Item, remove: tuple[str, ...] = ()) -> Item | None:
        """Set and remove attributes of a live source; None if it is absent or being deleted."""
        names = {f"#s{i}": k for i, k in enumerate(set_values)}
        values = {f":s{i}": to_value(v) for i, v in enumerate(set_values.values())}
        clauses = [f"#s{i} = :s{i}" for i in range(len(set_values))]
        expression = ("SET " + ", ".join(clauses)) if clauses else ""
        if remove:
            names.update({f"#r{i}": k for i, k in enumerate(remove)})
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        names["#status"] = "status"
        values[":deleting"] = to_value("deleting")
        try:
            answer = ddb().update_item(
                TableName=self.table,
                Key=source_key(account_id, uuid),
                UpdateExpression=expression.strip(),
                ConditionExpression="attribute_exists(pk) AND #status <> :deleting",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except Exception as error:
            if is_condition_failure(error):
                return None
            raise
        return from_item(answer["Attributes"])

    def release(self, account_id: str, uuid: str, job_id: str, status: str) -> bool:
        """The job lets go of the source (one conditional write: only if it still holds it, and the source
        is not being deleted)."""
        try:
            ddb().update_item(
                TableName=self.table,
                Key=source_key(account_id, uuid),
                UpdateExpression="SET #status = :status REMOVE current_job_id",
                ConditionExpression="current_job_id = :job AND #status <> :deleting",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_item({":status": status, ":job": job_id, ":deleting": "deleting"}),
            )
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    # ------------------------------------------------------------------ generations
    def begin_generation(self, account_id: str, uuid: str, job_id: str) -> Item | None:
        """Allocate a new generation number for the job's attempt and mark it pending: readers skip
        pending generations, so a failed attempt's versions stay invisible even before they are removed.
        Numbers are never reused. None if the job no longer holds the source or it is being deleted."""
        condition = {
            "ConditionExpression": "current_job_id = :job AND #status <> :deleting",
            "ExpressionAttributeNames": {"#status": "status"},
        }
        try:
            answer = ddb().update_item(
                TableName=self.table,
                Key=source_key(account_id, uuid),
                UpdateExpression="ADD next_generation :one",
                ReturnValues="ALL_NEW",
                ExpressionAttributeValues=to_item({":one": 1, ":job": job_id, ":deleting": "deleting"}),
                **condition,
            )
            source = from_item(answer["Attributes"])
            generation = int(source["next_generation"])
            ddb().update_item(
                TableName=self.table,
                Key=source_key(account_id, uuid),
                UpdateExpression="ADD pending_generations :gen",
                ExpressionAttributeValues={
                    ":gen": {"NS": [str(generation)]},
                    **to_item({":job": job_id, ":deleting": "deleting"}),
                },
                **condition,
            )
        except Exception as error:
            if is_condition_failure(error):
                return None
            raise
        return source

    def commit_transaction_item(
        self, account_id: str, uuid: str, job_id: str, generation: int, previous: int | None, set_values: Item
    ) -> dict[str, Any]:
        """The source's half of a commit: switch `committed_generation` previous -> generation, only if
        the job still holds the source, the source is not being deleted, and nobody committed since."""
        names = {f"#s{i}": k for i, k in enumerate(set_values)} | {"#status": "status"}
        values = {f":s{i}": to_value(v) for i, v in enumerate(set_values.values())}
        values.update(to_item({":gen": generation, ":job": job_id, ":deleting": "deleting"}))
        values[":genset"] = {"NS": [str(generation)]}
        condition = "current_job_id = :job AND #status <> :deleting AND contains(pending_generations, :gen)"
        if previous is None:
            condition += " AND attribute_not_exists(committed_generation)"
        else:
            condition += " AND committed_generation = :previous"
            values[":previous"] = to_value(previous)
        sets = ", ".join(f"#s{i} = :s{i}" for i in range(len(set_values)))
        return {
            "Update": {
                "TableName": self.table,
                "Key": source_key(account_id, uuid),
                "UpdateExpression": f"SET committed_generation = :gen, {sets} DELETE pending_generations :genset",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    # ------------------------------------------------------------------ Import API (custom sources)
    def begin_import(self, account_id: str, uuid: str) -> int | None:
        """A new generation for one Import API request, pending before anything is written at it (so a
        request that dies half-way stays invisible). None if the source is absent or being deleted."""
        condition = {
            "ConditionExpression": "attribute_exists(pk) AND #status <> :deleting",
            "ExpressionAttributeNames": {"#status": "status"},
        }
        try:
            answer = ddb().update_item(
                TableName=self.table,
                Key=source_key(account_id, uuid),
                UpdateExpression="ADD next_generation :one",
                ExpressionAttributeValues=to_item({":one": 1, ":deleting": "deleting"}),
                ReturnValues="UPDATED_NEW",
                **condition,
            )
            generation = int(from_item(answer["Attributes"])["next_generation"])
            ddb().update_item(
                TableName=self.table,
                Key=source_key(account_id, uuid),
                UpdateExpression="ADD pending_generations :gen",
                ExpressionAttributeValues={":gen": {"NS": [str(generation)]}, **to_item({":deleting": "deleting"})},
                **condition,
            )
        except Exception as error:
            if is_condition_failure(error):
                return None
            raise
        return generation

    def commit_import(self, account_id: str, uuid: str, generation: int, previous: int, counts: dict[str, int]) -> bool:
        """Make an Import API request's generation the committed one, with the source's counts changed by
        `counts`, in one conditional write: only if nobody committed since `previous` was read and the
        source is not being deleted. False if that condition failed (nothing changed)."""
        adds = {kind: n for kind, n in counts.items() if n}
        names = {"#status": "status"} | {f"#k{i}": kind for i, kind in enumerate(adds)}
        values = to_item({":gen": generation, ":previous": previous, ":deleting": "deleting"})
        values |= {f":v{i}": to_value(n) for i, n in enumerate(adds.values())}
        values[":genset"] = {"NS": [str(generation)]}
        expression = "SET committed_generation = :gen"
        if adds:
            expression += " ADD " + ", ".join(f"counts.#k{i} :v{i}" for i in range(len(adds)))
        try:
            ddb().update_item(
                TableName=self.table,
                Key=source_key(account_id, uuid),
                UpdateExpression=expression + " DELETE pending_generations :genset",
                ConditionExpression="committed_generation = :previous AND #status <> :deleting",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def forget_generation(self, account_id: str, uuid: str, generation: int) -> None:
        """Take a lost Import API attempt's generation out of `pending_generations`, once every version it
        wrote is deleted (none can appear later: only that request writes at it), so the set stays small."""
        try:
            ddb().update_item(
                TableName=self.table,
                Key=source_key(account_id, uuid),
                UpdateExpression="DELETE pending_generations :genset",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":genset": {"NS": [str(generation)]}},
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise

    # ------------------------------------------------------------------ the pipeline's switch (perf)
    def commit_and_release_transaction_item(
        self, account_id: str, uuid: str, job_id: str, generation: int, previous: int | None, set_values: Item
    ) -> dict[str, Any]:
        """`commit_transaction_item`, and the job lets go of the source in the same write: the source is
        `active` again at the switch and names the job whose clean-up of the old generation follows
        (`cleanup_job_id`), which the source's next job waits for before it cleans up after itself."""
        item = self.commit_transaction_item(
            account_id, uuid, job_id, generation, previous, {**set_values, "status": "active", "cleanup_job_id": job_id}
        )
        item["Update"]["UpdateExpression"] += " REMOVE current_job_id"
        return item

    def scheduled(self, shard: str) -> list[Item]:
        """Every source with a schedule in one shard of the sparse `scheduled` index."""
        return self._query_all(
            {
                "TableName": self.table,
                "IndexName": "scheduled",
                "KeyConditionExpression": "schedule_shard = :shard",
                "ExpressionAttributeValues": to_item({":shard": shard}),
            }
        )

    # ------------------------------------------------------------------ the scheduler's queries (perf)
    # The scheduler reads only what changed and what is due, never every scheduled source:
    # * `schedule_changes` (schedule_shard, schedule_anchor; sparse, INCLUDE next_due_of): the sources whose
    #   schedule was set or changed since a time (the API writes a new `schedule_anchor` with every schedule);
    # * `due` (due_bucket, next_due; sparse, KEYS_ONLY): the sources whose next firing is at or before now.
    #   The scheduler alone writes `next_due`, `due_bucket` and `next_due_of` (the schedule and anchor that
    #   next_due was computed from).
    SCHEDULER_PK = "SCHEDULER"

    def schedule_changes(self, shard: str, since: str) -> list[Item]:
        """Sources of a shard whose schedule was set at or after `since` (keys, anchor, next_due_of)."""
        return self._query_all(
            {
                "TableName": self.table,
                "IndexName": "schedule_changes",
                "KeyConditionExpression": "schedule_shard = :shard AND schedule_anchor >= :since",
                "ExpressionAttributeValues": to_item({":shard": shard, ":since": since}),
            }
        )

    def due(self, bucket: str, now: str) -> list[Item]:
        """Keys of the sources of a bucket whose next firing is at or before `now`."""
        return self._query_all(
            {
                "TableName": self.table,
                "IndexName": "due",
                "KeyConditionExpression": "due_bucket = :bucket AND next_due <= :now",
                "ExpressionAttributeValues": to_item({":bucket": bucket, ":now": now}),
            }
        )

    def _query_all(self, request: dict[str, Any]) -> list[Item]:
        return list(all_items(request))

    def set_next_due(
        self, account_id: str, uuid: str, next_due: str | None, bucket: str, schedule: str, anchor: str
    ) -> bool:
        """Store when the source's schedule fires next (computed from `schedule` set at `anchor`; None:
        never again), only if that is still its schedule: a stale computation never overwrites a newer one."""
        of = f"{anchor} {schedule}"
        sets = "SET next_due_of = :of" + (", next_due = :due, due_bucket = :bucket" if next_due else "")
        values = {":of": of, ":schedule": schedule, ":anchor": anchor, ":deleting": "deleting"}
        if next_due:
            values.update({":due": next_due, ":bucket": bucket})
        try:
            ddb().update_item(
                TableName=self.table,
                Key=source_key(account_id, uuid),
                UpdateExpression=sets + ("" if next_due else " REMOVE next_due, due_bucket"),
                ConditionExpression="#schedule = :schedule AND schedule_anchor = :anchor AND #status <> :deleting",
                ExpressionAttributeNames={"#schedule": "schedule", "#status": "status"},
                ExpressionAttributeValues=to_item(values),
            )
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def clear_next_due(self, account_id: str, uuid: str) -> None:
        """The source is no longer scheduled (schedule removed, source deleted): out of the `due` index."""
        try:
            ddb().update_item(
                TableName=self.table,
                Key=source_key(account_id, uuid),
                UpdateExpression="REMOVE next_due, due_bucket, next_due_of",
                ConditionExpression="attribute_exists(pk)",
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise

    def schedule_watermark(self) -> str | None:
        """The latest `schedule_anchor` the scheduler has taken into account."""
        answer = ddb().get_item(
            TableName=self.table, Key=to_item({"pk": self.SCHEDULER_PK, "sk": "CHANGES"}), ConsistentRead=True
        )
        return str(from_item(answer["Item"])["anchor"]) if "Item" in answer else None

    def set_schedule_watermark(self, anchor: str) -> None:
        ddb().put_item(TableName=self.table, Item=to_item({"pk": self.SCHEDULER_PK, "sk": "CHANGES", "anchor": anchor}))


def get_source_store() -> SourceStore:
    return SourceStore(get_settings().sources_table)
