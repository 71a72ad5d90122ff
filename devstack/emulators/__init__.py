"""Emulators of the providers that have no third-party emulator (Stripe has localstripe).

One child process serves them all on one port, each under its system id
(`http://127.0.0.1:8430/chargebee/...`). A module of this package that defines `EMULATOR` (a
`base.ProviderEmulator` subclass) is one emulator; it also defines `seed_demo` (a demo business for
`python -m devstack seed SYSTEM`, `make run SYSTEM=...` and the benchmarks) and `plain_fetch` (the
benchmarks' anchor: the same lists fetched with plain `requests`). Every response an emulator sends is
checked, in `tests/contract/`, against what the provider's own SDK declares.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from types import ModuleType

_NOT_EMULATORS = frozenset({"base", "__main__"})


def discover() -> dict[str, ModuleType]:
    """{system id: module} for every module of this package that defines `EMULATOR`."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _NOT_EMULATORS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        emulator = getattr(module, "EMULATOR", None)
        if emulator is not None:
            found[emulator.system] = module
    return found


def emulator_urls(url: str, systems: Mapping[str, ModuleType] | None = None) -> dict[str, str]:
    """{system id: its base URL} under the emulators' process at `url`."""
    return {system: f"{url.rstrip('/')}/{system}" for system in (discover() if systems is None else systems)}
