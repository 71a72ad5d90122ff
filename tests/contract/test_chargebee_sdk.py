"""The Chargebee emulators (`chargebee`, `chargebee_v1`) against Chargebee's own Python SDK (PyPI `chargebee`,
pinned in requirements-dev.txt).

The SDK declares each answer as dataclasses (`chargebee.models.<resource>.responses`: `ListResponse`,
`RetrieveResponse`, the `...Response` models of every object and nested object, with typed fields). Its
parser accepts anything, so the check here is ours and strict: every key of every object the emulator
sends, nested too, is a field the SDK's class declares for that object, its value of exactly the
declared type (`int` is not `bool`, `float` is not `int`, no `null`: Chargebee leaves out what has no
value), and the fields the SDK declares without a default (a subscription entry's `customer`) are
there. Then the SDK's own parser reads the answer, and error answers go through the SDK's own error
handling. The package ships no recorded answers to replay.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
import requests
from chargebee import http_request as sdk_http
from chargebee.api_error import APIError
from chargebee.models.addon import responses as addon_sdk
from chargebee.models.customer import responses as customer_sdk
from chargebee.models.invoice import responses as invoice_sdk
from chargebee.models.item_price import responses as item_price_sdk
from chargebee.models.plan import responses as plan_sdk
from chargebee.models.subscription import responses as subscription_sdk
from chargebee.models.transaction import responses as transaction_sdk
from chargebee.response import Response as SdkResponse
from chargebee.responses import Response as SdkParser

from devstack.emulators import chargebee as cb_emulator
from devstack.emulators import chargebee_v1 as cb1_emulator
from devstack.emulators.base import EmulatorAdmin, serve_in_thread

#: SDK attributes that are not keys of an answer: the parsed raw answer, a response header's flag.
NOT_ANSWER_FIELDS = frozenset({"raw_data", "is_idempotency_replayed"})
#: What every `chargebee.response.Response` (a whole answer) carries from the HTTP exchange.
EXCHANGE_FIELDS = frozenset(field.name for field in dataclasses.fields(SdkResponse))
PRIMITIVES = (str, int, float, bool)


def sdk_problems(value: Any, declared: Any, where: str) -> list[str]:
    """Every way `value` differs from what the SDK declares as `declared` (empty: it conforms)."""
    if value is None:
        return [f"{where}: null (Chargebee leaves out what has no value)"]
    origin = get_origin(declared)
    if origin in (Union, types.UnionType):
        options = [arg for arg in get_args(declared) if arg is not type(None)]
        if any(not sdk_problems(value, option, where) for option in options):
            return []
        return [f"{where}: {type(value).__name__} is none of {declared}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, declared a list"]
        (item_type,) = get_args(declared) or (Any,)
        return [problem for n, item in enumerate(value) for problem in sdk_problems(item, item_type, f"{where}[{n}]")]
    if origin is dict:
        return [] if isinstance(value, dict) else [f"{where}: {type(value).__name__}, declared an object"]
    if declared is Any:
        return []
    if declared in PRIMITIVES:
        # Exactly the declared type: JSON `true` is no int, `1` no float, `1.0` no int.
        return [] if type(value) is declared else [f"{where}: {type(value).__name__}, declared {declared.__name__}"]
    if isinstance(declared, type) and dataclasses.is_dataclass(declared):
        return object_problems(value, declared, where)
    return [f"{where}: the SDK declares {declared!r}, which this checker does not know"]


def object_problems(value: Any, declared: type, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: {type(value).__name__}, declared {declared.__name__}"]
    hints = get_type_hints(declared)
    skipped = NOT_ANSWER_FIELDS | (EXCHANGE_FIELDS if issubclass(declared, SdkResponse) else frozenset())
    fields = {field.name: field for field in dataclasses.fields(declared) if field.name not in skipped}
    problems = [
        f"{where}.{name}: missing, which {declared.__name__} requires"
        for name, field in fields.items()
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING and name not in value
    ]
    for key, item in value.items():
        if key not in fields:
            problems.append(f"{where}.{key}: not a field of {declared.__name__}")
        else:
            problems.extend(sdk_problems(item, hints[key], f"{where}.{key}"))
    return problems


# ------------------------------------------------------------------------------------------ the emulators
@pytest.fixture(scope="module")
def emulators() -> Iterator[str]:
    with serve_in_thread() as url:
        yield url


TENANT = "contract_tenant"


@pytest.fixture(scope="module")
def seeded(emulators: str) -> dict[str, dict[str, Any]]:
    return {
        system: module.seed_demo(f"{emulators}/{system}", customers=30, tenant=TENANT)
        for system, module in (("chargebee", cb_emulator), ("chargebee_v1", cb1_emulator))
    }


def _get(seeded: dict[str, dict[str, Any]], system: str, path: str, **params: Any) -> requests.Response:
    source = seeded[system]
    return requests.get(
        f"{source['options']['api_base']}{path}",
        params=params,
        auth=(source["credentials"]["api_key"], ""),
        timeout=10,
    )


def _pages(seeded: dict[str, dict[str, Any]], system: str, path: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every page of a list, small pages so that `next_offset` is in the answers."""
    query: dict[str, Any] = {"limit": 7, **params}
    while True:
        answer = _get(seeded, system, path, **query)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        yield body
        if "next_offset" not in body:
            return
        query = {**query, "offset": body["next_offset"]}


# Every endpoint the connectors read, and the SDK class of its answer.
LISTS = [
    ("chargebee", "/customers", {}, customer_sdk.ListResponse),
    ("chargebee", "/item_prices", {}, item_price_sdk.ListResponse),
    ("chargebee", "/subscriptions", {}, subscription_sdk.ListResponse),
    ("chargebee", "/subscriptions", {"customer_id[is]": "cust_00003"}, subscription_sdk.ListResponse),
    ("chargebee", "/invoices", {}, invoice_sdk.ListResponse),
    ("chargebee", "/invoices", {"customer_id[is]": "cust_00003"}, invoice_sdk.ListResponse),
    ("chargebee", "/transactions", {}, transaction_sdk.ListResponse),
    ("chargebee", "/transactions", {"customer_id[is]": "cust_00003"}, transaction_sdk.ListResponse),
    ("chargebee_v1", "/customers", {}, customer_sdk.ListResponse),
    ("chargebee_v1", "/plans", {}, plan_sdk.ListResponse),
    ("chargebee_v1", "/addons", {}, addon_sdk.ListResponse),
    ("chargebee_v1", "/subscriptions", {}, subscription_sdk.ListResponse),
    ("chargebee_v1", "/subscriptions", {"customer_id[is]": "cust_00003"}, subscription_sdk.ListResponse),
    ("chargebee_v1", "/invoices", {}, invoice_sdk.ListResponse),
    ("chargebee_v1", "/invoices", {"customer_id[is]": "cust_00003"}, invoice_sdk.ListResponse),
    ("chargebee_v1", "/transactions", {}, transaction_sdk.ListResponse),
    ("chargebee_v1", "/transactions", {"customer_id[is]": "cust_00003"}, transaction_sdk.ListResponse),
]


@pytest.mark.parametrize(("system", "path", "params", "declared"), LISTS, ids=lambda v: str(v) if v else "all")
def test_every_list_answer_is_what_the_sdk_declares(
    seeded: dict[str, dict[str, Any]], system: str, path: str, params: dict[str, str], declared: type
) -> None:
    entries = 0
    for body in _pages(seeded, system, path, **params):
        assert object_problems(body, declared, path) == []
        parsed = SdkParser(declared, body, {}, 200).parse()  # the SDK's own parser reads it too
        assert len(parsed.list) == len(body["list"])
        entries += len(body["list"])
    assert entries > 0


@pytest.mark.parametrize("system", ["chargebee", "chargebee_v1"])
def test_the_customer_detail_answer_is_what_the_sdk_declares(seeded: dict[str, dict[str, Any]], system: str) -> None:
    answer = _get(seeded, system, "/customers/cust_00004")
    assert answer.status_code == 200
    assert object_problems(answer.json(), customer_sdk.RetrieveResponse, "customer") == []
    parsed = SdkParser(customer_sdk.RetrieveResponse, answer.json(), {}, 200).parse()
    assert parsed.customer.id == "cust_00004"


def test_the_seed_covers_what_the_connector_maps(seeded: dict[str, dict[str, Any]]) -> None:
    """The answers checked above carry the fields and variants the mapping reads (not just ids)."""
    subs = [e["subscription"] for body in _pages(seeded, "chargebee", "/subscriptions") for e in body["list"]]
    assert {s["status"] for s in subs} >= {"active", "in_trial", "cancelled", "non_renewing", "paused", "future"}
    assert any(len(s["subscription_items"]) == 2 for s in subs)
    txns = [e["transaction"] for body in _pages(seeded, "chargebee", "/transactions") for e in body["list"]]
    assert {(t["type"], t["status"]) for t in txns} == {
        ("payment", "success"),
        ("payment", "failure"),
        ("refund", "success"),
    }
    assert all(t["linked_credit_notes"][0]["cn_reference_invoice_id"] for t in txns if t["type"] == "refund")
    v1_subs = [e["subscription"] for body in _pages(seeded, "chargebee_v1", "/subscriptions") for e in body["list"]]
    assert any(s.get("addons") for s in v1_subs) and all(s["plan_id"] for s in v1_subs)


@pytest.mark.parametrize(("status", "retry_after"), [(401, None), (404, None), (429, 2), (500, None), (503, None)])
@pytest.mark.parametrize("system", ["chargebee", "chargebee_v1"])
def test_error_answers_are_chargebee_errors_to_the_sdk(
    emulators: str, seeded: dict[str, dict[str, Any]], system: str, status: int, retry_after: int | None
) -> None:
    if status == 401:
        answer = requests.get(
            f"{seeded[system]['options']['api_base']}/customers", auth=("no_such_key", ""), timeout=10
        )
    elif status == 404:
        answer = _get(seeded, system, "/customers/cust_nobody")
    else:
        EmulatorAdmin(f"{emulators}/{system}").fault(status, retry_after=retry_after, tenant=TENANT)
        answer = _get(seeded, system, "/customers")
    assert answer.status_code == status
    with pytest.raises(APIError) as raised:  # not the SDK's "probably not a chargebee error"
        sdk_http.handle_api_resp_error("url", status, answer.json(), dict(answer.headers))
    assert raised.value.api_error_code and raised.value.http_status_code == status
    assert object_problems(answer.json(), _ErrorBody, "error") == []
    if retry_after is not None:
        assert sdk_http.parse_retry_after(_HeaderError(dict(answer.headers))) == retry_after * 1000


@dataclasses.dataclass
class _ErrorBody:
    """The keys the SDK's `APIError` reads from an error answer (it declares no class for the body)."""

    message: str
    api_error_code: str
    http_status_code: int
    error_code: str | None = None
    error_msg: str | None = None
    type: str | None = None
    param: str | None = None


class _HeaderError(Exception):
    """What the SDK's `parse_retry_after` reads: an error with the answer's headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("throttled")
        self.response_headers = headers


def test_the_wrong_catalog_is_refused_as_chargebee_does(seeded: dict[str, dict[str, Any]]) -> None:
    for system, path in (("chargebee", "/plans"), ("chargebee_v1", "/item_prices")):
        answer = _get(seeded, system, path, limit=1)
        assert answer.status_code == 400
        assert answer.json()["api_error_code"] == "configuration_incompatible"


# ------------------------------------------------------------------------------------------ the checker fails
def test_the_check_fails_when_the_emulator_sends_an_undeclared_field(
    emulators: str, seeded: dict[str, dict[str, Any]]
) -> None:
    admin = EmulatorAdmin(f"{emulators}/chargebee")
    original = next(c for c in admin.list(TENANT, "customers") if c["id"] == "cust_00001")
    admin.patch(TENANT, "customers", "cust_00001", {"favourite_colour": "teal"})
    try:
        body = _get(seeded, "chargebee", "/customers/cust_00001").json()
        assert object_problems(body, customer_sdk.RetrieveResponse, "c") == [
            "c.customer.favourite_colour: not a field of CustomerResponse"
        ]
    finally:
        admin.put(TENANT, "customers", "cust_00001", original)
    assert (
        object_problems(_get(seeded, "chargebee", "/customers/cust_00001").json(), customer_sdk.RetrieveResponse, "c")
        == []
    )


def test_the_check_fails_on_an_undeclared_nested_field(emulators: str, seeded: dict[str, dict[str, Any]]) -> None:
    admin = EmulatorAdmin(f"{emulators}/chargebee")
    original = admin.list(TENANT, "invoices")[0]
    line = {**original["line_items"][0], "colour": "teal"}
    admin.patch(TENANT, "invoices", original["id"], {"line_items": [line]})
    try:
        body = next(_pages(seeded, "chargebee", "/invoices"))
        assert object_problems(body, invoice_sdk.ListResponse, "l") == [
            "l.list[0].invoice.line_items[0].colour: not a field of LineItemResponse"
        ]
    finally:
        admin.put(TENANT, "invoices", original["id"], original)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"created_at": "2026-01-02"}, "c.customer.created_at: str, declared int"),
        ({"net_term_days": True}, "c.customer.net_term_days: bool, declared int"),
        ({"allow_direct_debit": 0}, "c.customer.allow_direct_debit: int, declared bool"),
        ({"email": None}, "c.customer.email: null (Chargebee leaves out what has no value)"),
        ({"billing_address": {"country": 840}}, "c.customer.billing_address.country: int, declared str"),
        ({"balances": {"currency_code": "USD"}}, "c.customer.balances: dict, declared a list"),
    ],
)
def test_the_check_fails_on_a_wrong_type(changes: dict[str, Any], expected: str) -> None:
    customer = cb_emulator.customer(
        "cust_x", first_name="A", last_name="B", email="a@example.com", created_at=cb_emulator.EPOCH
    )
    assert object_problems({"customer": customer}, customer_sdk.RetrieveResponse, "c") == []
    assert object_problems({"customer": {**customer, **changes}}, customer_sdk.RetrieveResponse, "c") == [expected]


def test_the_check_fails_when_a_required_entry_is_missing() -> None:
    sub = cb_emulator.subscription(
        "sub_x", customer_id="cust_x", status="active", created_at=cb_emulator.EPOCH, items=[("p", "plan", 1, 100)]
    )
    assert object_problems({"list": [{"subscription": sub}]}, subscription_sdk.ListResponse, "l") == [
        "l.list[0].customer: missing, which ListSubscriptionResponse requires"
    ]


def test_float_fields_take_no_integers() -> None:
    txn = cb_emulator.transaction("txn_x", customer_id="cust_x", date=cb_emulator.EPOCH, amount=100)
    assert object_problems({"transaction": txn}, transaction_sdk.RetrieveResponse, "t") == []
    assert object_problems({"transaction": {**txn, "exchange_rate": 1}}, transaction_sdk.RetrieveResponse, "t") == [
        "t.transaction.exchange_rate: int, declared float"
    ]
