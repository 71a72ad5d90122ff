"""The scanners a security reviewer runs first: checkov on the template, bandit on the code.

checkov runs from its own virtual environment (`make checkov`, .local/checkov-venv: its pins clash with
the project's boto3); bandit is pinned in requirements-dev.txt. Both are offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.cfn_yaml import load_template
from tests.infrastructure.sam import TEMPLATE_PATH

REPO = Path(__file__).resolve().parents[2]
CHECKOV = REPO / ".local" / "checkov-venv" / "bin" / "checkov"
SECURITY_NOTE = REPO / "docs" / "security.md"
CHECKOV_OPTIONS = ("--skip-download", "--quiet", "--output", "json")  # offline: no policy download


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    assert CHECKOV.is_file(), f"{CHECKOV} is missing: run `make checkov` (make test does)"
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    done = subprocess.run(
        [str(CHECKOV), "--file", str(TEMPLATE_PATH), "--framework", "cloudformation", *CHECKOV_OPTIONS],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.stdout.strip(), f"checkov printed nothing (exit {done.returncode}): {done.stderr[-2000:]}"
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _waivers() -> list[tuple[str, str, str]]:
    """(resource, check id, comment) of every `Metadata: checkov: skip:` entry in the template."""
    found = []
    for logical_id, resource in load_template(TEMPLATE_PATH)["Resources"].items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []:
            found.append((logical_id, str(skip.get("id", "")), str(skip.get("comment", ""))))
    return found


def test_checkov_finds_no_unwaived_failure(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for check in checkov_report["results"].get("failed_checks", [])
    ]

    assert summary["parsing_errors"] == 0 and summary["resource_count"] > 0 and summary["passed"] > 0
    assert failed == [], "fix these, or waive one in the resource's Metadata with a reason (docs/security.md)"
    assert summary["skipped"] == len(_waivers()), "every waiver in the template is one checkov honours"


def test_every_waiver_has_a_reason_and_is_in_the_security_note() -> None:
    note = SECURITY_NOTE.read_text(encoding="utf-8")
    lines = note.splitlines()
    waivers = _waivers()

    assert waivers
    for logical_id, check_id, comment in waivers:
        assert check_id.startswith("CKV_"), f"{logical_id}: {check_id!r} is not a checkov id"
        assert len(comment) >= 40, f"{logical_id} {check_id}: the comment should say why ({comment!r})"
        assert any(check_id in line and logical_id in line for line in lines), (
            f"docs/security.md has no line naming {check_id} and {logical_id}"
        )


def test_bandit_finds_nothing_of_medium_or_high_severity() -> None:
    bandit = Path(sys.executable).with_name("bandit")
    done = subprocess.run(
        [
            str(bandit),
            "--recursive",
            "--severity-level",
            "medium",
            "--format",
            "json",
            "--quiet",
            "shared",
            "cli",  # the command line client: not deployed, but it handles keys and credentials
            "functions",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    findings = [f"{r['test_id']} {r['filename']}:{r['line_number']} {r['issue_text']}" for r in report["results"]]

    assert report["metrics"]["_totals"]["loc"] > 1000, "bandit scanned (almost) nothing"
    assert report["errors"] == [] and findings == []
