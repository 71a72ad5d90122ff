"""The Recurly emulator's every answer, checked against Recurly's own Python SDK (`recurly==4.79.0`).

The SDK declares each resource as a class with a `schema` (attribute -> `str`, `int`, `float`, `bool`,
`list`, `dict`, the `datetime` module for timestamps, a class name for a nested resource, `[class name]`
for a list of them). Two checks, both strict:

1. The SDK itself, in strict mode (`recurly.STRICT_MODE`): `Resource.cast_json` raises on any key its
   schema lacks, on an `object` it has no class for, and on a timestamp it cannot parse.
2. `undeclared_or_mistyped`, written here because the SDK's cast accepts wrong types silently (`bool("no")`
   is True, a string where a nested resource belongs becomes None): every key of every object, nested
   too, is declared for that object's class, with a value of the declared type (None allowed).

Every endpoint the connector uses is fetched, over several pages, from a seeded emulator; and two tests
show the check fails when the emulator sends an undeclared key or a value of the wrong type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pydoc import locate
from typing import Any

import pytest
import recurly
import requests
from recurly.resource import DT_FORMAT, Page, Resource

from devstack.emulators import recurly as emulator
from devstack.emulators.base import EmulatorAdmin, serve_in_thread

TENANT = "contract_recurly_key"


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve_in_thread() as url:
        base_url = f"{url}/recurly"
        emulator.seed_demo(base_url, customers=45, tenant=TENANT)
        yield base_url


@pytest.fixture(autouse=True)
def strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recurly, "STRICT_MODE", True)


def get(base: str, path: str, key: str = TENANT, **params: Any) -> requests.Response:
    return requests.get(f"{base}{path}", params=params, auth=(key, ""), headers={"Accept": emulator.ACCEPT}, timeout=10)


# ------------------------------------------------------------------------------------------- the checker
def _class_of(name: str) -> Any:
    klass = locate(f"recurly.resources.{name}")
    if klass is None:
        raise AssertionError(f"the SDK has no resource class {name}")
    return klass


def _value_problems(value: Any, declared: Any, where: str) -> list[str]:
    if value is None:
        return []
    if declared is dt:  # a timestamp, which the SDK parses with DT_FORMAT
        try:
            dt.datetime.strptime(value, DT_FORMAT)
        except (TypeError, ValueError):
            return [f"{where}: {value!r} is not a timestamp the SDK reads"]
        return []
    if isinstance(declared, str):
        return (
            undeclared_or_mistyped(value, declared, where) if isinstance(value, dict) else [f"{where}: not an object"]
        )
    if isinstance(declared, list):
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [p for i, item in enumerate(value) for p in _value_problems(item, declared[0], f"{where}[{i}]")]
    if declared is bool:
        ok = isinstance(value, bool)
    elif declared is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif declared is float:  # a JSON number
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:  # str, list, dict
        ok = isinstance(value, declared)
    return [] if ok else [f"{where}: {type(value).__name__} where the SDK declares {declared.__name__}"]


def undeclared_or_mistyped(obj: Any, class_name: str, where: str = "$") -> list[str]:
    """Every key of `obj` (nested too) that `class_name`'s schema does not declare, or whose value is
    not of the declared type."""
    if not isinstance(obj, dict):
        return [f"{where}: not an object"]
    schema = _class_of(class_name).schema
    problems = []
    for key, value in obj.items():
        if key not in schema:
            problems.append(f"{where}.{key}: not declared by {class_name}")
        else:
            problems += _value_problems(value, schema[key], f"{where}.{key}")
    return problems


def resource_class(obj: dict[str, Any]) -> str:
    """The class the SDK casts a top-level object to (from its `object`, as `Resource.cast_json` does)."""
    return "".join(part.title() for part in obj["object"].split("_"))


def check_list(body: Any, expected_class: str) -> list[dict[str, Any]]:
    """A list answer: the SDK's Page envelope, every item of the expected class, cast strictly."""
    assert isinstance(body, dict) and set(body) == {"object", "has_more", "next", "data"}, body.keys()
    assert body["object"] == "list" and isinstance(body["has_more"], bool)
    assert body["next"] is None or isinstance(body["next"], str)
    items: list[dict[str, Any]] = body["data"]
    problems = [p for i, item in enumerate(items) for p in undeclared_or_mistyped(item, resource_class(item), f"[{i}]")]
    assert problems == []
    assert {resource_class(item) for item in items} <= {expected_class}
    page = Resource.cast_json(dict(body, data=[dict(item) for item in items]))  # strict mode: raises on any slip
    assert isinstance(page, Page) and all(type(r).__name__ == expected_class for r in page.data)
    return items


def every_page(base: str, path: str, expected_class: str, limit: int = 20) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    answer = get(base, path, limit=limit, sort="created_at", order="asc")
    pages = 0
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += check_list(body, expected_class)
        pages += 1
        if not body["has_more"]:
            return items
        answer = get(base, body["next"])


# ------------------------------------------------------------------------------------------- the endpoints
@pytest.mark.parametrize(
    ("path", "expected_class"),
    [
        ("/accounts", "Account"),
        ("/plans", "Plan"),
        ("/subscriptions", "Subscription"),
        ("/invoices", "Invoice"),
        ("/transactions", "Transaction"),
    ],
)
def test_every_list_the_connector_reads_is_what_the_sdk_declares(base: str, path: str, expected_class: str) -> None:
    items = every_page(base, path, expected_class, limit=20)
    assert items and len({item["id"] for item in items}) == len(items)


def test_the_lists_cover_every_shape_the_connector_maps(base: str) -> None:
    """The seed is varied enough for the checks above to mean something: nested objects and lists filled."""
    invoices = every_page(base, "/invoices", "Invoice", limit=200)
    assert {i["type"] for i in invoices} == {"charge", "credit"} and {i["state"] for i in invoices} >= {
        "paid",
        "failed",
    }
    assert all(i["line_items"] and i["account"]["id"] for i in invoices)
    transactions = every_page(base, "/transactions", "Transaction", limit=200)
    assert {t["type"] for t in transactions} == {"purchase", "refund"}
    assert {t["status"] for t in transactions} == {"success", "declined"}
    subscriptions = every_page(base, "/subscriptions", "Subscription", limit=200)
    assert {s["state"] for s in subscriptions} == {"active", "canceled", "expired", "paused"}
    assert any(s["trial_ends_at"] for s in subscriptions)
    plans = every_page(base, "/plans", "Plan", limit=200)
    assert any(len(p["currencies"]) > 1 for p in plans)


def test_one_accounts_detail_and_lists(base: str) -> None:
    account = get(base, "/accounts", limit=1).json()["data"][0]
    detail = get(base, f"/accounts/{account['id']}")
    assert detail.status_code == 200 and detail.json() == account
    assert undeclared_or_mistyped(detail.json(), "Account") == []
    assert type(Resource.cast_json(detail.json())).__name__ == "Account"
    by_code = get(base, f"/accounts/code-{account['code']}")
    assert by_code.json()["id"] == account["id"]
    for path, expected in (("subscriptions", "Subscription"), ("invoices", "Invoice"), ("transactions", "Transaction")):
        items = every_page(base, f"/accounts/{account['id']}/{path}", expected)
        assert items and {item["account"]["id"] for item in items} == {account["id"]}


def test_an_invoices_line_items(base: str) -> None:
    invoice = get(base, "/invoices", limit=1).json()["data"][0]
    lines = every_page(base, f"/invoices/{invoice['id']}/line_items", "LineItem", limit=1)
    assert lines == invoice["line_items"]


@pytest.mark.parametrize("status", [404, 429, 500, 503])
def test_errors_are_what_the_sdk_declares_for_an_error(base: str, status: int) -> None:
    admin = EmulatorAdmin(base)
    if status == 404:
        answer = get(base, "/accounts/nobody")
    else:
        admin.fault(status, retry_after=2 if status == 429 else None, tenant=TENANT)
        answer = get(base, "/accounts")
    assert answer.status_code == status
    assert set(answer.json()) == {"error"}
    assert undeclared_or_mistyped(answer.json()["error"], "Error") == []
    if status == 429:
        assert answer.headers["Retry-After"] == "2" and int(answer.headers["X-RateLimit-Reset"]) > 0


def test_an_unknown_key_is_the_sdks_unauthorized_error(base: str) -> None:
    answer = get(base, "/accounts", key="not_a_key_anyone_issued")
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert undeclared_or_mistyped(error, "Error") == [] and error["type"] == "unauthorized"
    assert recurly.errors.UnauthorizedError.__name__ == "".join(p.title() for p in error["type"].split("_")) + "Error"


# ------------------------------------------------------------------------------------------- the checker fails
def test_the_check_fails_when_the_emulator_sends_an_undeclared_key(base: str) -> None:
    admin = EmulatorAdmin(base)
    tenant = "contract_recurly_undeclared"
    owner = emulator.account("x1", first_name="Ann", created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    admin.put(tenant, "accounts", owner["id"], {**owner, "nickname": "Annie"})
    admin.put(tenant, "plans", "p", {**emulator.demo_objects(0)["plans"][0], "id": "p"})
    plan = get(base, "/plans", key=tenant).json()["data"][0]
    plan["currencies"][0]["discount"] = 1.0  # nested, too
    body = get(base, "/accounts", key=tenant).json()
    assert undeclared_or_mistyped(body["data"][0], "Account") == ["$.nickname: not declared by Account"]
    assert undeclared_or_mistyped(plan, "Plan") == ["$.currencies[0].discount: not declared by PlanPricing"]
    with pytest.raises(AssertionError):
        check_list(body, "Account")
    with pytest.raises(ValueError, match="nickname"):  # and the SDK's own strict mode agrees
        Resource.cast_json(body["data"][0])


def test_the_check_fails_when_a_value_has_the_wrong_type(base: str) -> None:
    admin = EmulatorAdmin(base)
    tenant = "contract_recurly_mistyped"
    owner = emulator.account("x2", first_name="Bo", created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    admin.put(tenant, "accounts", owner["id"], {**owner, "tax_exempt": "no", "created_at": "yesterday"})
    body = get(base, "/accounts", key=tenant).json()
    assert sorted(undeclared_or_mistyped(body["data"][0], "Account")) == [
        "$.created_at: 'yesterday' is not a timestamp the SDK reads",
        "$.tax_exempt: str where the SDK declares bool",
    ]
    assert Resource.cast_json({**body["data"][0], "created_at": None}).tax_exempt is True  # what the SDK alone lets by
    with pytest.raises(AssertionError):
        check_list(body, "Account")
