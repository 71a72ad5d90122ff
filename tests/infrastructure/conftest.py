"""Shared fixtures: the template as written and as CloudFormation would receive it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infrastructure.cfn_yaml import load_template
from tests.infrastructure.sam import TEMPLATE_PATH, translate


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """infra/template.yaml, short tags in their long form. Tests must not change it."""
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="session")
def translated() -> dict[str, Any]:
    """infra/template.yaml packaged and translated to plain CloudFormation. Tests must not change it."""
    return translate(TEMPLATE_PATH)
