"""PayPal: billing plans, subscriptions and the transaction search (docs/connectors.md#paypal).

PayPal has no customer object and no list of every subscription. Subscriptions are found per plan:
`GET /v1/billing/plans` (20 a page) and, for each plan, `GET /v1/billing/subscriptions?plan_ids=<plan>`
(the list PayPal's server SDK declares, filtered by plan). Each subscription's subscriber is one
customer, keyed by the subscription id. Payments come from the transaction search
(`GET /v1/reporting/transactions`, 31 days a request, from the oldest plan's creation day, at most
three years back): a payment of a
subscription (`paypal_reference_id_type` `SUB`) stands for one invoice and is its payment; a refund
(`T11xx`) refers to the payment it refunds.
"""

from __future__ import annotations

import calendar
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote
from weakref import WeakKeyDictionary

from sourcesync.connectors.base import (
    ConnectionSetting,
    ConnectorSpec,
    ErrorPolicy,
    JsonObject,
    MappingContext,
    OAuth2Auth,
    PageNumberPagination,
    RequestSpec,
    Stream,
)
from sourcesync.connectors.errors import ProviderNotFoundError, ProviderResponseError
from sourcesync.connectors.kit.date_windows import DAY, DateWindowPagination, iso
from sourcesync.connectors.kit.fields import cents, currency, dig, first, required_ts, ts
from sourcesync.connectors.limits import PROVIDER_RATE_LIMITS
from sourcesync.records import (
    AnyRecord,
    CustomerRecord,
    InvoiceRecord,
    LineItem,
    PlanRecord,
    RecordKind,
    SubscriptionRecord,
    TransactionRecord,
)

CUSTOMERS, PLANS, SUBSCRIPTIONS = RecordKind.CUSTOMERS, RecordKind.PLANS, RecordKind.SUBSCRIPTIONS
INVOICES, TRANSACTIONS = RecordKind.INVOICES, RecordKind.TRANSACTIONS

SubscriptionStatus = Literal["active", "trialing", "past_due", "cancelled", "unpaid", "incomplete"]

#: Largest pages: plans and subscriptions 20, the transaction search 500.
PLAN_PAGE_SIZE = 20
SUBSCRIPTION_PAGE_SIZE = 20
TRANSACTION_PAGE_SIZE = 500
#: A subscription the buyer has not approved yet, or approved but not yet started: no customer yet.
NOT_STARTED = {"APPROVAL_PENDING", "APPROVED"}

_PLANS_PAGES = PageNumberPagination(
    page_param="page", size_param="page_size", items_field="plans", total_pages_field="total_pages"
)
#: The transaction search from the oldest plan's creation day (a subscription's payments are never older
#: than its plan; plans are never deleted, only deactivated), at most three years back.
_TRANSACTION_WINDOWS = DateWindowPagination(
    items_field="transaction_details",
    since_path="/v1/billing/plans",
    since_items_field="plans",
    since_field="create_time",
    since_params={"total_required": "true"},
    since_page_size=PLAN_PAGE_SIZE,
)


# ------------------------------------------------------------------------------------------ subscriptions


def plan_subscriptions(ctx: MappingContext, plan_id: str) -> Iterator[JsonObject]:
    """Every subscription of one plan, page by page (`page=N`; the answer has no page count: the
    next page is there when the answer links to one, `rel: next`)."""
    page = 1
    while True:
        body = ctx.get_json(
            "/v1/billing/subscriptions",
            {"plan_ids": plan_id, "page_size": SUBSCRIPTION_PAGE_SIZE, "page": page},
        )
        items = dig(body, "subscriptions") or []
        if not isinstance(items, list):
            raise ProviderResponseError("a subscription list without a subscriptions list", system="paypal")
        yield from (item for item in items if isinstance(item, dict))
        links = dig(body, "links") or []
        more = any(isinstance(link, dict) and link.get("rel") == "next" for link in links)
        if not items or not more:
            return
        page += 1


def _started(subscription: JsonObject) -> bool:
    return subscription.get("status") not in NOT_STARTED


def _customer_record(subscription: JsonObject) -> CustomerRecord:
    subscriber = subscription.get("subscriber") if isinstance(subscription.get("subscriber"), dict) else {}
    assert isinstance(subscriber, dict)
    full = " ".join(p for p in (dig(subscriber, "name.given_name"), dig(subscriber, "name.surname")) if p)
    return CustomerRecord(
        external_id=str(subscription["id"]),
        name=first(full, subscriber.get("email_address")) or str(subscription["id"]),
        email=subscriber.get("email_address") or None,
        country=dig(subscriber, "shipping_address.address.country_code") or None,
        created_at=ts(subscription.get("create_time")),
    )


def _status(subscription: JsonObject) -> SubscriptionStatus:
    status = subscription.get("status")
    if status == "ACTIVE":
        executions = dig(subscription, "billing_info.cycle_executions") or []
        in_trial = any(
            isinstance(e, dict)
            and e.get("tenure_type") == "TRIAL"
            and isinstance(e.get("cycles_remaining"), int)
            and e["cycles_remaining"] > 0
            for e in executions
        )
        if in_trial:
            return "trialing"
        failed = dig(subscription, "billing_info.failed_payments_count")
        owed = cents(dig(subscription, "billing_info.outstanding_balance.value")) or 0
        return "past_due" if isinstance(failed, int) and failed > 0 and owed > 0 else "active"
    if status == "SUSPENDED":
        return "unpaid"  # paused by the merchant or after failed payments: collects nothing
    if status in ("CANCELLED", "EXPIRED"):
        return "cancelled"
    raise ValueError(f"unknown subscription status {status!r}")


def _subscription_record(subscription: JsonObject) -> SubscriptionRecord:
    status = _status(subscription)
    quantity = subscription.get("quantity")
    return SubscriptionRecord(
        external_id=str(subscription["id"]),
        customer_external_id=str(subscription["id"]),
        plan_external_id=subscription.get("plan_id") or None,
        quantity=int(quantity) if quantity not in (None, "") else 1,
        status=status,
        currency=currency(
            first(
                dig(subscription, "billing_info.last_payment.amount.currency_code"),
                dig(subscription, "billing_info.outstanding_balance.currency_code"),
            )
        ),
        started_at=required_ts(first(subscription.get("start_time"), subscription.get("create_time")), "start_time"),
        cancelled_at=ts(subscription.get("status_update_time")) if status == "cancelled" else None,
    )


def map_plan_customers(obj: JsonObject, ctx: MappingContext) -> list[AnyRecord]:
    """A plan gives the customers of its subscriptions; a subscription (one customer's fetch) its own
    customer and subscription."""
    if "plan_id" in obj or "subscriber" in obj:
        return [_customer_record(obj), _subscription_record(obj)] if _started(obj) else []
    return [_customer_record(s) for s in plan_subscriptions(ctx, str(obj["id"])) if _started(s)]


def map_plan_subscriptions(obj: JsonObject, ctx: MappingContext) -> list[SubscriptionRecord]:
    return [_subscription_record(s) for s in plan_subscriptions(ctx, str(obj["id"])) if _started(s)]


_UNITS: dict[str, Literal["day", "week", "month", "year"]] = {
    "DAY": "day",
    "WEEK": "week",
    "MONTH": "month",
    "YEAR": "year",
}


def _regular(obj: JsonObject) -> JsonObject:
    cycles = [c for c in obj.get("billing_cycles") or [] if isinstance(c, dict)]
    regular = next((c for c in cycles if c.get("tenure_type") == "REGULAR"), None)
    if regular is None:
        raise ValueError("a plan without a regular billing cycle")
    return regular


def _regular_cycle(plan: JsonObject) -> tuple[str, int]:
    """A plan's regular billing interval: (`day`|`week`|`month`|`year`, count)."""
    regular = _regular(plan)
    unit = _UNITS.get(str(dig(regular, "frequency.interval_unit")))
    if unit is None:
        raise ValueError(f"unknown interval unit {dig(regular, 'frequency.interval_unit')!r}")
    return unit, int(dig(regular, "frequency.interval_count") or 1)


def map_plan(obj: JsonObject, ctx: MappingContext) -> list[PlanRecord]:
    unit, count = _regular_cycle(obj)
    price = dig(_regular(obj), "pricing_scheme.fixed_price")
    return [
        PlanRecord(
            external_id=str(obj["id"]),
            name=obj.get("name") or str(obj["id"]),
            interval_count=count,
            interval_unit=unit,
            currency=currency(dig(price, "currency_code")) if isinstance(price, dict) else None,
            amount_in_cents=cents(dig(price, "value")) if isinstance(price, dict) else None,  # None: tiered
        )
    ]


# ------------------------------------------------------------------------------------------ transactions

#: Transaction status: S success, D denied, V reversed (the money moved, then came back: its own
#: transaction), P pending (nothing yet: skipped until it settles).
_RESULTS: dict[str, Literal["successful", "failed"]] = {"S": "successful", "V": "successful", "D": "failed"}


def _info(obj: JsonObject) -> JsonObject:
    info = obj.get("transaction_info")
    if not isinstance(info, dict):
        raise ValueError("a transaction without transaction_info")
    return info


def _is_refund(info: JsonObject) -> bool:
    return str(info.get("transaction_event_code") or "").startswith("T11")


def _subscription_payment(info: JsonObject) -> bool:
    return (
        info.get("paypal_reference_id_type") == "SUB"
        and bool(info.get("paypal_reference_id"))
        and not _is_refund(info)
        and (cents(dig(info, "transaction_amount.value")) or 0) > 0
    )


#: Per connector (one worker): subscription id -> its plan id, and plan id -> its regular cycle; read once
#: each, so that an invoice line names its plan and covers one billing period. The first few are read by
#: id (one customer's fetch needs one); past that, every plan and every plan's subscriptions are listed
#: once (20 a page, as the customers' partition reads them) instead of one request per subscription.
_KNOWN: WeakKeyDictionary[object, dict[str, Any]] = WeakKeyDictionary()
_KNOWN_LOCK = threading.Lock()
BY_ID_BEFORE_LISTING = 2
_LISTED = "listed"
_MISSES = "misses"


def _known(ctx: MappingContext) -> dict[str, Any]:
    with _KNOWN_LOCK:  # connectors of several threads share the mapping
        return _KNOWN.setdefault(ctx, {})


def all_plans(ctx: MappingContext) -> Iterator[JsonObject]:
    """Every plan, page by page (20 a page, with their billing cycles: `Prefer: return=representation`)."""
    page = 1
    while True:
        body = ctx.get_json("/v1/billing/plans", {"page_size": PLAN_PAGE_SIZE, "page": page, "total_required": "true"})
        items = dig(body, "plans") or []
        if not isinstance(items, list):
            raise ProviderResponseError("a plan list without a plans list", system="paypal")
        yield from (item for item in items if isinstance(item, dict))
        pages = dig(body, "total_pages")
        if not items or not isinstance(pages, int) or page >= pages:
            return
        page += 1


def _list_plans_and_subscriptions(ctx: MappingContext, known: dict[str, Any]) -> None:
    """Every plan's cycle and every subscription's plan, from the lists (once per connector)."""
    for plan in all_plans(ctx):
        plan_id = str(plan["id"])
        if plan.get("billing_cycles"):  # a minimal representation leaves the cycle to a read by id
            known[f"plan:{plan_id}"] = _regular_cycle(plan)
        for subscription in plan_subscriptions(ctx, plan_id):
            known[f"subscription:{subscription['id']}"] = subscription.get("plan_id") or plan_id
    known[_LISTED] = True


def _by_id(ctx: MappingContext, known: dict[str, Any], key: str) -> bool:
    """True when `key` is to be read by id: not listed yet and among the first few needed."""
    if key in known or known.get(_LISTED):
        return key not in known
    known[_MISSES] = known.get(_MISSES, 0) + 1
    if known[_MISSES] <= BY_ID_BEFORE_LISTING:
        return True
    _list_plans_and_subscriptions(ctx, known)
    return key not in known  # one created after the lists were read


def _plan_cycle(ctx: MappingContext, plan_id: str) -> tuple[str, int] | None:
    known = _known(ctx)
    key = f"plan:{plan_id}"
    if key not in known:
        try:
            plan = ctx.get_json(f"/v1/billing/plans/{quote(plan_id, safe='')}")
        except ProviderNotFoundError:
            plan = None
        known[key] = _regular_cycle(plan) if isinstance(plan, dict) else None
    cycle: tuple[str, int] | None = known[key]
    return cycle


def _subscription_plan(ctx: MappingContext, subscription_id: str) -> str | None:
    known = _known(ctx)
    key = f"subscription:{subscription_id}"
    if _by_id(ctx, known, key):
        try:
            subscription = ctx.get_json(f"/v1/billing/subscriptions/{quote(subscription_id, safe='')}")
        except ProviderNotFoundError:
            subscription = None
        known[key] = subscription.get("plan_id") if isinstance(subscription, dict) else None
    plan_id: str | None = known[key]
    return plan_id


def _add_interval(moment: datetime, unit: str, count: int) -> datetime:
    if unit == "day":
        return moment + timedelta(days=count)
    if unit == "week":
        return moment + timedelta(weeks=count)
    months = count * (12 if unit == "year" else 1)
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def map_invoice(obj: JsonObject, ctx: MappingContext) -> list[InvoiceRecord]:
    """A subscription payment: the invoice it stands for, with one line for the subscription's plan over
    one billing period from the payment (the plan's regular cycle; read once per subscription and plan)."""
    info = _info(obj)
    if not _subscription_payment(info) or info.get("transaction_status") not in _RESULTS:
        return []
    amount = cents(dig(info, "transaction_amount.value"))
    code = currency(dig(info, "transaction_amount.currency_code"))
    if amount is None or code is None:
        raise ValueError("a payment without an amount or currency")
    subscription = str(info["paypal_reference_id"])
    paid = required_ts(info.get("transaction_initiation_date"), "transaction_initiation_date")
    plan_id = _subscription_plan(ctx, subscription)
    cycle = _plan_cycle(ctx, plan_id) if plan_id else None
    return [
        InvoiceRecord(
            external_id=str(info["transaction_id"]),
            customer_external_id=subscription,
            date=paid,
            currency=code,
            line_items=(
                LineItem(
                    external_id=str(info["transaction_id"]),
                    type="subscription",
                    subscription_external_id=subscription,
                    plan_external_id=plan_id,
                    service_period_start=paid if cycle else None,
                    service_period_end=_add_interval(paid, *cycle) if cycle else None,
                    amount_in_cents=amount,
                    description=info.get("transaction_subject") or None,
                ),
            ),
            total_in_cents=amount,
        )
    ]


def map_transaction(obj: JsonObject, ctx: MappingContext) -> list[TransactionRecord]:
    info = _info(obj)
    result = _RESULTS.get(str(info.get("transaction_status")))
    if result is None:
        return []
    amount = cents(dig(info, "transaction_amount.value"))
    date = required_ts(info.get("transaction_initiation_date"), "transaction_initiation_date")
    if _subscription_payment(info):
        return [
            TransactionRecord(
                external_id=str(info["transaction_id"]),
                invoice_external_id=str(info["transaction_id"]),
                customer_external_id=str(info["paypal_reference_id"]),
                type="payment",
                date=date,
                result=result,
                amount_in_cents=amount,
            )
        ]
    if _is_refund(info) and info.get("paypal_reference_id_type") == "TXN" and info.get("paypal_reference_id"):
        return [
            TransactionRecord(
                external_id=str(info["transaction_id"]),
                invoice_external_id=str(info["paypal_reference_id"]),
                type="refund",
                date=date,
                result=result,
                amount_in_cents=abs(amount) if amount is not None else None,
            )
        ]
    return []  # not subscription revenue (a one-off payment, a fee, a transfer)


# ------------------------------------------------------------------------------------------ one customer


def _windows_since(ctx: MappingContext, since: datetime) -> Iterator[JsonObject]:
    """Every transaction from `since` (at most three years back) until now, window by window."""
    now = datetime.now(UTC).timestamp()
    start = max(int(since.timestamp()), int(now) - _TRANSACTION_WINDOWS.history_days * DAY)
    start -= start % DAY
    while start <= now:
        end = min(start + _TRANSACTION_WINDOWS.window_days * DAY - 1, int(now))
        page = 1
        while True:
            body = ctx.get_json(
                "/v1/reporting/transactions",
                {
                    "start_date": iso(start),
                    "end_date": iso(end),
                    "fields": "all",
                    "page_size": TRANSACTION_PAGE_SIZE,
                    "page": page,
                },
            )
            items = dig(body, "transaction_details") or []
            yield from (item for item in items if isinstance(item, dict))
            pages = dig(body, "total_pages")
            if not items or not isinstance(pages, int) or page >= pages:
                break
            page += 1
        start += _TRANSACTION_WINDOWS.window_days * DAY


def fetch_customer(ctx: MappingContext, external_id: str) -> list[AnyRecord]:
    """One customer (a subscription's subscriber): its subscription, and the invoices and payments of
    that subscription from the transaction search since it was created. Refunds carry no customer and
    are left to full re-syncs."""
    try:
        subscription = ctx.get_json(f"/v1/billing/subscriptions/{quote(external_id, safe='')}")
    except ProviderNotFoundError:
        return []
    if not isinstance(subscription, dict) or not _started(subscription):
        return []
    records: list[AnyRecord] = [_customer_record(subscription), _subscription_record(subscription)]
    since = ts(subscription.get("create_time")) or datetime.now(UTC)
    for obj in _windows_since(ctx, since):
        info = _info(obj)
        if _subscription_payment(info) and info.get("paypal_reference_id") == external_id:
            records.extend(map_invoice(obj, ctx))
            records.extend(map_transaction(obj, ctx))
    return records


# ------------------------------------------------------------------------------------------ the spec

SPEC = ConnectorSpec(
    system="paypal",
    api_base="https://{environment}",
    settings={
        "environment": ConnectionSetting(
            choices={"live": "api-m.paypal.com", "sandbox": "api-m.sandbox.paypal.com"}, default="live"
        )
    },
    auth=OAuth2Auth("/v1/oauth2/token"),  # client credentials, the client's id and secret as HTTP Basic
    pagination=_PLANS_PAGES,
    page_size=TRANSACTION_PAGE_SIZE,
    default_headers={"Accept": "application/json", "Prefer": "return=representation"},
    streams={
        CUSTOMERS: Stream(CUSTOMERS, "/v1/billing/plans", map_plan_customers, page_size=PLAN_PAGE_SIZE),
        PLANS: Stream(PLANS, "/v1/billing/plans", map_plan, page_size=PLAN_PAGE_SIZE),
        SUBSCRIPTIONS: Stream(SUBSCRIPTIONS, "/v1/billing/plans", map_plan_subscriptions, page_size=PLAN_PAGE_SIZE),
        INVOICES: Stream(
            INVOICES,
            "/v1/reporting/transactions",
            map_invoice,
            params={"fields": "all"},
            pagination=_TRANSACTION_WINDOWS,
        ),
        TRANSACTIONS: Stream(
            TRANSACTIONS,
            "/v1/reporting/transactions",
            map_transaction,
            params={"fields": "all"},
            pagination=_TRANSACTION_WINDOWS,
        ),
    },
    check_credentials=RequestSpec("/v1/billing/plans", {"page_size": 1}),
    rate_limit=PROVIDER_RATE_LIMITS["paypal"],
    error_policy=ErrorPolicy(request_id_header="Paypal-Debug-Id"),
    customer_fetcher=fetch_customer,
)
