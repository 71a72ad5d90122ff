"""The Import API's field rules: ISO 4217 currencies, no control characters, bounded amounts and quantities."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sourcesync.api.import_models import ImportCustomersRequest, ImportInvoicesRequest, ImportPlansRequest
from sourcesync.fields import MAX_CENTS

LINE = {"type": "one_time", "amount_in_cents": 100}
INVOICE = {
    "external_id": "inv",
    "customer_external_id": "c",
    "date": "2026-11-01",
    "currency": "EUR",
    "line_items": [LINE],
}


def invoice(**changes: Any) -> dict[str, Any]:
    return {"invoices": [{**INVOICE, **changes}]}


def line(**changes: Any) -> dict[str, Any]:
    return invoice(line_items=[{**LINE, **changes}])


@pytest.mark.parametrize(
    ("model", "body", "loc"),
    [
        (ImportInvoicesRequest, invoice(currency="XYZ"), "invoices.0.currency"),
        (ImportInvoicesRequest, invoice(currency="XXX"), "invoices.0.currency"),
        (ImportInvoicesRequest, line(amount_in_cents=2**64), "invoices.0.line_items.0.amount_in_cents"),
        (ImportInvoicesRequest, line(amount_in_cents=-(MAX_CENTS + 1)), "invoices.0.line_items.0.amount_in_cents"),
        (
            ImportInvoicesRequest,
            line(discount_amount_in_cents=MAX_CENTS + 1),
            "invoices.0.line_items.0.discount_amount_in_cents",
        ),
        (ImportInvoicesRequest, line(quantity=10**12), "invoices.0.line_items.0.quantity"),
        (ImportInvoicesRequest, invoice(external_id="inv\x00"), "invoices.0.external_id"),
        (
            ImportInvoicesRequest,
            invoice(
                transactions=[
                    {
                        "external_id": "t",
                        "type": "payment",
                        "date": "2026-11-01",
                        "result": "successful",
                        "amount_in_cents": 2**70,
                    }
                ]
            ),
            "invoices.0.transactions.0.amount_in_cents",
        ),
        (ImportCustomersRequest, {"customers": [{"external_id": "c", "name": "bell\x07"}]}, "customers.0.name"),
        (ImportCustomersRequest, {"customers": [{"external_id": "c\n", "name": "C"}]}, "customers.0.external_id"),
        (
            ImportCustomersRequest,
            {"customers": [{"external_id": "c", "name": "C", "email": "a\x9b@x"}]},
            "customers.0.email",
        ),
        (
            ImportPlansRequest,
            {
                "plans": [
                    {"external_id": "p", "name": "P", "interval_count": 1, "interval_unit": "month", "currency": "ABC"}
                ]
            },
            "plans.0.currency",
        ),
    ],
    ids=[
        "unknown-currency",
        "no-currency-code",
        "amount-beyond-64-bits",
        "amount-below-min",
        "discount-too-large",
        "quantity-too-large",
        "nul-in-id",
        "transaction-amount-beyond-64-bits",
        "control-in-name",
        "newline-in-id",
        "c1-control-in-email",
        "plan-currency",
    ],
)
def test_bad_fields_are_refused_with_their_path(model: Any, body: dict[str, Any], loc: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    assert loc in {".".join(str(p) for p in error["loc"]) for error in refused.value.errors()}


def test_good_fields_pass_and_currencies_are_upper_cased() -> None:
    parsed = ImportInvoicesRequest.model_validate(
        invoice(currency="eur", line_items=[{**LINE, "amount_in_cents": MAX_CENTS}])
    )
    assert parsed.invoices[0].currency == "EUR"
    assert parsed.invoices[0].line_items[0].amount_in_cents == MAX_CENTS
