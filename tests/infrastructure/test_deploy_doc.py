"""docs/deploy.md lists every parameter the template declares, with the template's default, so that a
parameter added to the template cannot be missing from what an operator reads before `make deploy`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def _documented() -> dict[str, str]:
    rows = re.findall(r"^\s*\| `(\w+)` \| ([^|]+) \|", DOC.read_text(), re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def test_every_template_parameter_is_documented_with_its_default(template: dict[str, Any]) -> None:
    documented = _documented()
    for name, parameter in template["Parameters"].items():
        assert name in documented, f"docs/deploy.md's parameter table lacks {name}"
        default = str(parameter.get("Default", "")).lower()
        shown = documented[name].strip("`").lower()
        assert shown == default or (default == "" and shown == "empty"), (name, default, documented[name])


def test_the_doc_names_no_parameter_the_template_lacks(template: dict[str, Any]) -> None:
    parameters = set(template["Parameters"])
    table = {name for name in _documented() if name[0].isupper()}
    assert table <= parameters, table - parameters
