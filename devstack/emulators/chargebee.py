"""Chargebee API v2 on product catalog 2.0 (items, item prices): the list and detail endpoints the connector
reads, in Chargebee's shapes, with its error bodies.

Served under `/chargebee/api/v2/...` (a source's `options.api_base` is `{endpoints["chargebee"]}/api/v2`).
The API key is the Basic user name and names the tenant; a key no seed or test has written data for is
refused as Chargebee refuses an unknown key (401 `api_authentication_failed`).

- `GET /customers`, `/item_prices`, `/subscriptions`, `/invoices`, `/transactions`: `limit` (1-100,
  default 10), `offset` (the previous answer's `next_offset`), `customer_id[is]` on subscriptions,
  invoices and transactions; any other parameter is refused (400), as is a malformed offset.
  Entries are `{"<object type>": {...}}`; subscription entries carry their `customer` too.
- `GET /customers/{id}`: `{"customer": {...}}`, or 404 `resource_not_found`.
- The other catalog's lists (`/plans`, `/addons`) answer 400 `configuration_incompatible`.

Objects are stored as Chargebee sends them (collections `customers`, `item_prices`, `subscriptions`,
`invoices`, `transactions`), without the `object` key real answers add: the SDK checked against
(`chargebee` on PyPI) declares no such field. `customer()`, `item_price()`, ... build them.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from devstack.emulators.base import EmulatorAdmin, ProviderEmulator, Request, Response, TenantData

PREFIX = "/api/v2"
MAX_LIMIT = 100
DEFAULT_LIMIT = 10
CUSTOMER_FILTER = "customer_id[is]"

#: A fixed instant for objects built without one (2026-01-01T00:00:00Z).
EPOCH = 1_767_225_600
DAY = 86_400
#: Demo customers are created this far apart, from the seed's `start` on.
STEP = 60


def demo_start() -> int:
    """Where a demo business starts by default: ten days before today (UTC midnight), so that its
    invoices' service periods cover today and its subscriptions have MRR."""
    return (int(time.time()) // DAY - 10) * DAY


# ------------------------------------------------------------------------------------------ object builders
def customer(
    customer_id: str,
    *,
    first_name: str,
    last_name: str,
    email: str,
    created_at: int,
    company: str | None = None,
    country: str = "US",
    currency_code: str = "USD",
) -> dict[str, Any]:
    address: dict[str, Any] = {
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "line1": "1 Example Street",
        "city": "Springfield",
        "country": country,
        "validation_status": "not_validated",
    }
    obj: dict[str, Any] = {
        "id": customer_id,
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "auto_collection": "on",
        "net_term_days": 0,
        "allow_direct_debit": False,
        "created_at": created_at,
        "taxability": "taxable",
        "updated_at": created_at,
        "pii_cleared": "active",
        "channel": "web",
        "resource_version": created_at * 1000,
        "deleted": False,
        "billing_address": address,
        "card_status": "no_card",
        "promotional_credits": 0,
        "refundable_credits": 0,
        "excess_payments": 0,
        "unbilled_charges": 0,
        "preferred_currency_code": currency_code,
    }
    if company:
        obj["company"] = company
        address["company"] = company
    return obj


def item_price(
    price_id: str,
    *,
    item_id: str,
    name: str,
    price: int,
    period: int | None,
    period_unit: str | None,
    item_type: str = "plan",
    currency_code: str = "USD",
    created_at: int = EPOCH,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": price_id,
        "name": name,
        "item_family_id": "demo-family",
        "item_id": item_id,
        "status": "active",
        "external_name": name,
        "pricing_model": "per_unit" if item_type != "charge" else "flat_fee",
        "price": price,
        "currency_code": currency_code,
        "free_quantity": 0,
        "channel": "web",
        "resource_version": created_at * 1000,
        "updated_at": created_at,
        "created_at": created_at,
        "is_taxable": True,
        "item_type": item_type,
        "show_description_in_invoices": False,
        "show_description_in_quotes": False,
        "deleted": False,
    }
    if period is not None and period_unit is not None:
        obj["period"] = period
        obj["period_unit"] = period_unit
    return obj


def subscription_base(
    subscription_id: str,
    *,
    customer_id: str,
    status: str,
    created_at: int,
    currency_code: str = "USD",
    cancelled_at: int | None = None,
    due_invoices_count: int = 0,
) -> dict[str, Any]:
    """What a subscription has on either catalog (the plan and addons are added by the caller)."""
    obj: dict[str, Any] = {
        "id": subscription_id,
        "billing_period": 1,
        "billing_period_unit": "month",
        "customer_id": customer_id,
        "status": status,
        "current_term_start": created_at,
        "current_term_end": created_at + 30 * DAY,
        "created_at": created_at,
        "updated_at": created_at,
        "has_scheduled_changes": False,
        "channel": "web",
        "resource_version": created_at * 1000,
        "deleted": False,
        "currency_code": currency_code,
        "due_invoices_count": due_invoices_count,
        "auto_collection": "on",
    }
    if status == "future":
        obj["start_date"] = created_at + 30 * DAY
    else:
        obj["started_at"] = created_at
        obj["activated_at"] = created_at
    if status == "in_trial":
        obj["trial_start"] = created_at
        obj["trial_end"] = created_at + 14 * DAY
    if status in ("active", "in_trial", "non_renewing"):
        obj["next_billing_at"] = created_at + 30 * DAY
    if cancelled_at is not None:
        obj["cancelled_at"] = cancelled_at
    return obj


def subscription(
    subscription_id: str,
    *,
    customer_id: str,
    status: str,
    created_at: int,
    items: list[tuple[str, str, int, int]],
    currency_code: str = "USD",
    cancelled_at: int | None = None,
    due_invoices_count: int = 0,
) -> dict[str, Any]:
    """Catalog 2.0: `items` = (item price id, item type, quantity, unit price)."""
    obj = subscription_base(
        subscription_id,
        customer_id=customer_id,
        status=status,
        created_at=created_at,
        currency_code=currency_code,
        cancelled_at=cancelled_at,
        due_invoices_count=due_invoices_count,
    )
    obj["subscription_items"] = [
        {
            "item_price_id": price_id,
            "item_type": item_type,
            "quantity": quantity,
            "unit_price": unit_price,
            "amount": unit_price * quantity,
            "free_quantity": 0,
        }
        for price_id, item_type, quantity, unit_price in items
    ]
    return obj


def line_item(
    line_id: str,
    *,
    customer_id: str,
    entity_type: str,
    entity_id: str,
    unit_amount: int,
    date_from: int,
    date_to: int,
    subscription_id: str | None = None,
    quantity: int = 1,
    discount_amount: int = 0,
    description: str = "",
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": line_id,
        "date_from": date_from,
        "date_to": date_to,
        "unit_amount": unit_amount,
        "quantity": quantity,
        "amount": unit_amount * quantity,
        "pricing_model": "per_unit",
        "is_taxed": False,
        "tax_amount": 0,
        "discount_amount": discount_amount,
        "item_level_discount_amount": discount_amount,
        "description": description or entity_id,
        "entity_description": description or entity_id,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "customer_id": customer_id,
    }
    if subscription_id is not None:
        obj["subscription_id"] = subscription_id
    return obj


def invoice(
    invoice_id: str,
    *,
    customer_id: str,
    date: int,
    lines: list[dict[str, Any]],
    status: str = "paid",
    subscription_id: str | None = None,
    currency_code: str = "USD",
    payments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    total = sum(line["amount"] - line["discount_amount"] for line in lines)
    paid = total if status == "paid" else 0
    obj: dict[str, Any] = {
        "id": invoice_id,
        "customer_id": customer_id,
        "recurring": subscription_id is not None,
        "status": status,
        "price_type": "tax_exclusive",
        "date": date,
        "due_date": date,
        "net_term_days": 0,
        "exchange_rate": 1.0,
        "total": total,
        "amount_paid": paid,
        "amount_adjusted": 0,
        "write_off_amount": 0,
        "credits_applied": 0,
        "amount_due": total - paid,
        "updated_at": date,
        "resource_version": date * 1000,
        "deleted": False,
        "currency_code": currency_code,
        "sub_total": total,
        "tax": 0,
        "first_invoice": False,
        "has_advance_charges": False,
        "term_finalized": True,
        "is_gifted": False,
        "amount_to_collect": total - paid,
        "round_off_amount": 0,
        "channel": "web",
        "line_items": lines,
        "linked_payments": payments or [],
    }
    if status == "paid":
        obj["paid_at"] = date
    if subscription_id is not None:
        obj["subscription_id"] = subscription_id
    return obj


def transaction(
    txn_id: str,
    *,
    customer_id: str,
    date: int,
    amount: int,
    txn_type: str = "payment",
    status: str = "success",
    invoice_id: str | None = None,
    invoice_total: int | None = None,
    credit_note: tuple[str, str] | None = None,
    subscription_id: str | None = None,
    currency_code: str = "USD",
) -> dict[str, Any]:
    """A payment applied to `invoice_id`, or a refund of `credit_note` = (credit note id, its invoice)."""
    obj: dict[str, Any] = {
        "id": txn_id,
        "customer_id": customer_id,
        "gateway_account_id": "gw_demo",
        "payment_method": "card",
        "gateway": "chargebee",
        "type": txn_type,
        "date": date,
        "exchange_rate": 1.0,
        "currency_code": currency_code,
        "amount": amount,
        "id_at_gateway": f"gw_{txn_id}",
        "status": status,
        "masked_card_number": "************1111",
        "resource_version": date * 1000,
        "updated_at": date,
        "amount_unused": 0,
        "deleted": False,
        "linked_invoices": [],
        "linked_credit_notes": [],
    }
    if status == "success":
        obj["settled_at"] = date
    if subscription_id is not None:
        obj["subscription_id"] = subscription_id
    if invoice_id is not None:
        obj["linked_invoices"] = [
            {
                "invoice_id": invoice_id,
                "applied_amount": amount if status == "success" else 0,
                "applied_at": date,
                "invoice_date": date,
                "invoice_total": amount if invoice_total is None else invoice_total,
                "invoice_status": "paid" if status == "success" else "payment_due",
            }
        ]
    if credit_note is not None:
        cn_id, cn_invoice = credit_note
        obj["linked_credit_notes"] = [
            {
                "cn_id": cn_id,
                "applied_amount": amount,
                "applied_at": date,
                "cn_reason_code": "product_unsatisfactory",
                "cn_create_reason_code": "Product Unsatisfactory",
                "cn_date": date,
                "cn_total": amount,
                "cn_status": "refunded",
                "cn_reference_invoice_id": cn_invoice,
            }
        ]
    return obj


def linked_payment(txn: Mapping[str, Any]) -> dict[str, Any]:
    """An invoice's `linked_payments` entry for a transaction."""
    return {
        "txn_id": txn["id"],
        "applied_amount": txn["amount"] if txn["status"] == "success" else 0,
        "applied_at": txn["date"],
        "txn_status": txn["status"],
        "txn_date": txn["date"],
        "txn_amount": txn["amount"],
    }


# ------------------------------------------------------------------------------------------ the emulator
def _error(status: int, api_error_code: str, message: str, error_type: str | None = None) -> dict[str, Any]:
    """Chargebee's error body."""
    body: dict[str, Any] = {
        "message": message,
        "api_error_code": api_error_code,
        "error_code": api_error_code,
        "error_msg": message,
        "http_status_code": status,
    }
    if error_type:
        body["type"] = error_type
    return body


class ChargebeeEmulator(ProviderEmulator):
    system = "chargebee"

    #: path -> (collection, entry key); the lists this catalog serves.
    lists: ClassVar[Mapping[str, tuple[str, str]]] = {
        "customers": ("customers", "customer"),
        "item_prices": ("item_prices", "item_price"),
        "subscriptions": ("subscriptions", "subscription"),
        "invoices": ("invoices", "invoice"),
        "transactions": ("transactions", "transaction"),
    }
    #: the other catalog's lists: 400 `configuration_incompatible`.
    other_catalog: ClassVar[frozenset[str]] = frozenset({"plans", "addons"})
    #: lists that take `customer_id[is]`.
    by_customer: ClassVar[frozenset[str]] = frozenset({"subscriptions", "invoices", "transactions"})

    def tenant(self, request: Request) -> str | None:
        header = request.headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user = base64.b64decode(token, validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        # A key is known once data was written for it (a seed or a test); any other is refused.
        return user if user and user in self.tenants else None

    def unauthorized(self, request: Request) -> Response:
        return Response(401, _error(401, "api_authentication_failed", "Sorry, authentication failed. Invalid api key"))

    def error(self, request: Request, status: int, retry_after: float | None) -> Response:
        if status == 429:
            body = _error(
                429,
                "api_request_limit_exceeded",
                "Sorry, access has been blocked temporarily due to request count exceeding acceptable limits.",
                "invalid_request",
            )
            # Whole seconds, as Chargebee sends it (the SDK reads an integer).
            headers = {"Retry-After": str(math.ceil(retry_after))} if retry_after is not None else {}
            return Response(429, body, headers)
        if status == 404:
            return Response(404, _error(404, "resource_not_found", "Sorry, we couldn't find that resource"))
        if status == 503:
            return Response(503, _error(503, "site_not_ready", "Site is not ready. Please retry after some time."))
        if status >= 500:
            return Response(status, _error(status, "internal_error", "Sorry, something went wrong."))
        return Response(status, _error(status, "invalid_request", "Sorry, the request was refused.", "invalid_request"))

    def _bad_request(self, message: str, code: str = "invalid_request") -> Response:
        return Response(400, _error(400, code, message, "invalid_request"))

    def entry(self, key: str, obj: dict[str, Any], data: TenantData) -> dict[str, Any]:
        """One list entry: `{key: obj}`, with the subscription's customer beside a subscription."""
        found: dict[str, Any] = {key: obj}
        if key == "subscription":
            owner = data.collection("customers").get(obj.get("customer_id", ""))
            if owner is not None:
                found["customer"] = owner
        return found

    def handle(self, request: Request, data: TenantData) -> Response:
        if request.method != "GET" or not request.path.startswith(PREFIX + "/"):
            return self.error(request, 404, None)
        parts = request.path[len(PREFIX) + 1 :].strip("/").split("/")
        name = parts[0]
        if name in self.other_catalog:
            return self._bad_request(
                "The requested operation is not compatible with the site's product catalog version.",
                "configuration_incompatible",
            )
        if name not in self.lists:
            return self.error(request, 404, None)
        collection, key = self.lists[name]
        objects = data.collection(collection)
        if len(parts) == 2:
            obj = objects.get(parts[1])
            if obj is None:
                return self.error(request, 404, None)
            return Response(200, self.entry(key, obj, data))
        if len(parts) != 1:
            return self.error(request, 404, None)
        return self._list(request, name, key, list(objects.values()), data)

    def _list(self, request: Request, name: str, key: str, objects: list[dict[str, Any]], data: TenantData) -> Response:
        allowed = {"limit", "offset", *({CUSTOMER_FILTER} if name in self.by_customer else set())}
        unknown = sorted(set(request.query) - allowed)
        if unknown:
            return self._bad_request(f"{unknown[0]} : unknown parameter")
        try:
            limit = int(request.param("limit") or DEFAULT_LIMIT)
        except ValueError:
            return self._bad_request("limit : invalid value")
        if not 1 <= limit <= MAX_LIMIT:
            return self._bad_request(f"limit : must be between 1 and {MAX_LIMIT}")
        start = 0
        offset = request.param("offset")
        if offset:
            try:
                token = json.loads(offset)
                start = int(token[0])
            except (ValueError, TypeError, IndexError, KeyError):
                return self._bad_request("offset : invalid value")
        who = request.param(CUSTOMER_FILTER)
        if who is not None:
            objects = [obj for obj in objects if obj.get("customer_id") == who]
        page = objects[start : start + limit]
        body: dict[str, Any] = {"list": [self.entry(key, obj, data) for obj in page]}
        if start + limit < len(objects):
            body["next_offset"] = json.dumps([str(start + limit), str(page[-1].get("created_at", 0))])
        return Response(200, body)


EMULATOR = ChargebeeEmulator


# ------------------------------------------------------------------------------------------ seed and plain fetch
PLANS_2 = [
    ("basic-USD-monthly", "basic", "Basic", 1_000, 1, "month", "plan"),
    ("pro-USD-yearly", "pro", "Pro", 10_000, 1, "year", "plan"),
    ("seats-USD-monthly", "seats", "Extra seats", 500, 1, "month", "addon"),
    ("setup-USD", "setup", "Setup fee", 2_500, None, None, "charge"),
]

#: Status of the i-th demo subscription (a cycle that covers every mapping branch).
STATUSES = ("active", "active", "in_trial", "active", "cancelled", "non_renewing", "active", "paused", "future")


def seed_business(
    admin: EmulatorAdmin,
    tenant: str,
    customers: int,
    subscription_for: Any,
    plans: list[tuple[str, str, dict[str, Any]]],
    start: int,
) -> None:
    """The demo business both catalogs share: customers, their subscriptions (built by
    `subscription_for(index, sub_id, customer_id, status, created)` -> (subscription, [(entity_type,
    entity_id, unit_amount, quantity, period days)])), a paid invoice per started subscription (its
    service periods from the subscription's creation) with its payment,
    a refund for every fourth and a failed payment for every sixth."""
    for collection, object_id, obj in plans:
        admin.put(tenant, collection, object_id, obj)
    for index in range(customers):
        created = start + index * STEP
        customer_id = f"cust_{index:05d}"
        admin.put(
            tenant,
            "customers",
            customer_id,
            customer(
                customer_id,
                first_name="Demo",
                last_name=f"Customer {index}",
                email=f"customer{index}@example.com",
                company=f"Company {index}" if index % 2 else None,
                created_at=created,
            ),
        )
        status = STATUSES[index % len(STATUSES)]
        sub_id = f"sub_{index:05d}"
        sub, billed = subscription_for(index, sub_id, customer_id, status, created)
        admin.put(tenant, "subscriptions", sub_id, sub)
        if status in ("future", "in_trial"):
            continue
        invoice_id = f"inv_{index:05d}"
        lines = [
            line_item(
                f"li_{index:05d}_{n}",
                customer_id=customer_id,
                entity_type=entity_type,
                entity_id=entity_id,
                unit_amount=unit,
                quantity=quantity,
                subscription_id=sub_id,
                date_from=created,
                date_to=created + days * DAY,
                discount_amount=100 if index % 5 == 0 and n == 0 else 0,
            )
            for n, (entity_type, entity_id, unit, quantity, days) in enumerate(billed)
        ]
        total = sum(line["amount"] - line["discount_amount"] for line in lines)
        payment = transaction(
            f"txn_{index:05d}",
            customer_id=customer_id,
            date=created,
            amount=total,
            invoice_id=invoice_id,
            subscription_id=sub_id,
        )
        txns = [payment]
        if index % 6 == 5:
            txns.insert(
                0,
                transaction(
                    f"txn_{index:05d}_failed",
                    customer_id=customer_id,
                    date=created,
                    amount=total,
                    status="failure",
                    invoice_id=invoice_id,
                    invoice_total=total,
                    subscription_id=sub_id,
                ),
            )
        admin.put(
            tenant,
            "invoices",
            invoice_id,
            invoice(
                invoice_id,
                customer_id=customer_id,
                date=created,
                lines=lines,
                subscription_id=sub_id,
                payments=[linked_payment(txn) for txn in txns],
            ),
        )
        for txn in txns:
            admin.put(tenant, "transactions", txn["id"], txn)
        if index % 4 == 3:
            refund_id = f"txn_{index:05d}_refund"
            admin.put(
                tenant,
                "transactions",
                refund_id,
                transaction(
                    refund_id,
                    customer_id=customer_id,
                    date=created + DAY,
                    amount=total // 2,
                    txn_type="refund",
                    credit_note=(f"cn_{index:05d}", invoice_id),
                    subscription_id=sub_id,
                ),
            )


def _subscription_2(index: int, sub_id: str, customer_id: str, status: str, created: int) -> Any:
    plan = PLANS_2[index % 2]
    items = [(plan[0], "plan", 1, plan[3])]
    if index % 3 == 0:
        items.append(("seats-USD-monthly", "addon", 2, 500))
    sub = subscription(
        sub_id,
        customer_id=customer_id,
        status=status,
        created_at=created,
        items=items,
        cancelled_at=created + 5 * DAY if status == "cancelled" else None,
    )
    kinds = {"plan": "plan_item_price", "addon": "addon_item_price"}
    days = {"month": 30, "year": 365}
    units = {row[0]: row[5] for row in PLANS_2}
    return sub, [
        (kinds[item_type], price_id, unit, quantity, days[units[price_id] or "month"])
        for price_id, item_type, quantity, unit in items
    ]


def credentials_for(tenant: str) -> dict[str, str]:
    """What a source of the emulator's `tenant` is created with (the site is any valid host label)."""
    return {"site": "demo-test", "api_key": tenant}


def seed_demo(base_url: str, *, customers: int, tenant: str, start: int | None = None) -> dict[str, Any]:
    """Seed a demo business on catalog 2.0 for `tenant` (its API key) at the emulator (`{url}/chargebee`),
    created from `start` on (unix seconds; default `demo_start()`)."""
    admin = EmulatorAdmin(base_url)
    admin.drop(tenant)
    plans = [
        (
            "item_prices",
            price_id,
            item_price(
                price_id, item_id=item_id, name=name, price=price, period=period, period_unit=unit, item_type=kind
            ),
        )
        for price_id, item_id, name, price, period, unit, kind in PLANS_2
    ]
    seed_business(admin, tenant, customers, _subscription_2, plans, demo_start() if start is None else start)
    return {"credentials": credentials_for(tenant), "options": {"api_base": f"{base_url.rstrip('/')}{PREFIX}"}}


def fetch_lists(base_url: str, credentials: Mapping[str, Any], paths: list[str]) -> int:
    """Every entry of `paths` with plain `requests` and Chargebee's `offset`/`next_offset`."""
    session = requests.Session()
    session.auth = (str(credentials["api_key"]), "")
    count = 0
    for path in paths:
        params: dict[str, Any] = {"limit": MAX_LIMIT}
        while True:
            answer = session.get(f"{base_url.rstrip('/')}{PREFIX}{path}", params=params, timeout=30)
            answer.raise_for_status()
            body = answer.json()
            count += len(body["list"])
            if not body.get("next_offset"):
                break
            params = {"limit": MAX_LIMIT, "offset": body["next_offset"]}
    return count


def plain_fetch(base_url: str, credentials: Mapping[str, Any]) -> int:
    """The lists the connector reads, fetched plainly; the number of objects read."""
    return fetch_lists(
        base_url, credentials, ["/customers", "/item_prices", "/subscriptions", "/invoices", "/transactions"]
    )
