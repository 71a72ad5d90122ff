"""Each function's cold init, from a `sam build` of infra/template.yaml whose layer is built for this
machine's architecture (the functions' own arm64 build cannot be imported on x86_64): a fresh interpreter
whose only paths are the function's built code, its built layer's python/, the boto3 the Lambda runtime
provides (the yardstick's pinned install of it) and the standard library, as on Lambda, importing the handler
module; minus the same interpreter's start without the import. Each function is read against the yardstick
(`naive_handler/`) measured just before and just after it, in several runs (`run`). Also the built sizes of
the deployed build."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.build import checks, sam

ROOT = Path(__file__).resolve().parent.parent
PYCACHE = ROOT / ".aws-sam" / "pycache"  # bytecode beside the build, not in it
NAIVE = ROOT / "benchmarks" / "naive_handler"
NAIVE_DEPS = ROOT / ".aws-sam" / "naive-deps"  # what the yardstick needs beyond the layer
NAIVE_NAME = "naive Powertools + Tracer + pydantic handler"


def naive_dependencies() -> Path:
    """boto3 and the X-Ray SDK for the yardstick handler, installed once (pinned beside it)."""
    requirements = NAIVE / "requirements.txt"
    stamp = NAIVE_DEPS / ".installed"
    if not stamp.exists() or stamp.read_text() != requirements.read_text():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-compile",
                "--upgrade",
                "--target",
                str(NAIVE_DEPS),
                "-r",
                str(requirements),
            ],
            check=True,
        )
        stamp.write_text(requirements.read_text())
    return NAIVE_DEPS


def _seconds(paths: list[str], code: str, env: dict[str, str]) -> float:
    script = f"import sys; sys.path[:0] = {paths!r}\n{code}"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-S", "-E", "-X", f"pycache_prefix={PYCACHE}", "-c", script], check=True, cwd=ROOT, env=env
    )
    return time.perf_counter() - started


def run(repeats: int = 21) -> dict[str, Any]:
    build = sam.build("host")
    functions, layers = checks.read_build(build.directory)
    runtime = str(naive_dependencies())  # the Lambda runtime's boto3, importable by our functions as on Lambda
    probes = {
        fn.logical_id: (
            [str(fn.code_dir), *(str(layers[lid].python_dir) for lid in fn.layers), runtime],
            f"import {fn.module}",
            {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **fn.environment},
        )
        for fn in functions
    }
    layer_dirs = [str(layers[lid].python_dir) for lid in functions[0].layers]
    probes[NAIVE_NAME] = (
        [str(NAIVE), *layer_dirs, runtime],
        "import app",
        {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "naive",  # as on Lambda: Tracer is on
            "TABLE_NAME": "items",
        },
    )
    for paths, code, env in probes.values():  # compile the bytecode once, as a deployed package could have it
        _seconds(paths, code, env)
    naive_probe = probes.pop(NAIVE_NAME)
    names = list(probes)
    empty: list[float] = []
    naive: list[float] = []
    imports: dict[str, list[float]] = {name: [] for name in names}
    # Each run measures every function between two runs of the yardstick (N f1 N f2 ... N), the functions in
    # an order rotated from one run to the next (21 runs: each function three times in each place): these
    # machines' speed drifts within seconds, and a function is read against the yardstick measured just
    # before and just after it.
    ratio_runs: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for run_number in range(repeats):
        empty.append(_seconds([], "pass", {"PATH": "/usr/bin:/bin"}))
        shift = run_number % len(names)
        order = names[shift:] + names[:shift]
        around = [_seconds(*naive_probe)]
        for name in order:
            imports[name].append(_seconds(*probes[name]))
            around.append(_seconds(*naive_probe))
        naive += around
        for i, name in enumerate(order):
            ratio_runs[name].append((imports[name][-1], (around[i] + around[i + 1]) / 2))
    baseline = statistics.median(empty)
    # each function against the yardstick: the median over the runs of its time over the mean of the two
    # yardstick runs around it
    ratios = {
        name: round(statistics.median((a - baseline) / (b - baseline) for a, b in runs), 3)
        for name, runs in ratio_runs.items()
    }
    return {
        "naive_handler_ms": round((statistics.median(naive) - baseline) * 1000, 1),
        "repeats": repeats,
        "ratio_to_naive": ratios,
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "layer_architecture": build.layer_arch,
        "empty_interpreter_ms": round(baseline * 1000, 1),
        "init_ms": {name: round((statistics.median(values) - baseline) * 1000, 1) for name, values in imports.items()},
    }


def built_sizes() -> dict[str, Any]:
    """Unzipped bytes of the build `make deploy` ships (the functions' architecture)."""
    build = sam.build("target")
    return {"architecture": build.function_arch, **checks.sizes(build.directory)}
