"""The operator's commands need nothing but a running local stack: the installed `sourcesync` with only
`PATH` and `HOME` set finds the stack through `.local/endpoints.json` (README.md, "Local stack")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e

INSTALLED_CLI = Path(sys.executable).parent / "sourcesync"


def _run_bare(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    bare = {"PATH": os.environ["PATH"], "HOME": str(cwd)}
    return subprocess.run(
        [str(INSTALLED_CLI), *args], cwd=cwd, env=bare, capture_output=True, text=True, timeout=180, check=False
    )


def test_account_create_with_only_path_set_finds_the_local_stack(stack: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "endpoints.json").write_text(json.dumps(stack))

    done = _run_bare(tmp_path, "account", "create", "bare environment")

    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    answer = requests.get(
        stack["api"].rstrip("/") + "/v1/data_sources",
        headers={"Authorization": f"Bearer {created['api_key']}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["entries"] == []


def test_account_create_without_a_stack_says_what_to_set(tmp_path: Path) -> None:
    done = _run_bare(tmp_path, "account", "create", "nowhere")

    assert done.returncode != 0
    assert "ACCOUNTS_TABLE" in done.stderr and "make up" in done.stderr
    assert "Traceback" not in done.stderr
