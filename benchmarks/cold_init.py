"""Each function's cold init, from a `sam build` of infra/template.yaml whose layer is built for this
machine's architecture (the functions' own arm64 build cannot be imported on x86_64): a fresh interpreter
whose only paths are the function's built code, its built layer's python/ and the standard library, as on
Lambda, importing the handler module; minus the same interpreter's start without the import (the median of
several runs of each, interleaved so that noise hits both). Also the built sizes of the deployed build."""

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


def run(repeats: int = 7) -> dict[str, Any]:
    build = sam.build("host")
    functions, layers = checks.read_build(build.directory)
    probes = {
        fn.logical_id: (
            [str(fn.code_dir), *(str(layers[lid].python_dir) for lid in fn.layers)],
            f"import {fn.module}",
            {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **fn.environment},
        )
        for fn in functions
    }
    layer_dirs = [str(layers[lid].python_dir) for lid in functions[0].layers]
    probes[NAIVE_NAME] = (
        [str(NAIVE), *layer_dirs, str(naive_dependencies())],
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
    empty: list[float] = []
    imports: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(repeats):
        empty.append(_seconds([], "pass", {"PATH": "/usr/bin:/bin"}))
        for name, (paths, code, env) in probes.items():
            imports[name].append(_seconds(paths, code, env))
    baseline = statistics.median(empty)
    naive = imports.pop(NAIVE_NAME)
    # each function against the yardstick: the median of the ratios of runs taken side by side
    ratios = {
        name: round(statistics.median((a - baseline) / (b - baseline) for a, b in zip(values, naive, strict=True)), 3)
        for name, values in imports.items()
    }
    return {
        "naive_handler_ms": round((statistics.median(naive) - baseline) * 1000, 1),
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
