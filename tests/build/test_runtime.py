"""One Python minor version everywhere: the template's runtime, the layer's build, the local interpreters
(the project's .venv, the SAM CLI's venv, CI through `make`) and the tools' target; and the runtime's
deprecation date, as cfn-lint's Lambda runtime data gives it, written in docs/deploy.md."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import resources
from typing import Any

from devstack.template import load_yaml
from tests.build import sam

TEMPLATE: dict[str, Any] = load_yaml(sam.TEMPLATE.read_text(encoding="utf-8"))
RUNTIME = TEMPLATE["Globals"]["Function"]["Runtime"]
MINOR = RUNTIME.removeprefix("python")


def _layers() -> list[dict[str, Any]]:
    return [r for r in TEMPLATE["Resources"].values() if r["Type"] == "AWS::Serverless::LayerVersion"]


def test_the_template_builds_and_runs_one_runtime() -> None:
    assert re.fullmatch(r"python3\.\d+", RUNTIME)
    functions = [r for r in TEMPLATE["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert all(f["Properties"].get("Runtime", RUNTIME) == RUNTIME for f in functions)
    assert _layers()
    for layer in _layers():
        assert layer["Properties"]["CompatibleRuntimes"] == [RUNTIME]
        assert layer["Metadata"]["BuildMethod"] == RUNTIME


def test_the_local_interpreters_and_tools_are_of_the_runtimes_version() -> None:
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == MINOR  # the project's .venv
    sam_python = subprocess.run(
        [str(sam.ensure_sam().parent / "python"), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert sam_python.stdout.strip() == MINOR
    makefile = (sam.ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(rf"^PYTHON \?= python{re.escape(MINOR)}$", makefile, re.MULTILINE)
    pyproject = tomllib.loads((sam.ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["mypy"]["python_version"] == MINOR
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + MINOR.replace(".", "")


def test_the_docs_give_the_runtimes_deprecation_date_from_cfn_lint() -> None:
    lifecycle = json.loads(
        (resources.files("cfnlint") / "data" / "AdditionalSpecs" / "LmbdRuntimeLifecycle.json").read_text()
    )
    deprecated = lifecycle[RUNTIME]["deprecated"]
    for doc in ("docs/deploy.md", "docs/architecture.md"):
        text = (sam.ROOT / doc).read_text(encoding="utf-8")
        assert RUNTIME in text and deprecated in text, (doc, RUNTIME, deprecated)
