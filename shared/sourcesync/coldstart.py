"""What a cold start does not load. The package's `__init__` imports this module, so it runs before any
other module of the layer, and before the first import of what it registers (docs/architecture.md, "Cold
starts"; `tests/unit/test_lazy_imports.py` checks each function).

Three of Powertools' package `__init__`s load far more than the layer uses:

- `aws_lambda_powertools` imports Metrics (with its CloudWatch EMF provider), the tracing package and
  `shared.user_agent`, which imports botocore (in the Lambda runtime, so it loads there) to register a
  user-agent header that tells AWS which Powertools features a client uses;
- `aws_lambda_powertools.event_handler` imports every resolver Powertools has (AppSync, Bedrock, VPC
  Lattice, ... and asyncio with them);
- `aws_lambda_powertools.utilities.data_classes` imports every event class.

Each is registered as a lazy package (`lazy_package`): its `__init__` is not run; a name it exports is
imported, on first use, from the submodule its `__init__` names (PEP 562). Importing a name from the
package, or a submodule of it, works as before; only what is used is loaded. Of the top-level `__init__`'s
own work, this module does what matters: Powertools' package logger discards its output unless
`POWERTOOLS_DEBUG` is set. The user-agent header is not registered (a botocore import at every cold start,
for a usage count).

Two modules are imported at every cold start by code that does not use them there, and are registered as
lazy modules (`lazy_module`): the module object is there, its code runs at the first look-up of a name in
it. (The standard library's `importlib.util.LazyLoader` does not do here: an `import` statement of the
module reads its `__spec__`, and that look-up runs the module's code.)

- `importlib.metadata` (with `email`, `zipfile`, `csv`, `socket`: about 17 ms): pydantic's plugin loader
  imports it when the first model is built, and reads the installed packages' entry points with it only if
  plugins are enabled; the template disables them (`PYDANTIC_DISABLE_PLUGINS`).
- Powertools' `utilities.jmespath_utils` (with `jmespath` and `gzip`): the Logger imports it for a
  correlation id read from the event (`correlation_id_path`), which the layer never sets.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from pathlib import Path
from typing import Any

#: The packages whose `__init__` is replaced by lazy look-ups of the names it exports.
LAZY_PACKAGES = (
    "aws_lambda_powertools",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
)
#: The modules whose code runs at the first use of one of their names.
LAZY_MODULES = (
    "importlib.metadata",
    "aws_lambda_powertools.utilities.jmespath_utils",
)


def _exports(init: Path, package: str) -> dict[str, tuple[str, str]]:
    """What the package's `__init__` imports at its top level, and the names it binds to one of those
    (`__version__ = VERSION`): exported name -> (module, name there)."""
    import ast

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


def _bind(name: str, module: Any) -> None:
    """Make `module` what `sys.modules` and its parent package hold under `name`."""
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, module)


def lazy_package(name: str) -> bool:
    """Register package `name` so that its names are imported on first use. False, and nothing done, if it
    is already imported or is not a package with its source. Its `__init__` is read on the first look-up."""
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or not (spec.origin or "").endswith(".py") or spec.submodule_search_locations is None:
        return False
    init = Path(str(spec.origin))
    package = importlib.util.module_from_spec(spec)
    exports: dict[str, tuple[str, str]] = {}

    def __getattr__(attribute: str) -> Any:
        if not exports:
            exports.update(_exports(init, name))
        if attribute == "__all__":
            value: Any = [n for n in exports if not n.startswith("_")]
        elif attribute in exports:
            module, original = exports[attribute]
            value = getattr(importlib.import_module(module), original)
        else:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        setattr(package, attribute, value)
        return value

    setattr(package, "__getattr__", __getattr__)  # noqa: B010 (a module's own PEP 562 hook)
    _bind(name, package)
    return True


class _LazyModule(types.ModuleType):
    """A module whose code has not run: it runs at the first look-up of a name in it, except `__spec__`,
    which the import system reads at every `import` statement of a module it already has. Another thread's
    look-up waits until the code has run; the running code's own look-ups (its submodules' imports read its
    `__path__`) do not wait."""

    def __getattribute__(self, attribute: str) -> Any:
        spec = object.__getattribute__(self, "__spec__")
        if attribute != "__spec__":
            with _LOCKS[spec.name]:
                if type(self) is _LazyModule and spec.name not in _RUNNING:
                    _RUNNING.add(spec.name)
                    try:
                        spec.loader.exec_module(self)
                    finally:
                        _RUNNING.discard(spec.name)
                    self.__class__ = types.ModuleType  # type: ignore[assignment]  # a module like any other
        return types.ModuleType.__getattribute__(self, attribute)


#: Each lazy module's lock, and the lazy modules whose code is running.
_LOCKS: dict[str, threading.RLock] = {}
_RUNNING: set[str] = set()


def lazy_module(name: str) -> bool:
    """Register module `name` so that its code runs at the first look-up of a name in it. False, and
    nothing done, if it is already imported or is not a module with a loader."""
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return False
    module = importlib.util.module_from_spec(spec)
    _LOCKS[name] = threading.RLock()
    module.__class__ = _LazyModule
    _bind(name, module)
    return True


def loaded(name: str) -> bool:
    """Whether module `name` is imported and its code has run (a lazy package's `__init__` never runs)."""
    module = sys.modules.get(name)
    return module is not None and not isinstance(module, _LazyModule)


def _install() -> None:
    top = lazy_package(LAZY_PACKAGES[0])
    for name in LAZY_PACKAGES[1:]:
        lazy_package(name)
    for name in LAZY_MODULES:
        lazy_module(name)
    if top:  # what the top-level `__init__` would have done for its own logger
        from aws_lambda_powertools.package_logger import set_package_logger_handler

        set_package_logger_handler()


_install()

__all__ = ["LAZY_MODULES", "LAZY_PACKAGES", "lazy_module", "lazy_package", "loaded"]
