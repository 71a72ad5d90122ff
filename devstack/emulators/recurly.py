"""An emulator of Recurly's API v3 (version v2021-02-25): the list and detail endpoints SourceSync reads.

    GET /accounts, /plans, /subscriptions, /invoices, /transactions        lists
    GET /accounts/{id}                                                     one account (`code-<code>` too)
    GET /accounts/{id}/subscriptions|invoices|transactions                 one account's lists
    GET /invoices/{id}/line_items                                          an invoice's lines

Lists answer `{"object": "list", "has_more", "next", "data"}`; `next` is a path relative to the host
(`/accounts?cursor=…&limit=…`), as Recurly's is. `limit` (1-200), `sort` (`created_at`, `updated_at`),
`order` (`asc`, `desc`) and `cursor` are honoured; another parameter is a 400. Authentication is HTTP Basic
with the API key as user name: a key is known once something was stored under it (its tenant), any other
key is Recurly's 401. Requests must ask for the API version in `Accept`. Objects are stored in Recurly's
shape by the admin API (collections `accounts`, `plans`, `subscriptions`, `invoices`, `transactions`);
the helpers below build them, and every key they write is checked against the `recurly` SDK's schemas
in tests/contract/test_recurly_sdk.py.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests

from devstack.emulators.base import EmulatorAdmin, ProviderEmulator, Request, Response, TenantData

ACCEPT = "application/vnd.recurly.v2021-02-25"
MAX_LIMIT = 200
DEFAULT_LIMIT = 20

#: list endpoint -> collection
LISTS = {
    "accounts": "accounts",
    "plans": "plans",
    "subscriptions": "subscriptions",
    "invoices": "invoices",
    "transactions": "transactions",
}
LIST_PARAMS = frozenset({"limit", "sort", "order", "cursor"})

#: Recurly's error `type` per status.
ERROR_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    429: "rate_limited",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
}


def iso(moment: datetime) -> str:
    """Recurly's timestamps: `2024-01-31T12:00:00Z` (what the SDK parses with `%Y-%m-%dT%H:%M:%S%z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id() -> str:
    return uuid.uuid4().hex[:12]


# ---------------------------------------------------------------------------------------- object builders
def account_mini(account: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "object": "account",
        "id": account["id"],
        "code": account["code"],
        "email": account.get("email"),
        "first_name": account.get("first_name"),
        "last_name": account.get("last_name"),
        "company": account.get("company"),
        "parent_account_id": None,
        "bill_to": "self",
        "dunning_campaign_id": None,
    }


def account(
    code: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    company: str | None = None,
    country: str | None = None,
    created_at: datetime,
    state: str = "active",
    account_id: str | None = None,
) -> dict[str, Any]:
    stamp = iso(created_at)
    return {
        "object": "account",
        "id": account_id or _id(),
        "code": code,
        "state": state,
        "username": None,
        "email": email,
        "cc_emails": None,
        "preferred_locale": None,
        "preferred_time_zone": None,
        "first_name": first_name,
        "last_name": last_name,
        "company": company,
        "vat_number": None,
        "tax_exempt": False,
        "exemption_certificate": None,
        "parent_account_id": None,
        "bill_to": "self",
        "dunning_campaign_id": None,
        "invoice_template_id": None,
        "address": None if country is None else {"country": country, "city": None, "postal_code": None},
        "has_live_subscription": False,
        "has_active_subscription": False,
        "has_future_subscription": False,
        "has_canceled_subscription": False,
        "has_paused_subscription": False,
        "has_past_due_invoice": False,
        "created_at": stamp,
        "updated_at": stamp,
        "deleted_at": None if state == "active" else stamp,
        "custom_fields": [],
    }


def plan(
    code: str,
    name: str,
    *,
    prices: Mapping[str, float],
    interval_unit: str = "months",
    interval_length: int = 1,
    created_at: datetime,
    plan_id: str | None = None,
) -> dict[str, Any]:
    stamp = iso(created_at)
    return {
        "object": "plan",
        "id": plan_id or _id(),
        "code": code,
        "state": "active",
        "name": name,
        "description": None,
        "interval_unit": interval_unit,
        "interval_length": interval_length,
        "trial_unit": "days",
        "trial_length": 0,
        "trial_requires_billing_info": True,
        "total_billing_cycles": None,
        "auto_renew": True,
        "pricing_model": "fixed",
        "accounting_code": None,
        "revenue_schedule_type": "evenly",
        "tax_code": None,
        "tax_exempt": False,
        "currencies": [
            {"currency": cur, "setup_fee": 0.0, "unit_amount": float(amount), "tax_inclusive": False}
            for cur, amount in prices.items()
        ],
        "allow_any_item_on_subscriptions": False,
        "created_at": stamp,
        "updated_at": stamp,
        "deleted_at": None,
        "custom_fields": [],
    }


def plan_mini(plan_obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"object": "plan", "id": plan_obj["id"], "code": plan_obj["code"], "name": plan_obj["name"]}


def subscription(
    owner: Mapping[str, Any],
    plan_obj: Mapping[str, Any],
    *,
    currency: str,
    quantity: int = 1,
    state: str = "active",
    activated_at: datetime,
    period_days: int = 30,
    trial_ends_at: datetime | None = None,
    canceled_at: datetime | None = None,
    expires_at: datetime | None = None,
    subscription_id: str | None = None,
) -> dict[str, Any]:
    unit_amount = next(p["unit_amount"] for p in plan_obj["currencies"] if p["currency"] == currency)
    period_end = trial_ends_at or activated_at + timedelta(days=period_days)
    subtotal = round(unit_amount * quantity, 2)
    return {
        "object": "subscription",
        "id": subscription_id or _id(),
        "uuid": uuid.uuid4().hex,
        "account": account_mini(owner),
        "plan": plan_mini(plan_obj),
        "state": state,
        "currency": currency,
        "quantity": quantity,
        "unit_amount": unit_amount,
        "add_ons": [],
        "add_ons_total": 0.0,
        "subtotal": subtotal,
        "tax": 0.0,
        "total": subtotal,
        "collection_method": "automatic",
        "auto_renew": True,
        "net_terms": 0,
        "net_terms_type": "net",
        "activated_at": iso(activated_at),
        "current_period_started_at": iso(activated_at),
        "current_period_ends_at": iso(period_end),
        "current_term_started_at": iso(activated_at),
        "current_term_ends_at": iso(activated_at + timedelta(days=365)),
        "trial_started_at": iso(activated_at) if trial_ends_at else None,
        "trial_ends_at": iso(trial_ends_at) if trial_ends_at else None,
        "canceled_at": iso(canceled_at) if canceled_at else None,
        "expires_at": iso(expires_at) if expires_at else None,
        "paused_at": None,
        "remaining_billing_cycles": None,
        "total_billing_cycles": None,
        "renewal_billing_cycles": None,
        "custom_fields": [],
        "created_at": iso(activated_at),
        "updated_at": iso(canceled_at or activated_at),
    }


def line_item(
    owner: Mapping[str, Any],
    *,
    amount: float,
    currency: str,
    description: str,
    origin: str = "plan",
    subscription_id: str | None = None,
    plan_obj: Mapping[str, Any] | None = None,
    quantity: int = 1,
    discount: float = 0.0,
    start: datetime,
    end: datetime | None = None,
    credit: bool = False,
    line_id: str | None = None,
) -> dict[str, Any]:
    subtotal = round(amount * quantity, 2)
    sign = -1 if credit else 1
    return {
        "object": "line_item",
        "id": line_id or _id(),
        "uuid": uuid.uuid4().hex,
        "type": "credit" if credit else "charge",
        "state": "invoiced",
        "legacy_category": None,
        "account": account_mini(owner),
        "bill_for_account_id": owner["id"],
        "subscription_id": subscription_id,
        "plan_id": plan_obj["id"] if plan_obj else None,
        "plan_code": plan_obj["code"] if plan_obj else None,
        "add_on_id": None,
        "add_on_code": None,
        "invoice_id": None,
        "invoice_number": None,
        "previous_line_item_id": None,
        "original_line_item_invoice_id": None,
        "origin": origin,
        "accounting_code": None,
        "product_code": None,
        "credit_reason_code": None,
        "currency": currency,
        "amount": sign * round(subtotal - discount, 2),
        "description": description,
        "quantity": quantity,
        "unit_amount": sign * amount,
        "unit_amount_decimal": f"{sign * amount:.2f}",
        "subtotal": sign * subtotal,
        "discount": sign * discount,
        "tax": 0.0,
        "taxable": False,
        "tax_exempt": False,
        "refund": credit,
        "refunded_quantity": None,
        "credit_applied": 0.0,
        "start_date": iso(start),
        "end_date": iso(end) if end else None,
        "custom_fields": [],
        "created_at": iso(start),
        "updated_at": iso(start),
    }


def invoice(
    owner: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    *,
    currency: str,
    created_at: datetime,
    number: str,
    state: str = "paid",
    invoice_type: str = "charge",
    subscription_ids: Iterable[str] = (),
    previous_invoice_id: str | None = None,
    invoice_id: str | None = None,
) -> dict[str, Any]:
    the_id = invoice_id or _id()
    subtotal = round(sum(float(line["subtotal"]) for line in lines), 2)
    discount = round(sum(float(line["discount"]) for line in lines), 2)
    total = round(subtotal - discount, 2)
    paid = total if state == "paid" and invoice_type == "charge" else 0.0
    return {
        "object": "invoice",
        "id": the_id,
        "uuid": uuid.uuid4().hex,
        "type": invoice_type,
        "origin": "purchase" if invoice_type == "charge" else "refund",
        "state": state,
        "account": account_mini(owner),
        "billing_info_id": None,
        "subscription_ids": list(subscription_ids),
        "previous_invoice_id": previous_invoice_id,
        "number": number,
        "collection_method": "automatic",
        "po_number": None,
        "net_terms": 0,
        "net_terms_type": "net",
        "currency": currency,
        "balance": round(total - paid, 2) if invoice_type == "charge" else 0.0,
        "discount": discount,
        "subtotal": subtotal,
        "subtotal_after_discount": total,
        "tax": 0.0,
        "total": total,
        "refundable_amount": paid,
        "paid": paid,
        "line_items": [{**line, "invoice_id": the_id, "invoice_number": number} for line in lines],
        "has_more_line_items": False,
        "transactions": [],
        "credit_payments": [],
        "customer_notes": None,
        "terms_and_conditions": None,
        "vat_number": None,
        "dunning_campaign_id": None,
        "created_at": iso(created_at),
        "updated_at": iso(created_at),
        "due_at": iso(created_at),
        "closed_at": iso(created_at) if state in ("paid", "failed", "voided") else None,
        "final_dunning_event": False,
        "dunning_events_sent": 0,
        "used_tax_service": False,
    }


def invoice_mini(invoice_obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "object": "invoice",
        "id": invoice_obj["id"],
        "number": invoice_obj["number"],
        "type": invoice_obj["type"],
        "state": invoice_obj["state"],
        "business_entity_id": None,
    }


def transaction(
    owner: Mapping[str, Any],
    invoice_obj: Mapping[str, Any] | None,
    *,
    amount: float,
    currency: str,
    created_at: datetime,
    kind: str = "purchase",
    status: str = "success",
    original_transaction_id: str | None = None,
    transaction_id: str | None = None,
) -> dict[str, Any]:
    success = status == "success"
    return {
        "object": "transaction",
        "id": transaction_id or _id(),
        "uuid": uuid.uuid4().hex,
        "original_transaction_id": original_transaction_id,
        "account": account_mini(owner),
        "invoice": invoice_mini(invoice_obj) if invoice_obj else None,
        "voided_by_invoice": None,
        "subscription_ids": list(invoice_obj["subscription_ids"]) if invoice_obj else [],
        "type": kind,
        "origin": "api" if kind != "refund" else "refund",
        "currency": currency,
        "amount": amount,
        "status": status,
        "success": success,
        "refunded": False,
        "backup_payment_method_used": False,
        "collection_method": "automatic",
        "payment_method": {"object": "credit_card", "card_type": "Visa", "last_four": "1111", "exp_month": 12},
        "ip_address_v4": None,
        "ip_address_country": None,
        "status_code": None if success else "declined",
        "status_message": None if success else "The transaction was declined.",
        "customer_message": None if success else "Your card was declined.",
        "customer_message_locale": None,
        "payment_gateway": {"object": "payment_gateway", "id": "gw1", "type": "test", "name": "Test gateway"},
        "gateway_message": "Successful test transaction" if success else "Declined",
        "gateway_reference": None,
        "gateway_approval_code": None,
        "gateway_response_code": None,
        "gateway_response_time": 0.1,
        "gateway_response_values": {},
        "cvv_check": None,
        "avs_check": None,
        "created_at": iso(created_at),
        "updated_at": iso(created_at),
        "voided_at": None,
        "collected_at": iso(created_at) if success else None,
    }


# ---------------------------------------------------------------------------------------- the emulator
class RecurlyEmulator(ProviderEmulator):
    system = "recurly"

    def tenant(self, request: Request) -> str | None:
        header = request.headers.get("authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            key = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return key if key and key in self.tenants else None  # a key nobody issued is refused

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        body = {"error": {"type": ERROR_TYPES.get(status, "internal_server_error"), "message": message, "params": []}}
        return Response(status, body, {"X-Request-Id": _id(), **(headers or {})})

    def unauthorized(self, request: Request) -> Response:
        return self._error(401, "Invalid API key. Please use a valid private API key.")

    def error(self, request: Request, status: int, retry_after: float | None) -> Response:
        headers: dict[str, str] = {}
        if status == 429:
            reset = datetime.now(UTC) + timedelta(seconds=retry_after or 1)
            headers = {"X-RateLimit-Limit": "2000", "X-RateLimit-Remaining": "0"}
            headers["X-RateLimit-Reset"] = str(int(reset.timestamp()))
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        messages = {429: "You have made too many API requests.", 404: "Couldn't find the resource."}
        return self._error(status, messages.get(status, "An unexpected error occurred."), headers)

    def handle(self, request: Request, data: TenantData) -> Response:
        if request.method != "GET":
            return self._error(400, "This emulator serves GET requests only.")
        if not (request.headers.get("accept") or "").startswith(ACCEPT):
            return self._error(400, f"Please send the API version in the Accept header: {ACCEPT}")
        parts = [part for part in request.path.split("/") if part]
        if len(parts) == 1 and parts[0] in LISTS:
            return self._list(request, parts[0], list(data.collection(LISTS[parts[0]]).values()))
        if parts[:1] == ["accounts"] and len(parts) in (2, 3):
            owner = self._account(data, parts[1])
            if owner is None:
                return self._error(404, f"Couldn't find Account with id = {parts[1]}")
            if len(parts) == 2:
                return self._ok(owner)
            if parts[2] in ("subscriptions", "invoices", "transactions"):
                mine = [o for o in data.collection(parts[2]).values() if o["account"]["id"] == owner["id"]]
                return self._list(request, "/".join(parts), mine)
        if parts[:1] == ["invoices"] and len(parts) == 3 and parts[2] == "line_items":
            found = data.collection("invoices").get(parts[1])
            if found is None:
                return self._error(404, f"Couldn't find Invoice with id = {parts[1]}")
            return self._list(request, "/".join(parts), list(found["line_items"]))
        if len(parts) == 2 and parts[0] in LISTS:
            obj = data.collection(LISTS[parts[0]]).get(parts[1])
            if obj is None:
                return self._error(404, f"Couldn't find {parts[0][:-1].title()} with id = {parts[1]}")
            return self._ok(obj)
        return self._error(404, f"No route for /{'/'.join(parts)}")

    @staticmethod
    def _ok(body: Any) -> Response:
        return Response(200, body, {"X-Request-Id": _id(), "Recurly-Version": "recurly.v2021-02-25"})

    @staticmethod
    def _account(data: TenantData, key: str) -> dict[str, Any] | None:
        accounts = data.collection("accounts")
        if key.startswith("code-"):
            return next((a for a in accounts.values() if a["code"] == key[5:]), None)
        return accounts.get(key)

    def _list(self, request: Request, path: str, objects: list[dict[str, Any]]) -> Response:
        unknown = set(request.query) - LIST_PARAMS
        if unknown:
            return self._error(400, f"Unknown parameters: {', '.join(sorted(unknown))}")
        try:
            limit = int(request.param("limit") or DEFAULT_LIMIT)
            start = int(request.param("cursor") or 0)
        except ValueError:
            return self._error(400, "limit and cursor must be integers")
        sort, order = request.param("sort") or "created_at", request.param("order") or "asc"
        if not 1 <= limit <= MAX_LIMIT or start < 0 or sort not in ("created_at", "updated_at"):
            return self._error(400, "Invalid list parameters")
        if order not in ("asc", "desc"):
            return self._error(400, "order must be asc or desc")
        ordered = sorted(objects, key=lambda o: str(o.get(sort) or ""), reverse=order == "desc")
        page = ordered[start : start + limit]
        has_more = start + limit < len(ordered)
        following = None
        if has_more:
            query = {"cursor": start + limit, "limit": limit, "order": order, "sort": sort}
            following = f"/{path}?{urlencode(query)}"
        return self._ok({"object": "list", "has_more": has_more, "next": following, "data": page})


EMULATOR = RecurlyEmulator


# ---------------------------------------------------------------------------------------- demo business
def demo_objects(customers: int, *, start: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """A demo business: 3 plans (one priced in USD and EUR, one yearly), `customers` accounts with a
    subscription each (some in trial, cancelled, expired or paused), their invoices and transactions, a
    failed payment, and a refund with its credit invoice. Deterministic in shape; ids are random. By
    default the accounts join over the 20 days before the last 5, so that their first period covers
    today (they have MRR)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    base = start or today - timedelta(days=25)
    plans = [
        plan("starter", "Starter", prices={"USD": 29.0, "EUR": 27.0}, created_at=base),
        plan("growth", "Growth", prices={"USD": 99.0}, created_at=base + timedelta(seconds=1)),
        plan("yearly", "Yearly", prices={"USD": 990.0}, interval_length=12, created_at=base + timedelta(seconds=2)),
    ]
    out: dict[str, list[dict[str, Any]]] = {"plans": plans, "accounts": [], "subscriptions": [], "invoices": []}
    out["transactions"] = []
    for n in range(customers):
        joined = base + timedelta(days=n % 20, seconds=n)
        owner = account(
            f"demo-{n:05d}",
            first_name=f"Demo{n}",
            last_name="Customer",
            email=f"demo{n}@example.com",
            company=f"Demo {n} Ltd" if n % 3 == 0 else None,
            country=("US", "DE", "GB", "FR")[n % 4],
            created_at=joined,
        )
        the_plan = plans[n % 3]
        cur = "EUR" if n % 3 == 0 and n % 2 == 1 else "USD"
        state = ("active", "active", "active", "canceled", "expired", "paused", "active")[n % 7]
        trial = joined + timedelta(days=14) if n % 11 == 5 else None
        sub = subscription(
            owner,
            the_plan,
            currency=cur,
            quantity=1 + n % 3,
            state=state,
            activated_at=joined,
            trial_ends_at=trial,
            canceled_at=joined + timedelta(days=2) if state in ("canceled", "expired") else None,
            expires_at=joined + timedelta(days=3) if state == "expired" else None,
        )
        price = next(p["unit_amount"] for p in the_plan["currencies"] if p["currency"] == cur)
        lines = [
            line_item(
                owner,
                amount=price,
                currency=cur,
                description=f"{the_plan['name']} plan",
                subscription_id=sub["id"],
                plan_obj=the_plan,
                quantity=sub["quantity"],
                discount=5.0 if n % 5 == 0 else 0.0,
                start=joined,
                end=joined + timedelta(days=30),
            )
        ]
        if n % 4 == 0:
            lines.append(
                line_item(owner, amount=15.0, currency=cur, description="Setup", origin="one_time", start=joined)
            )
        failed = n % 13 == 7
        bill = invoice(
            owner,
            lines,
            currency=cur,
            created_at=joined,
            number=f"{1000 + n}",
            state="failed" if failed else "paid",
            subscription_ids=[sub["id"]],
        )
        payment = transaction(
            owner,
            bill,
            amount=bill["total"],
            currency=cur,
            created_at=joined,
            status="declined" if failed else "success",
        )
        out["accounts"].append(owner)
        out["subscriptions"].append(sub)
        out["invoices"].append(bill)
        out["transactions"].append(payment)
        if n % 17 == 3 and not failed:
            refunded_at = joined + timedelta(days=3)
            credit_line = line_item(
                owner,
                amount=lines[0]["unit_amount"],
                currency=cur,
                description="Refund",
                origin="credit",
                start=refunded_at,
                credit=True,
            )
            credit = invoice(
                owner,
                [credit_line],
                currency=cur,
                created_at=refunded_at,
                number=f"C{1000 + n}",
                invoice_type="credit",
                state="closed",
                previous_invoice_id=bill["id"],
            )
            out["invoices"].append(credit)
            out["transactions"].append(
                transaction(
                    owner,
                    credit,
                    amount=lines[0]["unit_amount"],
                    currency=cur,
                    created_at=refunded_at,
                    kind="refund",
                    original_transaction_id=payment["id"],
                )
            )
    return out


def put_all(admin: EmulatorAdmin, tenant: str, objects: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    for collection, items in objects.items():
        for obj in items:
            admin.put(tenant, collection, str(obj["id"]), obj)


def seed_demo(base_url: str, *, customers: int, tenant: str) -> dict[str, Any]:
    """Seed a demo business for `tenant` (its API key) at the emulator (`base_url` = `{url}/recurly`)."""
    admin = EmulatorAdmin(base_url)
    admin.drop(tenant)
    put_all(admin, tenant, demo_objects(customers))
    return {"credentials": {"api_key": tenant, "region": "us"}, "options": {"api_base": base_url}}


def plain_fetch(base_url: str, credentials: Mapping[str, Any]) -> int:
    """Every list the connector reads, with plain `requests` and Recurly's `next` links."""
    session = requests.Session()
    session.auth = (str(credentials["api_key"]), "")
    session.headers["Accept"] = ACCEPT
    count = 0
    for path in LISTS:
        url: str | None = f"{base_url}/{path}?limit={MAX_LIMIT}&sort=created_at&order=asc"
        while url:
            answer = session.get(url, timeout=30)
            answer.raise_for_status()
            body = answer.json()
            count += len(body["data"])
            url = f"{base_url}{body['next']}" if body["has_more"] else None
    return count
