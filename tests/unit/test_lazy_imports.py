"""What a function's cold start loads: the workers' error mapping must not pull in the HTTP stack."""

from __future__ import annotations

import subprocess
import sys

from devstack import REPO_ROOT


def _loaded_after(statement: str, modules: list[str]) -> dict[str, bool]:
    probe = f"import sys\n{statement}\nprint(' '.join(str(m in sys.modules) for m in {modules!r}))"
    answer = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT / "shared"
    )
    return dict(zip(modules, (word == "True" for word in answer.stdout.split()), strict=True))


def test_the_connectors_errors_load_neither_requests_nor_the_xml_parser() -> None:
    # When a worker imports the connectors' errors (the re-sync and purge workers do, at cold start)
    loaded = _loaded_after(
        "import sourcesync.connectors.errors", ["requests", "urllib3", "defusedxml", "sourcesync.connectors.base"]
    )
    # Then none of the HTTP stack is loaded
    assert loaded == dict.fromkeys(loaded, False)


def test_the_connectors_package_names_still_resolve_on_first_use() -> None:
    from sourcesync import connectors
    from sourcesync.connectors.errors import CredentialsInvalidError
    from sourcesync.connectors.kit.runtime import Connector

    assert connectors.CredentialsInvalidError is CredentialsInvalidError
    assert connectors.Connector is Connector
    for name in connectors.__all__:  # every name the package exports still resolves
        assert getattr(connectors, name) is not None
