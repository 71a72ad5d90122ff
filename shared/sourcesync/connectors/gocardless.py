"""GoCardless (API version 2015-07-06), described as data plus mapping functions (see
docs/connectors.md, "GoCardless", for every decision).

GoCardless collects Direct Debit payments against mandates; it has no plans and no invoices.

- customers: `GET /customers`.
- plans: `GET /subscriptions`: a subscription carries its own amount, currency and interval, so each
  subscription is its own plan (`PlanRecord` id = the subscription's id, `SB…`).
- subscriptions: `GET /subscriptions`; the customer comes from the subscription's mandate.
- invoices: `GET /payments`: a payment is what GoCardless asks the customer for, so each payment stands
  for an invoice (id = the payment's id, `PM…`) with one line (a subscription line when the payment
  belongs to a subscription).
- transactions: `GET /payments` again: the collection of each payment once it settles, and its refunds
  (read when the payment says `amount_refunded > 0`: `GET /refunds?payment=PM…`, or all refunds once).
- mandates: each mandate's customer is needed (subscriptions and payments link to a mandate only): the
  first few are read by id, then `GET /mandates` is listed once per connector (an import needs them all;
  a customer re-sync one or two); while a page of 100 objects or more is mapped, it is listed at once.
  Subscriptions are read the same way by the invoices, for the service period a subscription's payment
  pays for (from its charge date, one interval of the subscription), and refunds by the transactions.

Lists are paged with `limit` (at most 500) and `after=<meta.cursors.after>`.
"""

from __future__ import annotations

import threading
import weakref
from calendar import monthrange
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from sourcesync.connectors.base import (
    BearerAuth,
    ConnectionSetting,
    ConnectorSpec,
    JsonObject,
    MappingContext,
    RequestSpec,
    Stream,
)
from sourcesync.connectors.errors import ProviderNotFoundError, ProviderResponseError
from sourcesync.connectors.kit.envelope import EnvelopeCursorPagination
from sourcesync.connectors.kit.fields import currency, dig, first, integer, required_ts, ts
from sourcesync.connectors.kit.http import ErrorPolicy
from sourcesync.connectors.kit.pagination import Headers, RawPage
from sourcesync.connectors.limits import PROVIDER_RATE_LIMITS
from sourcesync.records import (
    CustomerRecord,
    InvoiceRecord,
    LineItem,
    PlanRecord,
    RecordKind,
    SubscriptionRecord,
    TransactionRecord,
)

GOCARDLESS_HOSTS: Mapping[str, str] = {"live": "api.gocardless.com", "sandbox": "api-sandbox.gocardless.com"}
GOCARDLESS_API_VERSION = "2015-07-06"

#: The largest page GoCardless serves.
GOCARDLESS_PAGE_SIZE = 500

SubscriptionStatus = Literal["active", "trialing", "past_due", "cancelled", "unpaid", "incomplete"]
Result = Literal["successful", "failed"]

#: GoCardless subscription status -> record status. `finished` (its last payment was made) and
#: `cancelled` end it; `paused` collects nothing (the record model has no `paused`).
SUBSCRIPTION_STATUS: Mapping[str, SubscriptionStatus] = {
    "pending_customer_approval": "incomplete",
    "customer_approval_denied": "cancelled",
    "active": "active",
    "finished": "cancelled",
    "cancelled": "cancelled",
    "paused": "unpaid",
}

#: Interval unit -> record unit.
INTERVAL_UNIT: Mapping[str, Literal["week", "month", "year"]] = {"weekly": "week", "monthly": "month", "yearly": "year"}

#: Payments that never became a claim on the customer: neither an invoice nor a transaction.
SKIPPED_PAYMENT_STATUSES = frozenset({"pending_customer_approval", "customer_approval_denied", "cancelled"})

#: Payment status -> the collection's result; `pending_submission` and `submitted` are skipped until
#: they settle. A charged-back payment was taken back by the payer's bank: it failed in the end.
PAYMENT_RESULT: Mapping[str, Result] = {
    "confirmed": "successful",
    "paid_out": "successful",
    "failed": "failed",
    "charged_back": "failed",
}

#: Refund status -> result; `created`, `pending_submission` and `submitted` are skipped until they settle.
REFUND_RESULT: Mapping[str, Result] = {
    "paid": "successful",
    "cancelled": "failed",
    "bounced": "failed",
    "funds_returned": "failed",
}


# --------------------------------------------------------------------------------------------------
# What payments and subscriptions only link to: a mandate's customer, a subscription's interval
# --------------------------------------------------------------------------------------------------

#: A connector reads the first few linked objects one by one (a customer re-sync needs one or two), and
#: lists the whole resource (pages of 500) once it needs more: an import needs them all.
BY_ID_BEFORE_LISTING = 2
#: ... unless the page being mapped has at least this many objects: a page of an import's list needs
#: far more linked objects than a few reads by id would spare, so the resource is listed at once.
LIST_AT_ONCE_FROM = 100

#: The size of the stream page being mapped on this thread (a worker parses a page, then maps it, on one
#: thread), noted by the streams' pagination (`_NotingPagination`); nested lists do not touch it.
_PAGE = threading.local()


class _NotingPagination(EnvelopeCursorPagination):
    """GoCardless's pagination for the streams: also notes the size of the page it parsed (`_PAGE`)."""

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        raw = super().parse(body, page_size, cursor, headers)
        _PAGE.size = len(raw.items)
        return raw


class _Linked:
    """Per connector (a worker's `MappingContext`): what was read of the objects that payments and
    subscriptions link to. A mandate never changes customer, a subscription never changes interval, and
    refunds are grouped by payment."""

    def __init__(self) -> None:
        self.facts: dict[str, dict[str, tuple[Any, ...]]] = {}
        self.refunds: dict[str, list[JsonObject]] = {}
        self.listed: set[str] = set()
        self.misses: dict[str, int] = {}

    def should_list(self, resource: str) -> bool:
        """True the first time `resource` is needed after `BY_ID_BEFORE_LISTING` reads by id."""
        if resource in self.listed:
            return False
        self.misses[resource] = self.misses.get(resource, 0) + 1
        return self.misses[resource] > BY_ID_BEFORE_LISTING or getattr(_PAGE, "size", 0) >= LIST_AT_ONCE_FROM


_LINKED: weakref.WeakKeyDictionary[Any, _Linked] = weakref.WeakKeyDictionary()


def _linked(ctx: MappingContext) -> _Linked:
    found = _LINKED.get(ctx)
    if found is None:
        found = _LINKED[ctx] = _Linked()
    return found


def _facts_of(resource: str, obj: JsonObject) -> tuple[Any, ...]:
    if resource == "mandates":
        return (dig(obj, "links.customer"),)
    return (obj.get("interval"), obj.get("interval_unit"))


def _lookup(ctx: MappingContext, resource: str, object_id: str) -> tuple[Any, ...] | None:
    """The facts of one mandate or subscription (None when it is gone): read by id, or from the whole
    list once more than a few were needed; one created after the list was read is read by id."""
    linked = _linked(ctx)
    known = linked.facts.setdefault(resource, {})
    if object_id not in known and linked.should_list(resource):
        for obj in ctx.list_all(f"/{resource}"):
            known[str(obj["id"])] = _facts_of(resource, obj)
        linked.listed.add(resource)
    if object_id not in known:
        try:
            answer = ctx.get_json(f"/{resource}/{quote(object_id, safe='')}")
        except ProviderNotFoundError:
            return None
        found = answer.get(resource) if isinstance(answer, dict) else None
        if not isinstance(found, dict):
            raise ProviderResponseError(f"an answer without {resource!r}", system="gocardless")
        known[object_id] = _facts_of(resource, found)
    return known[object_id]


def refunds_of(ctx: MappingContext, payment: str) -> list[JsonObject]:
    """A payment's refunds: listed for the payment, or taken from every refund of the account once more
    than a few payments needed theirs; a payment with none there (refunded since) is asked for its own."""
    linked = _linked(ctx)
    if "refunds" not in linked.listed and linked.should_list("refunds"):
        for refund in ctx.list_all("/refunds"):
            linked.refunds.setdefault(str(dig(refund, "links.payment")), []).append(refund)
        linked.listed.add("refunds")
    if payment in linked.refunds:
        return linked.refunds[payment]
    return list(ctx.list_all("/refunds", {"payment": payment}))


def mandate_customer(ctx: MappingContext, mandate: str) -> str:
    """The customer of `mandate` (subscriptions and payments name a mandate, not a customer)."""
    facts = _lookup(ctx, "mandates", mandate)
    customer = facts[0] if facts else None
    if not isinstance(customer, str) or not customer:
        raise ValueError(f"mandate {mandate} names no customer")
    return customer


def service_period_end(ctx: MappingContext, subscription: str, start: datetime) -> datetime | None:
    """The end of the period a subscription's payment charged on `start` pays for: one interval of the
    subscription later (None when the subscription is gone)."""
    facts = _lookup(ctx, "subscriptions", subscription)
    if facts is None:
        return None
    interval, unit = integer(facts[0]) or 1, facts[1]
    if unit == "weekly":
        return start + timedelta(weeks=interval)
    months = interval * (12 if unit == "yearly" else 1)
    if unit not in ("monthly", "yearly"):
        return None
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, monthrange(year, month)[1]))


def _mandate(obj: JsonObject) -> str:
    mandate = dig(obj, "links.mandate")
    if not isinstance(mandate, str) or not mandate:
        raise ValueError("links.mandate is missing")
    return mandate


# --------------------------------------------------------------------------------------------------
# Mapping functions
# --------------------------------------------------------------------------------------------------


def map_customer(obj: JsonObject, ctx: MappingContext) -> list[CustomerRecord]:
    if isinstance(obj.get("customers"), dict):  # `GET /customers/{id}` wraps the object in its name
        obj = obj["customers"]
    full_name = " ".join(part for part in (obj.get("given_name"), obj.get("family_name")) if part)
    return [
        CustomerRecord(
            external_id=obj["id"],
            name=first(full_name, obj.get("company_name"), obj.get("email"), obj["id"]),
            email=obj.get("email") or None,
            company=obj.get("company_name") or None,
            country=obj.get("country_code") or None,
            created_at=ts(obj.get("created_at")),
        )
    ]


def map_subscription_plan(obj: JsonObject, ctx: MappingContext) -> list[PlanRecord]:
    """A subscription's own terms, as the plan of that one subscription (GoCardless has no plans)."""
    return [
        PlanRecord(
            external_id=obj["id"],
            name=obj.get("name") or obj["id"],
            interval_count=integer(obj.get("interval")) or 1,
            interval_unit=INTERVAL_UNIT[obj["interval_unit"]],
            currency=currency(obj.get("currency")),
            amount_in_cents=integer(obj.get("amount")),
        )
    ]


def map_subscription(obj: JsonObject, ctx: MappingContext) -> list[SubscriptionRecord]:
    status = SUBSCRIPTION_STATUS[obj["status"]]
    return [
        SubscriptionRecord(
            external_id=obj["id"],
            customer_external_id=mandate_customer(ctx, _mandate(obj)),
            plan_external_id=obj["id"],
            subscription_set_external_id=obj["id"],
            quantity=1,
            status=status,
            currency=currency(obj.get("currency")),
            started_at=ts(obj.get("start_date")) or required_ts(obj.get("created_at"), "created_at"),
            # GoCardless keeps no cancellation time on the subscription; `end_date` where it ended by it
            cancelled_at=ts(obj.get("end_date")) if status == "cancelled" else None,
        )
    ]


def _payment_date(obj: JsonObject) -> Any:
    return obj.get("charge_date") or obj.get("created_at")


def map_payment_invoice(obj: JsonObject, ctx: MappingContext) -> list[InvoiceRecord]:
    """A payment as the invoice it stands for: one line of the payment's amount."""
    if obj.get("status") in SKIPPED_PAYMENT_STATUSES:
        return []
    code = currency(obj.get("currency"))
    if code is None:
        raise ValueError("currency is missing")
    amount = integer(obj.get("amount"))
    if amount is None:
        raise ValueError("amount is missing")
    subscription = dig(obj, "links.subscription") or None
    date = required_ts(_payment_date(obj), "charge_date")
    period_end = service_period_end(ctx, subscription, date) if subscription else None
    line = LineItem(
        external_id=obj["id"],
        type="subscription" if subscription else "one_time",
        subscription_external_id=subscription,
        plan_external_id=subscription,  # each subscription is its own plan
        service_period_start=date if period_end else None,
        service_period_end=period_end,
        amount_in_cents=amount,
        description=obj.get("description") or obj.get("reference") or None,
    )
    return [
        InvoiceRecord(
            external_id=obj["id"],
            customer_external_id=mandate_customer(ctx, _mandate(obj)),
            date=date,
            currency=code,
            line_items=(line,),
            total_in_cents=amount,
        )
    ]


def map_payment_transactions(obj: JsonObject, ctx: MappingContext) -> list[TransactionRecord]:
    """The collection of a settled payment and its settled refunds, on the payment's invoice."""
    if obj.get("status") in SKIPPED_PAYMENT_STATUSES:
        return []
    records: list[TransactionRecord] = []
    result = PAYMENT_RESULT.get(obj.get("status", ""))
    refunded = integer(obj.get("amount_refunded")) or 0
    if result is None and not refunded:
        return records
    customer = mandate_customer(ctx, _mandate(obj))
    if result is not None:
        records.append(
            TransactionRecord(
                external_id=obj["id"],
                invoice_external_id=obj["id"],
                customer_external_id=customer,
                type="payment",
                date=required_ts(_payment_date(obj), "charge_date"),
                result=result,
                amount_in_cents=integer(obj.get("amount")),
            )
        )
    if refunded:
        for refund in refunds_of(ctx, obj["id"]):
            refund_result = REFUND_RESULT.get(refund.get("status", ""))
            if refund_result is None:
                continue
            records.append(
                TransactionRecord(
                    external_id=refund["id"],
                    invoice_external_id=obj["id"],
                    customer_external_id=customer,
                    type="refund",
                    date=required_ts(refund.get("created_at"), "created_at"),
                    result=refund_result,
                    amount_in_cents=integer(refund.get("amount")),
                )
            )
    return records


# --------------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------------

_STREAM_PAGES = _NotingPagination()  # the streams' pages (customers need no linked object)

SPEC = ConnectorSpec(
    system="gocardless",
    api_base="https://{environment}",
    settings={"environment": ConnectionSetting(choices=GOCARDLESS_HOSTS, default="live")},
    auth=BearerAuth("access_token"),
    pagination=EnvelopeCursorPagination(),  # limit + after, meta.cursors.after (nested lists)
    page_size=GOCARDLESS_PAGE_SIZE,
    streams={
        RecordKind.CUSTOMERS: Stream(RecordKind.CUSTOMERS, "/customers", map_customer, records_path="customers"),
        RecordKind.PLANS: Stream(
            RecordKind.PLANS,
            "/subscriptions",
            map_subscription_plan,
            records_path="subscriptions",
            pagination=_STREAM_PAGES,
        ),
        RecordKind.SUBSCRIPTIONS: Stream(
            RecordKind.SUBSCRIPTIONS,
            "/subscriptions",
            map_subscription,
            records_path="subscriptions",
            pagination=_STREAM_PAGES,
            customer_param="customer",
        ),
        RecordKind.INVOICES: Stream(
            RecordKind.INVOICES,
            "/payments",
            map_payment_invoice,
            records_path="payments",
            pagination=_STREAM_PAGES,
            customer_param="customer",
        ),
        RecordKind.TRANSACTIONS: Stream(
            RecordKind.TRANSACTIONS,
            "/payments",
            map_payment_transactions,
            records_path="payments",
            pagination=_STREAM_PAGES,
            customer_param="customer",
        ),
    },
    check_credentials=RequestSpec("/customers", {"limit": 1}),
    rate_limit=PROVIDER_RATE_LIMITS["gocardless"],
    # 410 Gone: a customer whose personal data was removed at the payer's request
    error_policy=ErrorPolicy(not_found=frozenset({404, 410})),
    default_headers={"GoCardless-Version": GOCARDLESS_API_VERSION},
    customer_path="/customers/{id}",
)
