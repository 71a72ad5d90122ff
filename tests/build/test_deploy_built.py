"""The built template (sam build's output, not infra/template.yaml) deployed to the local stack as `make up`
deploys a template, so that a mistake only the built template has (a path sam build rewrote, a handler
missing from a function's directory, a layer without python/) is caught here, then asked to answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack import env_for
from devstack.stack import LocalStack
from devstack.template import Template
from tests.build import checks, sam


@pytest.fixture(scope="module")
def built_stack(host_build: sam.Build) -> Iterator[dict[str, Any]]:
    log = sam.ROOT / ".local" / "built-stack.log"  # kept after the session, to read when a test fails
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    with LocalStack.start_subprocess(template_path=host_build.template, log_path=log) as endpoints:
        yield endpoints


def _create_account(endpoints: dict[str, Any]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | env_for(endpoints)
    done = subprocess.run(
        [sys.executable, "-m", "sourcesync_cli", "account", "create", "built"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["api_key"])


def _mapped_files(pid: int) -> set[str]:
    with open(f"/proc/{pid}/maps", encoding="utf-8") as maps:
        return {line.split(maxsplit=5)[5].strip() for line in maps if len(line.split(maxsplit=5)) == 6}


def test_the_built_template_deploys_every_function_from_its_build_directory(
    built_stack: dict[str, Any], host_build: sam.Build
) -> None:
    built = Template(host_build.template)
    functions = built.functions()
    assert functions and all(fn.code_dir.parent == host_build.directory for fn in functions)
    for fn in functions:
        assert fn.logical_id in built_stack["resources"], fn.logical_id
    for machine in built.state_machines():
        assert machine.logical_id in built_stack["resources"]
    assert {t.logical_id for t in built.tables()} <= set(built_stack["resources"])


def test_the_deployed_build_answers_with_the_built_layer(built_stack: dict[str, Any], host_build: sam.Build) -> None:
    key = _create_account(built_stack)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key}"
    created = api.post(f"{built_stack['api']}/v1/data_sources", json={"name": "Built", "system": "custom"}, timeout=60)
    assert created.status_code == 201, created.text
    uuid = created.json()["data_source"]["uuid"]
    listed = api.get(f"{built_stack['api']}/v1/data_sources", timeout=60)
    assert listed.status_code == 200 and [s["uuid"] for s in listed.json()["entries"]] == [uuid]
    refused = requests.get(f"{built_stack['api']}/v1/data_sources", timeout=60)
    assert refused.status_code == 401
    # The stack ran the build's layer (its native pydantic_core), not the repository's environment.
    _, layers = checks.read_build(host_build.directory)
    layer = layers["SharedLayer"].python_dir
    mapped = _mapped_files(int(built_stack["pid"]))
    assert any(Path(path).is_relative_to(layer) and "_pydantic_core" in path for path in mapped), sorted(mapped)
