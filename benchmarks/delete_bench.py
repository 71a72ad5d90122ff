"""Delete: the API's answer for a 1k- and a 100k-record source; the purge next to a plain BatchWriteItem loop."""

from __future__ import annotations

import json
import time
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from benchmarks.harness import METER, median, wait_for_job
from sourcesync.records import (
    CustomerRecord,
    InvoiceRecord,
    LineItem,
    RecordKind,
    SubscriptionRecord,
    TransactionRecord,
)
from sourcesync.store.accounts import Principal

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _versions(account_id: str, ds: str, records: int) -> list[Any]:
    """A quarter each of customers, subscriptions, invoices and transactions."""
    from sourcesync.store.records import Version, uuid_for

    customers = max(1, records // 4)
    versions = []
    for i in range(customers):
        ext = f"cus_{i:07d}"
        owner = uuid_for(account_id, ds, RecordKind.CUSTOMERS, ext)
        line = LineItem(
            type="subscription",
            subscription_external_id=f"sub_{i}",
            plan_external_id="plan",
            service_period_start=WHEN,
            service_period_end=WHEN.replace(month=2),
            amount_in_cents=4900,
        )
        for kind, record in (
            (RecordKind.CUSTOMERS, CustomerRecord(external_id=ext, name=f"Customer {i}", email=f"c{i}@example.com")),
            (
                RecordKind.SUBSCRIPTIONS,
                SubscriptionRecord(
                    external_id=f"sub_{i}",
                    customer_external_id=ext,
                    plan_external_id="plan",
                    status="active",
                    started_at=WHEN,
                ),
            ),
            (
                RecordKind.INVOICES,
                InvoiceRecord(
                    external_id=f"in_{i}", customer_external_id=ext, date=WHEN, currency="USD", line_items=(line,)
                ),
            ),
            (
                RecordKind.TRANSACTIONS,
                TransactionRecord(
                    external_id=f"ch_{i}",
                    invoice_external_id=f"in_{i}",
                    customer_external_id=ext,
                    type="payment",
                    date=WHEN,
                    result="successful",
                    amount_in_cents=4900,
                ),
            ),
        ):
            versions.append(
                Version(
                    kind=kind,
                    uuid=uuid_for(account_id, ds, kind, record.external_id),
                    customer_uuid=None if kind is RecordKind.CUSTOMERS else owner,
                    external_id=record.external_id,
                    generation=1,
                    record=record,
                )
            )
    return versions[:records]


def seed_source(principal: Principal, name: str, records: int) -> str:
    """A custom source holding `records` records, written through the data layer (HTTP would take hours)."""
    from sourcesync.api.models import DataSourceCreateRequest
    from sourcesync.services import data_sources
    from sourcesync.store.records import get_record_store
    from sourcesync.store.sources import get_source_store

    ds = data_sources.create(principal, DataSourceCreateRequest(name=name, system="custom"))["data_source"]["uuid"]  # type: ignore[arg-type]
    versions = _versions(principal.account_id, ds, records)
    store = get_record_store()
    chunks = [versions[i : i + 500] for i in range(0, len(versions), 500)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda chunk: store.write(ds, chunk), chunks))
    counts: dict[str, int] = {}
    for version in versions:
        counts[version.kind.value] = counts.get(version.kind.value, 0) + 1
    # the counts, as an Import API request commits them (the versions are at the committed generation, 1)
    assert get_source_store().commit_import(principal.account_id, ds, 1, 1, counts)
    return str(ds)


class _Context:
    function_name = "sourcesync-local-DeleteSourceFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sourcesync-local-DeleteSourceFunction"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def delete_answer(api_key: str, ds: str) -> tuple[float, int, dict[str, Any]]:
    """DELETE /v1/data_sources/{ds} through the delete function's handler: seconds, DynamoDB requests, job."""
    from functions.delete_source.app import handler

    path = f"/v1/data_sources/{ds}"
    event = {
        "version": "2.0",
        "routeKey": "DELETE /v1/data_sources/{uuid}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"authorization": f"Bearer {api_key}"},
        "pathParameters": {"uuid": ds},
        "requestContext": {
            "http": {
                "method": "DELETE",
                "path": path,
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
                "protocol": "HTTP/1.1",
            },
            "requestId": str(uuidlib.uuid4()),
            "stage": "$default",
            "routeKey": "DELETE /v1/data_sources/{uuid}",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }
    METER.reset()
    started = time.perf_counter()
    answer = handler(event, _Context())
    elapsed = time.perf_counter() - started
    requests = METER.reset().total_requests
    assert answer["statusCode"] == 202, answer
    return elapsed, requests, json.loads(answer["body"])


def plain_batch_delete_loop(records: int) -> float:
    """The baseline: items/s of one thread deleting `records` known keys with BatchWriteItem, 25 a request."""
    from sourcesync.aws import client
    from sourcesync.config import get_settings
    from sourcesync.store.records import get_record_store

    table = get_settings().records_table
    store = get_record_store()
    keys = [{"pk": {"S": f"BENCH#{i % 16}"}, "sk": {"S": f"{i:09d}"}} for i in range(records)]
    payload = {"B": b"x" * 300}
    with ThreadPoolExecutor(8) as pool:
        chunks = [keys[i : i + 25] for i in range(0, len(keys), 25)]
        list(
            pool.map(
                lambda chunk: client("dynamodb").batch_write_item(
                    RequestItems={table: [{"PutRequest": {"Item": {**k, "d": payload}}} for k in chunk]}
                ),
                chunks,
            )
        )
    del store
    ddb = client("dynamodb")
    started = time.perf_counter()
    for i in range(0, len(keys), 25):
        pending = [{"DeleteRequest": {"Key": k}} for k in keys[i : i + 25]]
        while pending:
            pending = ddb.batch_write_item(RequestItems={table: pending}).get("UnprocessedItems", {}).get(table, [])
    return records / (time.perf_counter() - started)


def run(small: int = 1_000, large: int = 100_000, repeats: int = 5) -> dict[str, Any]:
    from sourcesync.services.accounts import create_account
    from sourcesync.store.jobs import get_job_store

    key = create_account("bench-delete")
    principal = Principal(key.account_id, key.key_id, key.role)
    answers: dict[int, list[float]] = {small: [], large: []}
    requests: dict[int, list[int]] = {small: [], large: []}
    purges: list[dict[str, float]] = []
    seeded_seconds = 0.0
    warm_up = seed_source(principal, "warm-up", 8)  # the first call pays for imports: not a size effect
    wait_for_job(key.account_id, delete_answer(key.api_key, warm_up)[2]["id"])
    for round_number in range(repeats):
        for size in (small, large):
            started = time.perf_counter()
            ds = seed_source(principal, f"{size}-{round_number}", size)
            seeded_seconds += time.perf_counter() - started
            seconds, count, job = delete_answer(key.api_key, ds)
            answers[size].append(seconds)
            requests[size].append(count)
            METER.reset()
            purge_started = time.perf_counter()
            finished = wait_for_job(key.account_id, job["id"])
            purge_seconds = time.perf_counter() - purge_started
            reading = METER.reset()
            assert finished["status"] == "succeeded", finished
            if size == large:
                purges.append(
                    {
                        "items": size,
                        "seconds": purge_seconds,
                        "items_per_second": size / purge_seconds,
                        "requests": reading.total_requests,
                        "write_units": reading.write_units,
                    }
                )
    assert get_job_store() is not None
    baseline = plain_batch_delete_loop(large)
    purge_rate = median([p["items_per_second"] for p in purges])
    return {
        "sizes": {"small": small, "large": large, "repeats": repeats},
        "answer_seconds": {str(k): v for k, v in answers.items()},
        "answer_median_ms": {str(k): round(median(v) * 1000, 1) for k, v in answers.items()},
        "answer_ratio_large_to_small": round(median(answers[large]) / median(answers[small]), 3),
        "requests_before_answer": {str(k): v for k, v in requests.items()},
        "purge": purges,
        "purge_items_per_second": round(purge_rate, 1),
        "plain_batch_write_loop_items_per_second": round(baseline, 1),
        "purge_to_plain_loop_ratio": round(purge_rate / baseline, 3),
        "purge_requests_per_1000_items": round(1000 * median([p["requests"] for p in purges]) / large, 1),
        "seeding_seconds": round(seeded_seconds, 1),
    }
