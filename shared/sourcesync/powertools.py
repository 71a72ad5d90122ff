"""Powertools, imported for what it costs at a cold start. Every module of the layer imports Powertools'
names from here (`Logger`), or imports this module before any Powertools package (`api/resolver.py`).

Three of Powertools' package `__init__`s load far more than the layer uses:

- `aws_lambda_powertools` imports Metrics (with its CloudWatch EMF provider), the tracing package and
  `shared.user_agent`, which imports botocore (in the Lambda runtime, so it loads there) to register a
  user-agent header that tells AWS which Powertools features a client uses;
- `aws_lambda_powertools.event_handler` imports every resolver Powertools has (AppSync, Bedrock, VPC
  Lattice, ... and asyncio with them);
- `aws_lambda_powertools.utilities.data_classes` imports every event class.

So, when this module is first imported and before the first import of each of them in the process, each is
registered as a lazy package: its `__init__` is not run; a name it exports is imported, on first use, from
the submodule its `__init__` names (PEP 562). Importing a name from the package, or a submodule of it, works
as before; only what is used is loaded. Of the top-level `__init__`'s own work, this module does what
matters: Powertools' package logger discards its output unless `POWERTOOLS_DEBUG` is set. The user-agent
header is not registered (a botocore import at every cold start, for a usage count).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

#: The packages whose `__init__` is replaced by lazy look-ups (docs/architecture.md, "Cold starts").
LAZY_PACKAGES = (
    "aws_lambda_powertools",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
)


def _exports(init: Path, package: str) -> dict[str, tuple[str, str]]:
    """What the package's `__init__` imports at its top level, and the names it binds to one of those
    (`__version__ = VERSION`): exported name -> (module, name there)."""
    found: dict[str, tuple[str, str]] = {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            module = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                found[alias.asname or alias.name] = (module, alias.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in found:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = found[node.value.id]
    return found


def lazy_package(name: str) -> bool:
    """Register package `name` so that its names are imported on first use. False, and nothing done, if it
    is already imported or is not a package with its source."""
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or not (spec.origin or "").endswith(".py") or spec.submodule_search_locations is None:
        return False
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
    if parent:
        setattr(importlib.import_module(parent), child, package)
    return True


def _install() -> None:
    top = lazy_package(LAZY_PACKAGES[0])
    for name in LAZY_PACKAGES[1:]:
        lazy_package(name)
    if top:  # what the top-level `__init__` would have done for its own logger
        from aws_lambda_powertools.package_logger import set_package_logger_handler

        set_package_logger_handler()


_install()

from aws_lambda_powertools.logging.logger import Logger  # noqa: E402 (after the lazy packages)

__all__ = ["LAZY_PACKAGES", "Logger", "lazy_package"]
