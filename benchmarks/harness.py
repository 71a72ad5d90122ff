"""The local stack in this process (so the meter sees every handler's calls), and small helpers."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.meter import DynamoMeter


@contextmanager
def local_stack(stripe: bool = True, parameters: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """The local stack, deployed with the benchmarks' parameters (no readers' grace period) and `parameters`."""
    from devstack.stack import LocalStack, Ports, StackConfig

    config = StackConfig(
        ports=Ports.free(),
        endpoints_file=None,
        stripe=stripe,
        scheduler=False,
        parameters={"CommitGraceSeconds": "0", "LogLevel": "WARNING", **(parameters or {})},
    )
    stack = LocalStack(config)
    endpoints = stack.start()
    try:
        yield endpoints
    finally:
        stack.stop()


METER = DynamoMeter()


def settle_heap() -> None:
    """Collect, then freeze (`gc.freeze`) everything this process holds, before a measured job or anchor.

    The local stack runs moto in this process, and moto keeps the state of every earlier job (executions and
    their histories, S3 objects, DynamoDB Local's answers in flight): half a million objects, which a Lambda
    worker's heap never holds. A full collection walks all of them, about a quarter of a second of CPU,
    and is charged to whichever thread happens to allocate when it falls due, a worker's or the anchor's:
    it doubled one re-sync's measured CPU. Frozen, they are left out of every collection; what the job or the
    anchor allocates itself is collected as usual."""
    gc.collect()
    gc.freeze()


def wait_for_job(
    account_id: str,
    job_id: str,
    timeout: float = 1800,
    poll: float = 0.1,
    switched: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll a job through a client of its own, so that the meter counts only what the product does, until
    the job has ended and so has its clean-up after the switch (`switched` is called once when the job
    has ended: its data is fresh then)."""
    import boto3

    from sourcesync.config import get_settings
    from sourcesync.store.dynamo import from_item
    from sourcesync.store.jobs import job_key

    watcher = boto3.session.Session().client("dynamodb")
    deadline = time.monotonic() + timeout
    while True:
        answer = watcher.get_item(TableName=get_settings().jobs_table, Key=job_key(account_id, job_id))
        job = from_item(answer["Item"]) if "Item" in answer else None
        if job and job["status"] in ("succeeded", "failed", "cancelled"):
            if switched is not None:
                switched(job)
                switched = None
            if (job.get("cleanup") or {}).get("status") in (None, "done"):
                return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id}: {job}")
        time.sleep(poll)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
