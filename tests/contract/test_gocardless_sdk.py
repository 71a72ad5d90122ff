"""The GoCardless emulator's every answer, checked against GoCardless's own Python SDK (`gocardless-pro==3.22.0`).

The SDK is pointed at the emulator (`Client(base_url=...)`) and fetches every list and detail the
connector uses, through its own services, pagination and error handling. Its resource classes declare
one property per attribute, and a nested class (`Payment.Links`, `Payment.Fx`, `Mandate.ConsentParameters`)
for each attribute that is an object; the check is strict against those declarations:

- every key of every object is a property of its resource class; every key of a nested object is a
  property of the nested class; an attribute the SDK wraps in a nested class is an object (or null);
- the SDK declares no scalar types, so the value types are GoCardless's API reference's, written below
  (`*_at` timestamps, `*_date` dates, integer amounts, booleans, string ids; `metadata` and
  `upcoming_payments`, the only attributes the SDK returns unwrapped that are not scalars);
- errors are what `gocardless_pro.errors.ApiError` reads, and raise the SDK's class for their status.

Two tests show the check fails when the emulator sends an undeclared key or a value of the wrong type.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import gocardless_pro
import pytest
from gocardless_pro import errors as sdk_errors
from gocardless_pro import resources

from devstack.emulators import gocardless as emulator
from devstack.emulators.base import EmulatorAdmin, serve_in_thread

TENANT = "contract_gocardless_token"

#: the resources the connector reads -> the SDK's resource class
RESOURCE_CLASSES: dict[str, type] = {
    "customers": resources.Customer,
    "mandates": resources.Mandate,
    "subscriptions": resources.Subscription,
    "payments": resources.Payment,
    "refunds": resources.Refund,
}

#: GoCardless API reference types where they are not strings
INTEGERS = frozenset({"amount", "amount_refunded", "interval", "day_of_month", "count", "app_fee", "fx_amount"})
BOOLEANS = frozenset({"retry_if_possible", "payments_require_approval", "faster_ach", "parent_plan_paused"})


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve_in_thread() as url:
        base_url = f"{url}/gocardless"
        emulator.seed_demo(base_url, customers=40, tenant=TENANT)
        yield base_url


def client(base: str, token: str = TENANT) -> Any:
    """The SDK pointed at the emulator. It joins request paths to the host's root (`urljoin`), and the
    emulator lives under `/gocardless`: the one change is that its paths are appended to `base` instead."""
    sdk = gocardless_pro.Client(access_token=token, base_url=base)
    api = sdk._api_client
    api._url_for = lambda path: base.rstrip("/") + api._validate_path(path)
    return sdk


# ------------------------------------------------------------------------------------------- the checker
@functools.cache
def declared(klass: type) -> dict[str, type | None]:
    """The SDK's properties of `klass`: name -> the nested class it wraps the value in, or None."""
    found: dict[str, type | None] = {}
    for name, member in vars(klass).items():
        if isinstance(member, property) and member.fget is not None:
            wraps = re.search(r"return self\.(\w+)\(", inspect.getsource(member.fget))
            found[name] = getattr(klass, wraps.group(1)) if wraps else None
    return found


def _leaf_problems(name: str, value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if name.endswith("_at"):
        ok = isinstance(value, str) and _is_timestamp(value)
        expected = "a timestamp"
    elif name.endswith("_date"):
        ok = isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", value) is not None and _is_date(value)
        expected = "a date"
    elif name in INTEGERS:
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif name in BOOLEANS:
        ok, expected = isinstance(value, bool), "a boolean"
    elif name == "metadata":
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        expected = "an object of strings"
    elif name == "upcoming_payments":
        ok = isinstance(value, list) and all(
            isinstance(p, dict) and set(p) == {"charge_date", "amount"} and isinstance(p["amount"], int) for p in value
        )
        expected = "a list of {charge_date, amount}"
    else:
        ok, expected = isinstance(value, str), "a string"
    return [] if ok else [f"{where}: {value!r} is not {expected}"]


def _is_timestamp(value: str) -> bool:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def undeclared_or_mistyped(obj: Any, klass: type, where: str = "$") -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: not an object"]
    properties = declared(klass)
    problems: list[str] = []
    for key, value in obj.items():
        if key not in properties:
            problems.append(f"{where}.{key}: not declared by {klass.__qualname__}")
            continue
        nested = properties[key]
        if nested is None:
            problems += _leaf_problems(key, value, f"{where}.{key}")
        elif value is not None:
            if not isinstance(value, dict):
                problems.append(f"{where}.{key}: not an object, which {klass.__qualname__}.{nested.__name__} wraps")
                continue
            inner = declared(nested)
            for name, leaf in value.items():
                if name not in inner:
                    problems.append(f"{where}.{key}.{name}: not declared by {nested.__qualname__}")
                else:
                    problems += _leaf_problems(name, leaf, f"{where}.{key}.{name}")
    return problems


def every_record(base: str, resource: str, limit: int = 7, **filters: str) -> list[dict[str, Any]]:
    """Every object of a list, fetched by the SDK page by page (`after` cursors), each checked."""
    service = getattr(client(base), resource)
    found: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": limit, **filters}
        if after:
            params["after"] = after
        page = service.list(params=params)
        assert set(page.api_response.body) == {resource, "meta"}
        assert set(page.api_response.body["meta"]) == {"cursors", "limit"}
        for record in page.records:
            assert isinstance(record, RESOURCE_CLASSES[resource])
            problems = undeclared_or_mistyped(record.attributes, RESOURCE_CLASSES[resource], f"{resource}[{record.id}]")
            assert problems == []
            found.append(record.attributes)
        after = page.after
        if after is None:
            return found


# ------------------------------------------------------------------------------------------- the endpoints
@pytest.mark.parametrize("resource", list(RESOURCE_CLASSES))
def test_every_list_the_connector_reads_is_what_the_sdk_declares(base: str, resource: str) -> None:
    records = every_record(base, resource)
    assert records and len({r["id"] for r in records}) == len(records)
    # the SDK's own paginator agrees with the page-by-page walk
    assert [r.id for r in getattr(client(base), resource).all(params={"limit": 13})] == [r["id"] for r in records]


def test_the_lists_cover_every_shape_the_connector_maps(base: str) -> None:
    payments = every_record(base, "payments", limit=500)
    assert {p["status"] for p in payments} >= {"paid_out", "confirmed", "failed", "pending_submission", "cancelled"}
    assert any(p["links"].get("subscription") for p in payments) and any(p["amount_refunded"] for p in payments)
    subscriptions = every_record(base, "subscriptions", limit=500)
    assert {s["interval_unit"] for s in subscriptions} == {"weekly", "monthly", "yearly"}
    assert {s["status"] for s in subscriptions} == {"active", "cancelled", "finished", "paused"}
    assert any(s["upcoming_payments"] for s in subscriptions)


def test_the_filters_the_connector_uses(base: str) -> None:
    customer = every_record(base, "customers", limit=1)[0]
    mandates = every_record(base, "mandates", customer=customer["id"])
    assert [m["links"]["customer"] for m in mandates] == [customer["id"]]
    for resource in ("subscriptions", "payments"):
        mine = every_record(base, resource, customer=customer["id"])
        assert mine and {r["links"]["mandate"] for r in mine} == {mandates[0]["id"]}
    refunded = next(p for p in every_record(base, "payments", limit=500) if p["amount_refunded"])
    assert [r["links"]["payment"] for r in every_record(base, "refunds", payment=refunded["id"])] == [refunded["id"]]


def test_details_are_what_the_sdk_declares(base: str) -> None:
    sdk = client(base)
    for resource, klass in RESOURCE_CLASSES.items():
        first = every_record(base, resource, limit=1)[0]
        fetched = getattr(sdk, resource).get(first["id"])
        assert isinstance(fetched, klass) and fetched.attributes == first
        assert set(fetched.api_response.body) == {resource}


@pytest.mark.parametrize(
    ("status", "sdk_error"),
    [
        (404, sdk_errors.InvalidApiUsageError),
        (429, sdk_errors.RateLimitError),
        (500, sdk_errors.GoCardlessInternalError),
        (401, sdk_errors.AuthenticationError),
    ],
)
def test_errors_raise_the_sdks_error_for_their_status(base: str, status: int, sdk_error: type) -> None:
    sdk = client(base, "not_a_token_anyone_issued" if status == 401 else TENANT)
    if status == 404:
        call = lambda: sdk.customers.get("CU_NOBODY")  # noqa: E731
    else:
        if status != 401:
            EmulatorAdmin(base).fault(status, tenant=TENANT)
        call = lambda: sdk.customers.list()  # noqa: E731
    with pytest.raises(sdk_error) as raised:
        call()
    error = raised.value.error
    assert set(error) <= set(declared(sdk_errors.ApiError)) and error["code"] == status
    assert error["request_id"] and error["errors"] and error["message"] == raised.value.message


def test_an_unknown_parameter_is_the_sdks_validation_error(base: str) -> None:
    with pytest.raises(sdk_errors.ValidationFailedError, match="created_at"):
        client(base).customers.list(params={"created_at": "2024-01-01"})


# ------------------------------------------------------------------------------------------- the checker fails
def _one_customer(base: str, tenant: str, **extra: Any) -> None:
    owner = emulator.customer(given_name="Ann", created_at=datetime(2024, 1, 1, tzinfo=UTC))
    EmulatorAdmin(base).put(tenant, "customers", owner["id"], {**owner, **extra})


def test_the_check_fails_when_the_emulator_sends_an_undeclared_key(base: str) -> None:
    tenant = "contract_gocardless_undeclared"
    _one_customer(base, tenant, nickname="Annie")
    record = client(base, tenant).customers.list().records[0]
    assert record.attributes["nickname"] == "Annie"  # the SDK itself takes anything
    assert undeclared_or_mistyped(record.attributes, resources.Customer) == ["$.nickname: not declared by Customer"]
    payment = every_record(base, "payments", limit=1)[0]
    payment["links"]["invoice"] = "IN1"  # nested, too
    assert undeclared_or_mistyped(payment, resources.Payment) == ["$.links.invoice: not declared by Payment.Links"]
    with pytest.raises(AssertionError):
        _check_tenant(base, tenant)


def _check_tenant(base: str, tenant: str) -> None:
    for record in client(base, tenant).customers.list().records:
        assert undeclared_or_mistyped(record.attributes, resources.Customer) == []


def test_the_check_fails_when_a_value_has_the_wrong_type(base: str) -> None:
    tenant = "contract_gocardless_mistyped"
    _one_customer(base, tenant, created_at="yesterday", metadata=[])
    record = client(base, tenant).customers.list().records[0]
    assert sorted(undeclared_or_mistyped(record.attributes, resources.Customer)) == [
        "$.created_at: 'yesterday' is not a timestamp",
        "$.metadata: [] is not an object of strings",
    ]
    payment = every_record(base, "payments", limit=1)[0]
    assert undeclared_or_mistyped({**payment, "amount": "25.00", "links": "MD1"}, resources.Payment) == [
        "$.amount: '25.00' is not an integer",
        "$.links: not an object, which Payment.Links wraps",
    ]
    with pytest.raises(AssertionError):
        _check_tenant(base, tenant)
