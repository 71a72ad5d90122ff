"""PayPal end to end on the local stack, against the stack's PayPal emulator: the story of
`test_braintree_e2e.run_story` (a wrong secret refused, import, changes re-synced, one customer
re-synced, the matrix's cells with the real connector, delete and purge). A PayPal customer is a
subscription's subscriber, keyed by the subscription id."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.emulators import paypal as emulator
from devstack.emulators.base import EmulatorAdmin
from tests.e2e.conftest import Client
from tests.e2e.test_braintree_e2e import CUSTOMERS, Provider, run_story

pytestmark = pytest.mark.e2e


def paypal_provider(base_url: str) -> Provider:
    tenant = f"e2e-pp-{secrets.token_hex(4)}"
    seeded = emulator.seed_demo(base_url, customers=CUSTOMERS, tenant=tenant)
    admin = EmulatorAdmin(base_url)

    def customer_id(n: int) -> str:
        return f"I-EMU{n:08d}"

    def subscription(n: int) -> dict[str, Any]:
        return next(s for s in admin.list(tenant, "subscriptions") if s["id"] == customer_id(n))

    def rename(n: int) -> str:
        subscriber = subscription(n)["subscriber"]
        renamed = {**subscriber, "name": {"given_name": "Renamed", "surname": f"Customer {n}"}}
        admin.patch(tenant, "subscriptions", customer_id(n), {"subscriber": renamed})
        return f"Renamed Customer {n}"

    def cancel(n: int) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        admin.patch(tenant, "subscriptions", customer_id(n), {"status": "CANCELLED", "status_update_time": now})

    def charge(n: int, transaction_id: str) -> str:
        current = subscription(n)
        price = current["billing_info"]["last_payment"]["amount"]["value"]
        admin.put(
            tenant,
            "transactions",
            transaction_id,
            emulator.transaction_object(
                transaction_id,
                reference=customer_id(n),
                reference_type="SUB",
                amount=price,
                currency="USD",
                created=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5),
                payer_id=current["subscriber"]["payer_id"],
                email=current["subscriber"]["email_address"],
                given_name="Demo",
                surname=f"Customer {n}",
            ),
        )
        return transaction_id

    def remove(n: int) -> None:
        admin.delete(tenant, "subscriptions", customer_id(n))
        for transaction in admin.list(tenant, "transactions"):
            if transaction["transaction_info"]["paypal_reference_id"] == customer_id(n):
                admin.delete(tenant, "transactions", transaction["transaction_info"]["transaction_id"])

    return Provider(
        "paypal",
        tenant,
        seeded,
        customer_id,
        {"client_secret": "not-the-secret"},
        rename,
        cancel,
        charge,
        remove,
    )


def test_paypal_end_to_end(stack: dict[str, Any], api: Client, aws: Callable[[str], Any]) -> None:
    run_story(api, aws, paypal_provider(stack["paypal"]))
