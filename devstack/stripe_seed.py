"""Seed the Stripe emulator with a small, realistic subscription business (demo, tests, benchmarks).

Everything goes through the emulator's own HTTP API, as a Stripe client would: products, monthly and
yearly plans, customers with a card, their subscriptions (which make the emulator issue invoices and
charges), some cancelled, a few refunds. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests

TEST_KEY = "sk_test_sourcesync_local"  # the emulator accepts any sk_test_ key; this one is for local use only
TEST_CARD = "4242424242424242"  # Stripe's documented test Visa number

PRODUCTS = {"prod_starter": "Starter", "prod_growth": "Growth", "prod_scale": "Scale"}
PLANS = {
    # id: (product, amount in cents, currency, interval, interval count)
    "starter-monthly": ("prod_starter", 2900, "usd", "month", 1),
    "growth-monthly": ("prod_growth", 9900, "usd", "month", 1),
    "growth-yearly": ("prod_growth", 99000, "usd", "year", 1),
    "scale-monthly": ("prod_scale", 29900, "eur", "month", 1),
    "scale-yearly": ("prod_scale", 299000, "eur", "year", 1),
}


@dataclass
class SeededBusiness:
    customers: list[str] = field(default_factory=list)
    subscriptions: dict[str, str] = field(default_factory=dict)  # subscription id -> customer id
    cancelled: list[str] = field(default_factory=list)


class StripeEmulator:
    def __init__(self, api_base: str, key: str = TEST_KEY) -> None:
        self.api_base = api_base.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (key, "")

    def post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        answer = self.session.post(f"{self.api_base}{path}", data=data, timeout=30)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def delete(self, path: str) -> dict[str, Any]:
        answer = self.session.delete(f"{self.api_base}{path}", timeout=30)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.session.get(f"{self.api_base}{path}", params=params, timeout=30)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def add_card(self) -> str:
        """A card payment method of its own (Stripe's public test card), as Stripe.js would create it."""
        card = {"card[number]": TEST_CARD, "card[exp_month]": 12, "card[exp_year]": 2030, "card[cvc]": "123"}
        return str(self.post("/v1/payment_methods", {"type": "card", **card})["id"])

    def add_customer(self, name: str, email: str, country: str | None = None) -> str:
        # The customer's default is a payment method of its own, as it is at Stripe. Not the test alias
        # `pm_card_visa`: localstripe turns that alias into a new stored payment method on every read of it
        # (every export of the customer), so each pass over the customers list would grow the store that
        # every list scans, and the emulator would answer more slowly with every pass.
        card = self.add_card()
        data = {"name": name, "email": email, "payment_method": card, "invoice_settings[default_payment_method]": card}
        if country:
            data["address[country]"] = country
        return str(self.post("/v1/customers", data)["id"])

    def subscribe(self, customer_id: str, plan: str, quantity: int = 1) -> str:
        sub = self.post(
            "/v1/subscriptions", {"customer": customer_id, "items[0][plan]": plan, "items[0][quantity]": quantity}
        )
        return str(sub["id"])

    def cancel(self, subscription_id: str) -> None:
        self.delete(f"/v1/subscriptions/{subscription_id}")


def seed_catalog(emulator: StripeEmulator) -> None:
    for product_id, name in PRODUCTS.items():
        emulator.post("/v1/products", {"id": product_id, "name": name})
    for plan_id, (product, amount, currency, interval, count) in PLANS.items():
        emulator.post(
            "/v1/plans",
            {
                "id": plan_id,
                "product": product,
                "amount": amount,
                "currency": currency,
                "interval": interval,
                "interval_count": count,
            },
        )


def add_customers(
    emulator: StripeEmulator,
    count: int,
    *,
    start: int = 0,
    cancelled_share: float = 0.15,
    seed: int = 7,
    threads: int = 4,
) -> SeededBusiness:
    """`count` customers (numbered from `start`), each on one of the catalog's plans, some cancelled."""
    chooser = random.Random(seed)
    plans = list(PLANS)
    wanted = [
        (
            i,
            chooser.choice(plans),
            chooser.randint(1, 5),
            chooser.random() < cancelled_share,
            chooser.choice(("US", "DE", "FR", "GB", "NL")),
        )
        for i in range(start, start + count)
    ]
    seeded = SeededBusiness()

    def one(spec: tuple[int, str, int, bool, str]) -> tuple[str, str, bool]:
        i, plan, quantity, cancel, country = spec
        worker = StripeEmulator(emulator.api_base)
        customer = worker.add_customer(f"Customer {i:04d}", f"customer{i:04d}@example.com", country)
        subscription = worker.subscribe(customer, plan, quantity)
        if cancel:
            worker.cancel(subscription)
        return customer, subscription, cancel

    with ThreadPoolExecutor(threads) as pool:
        for customer, subscription, cancel in pool.map(one, wanted):
            seeded.customers.append(customer)
            seeded.subscriptions[subscription] = customer
            if cancel:
                seeded.cancelled.append(subscription)
    return seeded


def seed_business(
    api_base: str, customers: int = 300, cancelled_share: float = 0.15, seed: int = 7, threads: int = 4
) -> SeededBusiness:
    """A catalog of plans, then `customers` customers, each on one plan, some of them cancelled."""
    emulator = StripeEmulator(api_base)
    seed_catalog(emulator)
    return add_customers(emulator, customers, cancelled_share=cancelled_share, seed=seed, threads=threads)


@contextmanager
def seeded_emulator(customers: int, seed: int = 7) -> Iterator[str]:
    """A Stripe emulator of its own (not the stack's), seeded with a business; yields its URL."""
    from devstack.stripe_emulator import StripeEmulator as EmulatorProcess

    emulator = EmulatorProcess().start()
    try:
        seed_business(emulator.url, customers=customers, seed=seed)
        yield emulator.url
    finally:
        emulator.stop()
