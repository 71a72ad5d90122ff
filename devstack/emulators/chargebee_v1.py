"""Chargebee API v2 on product catalog 1.0 (plans, addons): the same endpoints and shapes as
`chargebee.py`, with `/plans` and `/addons` instead of `/item_prices` (which answers 400
`configuration_incompatible` here), and subscriptions that name a `plan_id` and `addons`.

Served under `/chargebee_v1/api/v2/...`; collections `customers`, `plans`, `addons`, `subscriptions`,
`invoices`, `transactions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from devstack.emulators.base import EmulatorAdmin
from devstack.emulators.chargebee import (
    DAY,
    EPOCH,
    PREFIX,
    ChargebeeEmulator,
    credentials_for,
    demo_start,
    fetch_lists,
    seed_business,
    subscription_base,
)


def plan(
    plan_id: str, *, name: str, price: int, period: int, period_unit: str, currency_code: str = "USD"
) -> dict[str, Any]:
    return {
        "id": plan_id,
        "name": name,
        "invoice_name": name,
        "price": price,
        "currency_code": currency_code,
        "period": period,
        "period_unit": period_unit,
        "pricing_model": "per_unit",
        "charge_model": "per_unit",
        "free_quantity": 0,
        "status": "active",
        "enabled_in_hosted_pages": True,
        "enabled_in_portal": True,
        "addon_applicability": "all",
        "is_shippable": False,
        "resource_version": EPOCH * 1000,
        "updated_at": EPOCH,
        "giftable": False,
        "channel": "web",
        "taxable": True,
        "show_description_in_invoices": False,
        "show_description_in_quotes": False,
    }


def addon(
    addon_id: str,
    *,
    name: str,
    price: int,
    recurring: bool,
    period: int = 1,
    period_unit: str = "month",
    currency_code: str = "USD",
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": addon_id,
        "name": name,
        "invoice_name": name,
        "pricing_model": "per_unit",
        "type": "quantity",
        "charge_type": "recurring" if recurring else "non_recurring",
        "price": price,
        "currency_code": currency_code,
        "period_unit": period_unit if recurring else "not_applicable",
        "status": "active",
        "enabled_in_portal": True,
        "is_shippable": False,
        "resource_version": EPOCH * 1000,
        "updated_at": EPOCH,
        "channel": "web",
        "taxable": True,
        "show_description_in_invoices": False,
        "show_description_in_quotes": False,
    }
    if recurring:
        obj["period"] = period
    return obj


def subscription(
    subscription_id: str,
    *,
    customer_id: str,
    status: str,
    created_at: int,
    plan_id: str,
    plan_unit_price: int,
    plan_quantity: int = 1,
    addons: list[tuple[str, int, int]] | None = None,
    currency_code: str = "USD",
    cancelled_at: int | None = None,
    due_invoices_count: int = 0,
) -> dict[str, Any]:
    """Catalog 1.0: a plan and `addons` = (addon id, quantity, unit price)."""
    obj = subscription_base(
        subscription_id,
        customer_id=customer_id,
        status=status,
        created_at=created_at,
        currency_code=currency_code,
        cancelled_at=cancelled_at,
        due_invoices_count=due_invoices_count,
    )
    obj.update(
        plan_id=plan_id,
        plan_quantity=plan_quantity,
        plan_unit_price=plan_unit_price,
        plan_amount=plan_unit_price * plan_quantity,
        plan_free_quantity=0,
    )
    if addons:
        obj["addons"] = [
            {"id": addon_id, "quantity": quantity, "unit_price": unit, "amount": unit * quantity}
            for addon_id, quantity, unit in addons
        ]
    return obj


class ChargebeeV1Emulator(ChargebeeEmulator):
    system = "chargebee_v1"

    lists: ClassVar[Mapping[str, tuple[str, str]]] = {
        "customers": ("customers", "customer"),
        "plans": ("plans", "plan"),
        "addons": ("addons", "addon"),
        "subscriptions": ("subscriptions", "subscription"),
        "invoices": ("invoices", "invoice"),
        "transactions": ("transactions", "transaction"),
    }
    other_catalog: ClassVar[frozenset[str]] = frozenset({"item_prices", "items"})


EMULATOR = ChargebeeV1Emulator

PLANS_1 = [("basic-monthly", "Basic", 1_000, 1, "month"), ("pro-yearly", "Pro", 10_000, 1, "year")]


def _subscription_1(index: int, sub_id: str, customer_id: str, status: str, created: int) -> Any:
    plan_id, _, price, _, _ = PLANS_1[index % 2]
    addons = [("seats", 2, 500)] if index % 3 == 0 else []
    sub = subscription(
        sub_id,
        customer_id=customer_id,
        status=status,
        created_at=created,
        plan_id=plan_id,
        plan_unit_price=price,
        addons=addons,
        cancelled_at=created + 5 * DAY if status == "cancelled" else None,
    )
    days = 365 if PLANS_1[index % 2][4] == "year" else 30
    billed = [
        ("plan", plan_id, price, 1, days),
        *(("addon", addon_id, unit, qty, 30) for addon_id, qty, unit in addons),
    ]
    return sub, billed


def seed_demo(base_url: str, *, customers: int, tenant: str, start: int | None = None) -> dict[str, Any]:
    """Seed a demo business on catalog 1.0 for `tenant` (its API key) at the emulator
    (`{url}/chargebee_v1`), created from `start` on (unix seconds; default `demo_start()`)."""
    admin = EmulatorAdmin(base_url)
    admin.drop(tenant)
    plans: list[tuple[str, str, dict[str, Any]]] = [
        ("plans", plan_id, plan(plan_id, name=name, price=price, period=period, period_unit=unit))
        for plan_id, name, price, period, unit in PLANS_1
    ]
    plans.append(("addons", "seats", addon("seats", name="Extra seats", price=500, recurring=True)))
    plans.append(("addons", "setup", addon("setup", name="Setup fee", price=2_500, recurring=False)))
    seed_business(admin, tenant, customers, _subscription_1, plans, demo_start() if start is None else start)
    return {"credentials": credentials_for(tenant), "options": {"api_base": f"{base_url.rstrip('/')}{PREFIX}"}}


def plain_fetch(base_url: str, credentials: Mapping[str, Any]) -> int:
    """The lists the connector reads, fetched plainly; the number of objects read."""
    return fetch_lists(
        base_url, credentials, ["/customers", "/plans", "/addons", "/subscriptions", "/invoices", "/transactions"]
    )
