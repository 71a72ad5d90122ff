"""Re-sync: the pipeline against a plain fetch of the same lists from the same Stripe emulator; DynamoDB
requests and write units per 1,000 records; Step Functions state transitions per 1,000 records."""

from __future__ import annotations

import json
import statistics
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from benchmarks.harness import METER, PROVIDER, settle_heap, wait_for_job
from devstack.stripe_seed import TEST_KEY, seed_business
from sourcesync.store.accounts import Principal


def stripe_lists(api_base: str) -> list[tuple[str, dict[str, Any]]]:
    """The lists the Stripe connector reads from the Stripe at `api_base`, with the same parameters
    (expansions, status filter): each kind's stream, or the one its `chooser` names there, as the connector
    asks it (against the emulator, transactions come from the invoices list: docs/connectors.md)."""
    from sourcesync.connectors.stripe import SPEC

    session = requests.Session()
    session.auth = (TEST_KEY, "")

    class Ask:
        """What a chooser may ask for, answered by a plain GET."""

        def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
            return session.get(api_base + path, params=params, timeout=120).json()

    lists = []
    for stream in SPEC.streams.values():
        chosen = (stream.chooser(Ask()) if stream.chooser else None) or stream  # type: ignore[arg-type]
        lists.append((chosen.path, dict(chosen.params)))
    return lists


def plain_fetch(api_base: str, path: str, extra: dict[str, Any]) -> int:
    session = requests.Session()
    session.auth = (TEST_KEY, "")
    count, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 100, **extra, **({"starting_after": cursor} if cursor else {})}
        page = session.get(api_base + path, params=params, timeout=120).json()
        count += len(page["data"])
        if not page.get("has_more"):
            return count
        cursor = page["data"][-1]["id"]


def plain_fetch_all(api_base: str, parallel: bool) -> tuple[float, int]:
    measured = plain_fetch_measured(api_base, parallel)
    return measured["seconds"], measured["objects"]


def plain_fetch_measured(api_base: str, parallel: bool) -> dict[str, Any]:
    """A plain fetch of the lists the connector reads: its wall time, the objects, and what the emulator
    did meanwhile (`PROVIDER`: its CPU seconds, the requests it answered)."""
    lists = stripe_lists(api_base)
    cpu, requests_before = PROVIDER.read()
    started = time.perf_counter()
    if parallel:
        with ThreadPoolExecutor(len(lists)) as pool:
            objects = sum(pool.map(lambda entry: plain_fetch(api_base, *entry), lists))
    else:
        objects = sum(plain_fetch(api_base, *entry) for entry in lists)
    seconds = time.perf_counter() - started
    cpu_after, requests_after = PROVIDER.read()
    return {
        "seconds": seconds,
        "objects": objects,
        "provider_cpu_seconds": round(cpu_after - cpu, 2),
        "provider_requests": requests_after - requests_before,
    }


def plain_fetch_parse_write(api_base: str, dynamodb: Any = None) -> tuple[float, int]:
    """The anchor of compute per record: one thread pages through the five lists, parses each page and
    writes every object as one item (its JSON) with BatchWriteItem, 25 a request, into the records table
    under keys of its own, with a plain boto3 client (boto3's defaults) unless given one. Returns the
    thread's CPU seconds and the objects written."""
    import json as json_module

    import boto3

    from sourcesync.config import get_settings

    dynamodb = dynamodb or boto3.session.Session().client("dynamodb")
    table = get_settings().records_table
    lists = stripe_lists(api_base)
    session = requests.Session()
    session.auth = (TEST_KEY, "")
    settle_heap()
    cpu_started, written = time.thread_time(), 0
    for path, extra in lists:
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 100, **extra, **({"starting_after": cursor} if cursor else {})}
            page = session.get(api_base + path, params=params, timeout=120).json()
            items = [
                {
                    "PutRequest": {
                        "Item": {
                            "pk": {"S": f"PLAIN#{path}"},
                            "sk": {"S": obj["id"]},
                            "d": {"S": json_module.dumps(obj)},
                        }
                    }
                }
                for obj in page["data"]
            ]
            for i in range(0, len(items), 25):
                pending = items[i : i + 25]
                while pending:
                    answer = dynamodb.batch_write_item(RequestItems={table: pending})
                    pending = answer.get("UnprocessedItems", {}).get(table, [])
            written += len(items)
            if not page.get("has_more"):
                break
            cursor = page["data"][-1]["id"]
    return time.thread_time() - cpu_started, written


def lambda_compute(invocations: list[Any], records: int) -> dict[str, Any]:
    """What the job's Lambda invocations cost, as billed: GB-seconds (billed duration at each function's
    MemorySize) and the invoking threads' CPU seconds, in total and per 1,000 records."""
    gb_seconds = sum(i.gb_seconds for i in invocations)
    billed = sum(i.billed_ms for i in invocations) / 1000
    cpu = sum(i.cpu_seconds for i in invocations)
    per = 1000 / records if records else 0.0
    by_step: dict[str, dict[str, float]] = {}
    for i in invocations:
        step = by_step.setdefault(i.action or i.function, {"invocations": 0, "billed_seconds": 0.0, "cpu_seconds": 0.0})
        step["invocations"] += 1
        step["billed_seconds"] += i.billed_ms / 1000
        step["cpu_seconds"] += i.cpu_seconds
    return {
        "invocations": len(invocations),
        "billed_seconds": round(billed, 2),
        "gb_seconds": round(gb_seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "gb_seconds_per_1000_records": round(gb_seconds * per, 3),
        "billed_seconds_per_1000_records": round(billed * per, 3),
        "cpu_seconds_per_1000_records": round(cpu * per, 3),
        "by_step": {
            name: {k: round(v, 3) if isinstance(v, float) else v for k, v in step.items()}
            for name, step in sorted(by_step.items())
        },
    }


def transitions(job_id: str, data_source_uuid: str) -> int:
    """State transitions of a job's executions: what Step Functions bills (each state entered)."""
    from sourcesync.aws import client
    from sourcesync.config import get_settings

    sfn = client("stepfunctions")
    total = 0
    for execution in sfn.list_executions(stateMachineArn=get_settings().resync_state_machine_arn)["executions"]:
        if not execution["name"].startswith(f"{data_source_uuid}-{job_id}"):
            continue
        events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        total += sum(1 for e in events if e["type"].endswith("StateEntered"))
    return total


def run_job(principal: Principal, start: Any) -> dict[str, Any]:
    """Start a job with `start()`, wait for it; its wall time, records, DynamoDB meter and transitions."""
    from devstack.lambda_runtime import RUNTIME

    settle_heap()
    METER.reset()
    RUNTIME.take_invocations()
    provider_started = PROVIDER.read()
    started, started_monotonic = time.perf_counter(), time.monotonic()
    job = start()
    switched_at: list[float] = []
    switched_at_monotonic: list[float] = []
    provider_switched: list[tuple[float, int]] = []

    def switched(_: Any) -> None:
        switched_at.append(time.perf_counter())
        switched_at_monotonic.append(time.monotonic())
        provider_switched.append(PROVIDER.read())

    finished = wait_for_job(principal.account_id, job["job_id"], switched=switched)
    seconds = time.perf_counter() - started
    provider_ended = PROVIDER.read()
    reading = METER.reset()
    invocations = RUNTIME.take_invocations()
    timeline = _timeline(invocations, started_monotonic, switched_at_monotonic)
    assert finished["status"] == "succeeded", finished
    records = sum((finished.get("result") or {}).get("counts", {}).values())
    return {
        "seconds": round(seconds, 2),
        "seconds_to_switch": round(switched_at[0] - started, 2),
        "records": records,
        "job_id": job["job_id"],
        "dynamodb": reading.as_dict(),
        "write_units_per_record": round(reading.write_units / records, 3) if records else None,
        "requests_per_1000_records": round(1000 * reading.total_requests / records, 1) if records else None,
        "transitions": transitions(job["job_id"], finished["data_source_uuid"]),
        "lambda": lambda_compute(invocations, records),
        "timeline": timeline,
        # the emulator's work meanwhile (`ProviderMeter`): a plain fetch of the same pages at that moment
        "provider": {
            "cpu_seconds_to_switch": round(provider_switched[0][0] - provider_started[0], 2),
            "cpu_seconds": round(provider_ended[0] - provider_started[0], 2),
            "requests": provider_ended[1] - provider_started[1],
        },
    }


def _timeline(invocations: list[Any], started: float, switched: list[float]) -> list[dict[str, Any]]:
    """The job's steps in the order they ran: when each started and ended, in seconds from the job's
    start (the gaps are the state machine's own time: starting the execution, the Map, polling)."""
    steps = []
    for i in sorted(invocations, key=lambda i: i.started):
        begin = i.started - started
        steps.append(
            {"step": i.action or i.function, "start": round(begin, 2), "end": round(begin + i.billed_ms / 1000, 2)}
        )
    if switched:
        steps.append(
            {"step": "switch seen", "start": round(switched[0] - started, 2), "end": round(switched[0] - started, 2)}
        )
    return steps


def mark_everything_changed(account_id: str, data_source_uuid: str, generation: int) -> int:
    """Make the committed manifests claim other content for every record: the next re-sync then finds
    every record changed, as if everything had changed at the provider (the emulator cannot change
    every paid invoice), and pays the full cost of it."""
    from sourcesync.aws import client
    from sourcesync.store.manifests import OWNERS, get_manifest_store

    manifests = get_manifest_store()
    s3 = client("s3")
    prefix = f"{account_id}/{data_source_uuid}/g{generation}/"
    changed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=manifests.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if f"/{OWNERS}/" in obj["Key"]:  # subscription owners map uuid -> customer: no content hash
                continue
            entries = json.loads(zlib.decompress(s3.get_object(Bucket=manifests.bucket, Key=obj["Key"])["Body"].read()))
            for value in entries.values():
                value[0] = "0" * 16
            changed += len(entries)
            s3.put_object(Bucket=manifests.bucket, Key=obj["Key"], Body=zlib.compress(json.dumps(entries).encode()))
    return changed


def run(endpoints: dict[str, Any], customers: int = 1_000, first: int = 250) -> dict[str, Any]:
    from sourcesync.api.models import DataSourceCreateRequest
    from sourcesync.services import data_sources
    from sourcesync.services.accounts import create_account
    from sourcesync.services.jobs import start_source_job
    from sourcesync.store.jobs import get_job_store
    from sourcesync.store.sources import get_source_store

    stripe = endpoints["stripe"]
    key = create_account("bench-resync")
    principal = Principal(key.account_id, key.key_id, key.role)

    def create(name: str) -> dict[str, Any]:
        request = DataSourceCreateRequest.model_validate(
            {"name": name, "system": "stripe", "credentials": {"api_key": TEST_KEY}, "options": {"api_base": stripe}}
        )
        created = data_sources.create(principal, request)
        return get_job_store().get(principal.account_id, created["job"]["id"]) or {}

    def resync(ds: str) -> Any:
        return lambda: start_source_job(principal.account_id, ds, "resync_source", principal.key_id)

    # growth of state transitions with the number of records: a small business first, then the full one
    seed_business(stripe, customers=first, seed=1)
    small = run_job(principal, lambda: create("small"))
    from devstack.stripe_seed import StripeEmulator, add_customers

    add_customers(StripeEmulator(stripe), customers - first, start=first, seed=2)
    plain = {"sequential": plain_fetch_measured(stripe, parallel=False)}
    plain["one_thread_per_kind"] = plain_fetch_measured(stripe, parallel=True)
    sequential, parallel = plain["sequential"]["seconds"], plain["one_thread_per_kind"]["seconds"]
    objects = plain["sequential"]["objects"]
    # The anchor runs beside each job (the machine's speed drifts): each job's compute is read against the
    # anchor measured just before it.
    anchors: list[float] = []

    def anchor() -> float:
        cpu, written = plain_fetch_parse_write(stripe)
        anchors.append(1000 * cpu / max(1, written))
        return anchors[-1]

    imported = {**run_job(principal, lambda: create("full")), "anchor_cpu_per_1000": anchor()}
    ds = get_job_store().get(principal.account_id, imported["job_id"])["data_source_uuid"]  # type: ignore[index]
    unchanged = {**run_job(principal, resync(ds)), "anchor_cpu_per_1000": anchor()}
    source = get_source_store().get(principal.account_id, ds) or {}
    mark_everything_changed(principal.account_id, ds, int(source["committed_generation"]))
    all_changed = {**run_job(principal, resync(ds)), "anchor_cpu_per_1000": anchor()}
    from sourcesync.aws import client

    def pace(job: dict[str, Any]) -> float:
        return round(float(job["provider"]["cpu_seconds"]) / float(job["seconds"]), 3)

    product_client_cpu, anchor_records = plain_fetch_parse_write(stripe, client("dynamodb"))
    fastest = min(sequential, parallel)
    return {
        "customers": customers,
        "provider_objects": objects,
        "plain_fetch_seconds": {"sequential": round(sequential, 2), "one_thread_per_kind": round(parallel, 2)},
        # the emulator's CPU during each plain fetch, and its share of the fetch's wall time (≈ 1: the
        # emulator is the bottleneck, so its CPU during a job is what a plain fetch would take then)
        "plain_fetch_provider": {
            name: {
                "cpu_seconds": fetch["provider_cpu_seconds"],
                "requests": fetch["provider_requests"],
                "cpu_share_of_wall": round(fetch["provider_cpu_seconds"] / max(fetch["seconds"], 0.01), 3),
            }
            for name, fetch in plain.items()
        },
        "first_import": imported,
        "unchanged_resync": unchanged,
        "all_changed_resync": all_changed,
        "small_import": small,
        # a job's speed: the emulator's CPU during the job (what a plain fetch of its pages took at that
        # moment) ÷ the job's wall time; and, for reference, the plain fetch measured before the jobs ÷ it
        "speed_ratio_import": pace(imported),
        "speed_ratio_unchanged_resync": pace(unchanged),
        "speed_ratio_vs_plain_fetch_before": {
            "import": round(fastest / imported["seconds"], 3),
            "unchanged_resync": round(fastest / unchanged["seconds"], 3),
        },
        "compute_anchor": {
            "records": anchor_records,
            "cpu_seconds_per_1000_records": round(statistics.median(anchors), 3),
            "runs_cpu_seconds_per_1000_records": [round(a, 3) for a in anchors],
            # the same loop through the product's own DynamoDB client (its configuration, the meter's hooks)
            "with_product_client_cpu_seconds_per_1000_records": round(1000 * product_client_cpu / anchor_records, 3),
        },
        "time_to_fresh_data": {
            "provider_cpu_seconds_to_switch": imported["provider"]["cpu_seconds_to_switch"],
            # (at least one clock tick of the emulator's CPU: a smoke run's few pages may read 0)
            "to_switch": round(
                imported["seconds_to_switch"] / max(imported["provider"]["cpu_seconds_to_switch"], 0.01), 2
            ),
            "to_end": round(imported["seconds"] / max(imported["provider"]["cpu_seconds"], 0.01), 2),
            "plain_fetch_seconds": round(fastest, 2),
            "to_switch_vs_plain_fetch_before": round(imported["seconds_to_switch"] / fastest, 2),
        },
        "transitions_per_1000_records": {
            "small": round(1000 * small["transitions"] / small["records"], 2),
            "full": round(1000 * imported["transitions"] / imported["records"], 2),
        },
    }


#: The fetch Map's concurrency of the compute pass: one partition, so one invocation, at a time.
ONE_AT_A_TIME = {"FetchConcurrency": "1"}
#: Each job of the compute pass is run this many times (each on a source of its own); its figure is the median.
REPEATS = 3


def one_at_a_time(
    endpoints: dict[str, Any], customers: int = 1_000, first: int = 250, repeats: int = REPEATS
) -> dict[str, Any]:
    """The compute of `run`'s three jobs, measured with one invocation at a time (on a stack deployed with
    `ONE_AT_A_TIME`): the same business seeded the same way (the small import first), then `repeats`
    imports of it (a source each), an unchanged re-sync of each source and an all-changed re-sync of each,
    every job between two anchors. A job's ratio is its CPU per record over the mean of the two anchors that
    bracket it; each kind of job reports the median of its runs' ratios (`summary`).

    Why one at a time: on Lambda every invocation has an interpreter of its own, while the local runtime
    runs them all in this process. When five fetch workers (three threads each) run at once they contend
    for its one interpreter lock, and a thread that waits for the lock and takes it back pays for it in
    CPU: an unchanged re-sync measured about twice the CPU per record with every partition at once than with
    one at a time. One at a time, an invocation's CPU is what it costs alone, as on Lambda; its own threads
    still contend with one another, as they would there.

    Why anchors around each job and a median: on these shared machines the anchor itself moved by 40% within
    one job's minute, and one job's ratio by a tenth from one run to the next."""
    from devstack.stripe_seed import StripeEmulator, add_customers
    from sourcesync.api.models import DataSourceCreateRequest
    from sourcesync.services import data_sources
    from sourcesync.services.accounts import create_account
    from sourcesync.services.jobs import start_source_job
    from sourcesync.store.jobs import get_job_store
    from sourcesync.store.sources import get_source_store

    stripe = endpoints["stripe"]
    key = create_account("bench-compute")
    principal = Principal(key.account_id, key.key_id, key.role)
    anchors: list[float] = []

    def anchor() -> float:
        cpu, written = plain_fetch_parse_write(stripe)
        anchors.append(1000 * cpu / max(1, written))
        return anchors[-1]

    def measured(start: Any) -> dict[str, Any]:
        # read against the mean of the anchor just before the job (the previous job's after) and just after
        before = anchors[-1] if anchors else anchor()
        job = run_job(principal, start)
        after = anchor()
        keep = ("seconds", "records", "job_id", "lambda", "write_units_per_record", "requests_per_1000_records")
        per_anchor = (before + after) / 2
        return {
            **{k: job[k] for k in keep},
            "anchor_cpu_per_1000": per_anchor,
            "anchors_cpu_per_1000": [round(before, 3), round(after, 3)],
            "ratio": round(job["lambda"]["cpu_seconds_per_1000_records"] / per_anchor, 3),
        }

    def create() -> dict[str, Any]:
        request = DataSourceCreateRequest.model_validate(
            {
                "name": "compute",
                "system": "stripe",
                "credentials": {"api_key": TEST_KEY},
                "options": {"api_base": stripe},
            }
        )
        created = data_sources.create(principal, request)
        return get_job_store().get(principal.account_id, created["job"]["id"]) or {}

    def resync(ds: str) -> Any:
        return lambda: start_source_job(principal.account_id, ds, "resync_source", principal.key_id)

    # As in `run`: a small business imported first, which also loads what a worker loads lazily on its first
    # fetch and its first settle (a warm worker, as most of a job's invocations are), then the whole one.
    seed_business(stripe, customers=first, seed=1)
    run_job(principal, create)
    add_customers(StripeEmulator(stripe), customers - first, start=first, seed=2)
    imports = [measured(create) for _ in range(repeats)]
    sources = [get_job_store().get(principal.account_id, job["job_id"])["data_source_uuid"] for job in imports]  # type: ignore[index]
    unchanged = [measured(resync(ds)) for ds in sources]
    for ds in sources:
        source = get_source_store().get(principal.account_id, ds) or {}
        mark_everything_changed(principal.account_id, ds, int(source["committed_generation"]))
    all_changed = [measured(resync(ds)) for ds in sources]
    return {
        "parameters": ONE_AT_A_TIME,
        "repeats": repeats,
        "first_import": summary(imports),
        "unchanged_resync": summary(unchanged),
        "all_changed_resync": summary(all_changed),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose ratio is the median (the lower middle one of an even count), with every run's ratio."""
    median = sorted(runs, key=lambda run: run["ratio"])[(len(runs) - 1) // 2]
    return {**median, "runs_ratio": [run["ratio"] for run in runs]}


def one_at_a_time_in_a_process(customers: int = 1_000, first: int = 250, repeats: int = REPEATS) -> dict[str, Any]:
    """`one_at_a_time` on a stack of its own, in a process of its own: the product's settings, clients and
    stores are read once per process, for one deployment, as on Lambda."""
    import subprocess
    import sys
    from pathlib import Path

    argv = [sys.executable, "-m", "benchmarks.resync_bench", "--customers", str(customers), "--first", str(first)]
    argv += ["--repeats", str(repeats)]
    done = subprocess.run(
        argv, cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        raise RuntimeError(f"the compute pass failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.resync_bench [--customers N] [--first M] [--repeats R]`: `one_at_a_time` on a local stack
    deployed with `ONE_AT_A_TIME`; prints its result as one line of JSON."""
    import argparse
    import logging

    parser = argparse.ArgumentParser(prog="python -m benchmarks.resync_bench", description=main.__doc__)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--first", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from benchmarks.harness import local_stack

    with local_stack(parameters=ONE_AT_A_TIME) as endpoints:
        METER.install()
        result = one_at_a_time(endpoints, customers=args.customers, first=args.first, repeats=args.repeats)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
