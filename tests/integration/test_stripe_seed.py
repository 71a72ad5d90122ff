"""The seeded Stripe business reads the same however often it is read: the benchmarks and the tests read
the same emulator many times over, and a read that stored something would slow every later list."""

from __future__ import annotations

import pytest

from devstack.stripe_seed import StripeEmulator, seeded_emulator

pytestmark = pytest.mark.integration


def test_each_customers_default_payment_method_is_its_own_stored_card() -> None:
    with seeded_emulator(customers=4, seed=3) as url:
        stripe = StripeEmulator(url)
        customers = stripe.get("/v1/customers", {"limit": 100})["data"]
        assert len(customers) == 4
        defaults = [c["invoice_settings"]["default_payment_method"] for c in customers]
        assert len(set(defaults)) == 4
        for customer, default in zip(customers, defaults, strict=True):
            card = stripe.get(f"/v1/payment_methods/{default}")
            # a test alias such as pm_card_visa reads back as a new payment method every time, which the
            # emulator stores: each read of the customers list would grow what every list scans
            assert (card["id"], card["customer"], card["type"]) == (default, customer["id"], "card")
        assert [c["invoice_settings"] for c in stripe.get("/v1/customers", {"limit": 100})["data"]] == [
            c["invoice_settings"] for c in customers
        ]
