"""Braintree's XML API, the parts SourceSync reads: plans, the customers and transactions searches (two
steps: `advanced_search_ids`, then `advanced_search` with at most 50 ids), one customer.

Served under `/braintree/merchants/{merchant_id}/...` with HTTP Basic (public key : private key), as
Braintree's gateway does (`X-ApiVersion: 6`). The tenant is the public key; its private key and merchant
id are stored in its `_keys` collection (`register_keys`), and anything else answers 401 with an empty
body, as Braintree does.

Objects are stored as the Braintree SDK's parser reads them (`first_name`, `created_at` as
`2024-01-31T12:00:00Z`, `price` as the decimal string `"10.00"`) in the collections `customers`,
`credit_cards` (with `customer_id` and `token`), `plans`, `subscriptions` (with `payment_method_token`)
and `transactions`. A customer is answered with its credit cards, and each card with its
subscriptions, as Braintree embeds them. The XML carries Braintree's type attributes (`type="array"`,
`"integer"`, `"boolean"`, `"datetime"`, `"date"`, `nil="true"`).
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeElementTree
import requests

from devstack.emulators.base import EmulatorAdmin, ProviderEmulator, Request, Response, TenantData

PAGE_SIZE = 50
XML = {"Content-Type": "application/xml; charset=utf-8"}

#: Array element names: the tag of each item of a list field.
ITEM_TAGS = {
    "addresses": "address",
    "credit_cards": "credit-card",
    "paypal_accounts": "paypal-account",
    "subscriptions": "subscription",
    "transactions": "transaction",
    "status_history": "status-event",
    "add_ons": "add-on",
    "discounts": "discount",
    "refund_ids": "item",
    "ids": "item",
}
DATE_FIELDS = {
    "billing_period_start_date",
    "billing_period_end_date",
    "first_billing_date",
    "next_billing_date",
    "paid_through_date",
}


# ------------------------------------------------------------------------------------------ typed XML


def _is_datetime(name: str) -> bool:
    return name.endswith("_at") or name == "timestamp"


def xml_node(name: str, value: Any) -> str:
    tag = name.replace("_", "-")
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(xml_node(k, v) for k, v in value.items()) + f"</{tag}>"
    if isinstance(value, list):
        item = ITEM_TAGS.get(name, "item")
        return f'<{tag} type="array">' + "".join(xml_node(item.replace("-", "_"), v) for v in value) + f"</{tag}>"
    if value is None:
        return f'<{tag} nil="true"/>'
    if isinstance(value, bool):
        return f'<{tag} type="boolean">{str(value).lower()}</{tag}>'
    if isinstance(value, int):
        return f'<{tag} type="integer">{value}</{tag}>'
    if name in DATE_FIELDS:
        return f'<{tag} type="date">{escape(str(value))}</{tag}>'
    if _is_datetime(name):
        return f'<{tag} type="datetime">{escape(str(value))}</{tag}>'
    return f"<{tag}>{escape(str(value))}</{tag}>"


def xml_document(root: str, inner: str, attrs: str = "") -> bytes:
    tag = root.replace("_", "-")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag}{attrs}>{inner}</{tag}>\n'.encode()


def collection(root: str, item: str, objects: list[dict[str, Any]]) -> bytes:
    return xml_document(root, "".join(xml_node(item, obj) for obj in objects), ' type="collection"')


# ------------------------------------------------------------------------------------------ searches


def _text(element: Any, path: str) -> str | None:
    found = element.find(path)
    return None if found is None or found.text is None else found.text.strip()


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _matches(search: Any, obj: dict[str, Any], fields: Mapping[str, str]) -> bool:
    """Braintree's search criteria, the ones SourceSync sends: ids, a text `is`, a multiple-value list,
    a `created-at` range."""
    for criterion in list(search):
        name = criterion.tag.replace("-", "_")
        if name == "ids":
            continue
        key = fields.get(name)
        if key is None:
            raise ValueError(f"unsupported search field {criterion.tag}")
        value = _field(obj, key)
        if criterion.get("type") == "array":
            if str(value) not in {(item.text or "").strip() for item in criterion}:
                return False
        elif criterion.find("is") is not None:
            if str(value) != _text(criterion, "is"):
                return False
        else:
            low, high = _text(criterion, "min"), _text(criterion, "max")
            moment = _moment(str(value))
            if low is not None and moment < _moment(low):
                return False
            if high is not None and moment > _moment(high):
                return False
    return True


def _field(obj: dict[str, Any], dotted: str) -> Any:
    value: Any = obj
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


SEARCH_FIELDS = {
    "customers": {"id": "id", "created_at": "created_at"},
    "transactions": {"customer_id": "customer.id", "created_at": "created_at", "type": "type"},
}


class BraintreeEmulator(ProviderEmulator):
    system = "braintree"

    def _credentials(self, request: Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return None
        try:
            public, _, private = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except ValueError:
            return None
        return public, private

    def tenant(self, request: Request) -> str | None:
        pair = self._credentials(request)
        if pair is None or pair[0] not in self.tenants:
            return None
        keys = self.tenants[pair[0]].collection("_keys").get("credentials")
        parts = request.path.strip("/").split("/")
        if keys is None or keys.get("private_key") != pair[1]:
            return None
        if len(parts) < 2 or parts[0] != "merchants" or parts[1] != keys.get("merchant_id"):
            return None  # Braintree refuses keys used with another merchant's id the same way
        return pair[0]

    def unauthorized(self, request: Request) -> Response:
        return Response(401, b"", {"Content-Type": "application/xml"})

    def error(self, request: Request, status: int, retry_after: float | None) -> Response:
        headers = dict(XML)
        if retry_after is not None:
            headers["Retry-After"] = str(int(retry_after) if float(retry_after).is_integer() else retry_after)
        # Braintree's gateway answers errors other than validation (422) without a body of its own.
        return Response(status, b"", headers)

    def handle(self, request: Request, data: TenantData) -> Response:
        parts = request.path.strip("/").split("/")[2:]  # after merchants/{id}
        if request.method == "GET" and parts in (["plans"], ["plans", ""]):
            plans = list(data.collection("plans").values())
            return Response(
                200, xml_document("plans", "".join(xml_node("plan", p) for p in plans), ' type="array"'), XML
            )
        if request.method == "GET" and len(parts) == 2 and parts[0] == "customers":
            customer = data.collection("customers").get(parts[1])
            if customer is None:
                return Response(404, b"", XML)
            return Response(
                200,
                xml_document("customer", "".join(xml_node(k, v) for k, v in self._customer(customer, data).items())),
                XML,
            )
        if request.method == "POST" and len(parts) == 2 and parts[0] in SEARCH_FIELDS:
            return self._search(request, data, parts[0], parts[1])
        return Response(404, b"", XML)

    def _customer(self, customer: dict[str, Any], data: TenantData) -> dict[str, Any]:
        cards = [card for card in data.collection("credit_cards").values() if card.get("customer_id") == customer["id"]]
        subscriptions = list(data.collection("subscriptions").values())
        embedded = [
            {**card, "subscriptions": [s for s in subscriptions if s.get("payment_method_token") == card["token"]]}
            for card in cards
        ]
        return {**customer, "credit_cards": embedded}

    def _search(self, request: Request, data: TenantData, kind: str, step: str) -> Response:
        try:
            search = SafeElementTree.fromstring(request.body) if request.body else None
        except SafeElementTree.ParseError:
            return Response(400, b"", XML)
        if search is not None and search.tag != "search":
            return Response(400, b"", XML)
        objects = list(data.collection(kind).values())
        try:
            found = [obj for obj in objects if search is None or _matches(search, obj, SEARCH_FIELDS[kind])]
        except ValueError:
            return Response(400, b"", XML)
        if step == "advanced_search_ids":
            ids = "".join(xml_node("item", str(obj["id"])) for obj in found)
            inner = xml_node("page_size", PAGE_SIZE) + f'<ids type="array">{ids}</ids>'
            return Response(200, xml_document("search_results", inner), XML)
        if step != "advanced_search" or search is None or search.find("ids") is None:
            return Response(404 if step != "advanced_search" else 400, b"", XML)
        ids_element = search.find("ids")
        wanted = [(item.text or "").strip() for item in (ids_element if ids_element is not None else [])]
        if len(wanted) > PAGE_SIZE:
            return Response(400, b"", XML)
        by_id = {str(obj["id"]): obj for obj in found}
        page = [by_id[i] for i in wanted if i in by_id]
        if kind == "customers":
            return Response(200, collection("customers", "customer", [self._customer(c, data) for c in page]), XML)
        return Response(200, collection("credit_card_transactions", "transaction", page), XML)


EMULATOR = BraintreeEmulator


# ------------------------------------------------------------------------------------------ objects


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(moment: datetime | date) -> str:
    return moment.strftime("%Y-%m-%d")


def register_keys(admin: EmulatorAdmin, public_key: str, private_key: str, merchant_id: str) -> None:
    admin.put(public_key, "_keys", "credentials", {"private_key": private_key, "merchant_id": merchant_id})


def customer_object(
    customer_id: str,
    *,
    first_name: str,
    last_name: str,
    email: str,
    created: datetime,
    country: str = "US",
    company: str | None = None,
) -> dict[str, Any]:
    return {
        "id": customer_id,
        "merchant_id": None,
        "first_name": first_name,
        "last_name": last_name,
        "company": company,
        "email": email,
        "phone": None,
        "fax": None,
        "website": None,
        "created_at": stamp(created),
        "updated_at": stamp(created),
        "graphql_id": f"Y3VzdG9tZXJf{customer_id}",
        "addresses": [
            {
                "id": f"a{customer_id}"[:8],
                "customer_id": customer_id,
                "first_name": first_name,
                "last_name": last_name,
                "company": company,
                "street_address": "1 Main Street",
                "extended_address": None,
                "locality": "Springfield",
                "region": None,
                "postal_code": "12345",
                "country_code_alpha2": country,
                "country_name": None,
                "created_at": stamp(created),
                "updated_at": stamp(created),
            }
        ],
    }


def credit_card_object(customer_id: str, token: str, created: datetime) -> dict[str, Any]:
    return {
        "token": token,
        "customer_id": customer_id,
        "bin": "411111",
        "last_4": "1111",
        "card_type": "Visa",
        "cardholder_name": None,
        "expiration_month": "12",
        "expiration_year": "2030",
        "default": True,
        "expired": False,
        "unique_number_identifier": f"u{token}",
        "image_url": "https://assets.braintreegateway.com/payment_method_logo/visa.png",
        "created_at": stamp(created),
        "updated_at": stamp(created),
    }


def plan_object(
    plan_id: str, *, name: str, price: str, months: int, currency: str, created: datetime
) -> dict[str, Any]:
    return {
        "id": plan_id,
        "merchant_id": None,
        "name": name,
        "description": None,
        "price": price,
        "currency_iso_code": currency,
        "billing_frequency": months,
        "billing_day_of_month": None,
        "number_of_billing_cycles": None,
        "trial_period": False,
        "trial_duration": None,
        "trial_duration_unit": None,
        "created_at": stamp(created),
        "updated_at": stamp(created),
        "add_ons": [],
        "discounts": [],
    }


def subscription_object(
    subscription_id: str,
    *,
    plan_id: str,
    token: str,
    price: str,
    currency: str,
    created: datetime,
    status: str = "Active",
    months: int = 1,
) -> dict[str, Any]:
    start = created.date()
    end = start + timedelta(days=30 * months)
    return {
        "id": subscription_id,
        "plan_id": plan_id,
        "payment_method_token": token,
        "merchant_account_id": "demo_merchant_account",
        "price": price,
        "balance": "0.00",
        "status": status,
        "billing_day_of_month": start.day,
        "billing_period_start_date": day(start),
        "billing_period_end_date": day(end),
        "first_billing_date": day(start),
        "next_billing_date": day(end),
        "paid_through_date": day(end),
        "current_billing_cycle": 1,
        "number_of_billing_cycles": None,
        "never_expires": True,
        "failure_count": 0,
        "days_past_due": None,
        "trial_period": False,
        "trial_duration": None,
        "trial_duration_unit": None,
        "next_billing_period_amount": price,
        "created_at": stamp(created),
        "updated_at": stamp(created),
        "add_ons": [],
        "discounts": [],
        "status_history": [
            {
                "status": status,
                "timestamp": stamp(created),
                "price": price,
                "balance": "0.00",
                "subscription_source": "api",
                "user": None,
                "currency_iso_code": currency,
                "plan_id": plan_id,
            }
        ],
        "transactions": [],
    }


def transaction_object(
    transaction_id: str,
    *,
    customer: Mapping[str, Any],
    amount: str,
    currency: str,
    created: datetime,
    kind: str = "sale",
    status: str = "settled",
    subscription_id: str | None = None,
    plan_id: str | None = None,
    refunded_transaction_id: str | None = None,
) -> dict[str, Any]:
    start = created.date()
    return {
        "id": transaction_id,
        "type": kind,
        "status": status,
        "amount": amount,
        "currency_iso_code": currency,
        "merchant_account_id": "demo_merchant_account",
        "order_id": None,
        "recurring": subscription_id is not None,
        "created_at": stamp(created),
        "updated_at": stamp(created),
        "subscription_id": subscription_id,
        "plan_id": plan_id,
        "refunded_transaction_id": refunded_transaction_id,
        "refund_ids": [],
        "discount_amount": None,
        "processor_response_code": "1000" if status != "processor_declined" else "2001",
        "processor_response_text": "Approved" if status != "processor_declined" else "Insufficient Funds",
        "customer": {
            "id": customer["id"],
            "first_name": customer.get("first_name"),
            "last_name": customer.get("last_name"),
            "company": customer.get("company"),
            "email": customer.get("email"),
            "phone": None,
            "fax": None,
            "website": None,
        },
        "subscription_details": {
            "billing_period_start_date": day(start) if subscription_id else None,
            "billing_period_end_date": day(start + timedelta(days=30)) if subscription_id else None,
        },
        "status_history": [
            {
                "amount": amount,
                "status": status,
                "timestamp": stamp(created),
                "transaction_source": "recurring",
                "user": None,
            }
        ],
        "add_ons": [],
        "discounts": [],
    }


# ------------------------------------------------------------------------------------------ seed, plain fetch

MERCHANT_ID = "demomerchant"
PLANS = (
    ("basic-monthly", "Basic", "10.00", 1),
    ("pro-monthly", "Pro", "49.00", 1),
    ("pro-yearly", "Pro yearly", "490.00", 12),
)


def demo_objects(customers: int, now: datetime | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(collection, id, object) of a demo business: plans; per customer a card, a subscription, its
    charges; every fifth cancelled, every seventh with a failed charge, every ninth with a refund."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=58)  # every customer's last charge covers today: its MRR is current
    for plan_id, name, price, months in PLANS:
        yield (
            "plans",
            plan_id,
            plan_object(plan_id, name=name, price=price, months=months, currency="USD", created=start),
        )
    counter = itertools.count(1)
    for n in range(1, customers + 1):
        created = start + timedelta(days=n % 27, minutes=n)
        cid = f"cust{n:05d}"
        customer = customer_object(
            cid,
            first_name="Demo",
            last_name=f"Customer {n}",
            email=f"demo{n}@example.com",
            created=created,
            country=("US", "GB", "DE", "FR")[n % 4],
        )
        yield "customers", cid, customer
        token = f"tok{n:05d}"
        yield "credit_cards", token, credit_card_object(cid, token, created)
        plan_id, _, price, months = PLANS[n % len(PLANS)]
        sid = f"sub{n:05d}"
        status = "Canceled" if n % 5 == 0 else "Active"
        yield (
            "subscriptions",
            sid,
            subscription_object(
                sid,
                plan_id=plan_id,
                token=token,
                price=price,
                currency="USD",
                created=created,
                status=status,
                months=months,
            ),
        )
        charges = 1 if months == 12 else 2
        for k in range(charges):
            tid = f"tx{next(counter):06d}"
            failed = n % 7 == 0 and k == charges - 1
            yield (
                "transactions",
                tid,
                transaction_object(
                    tid,
                    customer=customer,
                    amount=price,
                    currency="USD",
                    created=created + timedelta(days=30 * k, hours=1),
                    status="processor_declined" if failed else "settled",
                    subscription_id=sid,
                    plan_id=plan_id,
                ),
            )
            if n % 9 == 0 and k == 0:
                rid = f"tx{next(counter):06d}"
                yield (
                    "transactions",
                    rid,
                    transaction_object(
                        rid,
                        customer=customer,
                        amount=price,
                        currency="USD",
                        created=created + timedelta(days=2),
                        kind="credit",
                        refunded_transaction_id=tid,
                    ),
                )


#: The emulator has no request limit: a demo source lifts the default budget (5/s) so that imports
#: and the benchmark measure the connector, not the budget.
LOCAL_RATE = 200.0


def seed_demo(base_url: str, *, customers: int, tenant: str) -> dict[str, Any]:
    """A demo business for the public key `tenant`; the credentials and options of a source for it."""
    admin = EmulatorAdmin(base_url)
    admin.drop(tenant)
    private_key = f"{tenant}-private"
    register_keys(admin, tenant, private_key, MERCHANT_ID)
    for collection_name, object_id, obj in demo_objects(customers):
        admin.put(tenant, collection_name, object_id, obj)
    return {
        "credentials": {
            "merchant_id": MERCHANT_ID,
            "public_key": tenant,
            "private_key": private_key,
            "environment": "sandbox",
        },
        "options": {"api_base": f"{base_url}/merchants/{MERCHANT_ID}", "requests_per_second": LOCAL_RATE},
    }


def _parse(response: requests.Response) -> Any:
    response.raise_for_status()
    return SafeElementTree.fromstring(response.content)


def plain_fetch(base_url: str, credentials: Mapping[str, Any]) -> int:
    """Every list the connector reads, with plain `requests` and Braintree's two-step search: plans;
    customers (read twice by the connector: customers, and subscriptions embedded in them); transactions
    (read twice: sales as invoices, all as transactions). Returns the number of objects read."""
    session = requests.Session()
    session.auth = (str(credentials["public_key"]), str(credentials["private_key"]))
    session.headers.update({"Accept": "application/xml", "Content-Type": "application/xml", "X-ApiVersion": "6"})
    root = f"{base_url}/merchants/{credentials['merchant_id']}"
    count = len(list(_parse(session.get(f"{root}/plans", timeout=30))))
    searches = [
        ("customers", "<search/>"),
        ("customers", "<search/>"),
        ("transactions", '<search><type type="array"><item>sale</item></type></search>'),
        ("transactions", "<search/>"),
    ]
    for kind, criteria in searches:
        ids_root = _parse(session.post(f"{root}/{kind}/advanced_search_ids", data=criteria, timeout=30))
        found = ids_root.find("ids")
        ids = [(item.text or "") for item in (found if found is not None else [])]
        for offset in range(0, len(ids), PAGE_SIZE):
            chunk = "".join(f"<item>{escape(i)}</item>" for i in ids[offset : offset + PAGE_SIZE])
            body = criteria.replace("<search/>", "<search></search>").replace(
                "</search>", f'<ids type="array">{chunk}</ids></search>'
            )
            page = _parse(session.post(f"{root}/{kind}/advanced_search", data=body, timeout=30))
            count += len(list(page))
    return count
