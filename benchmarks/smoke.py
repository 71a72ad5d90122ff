"""`python -m benchmarks.smoke`: every benchmark once, at a tiny size, and the report rendered from what they
return — a smoke run (no figure is checked, nothing is written), so that a change that breaks `make bench`
fails `make test` (tests/bench_smoke) instead of being found by the next person who runs it."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

#: The sizes of the smoke run: as small as still runs every code path of each benchmark.
SMOKE = {
    "customers": 6,
    "first": 3,
    "delete_small": 8,
    "delete_large": 16,
    "delete_repeats": 1,
    "cold_repeats": 1,
    "scheduled_sources": 40,
    "system_customers": 3,
    "scale_records": 120,
    "scale_rate_customers": 8,
}


def run() -> dict[str, Any]:
    from benchmarks import cold_init, delete_bench, resync_bench, scale_bench, scheduler_bench, systems_bench
    from benchmarks.__main__ import render
    from benchmarks.harness import METER, local_stack

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    started = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        phases[name] = round(time.perf_counter() - started - sum(phases.values()), 1)

    results: dict[str, Any] = {"when": "smoke run", "quick": True, "machine": "smoke", "commit": "smoke"}
    results["cold_init"] = cold_init.run(repeats=SMOKE["cold_repeats"])
    lap("cold_init")
    with local_stack() as endpoints:
        METER.install()
        lap("stack")
        results["resync"] = resync_bench.run(endpoints, customers=SMOKE["customers"], first=SMOKE["first"])
        lap("resync")
        results["delete"] = delete_bench.run(
            small=SMOKE["delete_small"], large=SMOKE["delete_large"], repeats=SMOKE["delete_repeats"]
        )
        lap("delete")
        results["scheduler"] = scheduler_bench.run(sources=SMOKE["scheduled_sources"], minutes=2)
        lap("scheduler")
        results["systems"] = systems_bench.run(endpoints, customers=SMOKE["system_customers"], repeats=1, latency=0)
        lap("systems")
        results["scale"] = scale_bench.run(
            endpoints, records=SMOKE["scale_records"], rate_customers=SMOKE["scale_rate_customers"], latency=0
        )
        lap("scale")
    results["resync"]["one_at_a_time"] = resync_bench.one_at_a_time_in_a_process(
        customers=SMOKE["customers"], first=SMOKE["first"], repeats=2
    )
    lap("one_at_a_time")
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["phases"] = phases
    results["rendered"] = render(results)
    return results


def main() -> int:
    results = run()
    print(json.dumps({k: v for k, v in results.items() if k != "rendered"}, indent=2))
    print(results["rendered"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
