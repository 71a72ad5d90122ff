"""An emulator of GoCardless's API (version 2015-07-06): the list and detail endpoints SourceSync reads.

    GET /customers, /mandates, /subscriptions, /payments, /refunds     lists
    GET /customers/{id}, /mandates/{id}, /subscriptions/{id}, ...       one object

Lists answer `{"<resource>": [...], "meta": {"cursors": {"before", "after"}, "limit"}}`, newest first;
`limit` (1-500), `after`/`before` (an object id) and the filters SourceSync uses (`customer` on mandates,
subscriptions and payments, `mandate`, `subscription` on payments, `payment` on refunds) are honoured;
another parameter is GoCardless's 422 `validation_failed`. A detail answer is `{"<resource>": {...}}`.
Authentication is `Authorization: Bearer <access token>`: a token is known once something was stored
under it (its tenant), any other is GoCardless's 401. Requests must send `GoCardless-Version`.

Objects are stored in GoCardless's shape by the admin API (collections named as the resources); the
helpers below build them, and every key they write is checked against the `gocardless-pro` SDK's
resource classes in tests/contract/test_gocardless_sdk.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from devstack.emulators.base import EmulatorAdmin, ProviderEmulator, Request, Response, TenantData

VERSION = "2015-07-06"
MAX_LIMIT = 500
DEFAULT_LIMIT = 50

RESOURCES = ("customers", "mandates", "subscriptions", "payments", "refunds")

#: list -> the filters it takes (besides limit, after, before)
FILTERS: Mapping[str, frozenset[str]] = {
    "customers": frozenset(),
    "mandates": frozenset({"customer"}),
    "subscriptions": frozenset({"customer", "mandate"}),
    "payments": frozenset({"customer", "mandate", "subscription"}),
    "refunds": frozenset({"payment", "mandate"}),
}

#: status -> (error type, reason, message)
ERRORS: Mapping[int, tuple[str, str, str]] = {
    400: ("invalid_api_usage", "invalid_api_usage", "Invalid request"),
    401: ("invalid_api_usage", "authentication_failed", "Authentication failed"),
    403: ("invalid_api_usage", "insufficient_permissions", "Insufficient permissions"),
    404: ("invalid_api_usage", "resource_not_found", "Resource not found"),
    410: ("invalid_api_usage", "customer_data_removed", "The customer's data has been removed"),
    422: ("validation_failed", "validation_failed", "Validation failed"),
    429: ("invalid_api_usage", "rate_limit_exceeded", "Rate limit exceeded"),
    500: ("gocardless", "internal_server_error", "Uh-oh! We're having trouble processing your request."),
}


def iso(moment: datetime) -> str:
    """GoCardless's timestamps: `2024-01-31T12:00:00.000Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def day(moment: datetime | date) -> str:
    return moment.strftime("%Y-%m-%d")


def _id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:12].upper()


# ---------------------------------------------------------------------------------------- object builders
def customer(
    *,
    given_name: str | None = None,
    family_name: str | None = None,
    email: str | None = None,
    company_name: str | None = None,
    country_code: str | None = "GB",
    created_at: datetime,
    customer_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": customer_id or _id("CU"),
        "created_at": iso(created_at),
        "email": email,
        "given_name": given_name,
        "family_name": family_name,
        "company_name": company_name,
        "address_line1": None,
        "address_line2": None,
        "address_line3": None,
        "city": None,
        "region": None,
        "postal_code": None,
        "country_code": country_code,
        "language": "en",
        "phone_number": None,
        "swedish_identity_number": None,
        "danish_identity_number": None,
        "metadata": {},
    }


def mandate(owner: Mapping[str, Any], *, created_at: datetime, status: str = "active") -> dict[str, Any]:
    return {
        "id": _id("MD"),
        "created_at": iso(created_at),
        "reference": "DEMO-" + uuid.uuid4().hex[:6].upper(),
        "status": status,
        "scheme": "bacs",
        "next_possible_charge_date": day(created_at + timedelta(days=3)),
        "payments_require_approval": False,
        "metadata": {},
        "authorisation_source": "web",
        "consent_type": None,
        "funds_settlement": "managed",
        "verified_at": None,
        "links": {
            "creditor": "CR000DEMO",
            "customer": owner["id"],
            "customer_bank_account": "BA" + str(owner["id"])[2:],
        },
    }


def subscription(
    owner_mandate: Mapping[str, Any],
    *,
    amount: int,
    currency: str,
    name: str,
    interval_unit: str = "monthly",
    interval: int = 1,
    status: str = "active",
    start: datetime,
    end: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": _id("SB"),
        "created_at": iso(start),
        "amount": amount,
        "currency": currency,
        "status": status,
        "name": name,
        "start_date": day(start),
        "end_date": day(end) if end else None,
        "interval": interval,
        "interval_unit": interval_unit,
        "day_of_month": start.day if interval_unit == "monthly" and start.day <= 28 else None,
        "month": None,
        "count": None,
        "payment_reference": None,
        "upcoming_payments": []
        if status != "active"
        else [{"charge_date": day(start + timedelta(days=30)), "amount": amount}],
        "app_fee": None,
        "retry_if_possible": False,
        "earliest_charge_date_after_resume": None,
        "parent_plan_paused": False,
        "metadata": {},
        "links": {"mandate": owner_mandate["id"]},
    }


def payment(
    owner_mandate: Mapping[str, Any],
    *,
    amount: int,
    currency: str,
    charge_date: datetime,
    status: str = "paid_out",
    subscription_id: str | None = None,
    description: str | None = None,
    amount_refunded: int = 0,
) -> dict[str, Any]:
    links: dict[str, Any] = {"mandate": owner_mandate["id"], "creditor": "CR000DEMO"}
    if subscription_id:
        links["subscription"] = subscription_id
    if status == "paid_out":
        links["payout"] = "PO000DEMO"
    return {
        "id": _id("PM"),
        "created_at": iso(charge_date - timedelta(days=3)),
        "charge_date": day(charge_date),
        "amount": amount,
        "description": description,
        "currency": currency,
        "status": status,
        "amount_refunded": amount_refunded,
        "reference": None,
        "metadata": {},
        "fx": {"fx_currency": None, "fx_amount": None, "exchange_rate": None, "estimated_exchange_rate": None},
        "retry_if_possible": False,
        "faster_ach": False,
        "scheme": "bacs",
        "links": links,
    }


def refund(paid: Mapping[str, Any], *, amount: int, created_at: datetime, status: str = "paid") -> dict[str, Any]:
    return {
        "id": _id("RF"),
        "created_at": iso(created_at),
        "amount": amount,
        "currency": paid["currency"],
        "reference": None,
        "status": status,
        "metadata": {},
        "fx": {"fx_currency": None, "fx_amount": None, "exchange_rate": None, "estimated_exchange_rate": None},
        "links": {"payment": paid["id"], "mandate": paid["links"]["mandate"]},
    }


# ---------------------------------------------------------------------------------------- the emulator
class GoCardlessEmulator(ProviderEmulator):
    system = "gocardless"

    def tenant(self, request: Request) -> str | None:
        header = request.headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            return None
        return token if token in self.tenants else None  # a token nobody issued is refused

    def _error(
        self, status: int, headers: Mapping[str, str] | None = None, errors: Sequence[Mapping[str, Any]] = ()
    ) -> Response:
        kind, reason, message = ERRORS.get(status, ERRORS[500])
        request_id = _id("RQ")
        body = {
            "error": {
                "message": message,
                "errors": list(errors) or [{"reason": reason, "message": message}],
                "documentation_url": f"https://developer.gocardless.com/api-reference#{reason}",
                "type": kind,
                "request_id": request_id,
                "code": status,
            }
        }
        return Response(status, body, {"X-Request-Id": request_id, **(headers or {})})

    def unauthorized(self, request: Request) -> Response:
        return self._error(401)

    def error(self, request: Request, status: int, retry_after: float | None) -> Response:
        headers: dict[str, str] = {}
        if status == 429:
            reset = datetime.now(UTC) + timedelta(seconds=retry_after or 1)
            headers = {
                "RateLimit-Limit": "1000",
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": reset.strftime("%a, %d %b %Y %H:%M:%S GMT"),
            }
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        return self._error(status, headers)

    def handle(self, request: Request, data: TenantData) -> Response:
        if request.method != "GET":
            return self._error(400)
        if request.headers.get("gocardless-version") != VERSION:
            return self._error(400, errors=[{"reason": "missing_version_header", "message": "Send GoCardless-Version"}])
        parts = [part for part in request.path.split("/") if part]
        if len(parts) == 1 and parts[0] in RESOURCES:
            return self._list(request, data, parts[0])
        if len(parts) == 2 and parts[0] in RESOURCES:
            obj = data.collection(parts[0]).get(parts[1])
            return self._error(404) if obj is None else Response(200, {parts[0]: obj})
        return self._error(404)

    @staticmethod
    def _customer_of(data: TenantData, obj: Mapping[str, Any]) -> str | None:
        mandate_id = obj.get("links", {}).get("mandate")
        found = data.collection("mandates").get(str(mandate_id))
        return None if found is None else str(found["links"]["customer"])

    def _list(self, request: Request, data: TenantData, resource: str) -> Response:
        allowed = FILTERS[resource] | {"limit", "after", "before"}
        unknown = sorted(set(request.query) - allowed)
        if unknown:
            reasons = [
                {"field": name, "message": "is not a permitted parameter", "request_pointer": f"/{name}"}
                for name in unknown
            ]
            return self._error(422, errors=reasons)
        try:
            limit = int(request.param("limit") or DEFAULT_LIMIT)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            return self._error(
                422, errors=[{"field": "limit", "message": "must be between 1 and 500", "request_pointer": "/limit"}]
            )
        objects = list(reversed(data.collection(resource).values()))  # newest first
        for name in FILTERS[resource]:
            wanted = request.param(name)
            if wanted is None:
                continue
            if name == "customer" and resource != "mandates":
                objects = [o for o in objects if self._customer_of(data, o) == wanted]
            else:
                objects = [o for o in objects if o.get("links", {}).get(name) == wanted]
        ids = [str(o["id"]) for o in objects]
        after, before = request.param("after"), request.param("before")
        start = 0
        if after is not None:
            if after not in ids:
                return self._error(
                    422, errors=[{"field": "after", "message": "is not a valid cursor", "request_pointer": "/after"}]
                )
            start = ids.index(after) + 1
        end = len(objects)
        if before is not None:
            if before not in ids:
                return self._error(
                    422, errors=[{"field": "before", "message": "is not a valid cursor", "request_pointer": "/before"}]
                )
            end = ids.index(before)
            start = max(start, end - limit)
        page = objects[start : min(end, start + limit)]
        more_after = start + len(page) < end or (before is not None and end < len(objects))
        cursors = {
            "before": str(page[0]["id"]) if page and start > 0 else None,
            "after": str(page[-1]["id"]) if page and more_after else None,
        }
        return Response(200, {resource: page, "meta": {"cursors": cursors, "limit": limit}})


EMULATOR = GoCardlessEmulator


# ---------------------------------------------------------------------------------------- demo business
def demo_objects(customers: int, *, start: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """A demo business: `customers` customers, each with a mandate, a subscription (monthly, weekly or
    yearly; some cancelled, finished or paused) and its payments (paid out, confirmed, failed, pending,
    cancelled), a one-off payment now and then, and a refund. By default the customers join over 20
    days, about 100 days ago, so that monthly subscriptions have a payment whose period covers today."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    base = start or today - timedelta(days=100)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in RESOURCES}
    for n in range(customers):
        joined = base + timedelta(days=n % 20, seconds=n)
        owner = customer(
            given_name=f"Demo{n}",
            family_name="Payer",
            email=f"payer{n}@example.com",
            company_name=f"Demo {n} Ltd" if n % 4 == 0 else None,
            country_code=("GB", "FR", "DE")[n % 3],
            created_at=joined,
        )
        authority = mandate(owner, created_at=joined)
        # unit, amount, currency, interval, days between payments, payments so far
        unit, amount, cur, every, step, count = (
            ("monthly", 2500, "GBP", 1, 30, 4),
            ("weekly", 700, "GBP", 4, 28, 4),
            ("yearly", 24000, "EUR", 1, 365, 1),
        )[n % 3]
        status = ("active", "active", "cancelled", "active", "finished", "paused")[n % 6]
        sub = subscription(
            authority,
            amount=amount,
            currency=cur,
            name=f"{unit.title()} membership",
            interval_unit=unit,
            interval=every,
            status=status,
            start=joined,
            end=joined + timedelta(days=90) if status == "finished" else None,
        )
        out["customers"].append(owner)
        out["mandates"].append(authority)
        out["subscriptions"].append(sub)
        for k in range(count):
            paid_status = "confirmed" if k == 1 else "failed" if k == 2 and n % 7 == 3 else "paid_out"
            if k == count - 1 and count > 1:
                paid_status = "pending_submission"
            out["payments"].append(
                payment(
                    authority,
                    amount=amount,
                    currency=cur,
                    charge_date=joined + timedelta(days=3 + step * k),
                    status=paid_status,
                    subscription_id=sub["id"],
                )
            )
        if n % 5 == 2:
            one_off = payment(
                authority,
                amount=1500,
                currency=cur,
                charge_date=joined + timedelta(days=10),
                description="Welcome pack",
                amount_refunded=500 if n % 10 == 2 else 0,
            )
            out["payments"].append(one_off)
            if one_off["amount_refunded"]:
                out["refunds"].append(refund(one_off, amount=500, created_at=joined + timedelta(days=12)))
        if n % 9 == 4:
            out["payments"].append(
                payment(authority, amount=999, currency=cur, charge_date=joined + timedelta(days=5), status="cancelled")
            )
    return out


def put_all(admin: EmulatorAdmin, tenant: str, objects: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    for collection in RESOURCES:  # mandates before what links to them
        for obj in objects.get(collection, ()):
            admin.put(tenant, collection, str(obj["id"]), obj)


def seed_demo(base_url: str, *, customers: int, tenant: str) -> dict[str, Any]:
    """Seed a demo business for `tenant` (its access token) at the emulator (`base_url` = `{url}/gocardless`)."""
    admin = EmulatorAdmin(base_url)
    admin.drop(tenant)
    put_all(admin, tenant, demo_objects(customers))
    return {"credentials": {"access_token": tenant, "environment": "sandbox"}, "options": {"api_base": base_url}}


def plain_fetch(base_url: str, credentials: Mapping[str, Any]) -> int:
    """Every list the connector reads (customers, mandates, subscriptions, payments, refunds), with
    plain `requests` and GoCardless's `after` cursors."""
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {credentials['access_token']}", "GoCardless-Version": VERSION})
    count = 0
    for resource in RESOURCES:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": MAX_LIMIT}
            if after:
                params["after"] = after
            answer = session.get(f"{base_url}/{resource}", params=params, timeout=30)
            answer.raise_for_status()
            body = answer.json()
            count += len(body[resource])
            after = body["meta"]["cursors"]["after"]
            if not after:
                break
    return count
