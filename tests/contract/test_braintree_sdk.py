"""The Braintree emulator against Braintree's own Python SDK (`braintree`, pinned in requirements-dev.txt).

Weaker than the other contract tests, because the SDK declares less: its resources take whatever
attributes the XML has. So:

1. The SDK itself talks to the emulator (its HTTP layer, with the URL prefixed by `/braintree`): it lists
   plans, runs the two-step customers and transactions searches (`advanced_search_ids`, then
   `advanced_search` 50 ids at a time) through its own `ResourceCollection`, finds one customer, and
   raises its own `AuthenticationError`/`NotFoundError` on 401/404. Its resource classes convert what
   they know (`Decimal` prices, nested cards, subscriptions, status events).
2. Every answer it received is read again with the SDK's XML parser (`braintree.util.parser.Parser`:
   `type="array"`, `integer`, `boolean`, `datetime`, `date`, `nil`) and every key, nested too, is
   checked against Braintree's documented response objects, written down below (`DOCUMENTED`, from
   the developer reference: Customer, Address, CreditCard, Plan, Subscription, Transaction, ...), with a
   value of the documented type; enumerations (statuses, transaction types) are the SDK's constants.
   The table is ours, read from the documentation, not declared by the SDK: that is the weakness.
3. The connector's own XML decoder reads the emulator's answers and the SDK's shipped sample XML
   (its webhook testing samples) into the same values as the SDK's parser.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import braintree
import pytest
from braintree.util.http import Http
from braintree.util.parser import Parser

from devstack.emulators import braintree as emulator
from devstack.emulators.base import serve_in_thread
from sourcesync.connectors.kit.id_search import typed_xml_decoder

TENANT = "contract-braintree"

S, DEC, INT, BOOL, TIME, DATE = "str", "decimal", "int", "bool", "datetime", "date"
ADDRESS = {
    "id": S, "customer_id": S, "first_name": S, "last_name": S, "company": S, "street_address": S,
    "extended_address": S, "locality": S, "region": S, "postal_code": S, "country_code_alpha2": S,
    "country_code_alpha3": S, "country_code_numeric": S, "country_name": S, "created_at": TIME, "updated_at": TIME,
}  # fmt: skip
STATUS_EVENT = {
    "status": "subscription_status", "timestamp": TIME, "price": DEC, "balance": DEC, "subscription_source": S,
    "user": S, "currency_iso_code": S, "plan_id": S,
}  # fmt: skip
MODIFICATION = {
    "id": S, "name": S, "description": S, "amount": DEC, "kind": S, "merchant_id": S, "never_expires": BOOL,
    "number_of_billing_cycles": INT, "quantity": INT, "current_billing_cycle": INT, "created_at": TIME,
    "updated_at": TIME,
}  # fmt: skip
TRANSACTION_STATUS_EVENT = {"amount": DEC, "status": "transaction_status", "timestamp": TIME,
                            "transaction_source": S, "user": S}  # fmt: skip
TRANSACTION_CUSTOMER = {"id": S, "first_name": S, "last_name": S, "company": S, "email": S, "phone": S,
                        "fax": S, "website": S}  # fmt: skip
SUBSCRIPTION_DETAILS = {"billing_period_start_date": DATE, "billing_period_end_date": DATE}
TRANSACTION = {
    "id": S, "type": "transaction_type", "status": "transaction_status", "amount": DEC, "currency_iso_code": S,
    "merchant_account_id": S, "order_id": S, "recurring": BOOL, "created_at": TIME, "updated_at": TIME,
    "subscription_id": S, "plan_id": S, "refunded_transaction_id": S, "refund_ids": ["list", S],
    "discount_amount": DEC, "tax_amount": DEC, "processor_response_code": S, "processor_response_text": S,
    "customer": TRANSACTION_CUSTOMER, "subscription_details": SUBSCRIPTION_DETAILS,
    "status_history": ["list", TRANSACTION_STATUS_EVENT], "add_ons": ["list", MODIFICATION],
    "discounts": ["list", MODIFICATION],
}  # fmt: skip
SUBSCRIPTION = {
    "id": S, "plan_id": S, "payment_method_token": S, "merchant_account_id": S, "price": DEC, "balance": DEC,
    "status": "subscription_status", "billing_day_of_month": INT, "billing_period_start_date": DATE,
    "billing_period_end_date": DATE, "first_billing_date": DATE, "next_billing_date": DATE,
    "paid_through_date": DATE, "current_billing_cycle": INT, "number_of_billing_cycles": INT,
    "never_expires": BOOL, "failure_count": INT, "days_past_due": INT, "trial_period": BOOL,
    "trial_duration": INT, "trial_duration_unit": S, "next_billing_period_amount": DEC, "description": S,
    "created_at": TIME, "updated_at": TIME, "add_ons": ["list", MODIFICATION], "discounts": ["list", MODIFICATION],
    "status_history": ["list", STATUS_EVENT], "transactions": ["list", TRANSACTION],
}  # fmt: skip
CREDIT_CARD = {
    "token": S, "customer_id": S, "bin": S, "last_4": S, "card_type": S, "cardholder_name": S,
    "expiration_month": S, "expiration_year": S, "default": BOOL, "expired": BOOL,
    "unique_number_identifier": S, "image_url": S, "created_at": TIME, "updated_at": TIME,
    "subscriptions": ["list", SUBSCRIPTION], "billing_address": ADDRESS,
}  # fmt: skip
CUSTOMER = {
    "id": S, "merchant_id": S, "first_name": S, "last_name": S, "company": S, "email": S, "phone": S, "fax": S,
    "website": S, "created_at": TIME, "updated_at": TIME, "graphql_id": S, "addresses": ["list", ADDRESS],
    "credit_cards": ["list", CREDIT_CARD],
}  # fmt: skip
PLAN = {
    "id": S, "merchant_id": S, "name": S, "description": S, "price": DEC, "currency_iso_code": S,
    "billing_frequency": INT, "billing_day_of_month": INT, "number_of_billing_cycles": INT, "trial_period": BOOL,
    "trial_duration": INT, "trial_duration_unit": S, "created_at": TIME, "updated_at": TIME,
    "add_ons": ["list", MODIFICATION], "discounts": ["list", MODIFICATION],
}  # fmt: skip
SEARCH_RESULTS = {"page_size": INT, "ids": ["list", S]}
#: Braintree's documented answers, by root element.
DOCUMENTED: dict[str, Any] = {
    "plans": ["list", PLAN],
    "customer": CUSTOMER,
    "customers": {"customer": ["one_or_list", CUSTOMER]},
    "credit_card_transactions": {"transaction": ["one_or_list", TRANSACTION]},
    "search_results": SEARCH_RESULTS,
}


def _constants(holder: type) -> set[str]:
    return {v for k, v in vars(holder).items() if not k.startswith("_") and isinstance(v, str)}


ENUMS = {
    "subscription_status": _constants(braintree.Subscription.Status),
    "transaction_status": _constants(braintree.Transaction.Status),
    "transaction_type": _constants(braintree.Transaction.Type),
}
SCALARS = {
    S: lambda v: isinstance(v, str),
    INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
    BOOL: lambda v: isinstance(v, bool),
    TIME: lambda v: isinstance(v, dt.datetime),
    DATE: lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime),
}


def _decimal(value: Any) -> bool:
    try:
        return isinstance(value, str) and Decimal(value).is_finite()
    except InvalidOperation:
        return False


def problems(value: Any, shape: Any, where: str) -> Iterator[str]:
    """What in `value` (as the SDK's parser reads it) Braintree's documentation does not describe."""
    if value is None and where.rsplit(".", 1)[-1] != "id":
        return  # Braintree sends nil="true" for what is not set
    if isinstance(shape, list):
        items = value if isinstance(value, list) else [value] if shape[0] == "one_or_list" else None
        if items is None:
            yield f"{where}: {type(value).__name__}, documented a list"
            return
        for index, item in enumerate(items):
            yield from problems(item, shape[1], f"{where}[{index}]")
    elif isinstance(shape, dict):
        if not isinstance(value, dict):
            yield f"{where}: {type(value).__name__}, documented an object"
            return
        for key, item in value.items():
            if key not in shape:
                yield f"{where}.{key}: not a documented field"
            else:
                yield from problems(item, shape[key], f"{where}.{key}")
    else:
        yield from scalar_problems(value, shape, where)


def scalar_problems(value: Any, shape: str, where: str) -> Iterator[str]:
    if shape == DEC:
        if not _decimal(value):
            yield f"{where}: {value!r} is not a decimal amount"
    elif shape in ENUMS:
        if value not in ENUMS[shape]:
            yield f"{where}: {value!r} is not one of the SDK's {shape} constants"
    elif not SCALARS[shape](value):
        yield f"{where}: {type(value).__name__}, documented {shape}"


def check(xml: str | bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = Parser(xml).parse()
    ((root, value),) = parsed.items()
    assert root in DOCUMENTED, f"an undocumented answer <{root}>"
    found = list(problems(value, DOCUMENTED[root], root))
    assert not found, "\n".join(found)
    return parsed


class EmulatorHttp(Http):
    """The SDK's own HTTP layer, with the emulator's `/braintree` prefix; keeps every answer."""

    answers: ClassVar[list[tuple[str, int, str]]] = []

    def http_do(self, http_verb: str, path: str, headers: Any, request_body: Any) -> Any:
        parts = urlsplit(path)
        url = urlunsplit(parts._replace(path="/braintree" + parts.path))
        status, text = super().http_do(http_verb, url, headers, request_body)
        EmulatorHttp.answers.append((parts.path, status, text))
        return [status, text]


def gateway(url: str, credentials: dict[str, str]) -> braintree.BraintreeGateway:
    port = str(urlsplit(url).port)
    environment = braintree.Environment("emulator", "127.0.0.1", port, "", False, None)
    return braintree.BraintreeGateway(
        braintree.Configuration(
            environment,
            merchant_id=credentials["merchant_id"],
            public_key=credentials["public_key"],
            private_key=credentials["private_key"],
            http_strategy=EmulatorHttp,
        )
    )


@pytest.fixture(scope="module")
def seeded() -> Iterator[dict[str, Any]]:
    with serve_in_thread() as url:
        result = emulator.seed_demo(f"{url}/braintree", customers=64, tenant=TENANT)
        EmulatorHttp.answers.clear()
        yield {"url": url, "credentials": result["credentials"], "gateway": gateway(url, result["credentials"])}


def test_the_sdk_lists_plans(seeded: dict[str, Any]) -> None:
    plans = seeded["gateway"].plan.all()
    assert [p.id for p in plans] == [p[0] for p in emulator.PLANS]
    assert plans[0].price == "10.00" and plans[2].billing_frequency == 12


def test_the_sdk_searches_customers_in_two_steps(seeded: dict[str, Any]) -> None:
    collection = seeded["gateway"].customer.all()
    customers = list(collection.items)
    assert collection.maximum_size == 64 and len(customers) == 64
    assert len({c.id for c in customers}) == 64
    subscription = customers[0].credit_cards[0].subscriptions[0]
    assert isinstance(subscription.price, Decimal) and subscription.status in ENUMS["subscription_status"]
    assert subscription.status_history[0].currency_iso_code == "USD"
    fetches = [path for path, _, _ in EmulatorHttp.answers if path.endswith("/customers/advanced_search")]
    assert len(fetches) >= 2, "64 customers take two pages of at most 50 ids"


def test_the_sdk_searches_transactions_by_creation_and_customer(seeded: dict[str, Any]) -> None:
    search = braintree.TransactionSearch
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=3650)
    every = list(seeded["gateway"].transaction.search(search.created_at >= since).items)
    assert every and {t.type for t in every} == {"sale", "credit"}
    mine = list(seeded["gateway"].transaction.search(search.customer_id == "cust00009").items)
    assert mine and {t.customer_details.id for t in mine} == {"cust00009"}
    refund = next(t for t in mine if t.type == "credit")
    assert refund.refunded_transaction_id in {t.id for t in mine}


def test_the_sdk_finds_one_customer_and_raises_its_own_errors(seeded: dict[str, Any]) -> None:
    customer = seeded["gateway"].customer.find("cust00003")
    assert customer.email == "demo3@example.com" and customer.addresses[0].country_code_alpha2
    with pytest.raises(braintree.exceptions.NotFoundError):
        seeded["gateway"].customer.find("nobody")
    wrong = gateway(seeded["url"], {**seeded["credentials"], "private_key": "wrong"})
    with pytest.raises(braintree.exceptions.AuthenticationError):
        wrong.plan.all()


def test_every_answer_is_documented(seeded: dict[str, Any]) -> None:
    """Runs after the SDK tests above (same module): every 200 they received."""
    answers = [(path, text) for path, status, text in EmulatorHttp.answers if status == 200 and text.strip()]
    roots = {next(iter(check(text))) for _, text in answers}
    assert roots == {"plans", "customers", "customer", "credit_card_transactions", "search_results"}


def test_the_connectors_decoder_reads_what_the_sdk_parser_reads(seeded: dict[str, Any]) -> None:
    decode = typed_xml_decoder()
    samples = [text for _, status, text in EmulatorHttp.answers if status == 200 and text.strip()]
    hooks = braintree.WebhookTestingGateway(seeded["gateway"])
    for kind in (
        braintree.WebhookNotification.Kind.SubscriptionChargedSuccessfully,
        braintree.WebhookNotification.Kind.SubscriptionWentPastDue,
    ):
        payload = hooks.sample_notification(kind, "sub1")["bt_payload"]
        samples.append(base64.b64decode(payload).decode("utf-8"))

    def plain(value: Any) -> Any:  # the SDK's typed values as the decoder's text
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(value, dt.date):
            return value.isoformat()
        return value

    for text in samples:
        ours = decode(text.encode("utf-8"))
        sdk = Parser(text).parse()
        assert plain(sdk) == ours, text[:200]


def test_checker_fails_on_an_undocumented_field() -> None:
    plan = emulator.plan_object("p1", name="P", price="1.00", months=1, currency="USD", created=dt.datetime(2025, 1, 1))
    xml = emulator.xml_document("plans", emulator.xml_node("plan", {**plan, "seats": 3}), ' type="array"')
    with pytest.raises(AssertionError, match=r"plans\[0\]\.seats: not a documented field"):
        check(xml)
    card = emulator.credit_card_object("c1", "t1", dt.datetime(2025, 1, 1))
    customer = emulator.customer_object(
        "c1", first_name="A", last_name="B", email="a@example.com", created=dt.datetime(2025, 1, 1)
    )
    nested = {**customer, "credit_cards": [{**card, "nickname": "x"}]}
    with pytest.raises(AssertionError, match=r"credit_cards\[0\]\.nickname: not a documented field"):
        check(emulator.xml_document("customer", "".join(emulator.xml_node(k, v) for k, v in nested.items())))


def test_checker_fails_on_a_wrong_type() -> None:
    plan = emulator.plan_object("p1", name="P", price="1.00", months=1, currency="USD", created=dt.datetime(2025, 1, 1))
    for changed, message in (
        ({"billing_frequency": "1"}, "billing_frequency: str, documented int"),
        ({"price": "ten"}, "price: 'ten' is not a decimal amount"),
        ({"trial_period": 0}, "trial_period: int, documented bool"),
    ):
        xml = emulator.xml_document("plans", emulator.xml_node("plan", {**plan, **changed}), ' type="array"')
        with pytest.raises(AssertionError, match=message):
            check(xml)
    subscription = emulator.subscription_object(
        "s1", plan_id="p1", token="t1", price="1.00", currency="USD", created=dt.datetime(2025, 1, 1), status="Paused"
    )
    xml = emulator.xml_document(
        "customer", emulator.xml_node("credit_cards", [{"token": "t1", "subscriptions": [subscription]}])
    )
    with pytest.raises(AssertionError, match="'Paused' is not one of the SDK's subscription_status constants"):
        check(xml)
