"""PayPal's REST API, the parts SourceSync reads: the OAuth2 token (client credentials), billing plans,
subscriptions per plan and one by id, and the transaction search (at most 31 days a request).

Served under `/paypal` (`{url}/paypal/v1/billing/plans`). The tenant is the client id: its secret is
stored in its `_clients` collection (`register_client`); a token request with it gets a bearer token
that names the tenant, and every other request must carry such a token. Errors are PayPal's JSON
(`{"name", "message", "debug_id", ...}`; the token endpoint's `{"error", "error_description"}`).

Objects are stored in PayPal's shapes in `plans` (full representations), `subscriptions` and
`transactions` (transaction search details, keyed by transaction id).
"""

from __future__ import annotations

import base64
import itertools
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests

from devstack.emulators.base import EmulatorAdmin, ProviderEmulator, Request, Response, TenantData

PLAN_PAGE_MAX = 20
SUBSCRIPTION_PAGE_MAX = 20
TRANSACTION_PAGE_MAX = 500
MAX_WINDOW = timedelta(days=31)
TOKEN_SECONDS = 32_400
_MINIMAL_PLAN = ("id", "product_id", "name", "status", "description", "create_time", "links")
_ERRORS = {
    400: ("INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema."),
    403: ("NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."),
    404: ("RESOURCE_NOT_FOUND", "The specified resource does not exist."),
    429: ("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
    500: ("INTERNAL_SERVER_ERROR", "An internal server error has occurred."),
    503: ("SERVICE_UNAVAILABLE", "Service Unavailable."),
}


def paypal_error(status: int, issue: str | None = None) -> Response:
    name, message = _ERRORS.get(status, ("UNKNOWN_ERROR", "An unknown error has occurred."))
    body: dict[str, Any] = {"name": name, "message": message, "debug_id": f"emu{status}{abs(hash(issue)) % 10**6}"}
    if issue:
        body["details"] = [{"issue": issue, "description": issue}]
    return Response(status, body)


def _time(text: str) -> datetime:
    value = text.strip().replace("Z", "+00:00")
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _int(request: Request, name: str, default: int) -> int:
    value = request.param(name)
    return default if value in (None, "") else int(str(value))


class PayPalEmulator(ProviderEmulator):
    system = "paypal"

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, str] = {}
        self._serial = itertools.count(1)

    def _basic(self, request: Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return None
        try:
            client, _, secret = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except ValueError:
            return None
        return client, secret

    def tenant(self, request: Request) -> str | None:
        if request.path.rstrip("/") == "/v1/oauth2/token":
            pair = self._basic(request)
            if pair is None or pair[0] not in self.tenants:
                return None
            registered = self.tenants[pair[0]].collection("_clients").get("credentials")
            return pair[0] if registered is not None and registered.get("client_secret") == pair[1] else None
        header = request.headers.get("Authorization") or ""
        return self.tokens.get(header[7:]) if header.startswith("Bearer ") else None

    def unauthorized(self, request: Request) -> Response:
        if request.path.rstrip("/") == "/v1/oauth2/token":
            return Response(401, {"error": "invalid_client", "error_description": "Client Authentication failed"})
        return Response(401, {"error": "invalid_token", "error_description": "Token signature verification failed"})

    def error(self, request: Request, status: int, retry_after: float | None) -> Response:
        response = paypal_error(status)
        if retry_after is not None:
            response.headers["Retry-After"] = str(math.ceil(retry_after))
        return response

    def handle(self, request: Request, data: TenantData) -> Response:
        path = request.path.rstrip("/")
        if request.method == "POST" and path == "/v1/oauth2/token":
            return self._token(request)
        if request.method != "GET":
            return paypal_error(404)
        try:
            if path == "/v1/billing/plans":
                return self._plans(request, data)
            if path.startswith("/v1/billing/plans/") and path.count("/") == 4:
                plan = data.collection("plans").get(path.rsplit("/", 1)[1])
                return Response(200, plan) if plan is not None else paypal_error(404, "INVALID_RESOURCE_ID")
            if path == "/v1/billing/subscriptions":
                return self._subscriptions(request, data)
            if path.startswith("/v1/billing/subscriptions/") and path.count("/") == 4:
                found = data.collection("subscriptions").get(path.rsplit("/", 1)[1])
                return Response(200, found) if found is not None else paypal_error(404, "INVALID_RESOURCE_ID")
            if path == "/v1/reporting/transactions":
                return self._transactions(request, data)
        except ValueError as exc:
            return paypal_error(400, str(exc)[:100])
        return paypal_error(404)

    def _token(self, request: Request) -> Response:
        form = request.form()
        if form.get("grant_type") != ["client_credentials"]:
            return Response(
                400, {"error": "unsupported_grant_type", "error_description": "Grant type is not supported"}
            )
        pair = self._basic(request)
        assert pair is not None  # `tenant` checked it
        token = f"emulated-token-{pair[0]}-{next(self._serial)}"
        self.tokens[token] = pair[0]
        return Response(
            200,
            {
                "scope": "https://uri.paypal.com/services/subscriptions https://uri.paypal.com/services/reporting/search/read",
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": TOKEN_SECONDS,
            },
        )

    def _links(self, request: Request, page: int, pages: int) -> list[dict[str, str]]:
        query = {name: values[0] for name, values in request.query.items() if name != "page"}
        links = [{"href": f"{request.path}?{urlencode({**query, 'page': page})}", "rel": "self", "method": "GET"}]
        if page < pages:
            links.append(
                {"href": f"{request.path}?{urlencode({**query, 'page': page + 1})}", "rel": "next", "method": "GET"}
            )
        return links

    @staticmethod
    def _page_of(objects: list[dict[str, Any]], page: int, size: int, largest: int) -> tuple[list[dict[str, Any]], int]:
        if not 1 <= size <= largest or page < 1:
            raise ValueError("INVALID_PARAMETER_VALUE")
        pages = max(1, math.ceil(len(objects) / size))
        return objects[(page - 1) * size : page * size], pages

    def _plans(self, request: Request, data: TenantData) -> Response:
        plans = list(data.collection("plans").values())
        product = request.param("product_id")
        if product:
            plans = [p for p in plans if p.get("product_id") == product]
        page, pages = self._page_of(plans, _int(request, "page", 1), _int(request, "page_size", 10), PLAN_PAGE_MAX)
        full = (request.headers.get("Prefer") or "") == "return=representation"
        shown = page if full else [{k: v for k, v in p.items() if k in _MINIMAL_PLAN} for p in page]
        body: dict[str, Any] = {"plans": shown, "links": self._links(request, _int(request, "page", 1), pages)}
        if request.param("total_required") == "true":
            body |= {"total_items": len(plans), "total_pages": pages}
        return Response(200, body)

    def _subscriptions(self, request: Request, data: TenantData) -> Response:
        wanted = {p for p in (request.param("plan_ids") or "").split(",") if p}
        if len(wanted) > 70:
            raise ValueError("INVALID_PARAMETER_VALUE")
        subscriptions = [
            s for s in data.collection("subscriptions").values() if not wanted or s.get("plan_id") in wanted
        ]
        statuses = {s for s in (request.param("statuses") or "").split(",") if s}
        if statuses:
            subscriptions = [s for s in subscriptions if s.get("status") in statuses]
        number = _int(request, "page", 1)
        page, pages = self._page_of(subscriptions, number, _int(request, "page_size", 10), SUBSCRIPTION_PAGE_MAX)
        return Response(200, {"subscriptions": page, "links": self._links(request, number, pages)})

    def _transactions(self, request: Request, data: TenantData) -> Response:
        start_text, end_text = request.param("start_date"), request.param("end_date")
        if not start_text or not end_text:
            raise ValueError("MISSING_REQUIRED_PARAMETER")
        start, end = _time(start_text), _time(end_text)
        if end < start or end - start > MAX_WINDOW:
            raise ValueError("INVALID_DATE_RANGE")  # PayPal: at most 31 days per request
        found = [
            t
            for t in data.collection("transactions").values()
            if start <= _time(t["transaction_info"]["transaction_initiation_date"]) <= end
        ]
        number = _int(request, "page", 1)
        page, pages = self._page_of(found, number, _int(request, "page_size", 100), TRANSACTION_PAGE_MAX)
        return Response(
            200,
            {
                "transaction_details": page,
                "account_number": "EMULATEDACCT",
                "start_date": start_text,
                "end_date": end_text,
                "last_refreshed_datetime": _stamp(datetime.now(UTC)),
                "page": number,
                "total_items": len(found),
                "total_pages": pages,
                "links": self._links(request, number, pages),
            },
        )


EMULATOR = PayPalEmulator


# ------------------------------------------------------------------------------------------ objects


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _search_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def money(value: str, currency: str) -> dict[str, str]:
    return {"currency_code": currency, "value": value}


def register_client(admin: EmulatorAdmin, client_id: str, client_secret: str) -> None:
    admin.put(client_id, "_clients", "credentials", {"client_secret": client_secret})


def plan_object(
    plan_id: str, *, name: str, price: str, currency: str, unit: str = "MONTH", count: int = 1, created: datetime
) -> dict[str, Any]:
    return {
        "id": plan_id,
        "product_id": "PROD-EMULATED01",
        "name": name,
        "status": "ACTIVE",
        "description": f"{name} plan",
        "billing_cycles": [
            {
                "pricing_scheme": {
                    "version": 1,
                    "fixed_price": money(price, currency),
                    "create_time": _stamp(created),
                    "update_time": _stamp(created),
                },
                "frequency": {"interval_unit": unit, "interval_count": count},
                "tenure_type": "REGULAR",
                "sequence": 1,
                "total_cycles": 0,
            }
        ],
        "payment_preferences": {
            "auto_bill_outstanding": True,
            "setup_fee": money("0", currency),
            "setup_fee_failure_action": "CONTINUE",
            "payment_failure_threshold": 3,
        },
        "quantity_supported": False,
        "create_time": _stamp(created),
        "update_time": _stamp(created),
        "links": [{"href": f"/v1/billing/plans/{plan_id}", "rel": "self", "method": "GET"}],
    }


def subscription_object(
    subscription_id: str,
    *,
    plan_id: str,
    payer_id: str,
    given_name: str,
    surname: str,
    email: str,
    price: str,
    currency: str,
    created: datetime,
    status: str = "ACTIVE",
    country: str = "US",
) -> dict[str, Any]:
    return {
        "id": subscription_id,
        "plan_id": plan_id,
        "start_time": _stamp(created),
        "quantity": "1",
        "subscriber": {
            "email_address": email,
            "payer_id": payer_id,
            "name": {"given_name": given_name, "surname": surname},
            "shipping_address": {
                "name": {"full_name": f"{given_name} {surname}"},
                "address": {
                    "address_line_1": "1 Main Street",
                    "admin_area_2": "Springfield",
                    "postal_code": "12345",
                    "country_code": country,
                },
            },
        },
        "billing_info": {
            "outstanding_balance": money("0.0", currency),
            "cycle_executions": [
                {
                    "tenure_type": "REGULAR",
                    "sequence": 1,
                    "cycles_completed": 1,
                    "cycles_remaining": 0,
                    "total_cycles": 0,
                }
            ],
            "last_payment": {"amount": money(price, currency), "time": _stamp(created)},
            "next_billing_time": _stamp(created + timedelta(days=30)),
            "failed_payments_count": 0,
        },
        "create_time": _stamp(created),
        "update_time": _stamp(created),
        "plan_overridden": False,
        "status": status,
        "status_update_time": _stamp(created),
        "links": [{"href": f"/v1/billing/subscriptions/{subscription_id}", "rel": "self", "method": "GET"}],
    }


def transaction_object(
    transaction_id: str,
    *,
    reference: str,
    reference_type: str,
    amount: str,
    currency: str,
    created: datetime,
    payer_id: str,
    email: str,
    given_name: str,
    surname: str,
    event: str = "T0002",
    status: str = "S",
) -> dict[str, Any]:
    return {
        "transaction_info": {
            "paypal_account_id": payer_id,
            "transaction_id": transaction_id,
            "paypal_reference_id": reference,
            "paypal_reference_id_type": reference_type,
            "transaction_event_code": event,
            "transaction_initiation_date": _search_stamp(created),
            "transaction_updated_date": _search_stamp(created),
            "transaction_amount": money(amount, currency),
            "transaction_status": status,
            "transaction_subject": "Subscription payment",
            "protection_eligibility": "01",
        },
        "payer_info": {
            "account_id": payer_id,
            "email_address": email,
            "address_status": "Y",
            "payer_status": "Y",
            "payer_name": {"given_name": given_name, "surname": surname},
            "country_code": "US",
        },
    }


CLIENT_SECRET_SUFFIX = "-secret"
PLANS = (
    ("P-BASIC0000001", "Basic", "10.00", "MONTH", 1),
    ("P-PRO000000001", "Pro", "49.00", "MONTH", 1),
    ("P-YEARLY000001", "Yearly", "490.00", "YEAR", 1),
)


def demo_objects(customers: int, now: datetime | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(collection, id, object): plans; per customer a subscription and its payments of the last two months;
    every fifth cancelled, every seventh with a denied payment, every ninth with a refund."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=58)  # every customer's last payment covers today: its MRR is current
    for plan_id, name, price, unit, count in PLANS:
        yield (
            "plans",
            plan_id,
            plan_object(plan_id, name=name, price=price, currency="USD", unit=unit, count=count, created=start),
        )
    serial = itertools.count(1)
    for n in range(1, customers + 1):
        created = start + timedelta(days=n % 27, minutes=n)
        plan_id, _, price, unit, _ = PLANS[n % len(PLANS)]
        sid, payer = f"I-EMU{n:08d}", f"PAYER{n:08d}"
        person = {"given_name": "Demo", "surname": f"Customer {n}", "email": f"demo{n}@example.com"}
        yield (
            "subscriptions",
            sid,
            subscription_object(
                sid,
                plan_id=plan_id,
                payer_id=payer,
                price=price,
                currency="USD",
                created=created,
                status="CANCELLED" if n % 5 == 0 else "ACTIVE",
                **person,
            ),
        )
        payments = 1 if unit == "YEAR" else 2
        for k in range(payments):
            tid = f"TX{next(serial):015d}"
            denied = n % 7 == 0 and k == payments - 1
            yield (
                "transactions",
                tid,
                transaction_object(
                    tid,
                    reference=sid,
                    reference_type="SUB",
                    amount=price,
                    currency="USD",
                    created=created + timedelta(days=30 * k, hours=1),
                    payer_id=payer,
                    status="D" if denied else "S",
                    **person,
                ),
            )
            if n % 9 == 0 and k == 0:
                rid = f"TX{next(serial):015d}"
                yield (
                    "transactions",
                    rid,
                    transaction_object(
                        rid,
                        reference=tid,
                        reference_type="TXN",
                        amount=f"-{price}",
                        currency="USD",
                        created=created + timedelta(days=2),
                        payer_id=payer,
                        event="T1107",
                        **person,
                    ),
                )


#: The emulator has no request limit: a demo source lifts the default budget (5/s) so that imports
#: and the benchmark measure the connector, not the budget.
LOCAL_RATE = 200.0


def seed_demo(base_url: str, *, customers: int, tenant: str) -> dict[str, Any]:
    """A demo business for the client id `tenant`; the credentials and options of a source for it."""
    admin = EmulatorAdmin(base_url)
    admin.drop(tenant)
    secret = f"{tenant}{CLIENT_SECRET_SUFFIX}"
    register_client(admin, tenant, secret)
    for collection_name, object_id, obj in demo_objects(customers):
        admin.put(tenant, collection_name, object_id, obj)
    return {
        "credentials": {"client_id": tenant, "client_secret": secret, "environment": "sandbox"},
        "options": {"api_base": base_url, "requests_per_second": LOCAL_RATE},
    }


class _PlainReader:
    """The plain fetch's requests: one `requests` session, one call at a time."""

    def __init__(self, base_url: str, credentials: Mapping[str, Any]) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        token = self.session.post(
            f"{base_url}/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(str(credentials["client_id"]), str(credentials["client_secret"])),
            timeout=30,
        )
        token.raise_for_status()
        self.session.headers.update(
            {"Authorization": f"Bearer {token.json()['access_token']}", "Prefer": "return=representation"}
        )
        self.oldest: int | None = None  # the oldest plan's creation, unix seconds (set by `plans`)

    def get(self, path: str, params: dict[str, Any]) -> Any:
        response = self.session.get(f"{self.base_url}{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def subscriptions_of(self, plan_id: str) -> int:
        read, page = 0, 1
        while True:
            body = self.get(
                "/v1/billing/subscriptions", {"plan_ids": plan_id, "page_size": SUBSCRIPTION_PAGE_MAX, "page": page}
            )
            read += len(body["subscriptions"])
            if not any(link["rel"] == "next" for link in body.get("links", [])):
                return read
            page += 1

    def plans(self, with_subscriptions: bool) -> int:
        """Every plan (and each plan's subscriptions); the objects read."""
        read, page, times = 0, 1, []
        while True:
            body = self.get("/v1/billing/plans", {"page_size": PLAN_PAGE_MAX, "page": page, "total_required": "true"})
            read += len(body["plans"])
            times += [int(_time(plan["create_time"]).timestamp()) for plan in body["plans"]]
            for plan in body["plans"] if with_subscriptions else []:
                read += self.subscriptions_of(plan["id"])
            if page >= body["total_pages"]:
                self.oldest = min(times, default=None)
                return read
            page += 1

    def window(self, start: int, end: int, paying: set[str]) -> int:
        """One window of the transaction search, page by page; adds the paying subscriptions to `paying`."""
        read, page = 0, 1
        while True:
            body = self.get(
                "/v1/reporting/transactions",
                {
                    "start_date": _stamp(datetime.fromtimestamp(start, UTC)),
                    "end_date": _stamp(datetime.fromtimestamp(end, UTC)),
                    "fields": "all",
                    "page_size": TRANSACTION_PAGE_MAX,
                    "page": page,
                },
            )
            read += len(body["transaction_details"])
            paying |= {
                t["transaction_info"]["paypal_reference_id"]
                for t in body["transaction_details"]
                if t["transaction_info"].get("paypal_reference_id_type") == "SUB"
            }
            if page >= body["total_pages"]:
                return read
            page += 1


def plain_fetch(base_url: str, credentials: Mapping[str, Any]) -> int:
    """Every list the connector reads, with plain `requests`: a token; plans (read three times by the
    connector: plans, and per plan the subscriptions for customers and for subscriptions); the
    transaction search window by window from the oldest plan's creation day (read twice: invoices and
    transactions, each after the plans); the first two paying subscriptions and their plans by id, then
    the plans and their subscriptions once more (an invoice line's plan and period)."""
    reader = _PlainReader(base_url, credentials)
    count = sum(reader.plans(with_subscriptions=reading > 0) for reading in range(3))
    now, day = int(datetime.now(UTC).timestamp()), 86_400
    paying: set[str] = set()
    for _ in range(2):  # each walk starts at the oldest plan's creation day, read first as the connector does
        count += reader.plans(with_subscriptions=False)
        if reader.oldest is None:
            continue
        start = max(reader.oldest, now - 3 * 365 * day)
        start -= start % day
        while start <= now:
            count += reader.window(start, min(start + 31 * day - 1, now), paying)
            start += 31 * day
    # an invoice line's plan and period: the first two paying subscriptions and their plans by id, then
    # every plan and every plan's subscriptions listed once more (the connector's `_subscription_plan`)
    first = sorted(paying)[:2]
    plans = {reader.get(f"/v1/billing/subscriptions/{sid}", {})["plan_id"] for sid in first}
    count += len(first) + sum(1 for plan_id in sorted(plans) if reader.get(f"/v1/billing/plans/{plan_id}", {}))
    if len(paying) > len(first):
        count += reader.plans(with_subscriptions=True)
    return count
