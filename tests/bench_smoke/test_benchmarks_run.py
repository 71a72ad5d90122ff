"""Benchmarks that cannot rot: every benchmark of `make bench` runs once, at a tiny size, in `make test`
(`python -m benchmarks.smoke`, in a process of its own: it starts its own local stack). No figure is
checked — timings belong to `make bench` — only that every benchmark runs to its end and the report renders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_runs_to_its_end_at_a_tiny_size() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = done.stdout[done.stdout.index("# Benchmarks") :]
    results = json.loads(done.stdout[: done.stdout.index("# Benchmarks")])
    # every benchmark ran and returned its figures, and the report has a row for each
    assert {"cold_init", "resync", "delete", "scheduler", "systems", "scale"} <= set(results)
    for row in (
        "delete: median answer",
        "first import: write units per record",
        "import: time to the switch",
        "scheduler: DynamoDB requests per minute",
        "behind a rate limit: import ÷ (pages ÷ limit)",
        "state transitions per 1,000 records, an import of",
        "**Scale**",
        "cold init: ",
        "unchanged re-sync: Lambda CPU ÷ plain fetch-parse-write CPU (per record), one invocation at a time",
    ):
        assert row in report, report
    # the emulator's work was read beside the plain fetch and each job: the requests it answered
    resync = results["resync"]
    assert resync["plain_fetch_provider"]["sequential"]["requests"] >= 5, resync["plain_fetch_provider"]
    for job in ("first_import", "unchanged_resync"):
        assert resync[job]["provider"]["requests"] >= resync["plain_fetch_provider"]["sequential"]["requests"]
    # and the compute pass ran its three jobs on a stack of its own, one invocation at a time
    alone = results["resync"]["one_at_a_time"]
    assert alone["parameters"] == {"FetchConcurrency": "1"}
    for job in ("first_import", "unchanged_resync", "all_changed_resync"):
        assert alone[job]["records"] == results["resync"]["first_import"]["records"], alone[job]
