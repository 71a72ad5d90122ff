"""The builds the build tests check, made once per session with the pinned SAM CLI (tests/build/sam.py)."""

from __future__ import annotations

import pytest

from tests.build import sam


@pytest.fixture(scope="session")
def target_build() -> sam.Build:
    """infra/template.yaml built as `make deploy` ships it (.aws-sam/build)."""
    return sam.build("target")


@pytest.fixture(scope="session")
def host_build(target_build: sam.Build) -> sam.Build:
    """The same template built for this machine's architecture (the target build on an arm64 machine)."""
    return sam.build("host")


@pytest.fixture(scope="session")
def wrong_layer_build() -> sam.Build:
    """The layer built for the other architecture than the functions declare."""
    return sam.build("wrong_layer")
