"""The PayPal emulator against PayPal's own server SDK (`paypal-server-sdk`, pinned in requirements-dev.txt).

Every answer the connector reads is fetched from the emulator (seeded through `seed_demo`) and checked
against the SDK's model of it, strictly: every key, nested too, must be a field the model declares
(`_names`), with a value of the type its docstring declares (`str`, `int`, `bool`, `List[...]`, another
model, or an enum class whose constants bound the value); and the answer must survive a round trip
through the SDK's own deserialiser and serialiser (`Model.from_dictionary` then
`APIHelper.json_serialize`) unchanged, which drops every undeclared key. Two tests show the checker
fails on an undeclared field and on a wrongly typed one.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import paypalserversdk.models as sdk_models
import pytest
import requests
from paypalserversdk.api_helper import APIHelper

from devstack.emulators import paypal as emulator
from devstack.emulators.base import EmulatorAdmin, serve_in_thread

TENANT = "contract-paypal"


@cache
def model_classes() -> dict[str, type]:
    """Every class of `paypalserversdk.models`, by name (models and enums)."""
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(sdk_models.__path__):
        module = importlib.import_module(f"{sdk_models.__name__}.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, type) and value.__module__ == module.__name__:
                found[name] = value
    return found


@cache
def declared(model: type) -> dict[str, str]:
    """{JSON key: declared type} of a model, from its `_names` and the types its docstring declares."""
    names: dict[str, str] = model._names  # type: ignore[attr-defined]
    doc = (model.__doc__ or "").split("Attributes:", 1)[-1]
    types = dict(re.findall(r"^\s{8}(\w+) \(([^)]*)\)", doc, re.M))
    missing = set(names) - set(types)
    assert not missing, f"{model.__name__}: no declared type for {sorted(missing)}"
    return {names[attr]: types[attr] for attr in names}


def enum_values(enum: type) -> set[str]:
    return {v for k, v in vars(enum).items() if k.isupper() and isinstance(v, str)}


SIMPLE = {
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def problems(value: Any, declared_type: str, where: str) -> Iterator[str]:
    """What in `value` the SDK does not declare, or declares with another type."""
    if declared_type.startswith("List[") and declared_type.endswith("]"):
        if not isinstance(value, list):
            yield f"{where}: {type(value).__name__}, declared {declared_type}"
            return
        for index, item in enumerate(value):
            yield from problems(item, declared_type[5:-1], f"{where}[{index}]")
        return
    if declared_type in SIMPLE:
        if not SIMPLE[declared_type](value):
            yield f"{where}: {type(value).__name__}, declared {declared_type}"
        return
    model = model_classes().get(declared_type)
    if model is None:
        yield f"{where}: the SDK declares an unknown type {declared_type}"
        return
    if not hasattr(model, "_names"):  # an enum
        if value not in enum_values(model):
            yield f"{where}: {value!r} is not a {declared_type}"
        return
    if not isinstance(value, dict):
        yield f"{where}: {type(value).__name__}, declared {declared_type}"
        return
    fields = declared(model)
    for key, item in value.items():
        if key not in fields:
            yield f"{where}.{key}: not a field of {declared_type}"
        else:
            yield from problems(item, fields[key], f"{where}.{key}")


#: The SDK's generated `from_dictionary` reads numbers as `dictionary.get(key) if dictionary.get(key)
#: else <default>`, so a 0 (a regular cycle's `total_cycles`, `failed_payments_count`: what PayPal
#: sends) comes back as the default, or as None which its serialiser then refuses. Before the round trip
#: every integer 0 is therefore swapped for 1 in the body and in what it is compared with: keys and
#: shapes are still compared exactly, and the types were checked before.
def without_zeros(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_zeros(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_zeros(item) for item in value]
    return 1 if value == 0 and type(value) is int else value


#: Keys the SDK adds with its constructor's default when they are absent (`BillingPlan(quantity_supported=
#: False)`): a plan's minimal representation has no such key, and the SDK fills it in.
SDK_FILLED_DEFAULTS = {"quantity_supported": False}


def round_trip_differences(before: Any, after: Any, where: str) -> Iterator[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before.keys() | after.keys():
            if key not in after:
                yield f"{where}.{key}: dropped by the SDK"
            elif key not in before:
                if SDK_FILLED_DEFAULTS.get(key, ...) != after[key]:
                    yield f"{where}.{key}: added by the SDK"
            else:
                yield from round_trip_differences(before[key], after[key], f"{where}.{key}")
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (one, other) in enumerate(zip(before, after, strict=True)):
            yield from round_trip_differences(one, other, f"{where}[{index}]")
    elif before != after or type(before) is not type(after):
        yield f"{where}: {before!r} became {after!r}"


def check(body: Any, model_name: str) -> None:
    """`body` is exactly a `model_name` of the SDK: declared keys and types, and an unchanged round trip."""
    found = list(problems(body, model_name, model_name))
    assert not found, "\n".join(found)
    model = model_classes()[model_name]
    sent = without_zeros(body)
    again = APIHelper.json_deserialize(APIHelper.json_serialize(model.from_dictionary(sent)))  # type: ignore[attr-defined]
    changed = list(round_trip_differences(sent, again, model_name))
    assert not changed, "\n".join(changed)


@pytest.fixture(scope="module")
def paypal() -> Iterator[dict[str, Any]]:
    with serve_in_thread() as url:
        base = f"{url}/paypal"
        seeded = emulator.seed_demo(base, customers=45, tenant=TENANT)
        credentials = seeded["credentials"]
        token = requests.post(
            f"{base}/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
            timeout=10,
        )
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield {"base": base, "session": session, "token": token, "credentials": credentials}


def _get(paypal: dict[str, Any], path: str, **params: Any) -> Any:
    response = paypal["session"].get(f"{paypal['base']}{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_token_answer_is_an_oauth_token(paypal: dict[str, Any]) -> None:
    assert paypal["token"].status_code == 200
    check(paypal["token"].json(), "OAuthToken")


def test_plans_both_representations_are_plan_collections(paypal: dict[str, Any]) -> None:
    full = (
        paypal["session"]
        .get(
            f"{paypal['base']}/v1/billing/plans",
            params={"page_size": 2, "page": 1, "total_required": "true"},
            headers={"Prefer": "return=representation"},
            timeout=10,
        )
        .json()
    )
    check(full, "PlanCollection")
    assert full["plans"][0]["billing_cycles"] and full["total_pages"] == 2
    check(_get(paypal, "/v1/billing/plans", page_size=20, page=1), "PlanCollection")
    check(_get(paypal, "/v1/billing/plans/P-YEARLY000001"), "BillingPlan")


def test_subscriptions_per_plan_and_by_id(paypal: dict[str, Any]) -> None:
    seen = 0
    for plan_id, *_ in emulator.PLANS:
        page = 1
        while True:
            body = _get(paypal, "/v1/billing/subscriptions", plan_ids=plan_id, page_size=4, page=page)
            check(body, "SubscriptionCollection")
            seen += len(body["subscriptions"])
            if not any(link["rel"] == "next" for link in body["links"]):
                break
            page += 1
    assert seen == 45
    check(_get(paypal, "/v1/billing/subscriptions/I-EMU00000001"), "Subscription")


def test_transaction_search_windows_are_search_responses(paypal: dict[str, Any]) -> None:
    stored = EmulatorAdmin(paypal["base"]).list(TENANT, "transactions")
    dates = sorted(t["transaction_info"]["transaction_initiation_date"] for t in stored)
    start = dates[0][:10] + "T00:00:00Z"
    from datetime import datetime, timedelta

    end = (datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = _get(paypal, "/v1/reporting/transactions", start_date=start, end_date=end, fields="all", page_size=5, page=1)
    assert body["transaction_details"], "the first window holds the first payment"
    check(body, "SearchResponse")
    refunds = [t for t in stored if t["transaction_info"]["transaction_event_code"] == "T1107"]
    assert refunds
    check(refunds[0], "TransactionDetails")


def test_error_answers_carry_the_sdk_exceptions_fields(paypal: dict[str, Any]) -> None:
    missing = paypal["session"].get(f"{paypal['base']}/v1/billing/subscriptions/I-NOPE", timeout=10)
    assert missing.status_code == 404
    assert set(missing.json()) <= {"name", "message", "debug_id", "information_link", "details", "links"}
    for detail in missing.json().get("details", []):
        assert not list(problems(detail, "ErrorDetails", "ErrorDetails"))
    refused = requests.post(
        f"{paypal['base']}/v1/oauth2/token", data={"grant_type": "client_credentials"}, auth=("x", "y"), timeout=10
    )
    assert refused.status_code == 401
    assert set(refused.json()) <= {"error", "error_description", "error_uri"}


def test_checker_fails_on_an_undeclared_field() -> None:
    subscription = dict(
        emulator.subscription_object(
            "I-X",
            plan_id="P-X",
            payer_id="P1",
            given_name="A",
            surname="B",
            email="a@example.com",
            price="1.00",
            currency="USD",
            created=__import__("datetime").datetime(2025, 1, 1),
        )
    )
    check(subscription, "Subscription")  # as the emulator sends it
    with pytest.raises(AssertionError, match="customer_id: not a field of Subscription"):
        check({**subscription, "customer_id": "C1"}, "Subscription")
    nested = {**subscription, "subscriber": {**subscription["subscriber"], "phone": "1"}}
    with pytest.raises(AssertionError, match=r"subscriber.phone: not a field of Subscriber"):
        check(nested, "Subscription")
    # The round trip alone catches it too: the SDK drops what it does not declare.
    model = model_classes()["Subscription"]
    again = APIHelper.json_deserialize(APIHelper.json_serialize(model.from_dictionary(without_zeros(nested))))  # type: ignore[attr-defined]
    assert list(round_trip_differences(without_zeros(nested), again, "Subscription")) == [
        "Subscription.subscriber.phone: dropped by the SDK"
    ]


def test_checker_fails_on_a_wrong_type() -> None:
    plan = emulator.plan_object(
        "P-X", name="X", price="1.00", currency="USD", created=__import__("datetime").datetime(2025, 1, 1)
    )
    with pytest.raises(AssertionError, match="quantity_supported: str, declared bool"):
        check({**plan, "quantity_supported": "false"}, "BillingPlan")
    with pytest.raises(AssertionError, match="'WEEKLY' is not a IntervalUnit"):
        cycle = {**plan["billing_cycles"][0], "frequency": {"interval_unit": "WEEKLY", "interval_count": 1}}
        check({**plan, "billing_cycles": [cycle]}, "BillingPlan")
    with pytest.raises(AssertionError, match="value: int, declared str"):
        check({"currency_code": "USD", "value": 10}, "Money")
