"""The builds the build tests check, made once per session with the pinned SAM CLI (tests/build/sam.py):
the two `sam build` runs go side by side."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.build import sam


@pytest.fixture(scope="session")
def builds() -> dict[str, sam.Build]:
    sam.ensure_sam()
    names = ("target", "other_layer")
    with ThreadPoolExecutor(len(names)) as pool:
        return dict(zip(names, pool.map(sam.build, names), strict=True))


@pytest.fixture(scope="session")
def target_build(builds: dict[str, sam.Build]) -> sam.Build:
    """infra/template.yaml built as `make deploy` ships it (.aws-sam/build)."""
    return builds["target"]


@pytest.fixture(scope="session")
def wrong_layer_build(builds: dict[str, sam.Build]) -> sam.Build:
    """The layer built for the other architecture than the functions declare (a real sam build)."""
    return builds["other_layer"]


@pytest.fixture(scope="session")
def host_build(builds: dict[str, sam.Build]) -> sam.Build:
    """The build whose layer this machine can import: the target build on arm64, the other one on x86_64."""
    host = builds["target"] if builds["target"].layer_arch == sam.host_architecture() else builds["other_layer"]
    assert host.layer_arch == sam.host_architecture()
    return host
