"""Powertools' HTTP resolver, imported for what it costs at a cold start.

`aws_lambda_powertools.event_handler`'s package `__init__` imports every resolver Powertools has (AppSync,
Bedrock, VPC Lattice, ... and with them asyncio), and `aws_lambda_powertools.utilities.data_classes`'s
every event class; importing the one submodule we use runs those first. So, before the first import of
either package in the process, each is registered as a lazy package: its `__init__` is not run; a name it
exports is imported from the submodule its `__init__` names, on first use (PEP 562). Importing a name
from the package, or a submodule of it, works as before; only what is used is loaded.
Every module of the API imports the resolver's names from here."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

#: The packages whose `__init__` is replaced by lazy look-ups (docs/architecture.md, the API's cold start).
LAZY_PACKAGES = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")


def _exports(init: Path, package: str) -> dict[str, tuple[str, str]]:
    """What the package's `__init__` imports at its top level: exported name -> (module, name there)."""
    found: dict[str, tuple[str, str]] = {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            module = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                found[alias.asname or alias.name] = (module, alias.name)
    return found


def lazy_package(name: str) -> None:
    """Register package `name` so that its names are imported on first use (nothing if already imported)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or not (spec.origin or "").endswith(".py") or spec.submodule_search_locations is None:
        return  # not a package with its source: imported the usual way
    exports = _exports(Path(str(spec.origin)), name)
    package = importlib.util.module_from_spec(spec)

    def __getattr__(attribute: str) -> Any:
        if attribute not in exports:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        module, original = exports[attribute]
        value = getattr(importlib.import_module(module), original)
        setattr(package, attribute, value)
        return value

    setattr(package, "__getattr__", __getattr__)  # noqa: B010 (a module's own PEP 562 hook)
    setattr(package, "__all__", [n for n in exports if not n.startswith("_")])  # noqa: B010
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    setattr(importlib.import_module(parent), child, package)


for _name in LAZY_PACKAGES:
    lazy_package(_name)

from aws_lambda_powertools.event_handler.api_gateway import (  # noqa: E402 (after the lazy packages)
    APIGatewayHttpResolver,
    Response,
    Router,
)
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware  # noqa: E402

__all__ = ["APIGatewayHttpResolver", "NextMiddleware", "Response", "Router"]
