"""The stores' one paging helper and a job's work items, against DynamoDB Local (the template's tables)."""

from __future__ import annotations

from typing import Any

import pytest

from sourcesync.ids import new_id
from sourcesync.store import work_items
from sourcesync.store.dynamo import all_items, pages, to_item

pytestmark = pytest.mark.integration


def test_pages_follows_every_page_and_leaves_the_request_as_it_was(dynamodb_local: Any) -> None:
    # Given 23 work items of one job, read 5 to a page
    job_id = new_id("job")
    for i in range(23):
        work_items.write(job_id, f"PART#{i:02d}", {"done": i})
    request = {
        "TableName": dynamodb_local.tables["JobsTable"],
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": to_item({":pk": f"JOB#{job_id}"}),
        "Limit": 5,
    }
    # When every page is read
    answers = list(pages(request))
    # Then there are at least five pages, their items are all 23 in key order, and the request is unchanged
    assert len(answers) >= 5
    assert [item["done"] for item in all_items(request)] == list(range(23))
    assert "ExclusiveStartKey" not in request


def test_work_items_are_read_written_and_dropped_per_job(dynamodb_local: Any) -> None:
    # Given two jobs with work items
    mine, other = new_id("job"), new_id("job")
    work_items.write(mine, "PLAN", {"generation": 3, "partitions": "[]"})
    work_items.write(mine, "PART#a", {"finished": False})
    work_items.write(other, "PLAN", {"generation": 7})
    # When one is replaced and read back
    work_items.write(mine, "PART#a", {"finished": True})
    # Then a read sees the last write, and a job's list holds only its own items
    assert work_items.read(mine, "PART#a") == {"pk": f"JOB#{mine}", "sk": "PART#a", "finished": True}
    assert work_items.read(mine, "COUNTS") is None
    assert sorted(item["sk"] for item in work_items.of_job(mine)) == ["PART#a", "PLAN"]
    # And dropping a job's items leaves the other job's
    work_items.drop(mine)
    assert work_items.of_job(mine) == []
    assert [item["generation"] for item in work_items.of_job(other)] == [7]
