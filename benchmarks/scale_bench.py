"""Scale: an import behind a provider's rate limit, and state transitions at 100,000 records.

Both run against the Chargebee emulator (devstack/emulators/chargebee.py: ours, in the stack's emulator
process), seeded through its admin API with the demo business (`seed_demo`), each tenant its own source:

- **Behind a rate limit.** The emulator refuses the tenant's requests beyond a token bucket of `limit`
  requests a second (its own 429 with Retry-After, `EmulatorAdmin.rate_limit`), every request answered
  after `latency` seconds as across the internet; the source is created with `requests_per_second = limit`
  and a small `page_size`, so that the pages are many and the records few (the limit, not SourceSync's
  own work, sets the pace). The import's wall time against `pages ÷ limit`, the least time in which the
  provider would answer those pages: the pages are the requests the emulator answered for the tenant,
  429s apart, counted by the emulator, not by the product.
- **At 100,000 records.** No latency, no rate limit (the source's rate far above what the emulator
  serves): an import of ~100,000 records; the `StateEntered` events of the job's executions (what Step
  Functions bills) per 1,000 records, its wall time and DynamoDB write units per record.
"""

from __future__ import annotations

import math
import time
from typing import Any

from benchmarks.resync_bench import run_job
from benchmarks.systems_bench import PROVIDER_LATENCY, UNTHROTTLED
from sourcesync.store.accounts import Principal

SYSTEM = "chargebee"
#: records per demo customer at the Chargebee emulator (customer, subscription, invoice, payments, refunds),
#: a little under the 4.14 the demo business has, so that an import of `records` has at least that many
RECORDS_PER_CUSTOMER = 4.1


def transitions(job_id: str, data_source_uuid: str) -> int:
    """`StateEntered` events of every execution of a job, every page of their histories."""
    from sourcesync.aws import client
    from sourcesync.config import get_settings

    sfn = client("stepfunctions")
    total = 0
    executions = sfn.get_paginator("list_executions").paginate(stateMachineArn=get_settings().resync_state_machine_arn)
    for page in executions:
        for execution in page["executions"]:
            if not execution["name"].startswith(f"{data_source_uuid}-{job_id}"):
                continue
            history = sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"])
            total += sum(1 for events in history for e in events["events"] if e["type"].endswith("StateEntered"))
    return total


def _import(seeded: dict[str, Any], name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Create a source of the seeded tenant with these stored options and start its import, as
    `data_sources.create` does (through the data layer: `page_size`, which sets how many records a page
    asks for, is a connector option the API does not take); wait for the job's end; its figures."""
    from sourcesync.clock import now_iso
    from sourcesync.ids import new_id
    from sourcesync.policy_matrix import CURRENT_VERSION
    from sourcesync.services.accounts import create_account
    from sourcesync.services.jobs import start_source_job
    from sourcesync.services.live_sources import COUNT_KINDS
    from sourcesync.store.credentials import get_credential_store
    from sourcesync.store.jobs import get_job_store
    from sourcesync.store.sources import get_source_store
    from sourcesync.systems import System

    key = create_account(f"bench-{name}")
    principal = Principal(key.account_id, key.key_id, key.role)
    uuid = new_id("ds")

    def create() -> dict[str, Any]:
        get_credential_store().put(principal.account_id, uuid, seeded["credentials"])
        get_source_store().create(
            {
                "uuid": uuid,
                "account_id": principal.account_id,
                "name": f"bench {name}",
                "system": SYSTEM,
                "status": "importing",
                "options": {"max_retry_seconds": 300, **seeded.get("options", {}), **options},
                "created_at": now_iso(),
                "created_by": principal.key_id,
                "last_synced_at": None,
                "counts": dict.fromkeys(COUNT_KINDS, 0),
                "integration_version": CURRENT_VERSION[System(SYSTEM)],
            }
        )
        job = start_source_job(principal.account_id, uuid, "import", principal.key_id)
        return get_job_store().get(principal.account_id, job["job_id"]) or {}

    job = run_job(principal, create)
    # every page of the histories (run_job reads the first 1,000 events of each execution)
    job["transitions"] = transitions(job["job_id"], uuid)
    return job


def rate_limited(
    endpoints: dict[str, Any],
    customers: int,
    limit: float = 20.0,
    page_size: int = 20,
    latency: float = PROVIDER_LATENCY,
    burst: float | None = None,
) -> dict[str, Any]:
    from devstack.emulators.base import EmulatorAdmin
    from devstack.seeding import seed_source

    tenant = "bench-scale-rate"
    started = time.perf_counter()
    seeded = seed_source(SYSTEM, endpoints, customers=customers, tenant=tenant)
    seeding = time.perf_counter() - started
    admin = EmulatorAdmin(endpoints[SYSTEM])
    admin.rate_limit(tenant, limit, burst)
    admin.latency(latency)
    try:
        job = _import(seeded, "rate", {"requests_per_second": limit, "page_size": page_size})
    finally:
        admin.latency(0)
        admin.rate_limit(tenant, None)
    answered, throttled = admin.requests(tenant), admin.throttled(tenant)
    pages = answered - throttled
    ideal = pages / limit
    return {
        "system": SYSTEM,
        "customers": customers,
        "records": job["records"],
        "requests_per_second": limit,
        "emulator_burst": burst or max(1.0, limit),
        "page_size": page_size,
        "provider_latency_seconds": latency,
        "seeding_seconds": round(seeding, 1),
        "pages": pages,
        "throttled_429": throttled,
        "ideal_seconds": round(ideal, 2),
        "import_seconds": job["seconds"],
        "import_seconds_to_switch": job["seconds_to_switch"],
        "ratio_to_ideal": round(job["seconds"] / ideal, 3),
        "ratio_to_ideal_to_switch": round(job["seconds_to_switch"] / ideal, 3),
        "transitions": job["transitions"],
        "write_units_per_record": job["write_units_per_record"],
        "timeline": job["timeline"],
    }


def at_scale(endpoints: dict[str, Any], records: int) -> dict[str, Any]:
    from devstack.emulators.base import EmulatorAdmin
    from devstack.seeding import seed_source

    tenant = "bench-scale-records"
    customers = max(1, math.ceil(records / RECORDS_PER_CUSTOMER))
    started = time.perf_counter()
    seeded = seed_source(SYSTEM, endpoints, customers=customers, tenant=tenant)
    seeding = time.perf_counter() - started
    job = _import(seeded, "records", {"requests_per_second": UNTHROTTLED})
    admin = EmulatorAdmin(endpoints[SYSTEM])
    pages = admin.requests(tenant) - admin.throttled(tenant)
    return {
        "system": SYSTEM,
        "customers": customers,
        "records": job["records"],
        "seeding_seconds": round(seeding, 1),
        "pages": pages,
        "import_seconds": job["seconds"],
        "import_seconds_to_switch": job["seconds_to_switch"],
        "records_per_second": round(job["records"] / job["seconds"], 1),
        "transitions": job["transitions"],
        "transitions_per_1000_records": round(1000 * job["transitions"] / job["records"], 3),
        "write_units_per_record": job["write_units_per_record"],
        "dynamodb": job["dynamodb"],
        "lambda": {k: v for k, v in job["lambda"].items() if k != "by_step"},
        "timeline": _steps(job["timeline"]),
    }


def _steps(timeline: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per step, its invocations' first start and last end (the full timeline of 100k records is long)."""
    steps: dict[str, dict[str, float]] = {}
    for entry in timeline:
        step = steps.setdefault(entry["step"], {"start": entry["start"], "end": entry["end"], "invocations": 0})
        step["start"] = min(step["start"], entry["start"])
        step["end"] = max(step["end"], entry["end"])
        step["invocations"] += 1
    return steps


def run(
    endpoints: dict[str, Any],
    records: int = 100_000,
    rate_customers: int = 3_300,
    limit: float = 20.0,
    page_size: int = 20,
    latency: float = PROVIDER_LATENCY,
) -> dict[str, Any]:
    started = time.perf_counter()
    rate = rate_limited(endpoints, rate_customers, limit=limit, page_size=page_size, latency=latency)
    scale = at_scale(endpoints, records)
    return {"rate_limited": rate, "at_scale": scale, "seconds": round(time.perf_counter() - started, 1)}


def rows(results: dict[str, Any], row: Any) -> list[str]:
    """The docs' rows (`row(name, value, target, ok)`, the table's own)."""
    rate, scale = results["rate_limited"], results["at_scale"]
    ratio = rate["ratio_to_ideal"]
    per = scale["transitions_per_1000_records"]
    return [
        row(
            f"behind a rate limit: import ÷ (pages ÷ limit), {rate['pages']:,} pages at "
            f"{rate['requests_per_second']:g}/s",
            f"{ratio} ({rate['import_seconds']} s ÷ {rate['ideal_seconds']} s; to the switch "
            f"{rate['ratio_to_ideal_to_switch']}; {rate['throttled_429']} × 429 from the provider)",
            "≤ 1.15",
            ratio <= 1.15,
        ),
        row(
            f"state transitions per 1,000 records, an import of {scale['records']:,} records",
            f"{per} ({scale['transitions']} transitions)",
            "≤ 1 from 100k records",
            per <= 1 if scale["records"] >= 100_000 else None,
        ),
        row(
            f"import of {scale['records']:,} records: wall time; write units per record",
            f"{scale['import_seconds']} s ({scale['records_per_second']:,} records/s); "
            f"{scale['write_units_per_record']}",
            "",
            None,
        ),
    ]


def method(results: dict[str, Any]) -> str:
    rate, scale = results["rate_limited"], results["at_scale"]
    return (
        f"- **Scale** (`benchmarks/scale_bench.py`, {results['seconds']} s in all). Both against the Chargebee "
        "emulator of devstack/emulators, seeded through its admin API with the demo business, each import a "
        "new source of its own tenant. *Behind a rate limit*: the emulator enforces "
        f"{rate['requests_per_second']:g} requests a second for the tenant (a token bucket of "
        f"{rate['emulator_burst']:g}; beyond it Chargebee's 429 with Retry-After) and answers every request "
        f"after {rate['provider_latency_seconds']} s; the source is created (through the data layer: the API "
        f"takes no `page_size`) with `requests_per_second` = {rate['requests_per_second']:g} and `page_size` = "
        f"{rate['page_size']} ({rate['customers']:,} "
        f"customers, {rate['records']:,} records, {rate['pages']:,} pages), so that the limit, not the "
        "records, sets the pace. The pages are the requests the emulator answered for the tenant minus its "
        "429s, counted by the emulator; the ideal is pages ÷ limit, the least time the provider allows; the "
        "figure is the job's wall time, start to end, over it. The source's shared budget "
        "(`store/request_budget.py`) grants at the full rate once its burst is spent; the job's start (the "
        "state machine's first step) and its steps after the fetch add about a second or two. *At scale*: no "
        "latency, no limit (the "
        f"source's rate far above what the emulator serves); an import of {scale['records']:,} records "
        f"({scale['customers']:,} customers, {scale['pages']:,} pages, seeded in {scale['seeding_seconds']} s), "
        "its state transitions being the `StateEntered` events of the job's executions (every page of their "
        "histories), its write units from the same meter as the re-sync's."
    )
