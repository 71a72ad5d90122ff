"""Every function's environment in the template sets the settings its cold start requires
(`config.FUNCTION_SETTINGS`), and that declaration covers every setting the code reachable from the
function's handler reads — so a missing variable fails at cold start, never at a first request."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from devstack.stack import load_template
from devstack.template import FunctionSpec
from sourcesync.config import FUNCTION_SETTINGS, Settings, required_variables

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / "shared"
FUNCTIONS = load_template().functions()


def _function_name(spec: FunctionSpec) -> str:
    return spec.code_dir.name


def test_every_function_declares_its_settings_and_nothing_else_is_declared() -> None:
    assert sorted(FUNCTION_SETTINGS) == sorted(_function_name(spec) for spec in FUNCTIONS)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.logical_id)
def test_the_template_sets_each_required_setting_of_the_function(spec: FunctionSpec) -> None:
    required = required_variables(FUNCTION_SETTINGS[_function_name(spec)])
    unset = [variable for variable in required if not spec.environment.get(variable)]
    assert required and unset == [], f"{spec.logical_id} lacks {unset} in infra/template.yaml"


def _module_file(module: str) -> Path | None:
    base = SHARED.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _sourcesync_imports(tree: ast.AST) -> set[str]:
    """Every sourcesync module a file imports, at its top or inside a function (`from a import b` may name
    a module `a.b`)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sourcesync"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("sourcesync"))
    return found


def _settings_read(spec: FunctionSpec) -> set[str]:
    """The settings whose attribute the function's reachable modules name (`secrets_prefix` reads
    `stack_name`): an over-approximation of what it can read."""
    names = set(Settings.model_fields)
    seen: set[Path] = set()
    todo = [spec.code_dir / "app.py"]
    read: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in names:
                read.add(node.attr)
            elif isinstance(node, ast.Attribute) and node.attr == "secrets_prefix":
                read.add("stack_name")
        todo.extend(p for p in map(_module_file, _sourcesync_imports(tree)) if p is not None)
    assert len(seen) > 1, f"{spec.logical_id}: no sourcesync module reached from its handler"
    return read


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.logical_id)
def test_the_declared_settings_cover_what_the_function_reads(spec: FunctionSpec) -> None:
    required_read = {name for name in _settings_read(spec) if Settings.model_fields[name].is_required()}
    undeclared = sorted(required_read - FUNCTION_SETTINGS[_function_name(spec)])
    assert undeclared == [], f"{spec.logical_id} reads {undeclared} without checking them at cold start"
