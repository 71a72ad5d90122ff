"""A demo business at a provider's local emulator, and what creates a data source for it.

`python -m devstack seed SYSTEM`, `make run SYSTEM=...` and the benchmarks use it: Stripe through
localstripe (`stripe_seed`), every other system through its module in `devstack/emulators/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def seedable_systems() -> list[str]:
    from devstack.emulators import discover

    return ["stripe", *sorted(discover())]


def system_url(system: str, endpoints: Mapping[str, Any]) -> str:
    """The base URL of `system`'s emulator in a running stack's endpoints."""
    url = endpoints.get(system)
    if not url:
        raise ValueError(
            f"the local stack serves no emulator for {system!r} (systems with one: {', '.join(seedable_systems())})"
        )
    return str(url)


def seed_source(system: str, endpoints: Mapping[str, Any], *, customers: int, tenant: str = "demo") -> dict[str, Any]:
    """Seed `customers` customers (with plans, subscriptions, invoices, transactions) at `system`'s emulator;
    return `{"credentials": ..., "options": ...}` that create a `system` data source importing them."""
    base_url = system_url(system, endpoints)
    if system == "stripe":
        from devstack.stripe_seed import TEST_KEY, seed_business

        seed_business(base_url, customers=customers)
        return {"credentials": {"api_key": TEST_KEY}, "options": {"api_base": base_url}}
    from devstack.emulators import discover

    seeded: dict[str, Any] = discover()[system].seed_demo(base_url, customers=customers, tenant=tenant)
    return seeded
