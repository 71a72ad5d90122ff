"""The local stack in this process (so the meter sees every handler's calls), and small helpers."""

from __future__ import annotations

import gc
import os
import statistics
import threading
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
    if stack.stripe is not None:
        PROVIDER.attach(endpoints["stripe"], stack.stripe.pid)
    try:
        yield endpoints
    finally:
        PROVIDER.detach()
        stack.stop()


class ProviderMeter:
    """What the Stripe emulator does, read at the same moments as a job: the CPU seconds of its process
    (from /proc) and the HTTP requests this process sent it.

    localstripe answers in one thread and spends CPU on every page (each list scans its whole store), so it
    is the bottleneck of any fetch from it: a plain fetch's wall time is its CPU time to within a few
    hundredths of a second. That CPU time is not constant: on these shared machines the very same pass over
    the same lists took 19 s in one minute and 35 s in another. Its CPU during a job is therefore what a
    plain fetch of the same pages would have taken at that moment, which a plain fetch measured before the
    job is not (the request counts say whether the job asked for the same pages)."""

    def __init__(self) -> None:
        self.base = ""
        self.pid: int | None = None
        self._requests = 0
        self._lock = threading.Lock()
        self._installed = False

    def attach(self, base: str, pid: int | None) -> None:
        self.base, self.pid = base, pid
        if not self._installed:
            import requests

            original = requests.Session.send

            def send(session: Any, request: Any, **kwargs: Any) -> Any:
                if self.base and str(request.url).startswith(self.base):
                    with self._lock:
                        self._requests += 1
                return original(session, request, **kwargs)

            requests.Session.send = send  # type: ignore[method-assign,assignment]
            self._installed = True

    def detach(self) -> None:
        self.base, self.pid = "", None

    def read(self) -> tuple[float, int]:
        """(the emulator's CPU seconds so far, the requests sent to it so far)."""
        cpu = 0.0
        if self.pid is not None:
            with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rpartition(")")[2].split()
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        return cpu, self._requests


METER = DynamoMeter()
PROVIDER = ProviderMeter()


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
