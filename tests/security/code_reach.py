"""Which settings a function's code can read: the `sourcesync` modules its handler imports (transitively,
function-level imports included), and the attribute names they use that are fields of `Settings`.

An over-approximation on purpose (a module imported is counted whole): the least-privilege test uses it
to check that a function's declared uses are at least possible for its code, never to widen a grant.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from sourcesync.config import Settings

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "shared"


def _module_file(name: str) -> Path | None:
    path = LAYER.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _scan(path: Path, module: str) -> tuple[frozenset[str], frozenset[str]]:
    """The sourcesync modules a file imports and the attribute names it uses."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    imported: set[str] = set()
    attributes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names if alias.name.startswith("sourcesync"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            if base.startswith("sourcesync"):
                imported.add(base)
                imported.update(f"{base}.{a.name}" for a in node.names if _module_file(f"{base}.{a.name}"))
        elif isinstance(node, ast.Attribute):
            attributes.add(node.attr)
    return frozenset(imported), frozenset(attributes)


def settings_used(handler_file: Path) -> set[str]:
    """The Settings fields (and properties) the code behind a handler file can read."""
    fields = set(Settings.model_fields) | {n for n, v in vars(Settings).items() if isinstance(v, property)}
    imported, attributes = _scan(handler_file, "handler")
    seen: set[str] = set()
    todo = list(imported)
    used = set(attributes)
    while todo:
        module = todo.pop()
        path = _module_file(module)
        if module in seen or path is None:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run too
        more, names = _scan(path, module)
        todo.extend(more)
        used |= names
    return used & fields


def setting_of_resource(template: Mapping[str, Any]) -> dict[str, str]:
    """Template resource or parameter -> the Settings field naming it, through Globals' environment
    variables (`ACCOUNTS_TABLE: !Ref AccountsTable` and Settings' alias ACCOUNTS_TABLE -> accounts_table)."""
    by_alias = {field.alias: name for name, field in Settings.model_fields.items() if field.alias}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    names = {}
    for resource_id, resource in template["Resources"].items():
        name = (resource.get("Properties") or {}).get("Name")
        if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
            names[name["Fn::Sub"]] = resource_id
    found: dict[str, str] = {}
    for variable, value in variables.items():
        if variable not in by_alias or not isinstance(value, dict):
            continue
        if "Ref" in value:
            found[str(value["Ref"])] = by_alias[variable]
        elif isinstance(value.get("Fn::Sub"), str):
            for name, resource_id in names.items():
                if value["Fn::Sub"].endswith(":" + name):
                    found[resource_id] = by_alias[variable]
    return found
