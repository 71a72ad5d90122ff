"""Each function's cold init: a fresh interpreter importing its handler module, minus an empty
interpreter's start (the median of several runs of each, interleaved so that noise hits both)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").is_file())


def _template_environment() -> dict[str, str]:
    """The variables the template gives the functions (their required settings are checked at import)."""
    from devstack.stack import load_template

    return load_template().merged_environment()


def _seconds(code: str, environment: dict[str, str] | None = None) -> float:
    env = {
        **os.environ,
        **(environment or {}),
        "PYTHONPATH": f"{ROOT}:{ROOT / 'shared'}",
        "POWERTOOLS_SERVICE_NAME": "sourcesync",
        "PYTHONDONTWRITEBYTECODE": "0",
    }
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)
    return time.perf_counter() - started


def run(repeats: int = 7) -> dict[str, Any]:
    environment = _template_environment()
    for name in FUNCTIONS:  # compile the bytecode once, as a deployed package has it
        _seconds(f"import functions.{name}.app", environment)
    empty: list[float] = []
    imports: dict[str, list[float]] = {name: [] for name in FUNCTIONS}
    for _ in range(repeats):
        empty.append(_seconds("pass"))
        for name in FUNCTIONS:
            imports[name].append(_seconds(f"import functions.{name}.app", environment))
    baseline = statistics.median(empty)
    return {
        "empty_interpreter_ms": round(baseline * 1000, 1),
        "init_ms": {name: round((statistics.median(values) - baseline) * 1000, 1) for name, values in imports.items()},
    }
