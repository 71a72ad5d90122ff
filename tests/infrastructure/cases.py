"""Parametrisation helpers: one readable test id per resource, event or state."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest


def or_skip(values: Iterable[Any], reason: str) -> list[Any]:
    """`values`, or a single case skipped with `reason` when there are none.

    An empty parameter set would also be skipped, but with pytest's generic message; this says why.
    """
    listed = list(values)
    return listed or [pytest.param(None, id="none", marks=pytest.mark.skip(reason=reason))]
