"""`python -m benchmarks [--quick]`: run every benchmark in one process, on one local stack, and write
benchmarks/results.json and docs/benchmarks.md. Figures are ratios measured in the same run, since the
machines are shared and noisy."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"


#: `--only` parts -> their key in the results
PART_KEYS = {
    "cold": "cold_init",
    "resync": "resync",
    "delete": "delete",
    "scheduler": "scheduler",
    "systems": "systems",
    "scale": "scale",
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not the figures")
    parser.add_argument("--only", choices=list(PART_KEYS), action="append")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    only = set(args.only or PART_KEYS)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": args.quick,
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    results["commit"] = measured_commit()
    started = time.perf_counter()
    if "cold" in only:
        from benchmarks import cold_init

        print("cold init...", flush=True)
        results["cold_init"] = cold_init.run(repeats=3 if args.quick else 21)
        results["built_sizes"] = cold_init.built_sizes()
    if only & {"resync", "delete", "scheduler", "systems", "scale"}:
        from benchmarks import delete_bench, resync_bench
        from benchmarks.harness import METER, local_stack

        with local_stack() as endpoints:
            METER.install()
            if "resync" in only:
                print("re-sync against the Stripe emulator...", flush=True)
                results["resync"] = resync_bench.run(
                    endpoints, customers=200 if args.quick else 1000, first=50 if args.quick else 250
                )
            if "delete" in only:
                print("delete and purge...", flush=True)
                results["delete"] = delete_bench.run(
                    small=200 if args.quick else 1_000,
                    large=5_000 if args.quick else 100_000,
                    repeats=2 if args.quick else 5,
                )
            if "scheduler" in only:
                from benchmarks import scheduler_bench

                print("scheduler with many scheduled sources...", flush=True)
                results["scheduler"] = scheduler_bench.run(sources=1_000 if args.quick else 10_000)
            if "systems" in only:
                from benchmarks import systems_bench

                print("import and unchanged re-sync per emulated system...", flush=True)
                results["systems"] = systems_bench.run(endpoints, customers=50 if args.quick else 1_000)
            if "scale" in only:
                from benchmarks import scale_bench

                print("scale: an import behind a rate limit, and one of 100,000 records...", flush=True)
                results["scale"] = (
                    scale_bench.run(endpoints, records=5_000, rate_customers=300, limit=20.0, page_size=20)
                    if args.quick
                    else scale_bench.run(endpoints)
                )
    if "resync" in only:
        from benchmarks import resync_bench

        print("re-sync compute, one invocation at a time...", flush=True)
        results["resync"]["one_at_a_time"] = resync_bench.one_at_a_time_in_a_process(
            customers=200 if args.quick else 1000, first=50 if args.quick else 250, repeats=1 if args.quick else 3
        )
    results["seconds"] = round(time.perf_counter() - started, 1)
    if not args.quick:
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        merged = {**previous, **results}
        # a run of some parts (--only) keeps the others' figures: each part says which commit it measured
        earlier = previous.get("measured") or {
            part: {"commit": previous.get("commit"), "when": previous.get("when")}
            for part, key in PART_KEYS.items()
            if key in previous
        }
        merged["measured"] = {
            **earlier,
            **{part: {"commit": results["commit"], "when": results["when"]} for part in only},
        }
        RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
        DOC.write_text(render(merged))
        print(f"wrote {RESULTS.relative_to(ROOT)} and {DOC.relative_to(ROOT)}")
    print(json.dumps(results, indent=2))
    return 0


def measured_commit() -> str:
    """The git commit the run measures (`-dirty` when the work tree has uncommitted changes)."""
    import subprocess

    def git(*args: str) -> str:
        answer = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return answer.stdout.strip() if answer.returncode == 0 else ""

    sha = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return sha + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _row(name: str, value: Any, target: str, ok: bool | None) -> str:
    verdict = "" if ok is None else ("met" if ok else "**missed**")
    return f"| {name} | {value} | {target} | {verdict} |"


def _compute_rows(resync: dict[str, Any]) -> list[str]:
    """Lambda compute per record: CPU (what the code costs; the target is read on it, measured one invocation
    at a time, as Lambda runs them) and billed duration (what Lambda charges, waiting on the provider
    included), each against the plain loop's CPU measured just before the job."""
    lines: list[str] = []
    anchor = resync.get("compute_anchor")
    if not anchor:
        return lines
    alone = resync.get("one_at_a_time") or {}

    def cpu(job: dict[str, Any]) -> tuple[float, float, float]:
        per_anchor = job.get("anchor_cpu_per_1000") or anchor["cpu_seconds_per_1000_records"] or float("nan")
        per_record = job["lambda"]["cpu_seconds_per_1000_records"]
        return round(per_record / per_anchor, 2), per_record, round(per_anchor, 3)

    for label, key, limit in (
        ("import", "first_import", 1.5),
        ("unchanged re-sync", "unchanged_resync", 0.8),
        ("all-changed re-sync", "all_changed_resync", None),
    ):
        job = resync[key]
        target = f"≤ {limit}" if limit else ""
        if key in alone:
            ratio, per_record, per_anchor = cpu(alone[key])
            runs = alone[key].get("runs_ratio") or [ratio]
            ratio = round(alone[key].get("ratio", ratio), 2)
            median = f"median of {len(runs)}: {', '.join(f'{r:.2f}' for r in runs)}; " if len(runs) > 1 else ""
            lines.append(
                _row(
                    f"{label}: Lambda CPU ÷ plain fetch-parse-write CPU (per record), one invocation at a time",
                    f"{ratio} ({median}the median run {per_record} ÷ {per_anchor} CPU s per 1,000 records)",
                    target,
                    ratio <= limit if limit else None,
                )
            )
        ratio, per_record, per_anchor = cpu(job)
        lines.append(
            _row(
                f"{label}: the same, every partition at once (all invocations in one interpreter)"
                if key in alone
                else f"{label}: Lambda CPU ÷ plain fetch-parse-write CPU (per record)",
                f"{ratio} ({per_record} ÷ {per_anchor} CPU s per 1,000 records)",
                "" if key in alone else target,
                None if key in alone or not limit else ratio <= limit,
            )
        )
        compute = job["lambda"]
        lines.append(
            _row(
                f"{label}: Lambda billed duration ÷ the same anchor; GB-seconds per 1,000 records",
                f"{round(compute['billed_seconds_per_1000_records'] / per_anchor, 1)}; "
                f"{compute['gb_seconds_per_1000_records']} GB-s ({compute['invocations']} invocations)",
                "",
                None,
            )
        )
    return lines


def _fresh_rows(resync: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    fresh = resync.get("time_to_fresh_data")
    if fresh and "provider_cpu_seconds_to_switch" in fresh:
        imported = resync["first_import"]
        lines.append(
            _row(
                "import: time to the switch (fresh data) ÷ a plain fetch at the same moment",
                f"{fresh['to_switch']} ({imported['seconds_to_switch']} s ÷ "
                f"{fresh['provider_cpu_seconds_to_switch']} s of the emulator's CPU; ÷ the plain fetch measured "
                f"before the jobs, {fresh['plain_fetch_seconds']} s: {fresh['to_switch_vs_plain_fetch_before']})",
                "",
                None,
            )
        )
        lines.append(
            _row(
                "import: time to the job's end (clean-up done) ÷ a plain fetch at the same moment",
                f"{fresh['to_end']} ({imported['seconds']} s ÷ {imported['provider']['cpu_seconds']} s)",
                "",
                None,
            )
        )
    elif fresh:
        lines.append(
            _row(
                "import: time to the switch (fresh data) ÷ plain fetch",
                f"{fresh['to_switch']} ({resync['first_import']['seconds_to_switch']} s ÷ "
                f"{fresh['plain_fetch_seconds']} s)",
                "",
                None,
            )
        )
        path = _critical_path(resync["first_import"].get("timeline") or [])
        if path:
            lines.append(_row("import: where the time to the switch goes (s)", path, "", None))
    return lines


def _plain_share(resync: dict[str, Any]) -> str:
    """The emulator's CPU as a share of each plain fetch's wall time, as a sentence."""
    shares = resync.get("plain_fetch_provider")
    if not shares:
        return ""
    return (
        f"its CPU was {shares['sequential']['cpu_share_of_wall']} of the sequential plain fetch's wall time and "
        f"{shares['one_thread_per_kind']['cpu_share_of_wall']} of the one with a thread per list."
    )


def _critical_path(timeline: list[dict[str, Any]]) -> str:
    """The steps on the way to the switch, each as the time from the previous step's end to its own end."""
    if not timeline:
        return ""
    parts, last = [], 0.0
    for name in ("plan", "fetch", "settle", "reconcile", "apply_overlays", "commit", "switch seen"):
        ends = [step["end"] for step in timeline if step["step"] == name]
        if ends:
            end = max(ends)
            parts.append(f"{name} {round(end - last, 2)}")
            last = end
    return ", ".join(parts)


def _scheduler_row(scheduler: dict[str, Any]) -> str:
    return _row(
        f"scheduler: DynamoDB requests per minute, {scheduler['scheduled_sources']:,} scheduled sources, "
        f"median {scheduler['due_per_minute_median']} due",
        f"{scheduler['requests_per_minute_median']} ({scheduler['requests_per_run_fixed']} a run + "
        f"{scheduler['requests_per_due_source']} per due source)",
        f"follows the due (was {scheduler['scheduled_sources']:,} writes + reading every source)",
        None,
    )


def _cold_rows(cold: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    ratios = cold.get("ratio_to_naive") or {}
    for name, ms in cold["init_ms"].items():
        ratio = ratios.get(name)
        if ratio is None:
            lines.append(_row(f"cold init: {name}", f"{ms} ms", "≤ 300 ms", ms <= 300))
        else:
            lines.append(
                _row(
                    f"cold init: {name} ÷ a naive Powertools + Tracer + pydantic handler",
                    f"{ratio} ({ms} ms; the naive handler {cold['naive_handler_ms']} ms)",
                    "≤ 0.3",
                    ratio <= 0.3,
                )
            )
    return lines


def render(r: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` at commit `{r.get('commit', 'unknown')}` on {r.get('when')}{_parts(r)} "
        f"({r.get('machine')}; 2 cores, shared). Every figure "
        "is a ratio of two things measured in the same run, on the same local stack (DynamoDB Local, moto's "
        "Step Functions running our handlers in-process, the Stripe emulator). Raw numbers: "
        "`benchmarks/results.json`.",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
    ]
    delete, resync, cold = r.get("delete"), r.get("resync"), r.get("cold_init")
    if delete:
        ratio = delete["answer_ratio_large_to_small"]
        # per size, the distinct request counts seen: the same fewest at both sizes, and never more than one
        # above it, means the answer does not depend on the size (the one request more now and then is the
        # key's last-use stamp, once a minute, which falls on whichever delete comes first in that minute)
        small_counts = sorted(set(delete["requests_before_answer"][str(delete["sizes"]["small"])]))
        large_counts = sorted(set(delete["requests_before_answer"][str(delete["sizes"]["large"])]))
        counts = f"{small_counts} at {delete['sizes']['small']:,}, {large_counts} at {delete['sizes']['large']:,}"
        same = small_counts[0] == large_counts[0] and max(small_counts[-1], large_counts[-1]) <= small_counts[0] + 1
        lines.append(
            _row(
                f"delete: median answer, {delete['sizes']['large']:,} records ÷ {delete['sizes']['small']:,}",
                f"{ratio} ({delete['answer_median_ms'][str(delete['sizes']['large'])]} ms ÷ "
                f"{delete['answer_median_ms'][str(delete['sizes']['small'])]} ms)",
                "≤ 1.2",
                ratio <= 1.2,
            )
        )
        lines.append(
            _row(
                "delete: DynamoDB requests before the answer, both sizes",
                counts,
                "the same at both sizes (± the once-a-minute stamp)",
                same,
            )
        )
        lines.append(
            _row(
                "purge ÷ plain BatchWriteItem loop (items/s)",
                f"{delete['purge_to_plain_loop_ratio']} ({delete['purge_items_per_second']:,} ÷ "
                f"{delete['plain_batch_write_loop_items_per_second']:,})",
                "≥ 0.8",
                delete["purge_to_plain_loop_ratio"] >= 0.8,
            )
        )
        lines.append(
            _row("purge: DynamoDB requests per 1,000 items", delete["purge_requests_per_1000_items"], "", None)
        )
    if resync:
        for label, key in (
            ("first import", "first_import"),
            ("re-sync, every record changed", "all_changed_resync"),
            ("re-sync, nothing changed", "unchanged_resync"),
        ):
            target, limit = {
                "first_import": ("≤ 1.05", 1.05),
                "all_changed_resync": ("≤ 2.1", 2.1),
                "unchanged_resync": ("≤ 0.05", 0.05),
            }[key]
            wcu = resync[key]["write_units_per_record"]
            lines.append(_row(f"{label}: write units per record", wcu, target, wcu <= limit))
            lines.append(
                _row(
                    f"{label}: DynamoDB requests per 1,000 records", resync[key]["requests_per_1000_records"], "", None
                )
            )
        before = resync.get("speed_ratio_vs_plain_fetch_before") or {}
        plain_requests = (resync.get("plain_fetch_provider") or {}).get("sequential", {}).get("requests")
        for label, key, short in (
            ("import", "first_import", "import"),
            ("unchanged re-sync", "unchanged_resync", "unchanged_resync"),
        ):
            job = resync[key]
            ratio = resync[f"speed_ratio_{short}"]
            provider = job.get("provider")
            value = (
                f"{ratio} ({provider['cpu_seconds']} s of the emulator's CPU ÷ {job['seconds']} s; "
                f"{provider['requests']} requests, the plain fetch {plain_requests}; the plain fetch measured "
                f"before the jobs ÷ the job: {before[short]})"
                if provider
                else ratio
            )
            lines.append(
                _row(f"{label} speed: a plain fetch at the same moment ÷ the job", value, "≥ 0.7", ratio >= 0.7)
            )
        lines += _compute_rows(resync) + _fresh_rows(resync)
        t = resync["transitions_per_1000_records"]
        lines.append(
            _row(
                "state transitions per 1,000 records",
                f"{t['small']} at {resync['small_import']['records']:,} records, {t['full']} at "
                f"{resync['first_import']['records']:,}",
                "≤ 1 from 100k records",
                None,
            )
        )
    lines += _scale_rows(r.get("scale"))
    scheduler = r.get("scheduler")
    if scheduler:
        lines.append(_scheduler_row(scheduler))
    if cold:
        lines += _cold_rows(cold)
    lines += ["", "## How each is measured", ""]
    if delete:
        lines += [
            f"- **Delete.** {delete['sizes']['repeats']} custom sources of {delete['sizes']['small']:,} records "
            f"and {delete['sizes']['repeats']} of {delete['sizes']['large']:,} (a quarter each of customers, "
            "subscriptions, invoices and transactions), seeded through the data layer. Each DELETE goes "
            "through the delete function's handler in this process; its wall time and the DynamoDB requests "
            "it makes are recorded, then its purge runs to the end before the next one, and is timed. The "
            "baseline deletes the same number of items with one thread calling BatchWriteItem (25 keys a "
            "request) with the keys already in hand, on the same DynamoDB Local. The requests before the answer "
            "include the key's authentication read, the per-account request counter (one write) and, at most "
            "once a minute per key, the key's last-use stamp: hence two counts, at either size."
        ]
    if resync:
        lines += [
            f"- **Re-sync.** The Stripe emulator holds {resync['customers']:,} customers with their "
            f"subscriptions, invoices and charges ({resync['provider_objects']:,} list objects). The plain "
            "fetch pages through the five lists the Stripe connector reads from that emulator (100 a page: "
            "customers, plans, subscriptions, invoices, and the invoices again for the transactions), "
            "sequentially and with one thread per list; "
            f"it took {resync['plain_fetch_seconds']['sequential']} s and "
            f"{resync['plain_fetch_seconds']['one_thread_per_kind']} s. (On the emulator the connector reads the "
            "transactions from the invoices list, whose invoices carry their charge, where the emulator's charges "
            'do not name their invoice: docs/connectors.md, "Stripe decisions". The plain fetch and the compute '
            "anchor ask each stream's chooser as the connector does and page through the same lists, so both "
            "read the same pages as the product: against Stripe itself they would read the charges list.) "
            "The pipeline's figure is a job's wall "
            "time from its start to its end (planning, fetching, writing, committing, cleaning up; the "
            "readers' grace period set to 0); its time to fresh data is from its start to the moment the "
            "job reads `succeeded` (the switch), polled every 0.1 s. Both are divided by what a plain fetch of "
            "the same pages took at the same moment: the emulator's CPU seconds over the same interval (read "
            "from /proc). The emulator answers in one thread and spends CPU on every page, so a plain fetch's "
            "wall time is its CPU time: "
            + _plain_share(resync)
            + " That CPU time is not constant on these shared machines: the same pass over the same lists took "
            "19 s in one minute and 35 s in another, so a plain fetch measured before a job is not what it would "
            "take during the job. The requests the emulator answered during the job are counted beside it (the "
            "plain fetch's count shows whether the job asked for the same pages), and the jobs' wall time "
            "divided by the plain fetch measured before them is shown too. Write units come from "
            "`ReturnConsumedCapacity` on every call "
            "the product made during the job. The all-changed re-sync makes the committed manifests claim "
            "other content for every record, so the re-sync rewrites every record and deletes every old "
            "version, which is the cost of a provider where everything changed. State transitions are the "
            "`StateEntered` events of the job's executions.",
            f"- First import: {resync['first_import']['seconds']} s, {resync['first_import']['records']:,} "
            f"records, {resync['first_import']['transitions']} state transitions; unchanged re-sync: "
            f"{resync['unchanged_resync']['seconds']} s; all-changed re-sync: "
            f"{resync['all_changed_resync']['seconds']} s.",
            "- The Stripe emulator (localstripe, single-threaded Python, slower per page the more objects it "
            "holds: each list scans its whole store) is the bottleneck of both the plain fetch and the pipeline. "
            "The seed gives each customer a stored card as its default payment method: with the test alias "
            "`pm_card_visa` as the default, localstripe stored a new payment method on every read of a customer, "
            "so its store, and every page's cost, grew with each pass (runs before this was found had the "
            "unchanged re-sync at 0.51–0.84 of a plain fetch measured before it). On these 2-core machines the "
            "pipeline's own processes (DynamoDB Local, moto, the workers) take CPU from the emulator, which the "
            "speed ratios count against the pipeline; the write-unit figures move in the third decimal, "
            "transitions by one at most.",
            "- **Compute per record: what is measured, and which figure the target is read on.** The local "
            "Lambda runtime (`devstack/lambda_runtime.py`) records every invocation of the job's functions: its "
            "duration rounded up to the millisecond (Lambda's billed duration) at the function's `MemorySize` "
            "(GB-seconds), and its CPU time across all its threads: the invoking thread's and that of every "
            "thread started while it ran (the fetch step's page fetched ahead and its two writers), each read "
            "from the thread's own CPU clock, so the other handlers, moto and the stack sharing the process "
            "are not counted. The anchor is one thread paging through the same five lists of the same "
            "emulator with a plain boto3 client (its defaults), parsing each page and writing every object as "
            "one DynamoDB item with BatchWriteItem, measured just before each job's figure is read (and, for the "
            "figures one invocation at a time, just after it too: the mean of the two): its CPU "
            "seconds per 1,000 records. **The target is read on CPU**: CPU is what the code costs and what "
            "changes when the code changes; the anchor is CPU, so CPU against CPU is the like-for-like ratio. "
            "**And it is read one invocation at a time**: the local runtime runs every invocation in this one "
            "Python process, and with every partition at once, five fetch workers of three threads each contend "
            "for its one interpreter lock, which costs CPU (threads handing the lock over, caches gone cold): an "
            "unchanged re-sync measured about twice the CPU per record so. On Lambda every invocation has an "
            "interpreter of its own. So `make bench` runs the three jobs again on a stack of their own, in a "
            "process of their own, deployed with `FetchConcurrency` = 1 (`resync_bench.one_at_a_time`): the "
            "same work, each invocation alone, its own threads (the page fetched ahead, the writers) still "
            "contending with one another as they would on Lambda; both figures are in the table. "
            "**Each of those jobs runs three times** (three sources of the same business: three imports, then "
            "an unchanged re-sync of each, then an all-changed re-sync of each), each between two anchors, "
            "and the table gives the median of the three ratios with the three beside it: on these shared "
            "machines the anchor moved by 40% within one job's minute, and a job's ratio by a tenth from one "
            "run to the next. "
            "**The heap is settled before each job and each anchor** (`harness.settle_heap`: a full collection, "
            "then `gc.freeze()`): moto runs in this process and keeps the state of every earlier job, about half "
            "a million objects that a Lambda worker never holds, and a full collection over them (about 0.25 CPU "
            "s) used to land in whichever thread allocated when it fell due, once doubling a re-sync's CPU; "
            "frozen, they are left out of every collection, and what the job or the anchor allocates is "
            "collected as usual. "
            "Billed duration is what Lambda charges, and it is reported too, but it is mostly waiting: "
            "for the provider (here a single-threaded emulator that five workers share, on a machine "
            "other work shares), for DynamoDB and S3; on this stack it says how slow the emulator is more than "
            "what the code does. Against AWS the billed seconds would be the provider's latency times the "
            "pages, whatever the code."
            + (
                " The product's DynamoDB calls carry the benchmark's meter (botocore hooks that ask every call "
                "for its consumed capacity and add it up), which the plain anchor's do not; the same anchor loop "
                "through the product's own DynamoDB client, meter included, took "
                f"{resync['compute_anchor']['with_product_client_cpu_seconds_per_1000_records']} CPU s per 1,000 "
                "records (the anchors beside the three jobs: "
                f"{resync['compute_anchor']['runs_cpu_seconds_per_1000_records']})."
                if "runs_cpu_seconds_per_1000_records" in resync.get("compute_anchor", {})
                else ""
            ),
            "- **Where the compute goes**: `python -m benchmarks.profile_resync` runs an import and an unchanged "
            "re-sync with cProfile on every thread of their invocations (each thread's CPU clock) and prints "
            "the functions with the most CPU; `make bench` records each step's CPU (`by_step` in "
            "`benchmarks/results.json`) and each job's timeline (when every step started and ended, and the "
            "switch). Measured without a profiler (each part's thread CPU, one invocation at a time), an unchanged "
            "re-sync of these 4,005 records spends about 0.4 CPU s fetching: the provider's 42 pages (the first "
            "invoices the transactions' list is chosen by, then 41 pages, about 14 MB of JSON) decoded, 55–70 ms "
            "(orjson, `sourcesync/json_codec.py`; the standard library's decoder took a third more), sent and read "
            "through requests, about 65 ms, one request-budget write per page, about 60 ms, mapped, about 40 ms, "
            "compared with the manifest (canonical JSON and its hash, written by orjson where its bytes are the "
            "standard library's), about 33 ms (48 ms with the standard library's encoder), and per partition its "
            "set-up and checkpoints (manifest load and chunk, work item, credentials, liveness), about 15 ms each; "
            "the settle step about 30 ms (it was 70–110 ms while it copied the subscriptions' 32 owner shards: a "
            "source of up to 5,000 subscriptions keeps them in one object). An A/B in one process, alternating "
            "with the earlier read of the emulator's transactions (every charge's PaymentIntent expanded) and the "
            "standard library's encoder: 0.114–0.118 against 0.133–0.144 CPU s per 1,000 records. "
            "An import of the same records spends about 1.0–1.1 CPU s fetching. Part of it the anchor spends too: "
            "the same pages read and parsed, and the same 161 BatchWriteItem requests, about a third of the "
            "import's CPU. Beyond it, per record: the mapping into the record models (about 45 ms in all), the "
            "canonical JSON and its hash (about 35 ms), the record's and its customer's uuids (about 40 ms), the "
            "compressed payload and the item in DynamoDB's wire format (about 40 ms each); per page, one "
            "request-budget write (about 70 ms in all); per partition, its set-up and checkpoints; and the settle "
            "step, 60–90 ms. Cut in this round (A/B in one process, each part's thread CPU): BatchWriteItem's "
            "body is written in one `json.dumps` (`sourcesync/aws.py`, `WireBatchWrites`; botocore's bytes, which "
            "a test checks): botocore's generic serializer took 16 µs an item of nine attributes, 5 µs now, about "
            "45 ms of an import's 4,005 items; the wire item is built directly; base32 takes two digits a step; and "
            "a payload of up to 4 KB is compressed with zlib's state sized to it (the default state, about "
            "256 KB set up per call, cost 10–80 µs a record depending on the heap; sized, about 8 µs).",
            "- Transitions do not grow with the records: a fetch worker loops inside one invocation until "
            "its time budget (`FetchBudgetSeconds`, 600 s), so a partition costs about 4 transitions per "
            "10 minutes of fetching whatever its size; a job adds a fixed ~20. At Stripe's 100 requests/s "
            "(10,000 objects/s) that is far under 1 transition per 1,000 records from 100,000 records on; "
            "the scale part measures it on an import of 100,000 records.",
        ]
    lines += _scale_method(r.get("scale"))
    if scheduler:
        lines += [
            f"- **Scheduler.** {scheduler['scheduled_sources']:,} Stripe sources with a daily cron schedule, their "
            "minutes spread evenly over the day (a handful due each minute), seeded through the data layer on DynamoDB "
            f"Local. The scheduler's run is called for {scheduler['minutes']} consecutive minutes with an injected "
            "clock, counting the DynamoDB requests of its own thread (a Query of the schedules changed since its "
            "watermark, a Query per bucket of the `due` index, and per due source a read, a write of its next "
            "firing and the job's creation). Taking in every new schedule once (which in use happens as each is "
            f"set) cost {scheduler['requests_taking_in_every_schedule_once']:,} requests. Before, every run read "
            "and wrote every scheduled source: one UpdateItem per source per minute."
        ]
    if cold:
        lines += [
            f"- **Cold init** (measured {cold.get('when', r.get('when'))}). A `sam build` of infra/template.yaml "
            f"with the layer built for this machine ({cold.get('layer_architecture', 'its architecture')}); a fresh "
            "interpreter whose only paths are the function's built code, "
            "its built layer's `python/`, boto3 (as the Lambda runtime provides it) and the standard library, as "
            "on Lambda, importing the handler module, "
            f"minus the same interpreter without the import ({cold['empty_interpreter_ms']} ms), median of "
            f"{cold.get('repeats', 'several')} runs. boto3 is imported on first use, not at init; the tracer is "
            "not loaded; Powertools' "
            "packages are imported for the names the layer uses, not through their `__init__`s (which import "
            "Metrics, every resolver and event class, and botocore for a user-agent header), and two modules "
            "imported by code that does not use them at init (`importlib.metadata` by pydantic's plugin "
            "loader, with plugins disabled; jmespath by the Logger) run their code on first use "
            '(`sourcesync/coldstart.py`, docs/architecture.md "Cold starts"). The yardstick '
            "(`benchmarks/naive_handler/`) is a handler written the plain way: Powertools' Logger and Tracer "
            "(as on Lambda, so Tracer patches boto3 and requests), a pydantic model, a boto3 client at module "
            "scope; imported the same way from our layer plus boto3 and the X-Ray SDK (what the Lambda runtime "
            "and Tracer add), in turn with the functions, each ratio the median of the side-by-side runs' "
            "ratios."
        ]
    lines += _systems_section(r.get("systems"))
    sizes = r.get("built_sizes")
    if sizes:
        lines += _sizes_section(sizes)
    return "\n".join(lines) + "\n"


def _scale_rows(scale: dict[str, Any] | None) -> list[str]:
    if not scale:
        return []
    from benchmarks.scale_bench import rows

    return rows(scale, _row)


def _scale_method(scale: dict[str, Any] | None) -> list[str]:
    if not scale:
        return []
    from benchmarks.scale_bench import method

    return [method(scale)]


def _parts(r: dict[str, Any]) -> str:
    """The parts measured at another commit than the last run's (a `--only` run updated some of them)."""
    others = [
        f"{part} at `{seen['commit']}` on {seen['when']}"
        for part, seen in sorted(r.get("measured", {}).items())
        if seen.get("commit") != r.get("commit")
    ]
    return f" (but: {'; '.join(others)})" if others else ""


def _systems_section(systems: dict[str, Any] | None) -> list[str]:
    if not systems:
        return []
    from benchmarks.systems_bench import rows

    return [
        "",
        "## Per system (the emulators of devstack/emulators)",
        "",
        "Each system's emulator seeded with the same demo business; a plain fetch of the lists its connector "
        "reads (plain `requests`, the provider's pagination, one list after another, parsed; median of 3) "
        "against the import of the same data through the local stack, to the switch, in the same run. Every "
        "emulator request is answered after a provider's typical latency (`provider_latency_seconds` in "
        "results.json, 0.1 s) for both: on loopback, with no latency, an import would be measured against "
        "a copy that answers in microseconds. The source's rate is set above what the emulator answers: the "
        "provider's published limit is not what is measured here. DynamoDB write units per record for the "
        "import and for an unchanged re-sync.",
        "",
        "Where an import is below 0.7, read it with the local stack's shape in mind. GoCardless answers 500 "
        "objects a page, so its plain fetch is about fourteen requests; the import does the same requests "
        "plus its own work on some 9,000 records (mapping, hashing, writing each to DynamoDB Local), and on "
        "the local stack every Lambda invocation runs in one Python process: the five fetch workers share "
        "one interpreter lock on two shared cores, with DynamoDB Local and moto beside them. At about 0.3 "
        "CPU seconds per 1,000 records (the re-sync rows above) that work alone is longer than the plain "
        "fetch. On Lambda each worker has a CPU of its own, so the same import would be bounded by the "
        "provider's pages instead; the figure here is what the local stack allows, and the CPU per record "
        "(not the wall time of this row) is what the code changes move.",
        "",
        *rows(systems),
    ]


def _mib(size: int) -> str:
    return f"{size / 2**20:.2f} MiB" if size >= 2**20 else f"{size:,} bytes"


def _sizes_section(sizes: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Built sizes",
        "",
        f"What `make deploy` ships: `sam build` for the functions' architecture ({sizes['architecture']}), "
        "unzipped (Lambda's limit: 250 MiB for a function and all its layers).",
        "",
        "| built | unzipped | with its layers |",
        "|---|---|---|",
    ]
    for name, size in sizes["layers"].items():
        lines.append(f"| layer {name} | {_mib(size)} | |")
    for name, size in sizes["functions"].items():
        lines.append(f"| function {name} | {_mib(size)} | {_mib(sizes['functions_with_layers'][name])} |")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
