"""Per system with an emulator (devstack/emulators): an import and an unchanged re-sync against a plain fetch
of the same emulator in the same run, and DynamoDB write units per record.

The emulators set no rate limit here, and neither does the plain fetch: the sources are created with a
`requests_per_second` far above what the emulator serves, so that the ratio measures SourceSync's own
work, not the provider's published limit. How an import keeps a provider's limit busy is measured in
`scale_bench.py`, against an emulator that enforces one (`EmulatorAdmin.rate_limit`).

The emulators answer on loopback in well under a millisecond, where a provider across the internet takes
a tenth of a second or more per request: both the plain fetch and the import are measured with every
emulator request answered after `PROVIDER_LATENCY` seconds, so that the ratio compares the same work under
the same network, not SourceSync's fixed costs (planning, state machine, the switch) with a loopback copy.
The plain fetch reads the lists one after another, one page at a time, as a simple script or a
sequential loader would."""

from __future__ import annotations

import time
from typing import Any

from benchmarks.harness import median
from benchmarks.resync_bench import run_job
from sourcesync.store.accounts import Principal

#: A source's rate here: far above what one emulator process answers, so that it never waits.
UNTHROTTLED = 5_000
#: seconds each emulator request takes, both for the plain fetch and the import (a provider's typical
#: latency is 0.1-0.5 s; the lowest is the least favourable to a pipeline that fetches in parallel)
PROVIDER_LATENCY = 0.1


def systems() -> list[str]:
    """The systems that have both an emulator and a connector."""
    from devstack.emulators import discover
    from sourcesync.connectors.registry import connector_systems

    return sorted(set(discover()) & connector_systems())


def run_system(
    system: str, endpoints: dict[str, Any], customers: int, repeats: int = 3, latency: float = PROVIDER_LATENCY
) -> dict[str, Any]:
    from devstack.emulators import discover
    from devstack.emulators.base import EmulatorAdmin
    from devstack.seeding import seed_source

    module = discover()[system]
    seeded = seed_source(system, endpoints, customers=customers, tenant=f"bench-{system}")
    admin = EmulatorAdmin(endpoints[system])
    admin.latency(latency)
    try:
        return _measure(system, module, seeded, endpoints, customers, repeats) | {"provider_latency_seconds": latency}
    finally:
        admin.latency(0)


def _measure(
    system: str, module: Any, seeded: dict[str, Any], endpoints: dict[str, Any], customers: int, repeats: int
) -> dict[str, Any]:
    from sourcesync.api.models import DataSourceCreateRequest
    from sourcesync.services import data_sources
    from sourcesync.services.accounts import create_account
    from sourcesync.services.jobs import start_source_job
    from sourcesync.store.jobs import get_job_store

    fetches: list[float] = []
    objects = 0
    for _ in range(repeats):
        started = time.perf_counter()
        objects = module.plain_fetch(endpoints[system], seeded["credentials"])
        fetches.append(time.perf_counter() - started)
    plain = median(fetches)

    key = create_account(f"bench-{system}")
    principal = Principal(key.account_id, key.key_id, key.role)
    request = DataSourceCreateRequest.model_validate(
        {
            "name": f"bench {system}",
            "system": system,
            "credentials": seeded["credentials"],
            "options": {**seeded.get("options", {}), "requests_per_second": UNTHROTTLED},
        }
    )

    def create() -> dict[str, Any]:
        created = data_sources.create(principal, request)
        return get_job_store().get(principal.account_id, created["job"]["id"]) or {}

    imported = run_job(principal, create)
    ds = (get_job_store().get(principal.account_id, imported["job_id"]) or {})["data_source_uuid"]
    unchanged = run_job(
        principal, lambda: start_source_job(principal.account_id, ds, "resync_source", principal.key_id)
    )
    return {
        "customers": customers,
        "provider_objects": objects,
        "records": imported["records"],
        "plain_fetch_seconds": round(plain, 2),
        "import_seconds": imported["seconds"],
        "import_seconds_to_switch": imported["seconds_to_switch"],
        "unchanged_resync_seconds": unchanged["seconds"],
        "speed_ratio_import": round(plain / imported["seconds"], 3),
        "speed_ratio_import_to_switch": round(plain / imported["seconds_to_switch"], 3),
        "write_units_per_record_import": imported["write_units_per_record"],
        "write_units_per_record_unchanged": unchanged["write_units_per_record"],
    }


def run(
    endpoints: dict[str, Any], customers: int = 1_000, repeats: int = 3, latency: float = PROVIDER_LATENCY
) -> dict[str, Any]:
    return {system: run_system(system, endpoints, customers, repeats, latency) for system in systems()}


def rows(results: dict[str, Any]) -> list[str]:
    """The docs' table: one row per system."""
    lines = [
        "| system | customers | records | plain fetch | import (to the switch) | import ÷ fetch (target ≥ 0.7) "
        "| write units / record, import (≤ 1.05) | unchanged re-sync (≤ 0.05) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for system, r in sorted(results.items()):
        ratio = r["speed_ratio_import_to_switch"]
        wu, wu0 = r["write_units_per_record_import"], r["write_units_per_record_unchanged"]
        lines.append(
            f"| `{system}` | {r['customers']} | {r['records']} | {r['plain_fetch_seconds']} s "
            f"| {r['import_seconds']} s ({r['import_seconds_to_switch']} s) "
            f"| {ratio} {'✓' if ratio >= 0.7 else '✗'} "
            f"| {wu} {'✓' if wu is not None and wu <= 1.05 else '✗'} "
            f"| {wu0} {'✓' if wu0 is not None and wu0 <= 0.05 else '✗'} |"
        )
    return lines
