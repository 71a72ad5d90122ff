"""`python -m benchmarks.profile_resync [--customers N]`: where the re-sync's Lambda compute goes.

Runs a first import and an unchanged re-sync of the Stripe emulator on the local stack in this process, as
`make bench` does, with cProfile on every thread of the job's invocations (the invoking thread and the
fetch step's fetcher and writers), timed by each thread's CPU clock, so the figures are CPU seconds, not
waiting. Prints, per job, the functions with the most CPU, cumulative and own, and writes the merged
profile to `.local/profile/<job>.prof` (`python -m pstats` or snakeviz read it). cProfile slows Python
code down: the shares, not the totals, are what to read.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import threading
import time
from collections.abc import Iterator
from concurrent.futures import thread as futures_thread
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".local" / "profile"


class Profiles:
    """One cProfile per thread that works for an invocation while `recording`, merged at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._profiles: list[cProfile.Profile] = []
        self.recording = False

    @contextmanager
    def profiled(self) -> Iterator[None]:
        if not self.recording:
            yield
            return
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profiles.append(profile)
        profile.enable()
        try:
            yield
        finally:
            profile.disable()

    def take(self, name: str) -> pstats.Stats | None:
        with self._lock:
            profiles, self._profiles = self._profiles, []
        if not profiles:
            return None
        stats = pstats.Stats(profiles[0], stream=io.StringIO())
        for profile in profiles[1:]:
            stats.add(profile)
        OUT.mkdir(parents=True, exist_ok=True)
        stats.dump_stats(OUT / f"{name}.prof")
        return stats


def install(profiles: Profiles) -> None:
    """Profile every invocation of the local Lambda runtime, and the work its thread pools run."""
    from devstack.lambda_runtime import LambdaRuntime

    invoke = LambdaRuntime.invoke

    def profiled_invoke(self: LambdaRuntime, name_or_arn: str, event: Any, **kwargs: Any) -> Any:
        with profiles.profiled():
            return invoke(self, name_or_arn, event, **kwargs)

    LambdaRuntime.invoke = profiled_invoke  # type: ignore[method-assign]
    run = futures_thread._WorkItem.run

    def profiled_run(self: Any) -> None:
        if threading.current_thread().name.startswith(("writer", "fetcher")):
            with profiles.profiled():
                run(self)
        else:
            run(self)

    futures_thread._WorkItem.run = profiled_run  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_resync")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="fetch one partition at a time (FetchConcurrency 1), as the compute figures of `make bench` are read",
    )
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    from benchmarks import resync_bench
    from benchmarks.harness import METER, local_stack
    from devstack.stripe_seed import TEST_KEY, seed_business
    from sourcesync.api.models import DataSourceCreateRequest
    from sourcesync.services import data_sources
    from sourcesync.services.accounts import create_account
    from sourcesync.services.jobs import start_source_job
    from sourcesync.store.accounts import Principal
    from sourcesync.store.jobs import get_job_store

    with local_stack(parameters=resync_bench.ONE_AT_A_TIME if args.one_at_a_time else None) as endpoints:
        METER.install()
        stripe = endpoints["stripe"]
        key = create_account("profile-resync")
        principal = Principal(key.account_id, key.key_id, key.role)

        def create(name: str) -> dict[str, Any]:
            request = DataSourceCreateRequest.model_validate(
                {
                    "name": name,
                    "system": "stripe",
                    "credentials": {"api_key": TEST_KEY},
                    "options": {"api_base": stripe},
                }
            )
            created = data_sources.create(principal, request)
            return get_job_store().get(principal.account_id, created["job"]["id"]) or {}

        seed_business(stripe, customers=args.customers, seed=1)
        resync_bench.run_job(principal, lambda: create("warm-up"))  # every function's cold start, not profiled
        anchor_cpu, anchor_records = resync_bench.plain_fetch_parse_write(stripe)
        print(f"anchor: {1000 * anchor_cpu / anchor_records:.3f} CPU s per 1,000 records")
        profiles = Profiles()
        install(profiles)
        reports: dict[str, tuple[pstats.Stats | None, dict[str, Any]]] = {}
        profiles.recording = True
        imported = resync_bench.run_job(principal, lambda: create("profiled"))
        reports["import"] = (profiles.take("import"), imported)
        ds = get_job_store().get(principal.account_id, imported["job_id"])["data_source_uuid"]  # type: ignore[index]
        unchanged = resync_bench.run_job(
            principal, lambda: start_source_job(principal.account_id, ds, "resync_source", principal.key_id)
        )
        reports["unchanged-resync"] = (profiles.take("unchanged-resync"), unchanged)
    per_anchor = 1000 * anchor_cpu / anchor_records
    for name, (stats, job) in reports.items():
        compute = job["lambda"]
        print(
            f"\n== {name}: {job['records']} records, {compute['cpu_seconds_per_1000_records']} CPU s per 1,000 "
            f"(÷ anchor {compute['cpu_seconds_per_1000_records'] / per_anchor:.2f}, profiled); by step: "
            + ", ".join(f"{step} {v['cpu_seconds']} s" for step, v in compute["by_step"].items())
        )
        if stats is None:
            continue
        for order in ("cumulative", "tottime"):
            stream = io.StringIO()
            stats.stream = stream  # type: ignore[attr-defined]
            stats.sort_stats(order).print_stats(args.top)
            print(stream.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
