"""Work items: what a running job checkpoints in the jobs table, read and written only here.

``pk=JOB#<job_id>`` and one `sk` per item:

* ``PLAN``                 the attempt's generation, the previous one, the partitions (a purge: the counts)
* ``PART#<partition>``     a partition's cursor, chunk count, records done, finished (a purge: per kind)
* ``COUNTS``, ``OVERLAYS``, ``COPIED``   what later steps of a re-sync read
* ``FAILURE#<error class>``  what a failed job should say about the error (`pipeline/failures.py`)

Every read is consistent: a step that Step Functions retries must see what its first run wrote. The items
go when the job ends (`drop`).
"""

from __future__ import annotations

from typing import Any

from sourcesync.config import get_settings
from sourcesync.store.dynamo import Item, all_items, ddb, delete_keys, from_item, to_item


def _key(job_id: str, sk: str) -> dict[str, Any]:
    return {"pk": f"JOB#{job_id}", "sk": sk}


def read(job_id: str, sk: str) -> Item | None:
    """One work item of a job, or None."""
    answer = ddb().get_item(TableName=get_settings().jobs_table, Key=to_item(_key(job_id, sk)), ConsistentRead=True)
    return from_item(answer["Item"]) if "Item" in answer else None


def write(job_id: str, sk: str, values: Item) -> None:
    """Put (replace) one work item of a job."""
    ddb().put_item(TableName=get_settings().jobs_table, Item=to_item({**_key(job_id, sk), **values}))


def of_job(job_id: str) -> list[Item]:
    """Every work item of a job (its plan, its partitions' checkpoints, ...)."""
    request = {
        "TableName": get_settings().jobs_table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": to_item({":pk": f"JOB#{job_id}"}),
        "ConsistentRead": True,
    }
    return list(all_items(request))


def keys_of(items: list[Item]) -> list[dict[str, Any]]:
    return [{"pk": item["pk"], "sk": item["sk"]} for item in items]


def drop(job_id: str, items: list[Item] | None = None) -> None:
    """Delete a job's work items (`items`: those already read, to spare reading them again)."""
    delete_keys(get_settings().jobs_table, keys_of(of_job(job_id) if items is None else items))
