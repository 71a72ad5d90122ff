"""The Import API over HTTP: refused requests answer 400 in the error envelope and change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Client

pytestmark = pytest.mark.e2e


def payment(external_id: str) -> dict[str, Any]:
    return {"external_id": external_id, "type": "payment", "date": "2026-11-01", "result": "successful"}


def invoice(i: int, transactions: list[dict[str, Any]], amount: int = 100) -> dict[str, Any]:
    return {
        "external_id": f"inv{i}",
        "customer_external_id": "c1",
        "date": "2026-11-01",
        "currency": "EUR",
        "line_items": [{"type": "one_time", "amount_in_cents": amount}],
        "transactions": transactions,
    }


@pytest.mark.parametrize(
    ("invoices", "paths"),
    [
        (
            [invoice(0, [payment("t0"), payment("dup")]), invoice(1, []), invoice(2, []), invoice(3, [payment("dup")])],
            ["invoices.0.transactions.1.external_id", "invoices.3.transactions.0.external_id"],
        ),
        ([invoice(0, []), invoice(1, [], amount=2**64)], ["invoices.1.line_items.0.amount_in_cents"]),
    ],
    ids=["repeated-nested-id", "amount-beyond-64-bits"],
)
def test_a_refused_import_is_400_with_paths_and_changes_nothing(
    api: Client, invoices: list[dict[str, Any]], paths: list[str]
) -> None:
    uuid = api.ok("POST", "/v1/data_sources", {"name": "Pushed", "system": "custom"}, status=201)["data_source"]["uuid"]
    api.ok(
        "POST",
        f"/v1/import/data_sources/{uuid}/customers",
        {"customers": [{"external_id": "c1", "name": "C"}]},
        status=201,
    )
    before = api.ok("GET", f"/v1/data_sources/{uuid}")["counts"]

    answer = api.post(f"/v1/import/data_sources/{uuid}/invoices", {"invoices": invoices})

    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    named = " ".join(f"{d['loc']} {d['msg']}" for d in error["details"])
    assert all(path in named for path in paths), error["details"]
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["counts"] == before
    customer = api.ok("GET", f"/v1/customers?data_source_uuid={uuid}")["entries"][0]
    assert api.ok("GET", f"/v1/customers/{customer['uuid']}")["invoices"] == []
