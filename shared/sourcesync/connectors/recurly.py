"""Recurly (API v3, version v2021-02-25), described as data plus mapping functions (see
docs/connectors.md, "Recurly", for every decision).

- customers: `GET /accounts`; closed accounts are still customers (they have a history).
- plans: `GET /plans`; one record per plan and currency (`<plan id>:<CUR>`), since a Recurly plan is
  priced in several currencies and a `PlanRecord` has one.
- subscriptions: `GET /subscriptions`; one record per subscription (add-ons are not carried).
- invoices: `GET /invoices` with their line items (`/invoices/{id}/line_items` when the invoice says
  `has_more_line_items`); voided invoices are skipped, credit invoices are imported (refunds point at
  them).
- transactions: `GET /transactions`; purchases and captures are payments, refunds are refunds;
  verifications, authorizations and unsettled transactions are skipped.

Lists are read oldest first (`sort=created_at&order=asc`) and paged by the answer's `next` link while
`has_more`. Amounts are decimal major units, turned into minor units (zero-decimal currencies as they
are). The host is the account's region: `v3.recurly.com` (US) or `v3.eu.recurly.com` (EU).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import quote

from sourcesync.connectors.base import (
    BasicAuth,
    ConnectionSetting,
    ConnectorSpec,
    JsonObject,
    MappingContext,
    NextLinkPagination,
    RequestSpec,
    Stream,
)
from sourcesync.connectors.kit.fields import currency, first, integer, ref_id, required_ts, ts
from sourcesync.connectors.kit.http import ErrorPolicy
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

RECURLY_HOSTS: Mapping[str, str] = {"us": "v3.recurly.com", "eu": "v3.eu.recurly.com"}
RECURLY_API_VERSION = "v2021-02-25"
RECURLY_ACCEPT = f"application/vnd.recurly.{RECURLY_API_VERSION}"

#: The largest page Recurly serves.
RECURLY_PAGE_SIZE = 200

#: Oldest first, by creation: a page boundary never moves when objects are updated meanwhile
#: (Recurly's default order is `updated_at` descending).
_ORDER: Mapping[str, str] = {"sort": "created_at", "order": "asc"}

SubscriptionStatus = Literal["active", "trialing", "past_due", "cancelled", "unpaid", "incomplete"]
Result = Literal["successful", "failed"]

#: Currencies without minor units: Recurly's `1000` yen is 1000 in the record, not 100000.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)

#: Recurly plan interval unit -> record unit.
INTERVAL_UNIT: Mapping[str, Literal["day", "month"]] = {"days": "day", "months": "month"}

#: Invoices that are not a claim on the customer: not imported.
SKIPPED_INVOICE_STATES = frozenset({"voided"})

#: Line item origins that bill a subscription's plan or add-on (the line is then a subscription line).
SUBSCRIPTION_ORIGINS = frozenset({"plan", "plan_trial", "add_on", "add_on_trial", "prorated_plan", "prorated_add_on"})

#: Transaction type -> record type; `verify` and `authorization` move no money and are skipped.
TRANSACTION_TYPE: Mapping[str, Literal["payment", "refund"]] = {
    "purchase": "payment",
    "capture": "payment",
    "refund": "refund",
}

#: Transaction status -> result. `pending`, `processing` and `scheduled` are skipped until they settle;
#: a `void`ed or charged-back payment collected nothing in the end.
TRANSACTION_RESULT: Mapping[str, Result] = {
    "success": "successful",
    "declined": "failed",
    "error": "failed",
    "failed": "failed",
    "void": "failed",
    "chargeback": "failed",
}


def minor_units(amount: Any, code: str | None) -> int | None:
    """A Recurly amount (decimal major units, whether JSON wrote `29`, `29.0` or `"29.00"`) in the
    currency's minor units, rounded half up; zero-decimal currencies as they are."""
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    places = 0 if code in ZERO_DECIMAL_CURRENCIES else 2
    return int(value.scaleb(places).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def plan_record_id(plan_id: str, code: str) -> str:
    """The `PlanRecord` of one plan in one currency (a Recurly plan is priced per currency)."""
    return f"{plan_id}:{code}"


# --------------------------------------------------------------------------------------------------
# Mapping functions
# --------------------------------------------------------------------------------------------------


def map_account(obj: JsonObject, ctx: MappingContext) -> list[CustomerRecord]:
    full_name = " ".join(part for part in (obj.get("first_name"), obj.get("last_name")) if part)
    address = obj.get("address") or {}
    billing_address = (obj.get("billing_info") or {}).get("address") or {}
    return [
        CustomerRecord(
            external_id=obj["id"],
            name=first(full_name, obj.get("company"), obj.get("email"), obj.get("code"), obj["id"]),
            email=obj.get("email") or None,
            company=obj.get("company") or None,
            country=first(address.get("country"), billing_address.get("country")),
            created_at=ts(obj.get("created_at")),
        )
    ]


def map_plan(obj: JsonObject, ctx: MappingContext) -> list[PlanRecord]:
    """One record per currency the plan is priced in. Ramp plans (the price changes with the billing
    cycle) carry no single amount."""
    unit = INTERVAL_UNIT[obj["interval_unit"]]
    count = integer(obj.get("interval_length")) or 1
    if unit == "month" and count % 12 == 0:
        unit_out: Literal["day", "week", "month", "year"] = "year"
        count //= 12
    else:
        unit_out = unit
    records = []
    for pricing in obj.get("currencies") or []:
        code = currency(pricing.get("currency"))
        if code is None:
            raise ValueError("a plan price without a currency")
        records.append(
            PlanRecord(
                external_id=plan_record_id(obj["id"], code),
                name=obj.get("name") or obj.get("code") or obj["id"],
                interval_count=count,
                interval_unit=unit_out,
                currency=code,
                amount_in_cents=minor_units(pricing.get("unit_amount"), code),
            )
        )
    return records


def _subscription_status(obj: JsonObject) -> SubscriptionStatus:
    state = obj["state"]
    if state in ("active", "canceled"):
        # `canceled` runs until `expires_at`: still collecting, as Stripe's cancel_at_period_end.
        trial_end, period_end = ts(obj.get("trial_ends_at")), ts(obj.get("current_period_ends_at"))
        in_trial = trial_end is not None and period_end is not None and trial_end >= period_end
        return "trialing" if in_trial else "active"
    statuses: Mapping[str, SubscriptionStatus] = {
        "expired": "cancelled",
        "failed": "incomplete",  # never became active (its first payment failed)
        "future": "incomplete",  # starts later; collects nothing yet
        "paused": "unpaid",  # collects nothing; the record model has no `paused`
    }
    return statuses[state]


def map_subscription(obj: JsonObject, ctx: MappingContext) -> list[SubscriptionRecord]:
    status = _subscription_status(obj)
    code = currency(obj.get("currency"))
    plan = ref_id(obj.get("plan"))
    cancelled_at: datetime | None = None
    if status == "cancelled":
        cancelled_at = ts(obj.get("expires_at")) or ts(obj.get("canceled_at"))
    quantity = integer(obj.get("quantity"))
    return [
        SubscriptionRecord(
            external_id=obj["id"],
            customer_external_id=_required_ref(obj.get("account"), "account"),
            plan_external_id=plan_record_id(plan, code) if plan and code else None,
            subscription_set_external_id=obj["id"],
            quantity=1 if quantity is None else quantity,
            status=status,
            currency=code,
            started_at=ts(obj.get("activated_at"))
            or ts(obj.get("current_period_started_at"))
            or required_ts(obj.get("created_at"), "created_at"),
            cancelled_at=cancelled_at,
        )
    ]


def _required_ref(value: Any, what: str) -> str:
    found = ref_id(value)
    if found is None:
        raise ValueError(f"{what} is missing")
    return found


def map_line_item(line: JsonObject, code: str) -> LineItem:
    """A line: charged after discounts and before tax (`subtotal - discount`); a credit line is
    negative. Lines of a subscription's plan or add-on (prorations too) are subscription lines."""
    subscription = line.get("subscription_id") or None
    is_subscription = subscription is not None and line.get("origin") in SUBSCRIPTION_ORIGINS
    subtotal = minor_units(line.get("subtotal"), code)
    if subtotal is None:
        subtotal = minor_units(line.get("amount"), code)
    if subtotal is None:
        raise ValueError("a line item without an amount")
    discount = minor_units(line.get("discount"), code) or 0
    plan = line.get("plan_id") or None
    quantity = integer(line.get("quantity"))
    return LineItem(
        external_id=line.get("id"),
        type="subscription" if is_subscription else "one_time",
        subscription_external_id=subscription if is_subscription else None,
        plan_external_id=plan_record_id(plan, code) if is_subscription and plan else None,
        service_period_start=ts(line.get("start_date")),
        service_period_end=ts(line.get("end_date")),
        amount_in_cents=subtotal - discount,
        quantity=1 if quantity is None else quantity,
        discount_amount_in_cents=discount,
        description=line.get("description") or None,
    )


def map_invoice(obj: JsonObject, ctx: MappingContext) -> list[InvoiceRecord]:
    if obj.get("state") in SKIPPED_INVOICE_STATES:
        return []
    code = currency(obj.get("currency"))
    if code is None:
        raise ValueError("currency is missing")
    lines = [line for line in obj.get("line_items") or [] if isinstance(line, dict)]
    if obj.get("has_more_line_items"):
        lines = list(ctx.list_all(f"/invoices/{quote(obj['id'], safe='')}/line_items", _ORDER))
    return [
        InvoiceRecord(
            external_id=obj["id"],
            customer_external_id=_required_ref(obj.get("account"), "account"),
            date=required_ts(obj.get("created_at"), "created_at"),
            currency=code,
            line_items=tuple(map_line_item(line, code) for line in lines),
            total_in_cents=minor_units(obj.get("total"), code),
        )
    ]


def map_transaction(obj: JsonObject, ctx: MappingContext) -> list[TransactionRecord]:
    """A purchase or capture is a payment, a refund a refund, on the transaction's invoice (a refund's
    invoice is the credit invoice Recurly made for it). Without an invoice: skipped."""
    kind = TRANSACTION_TYPE.get(obj.get("type", ""))
    result = TRANSACTION_RESULT.get(obj.get("status", ""))
    invoice = ref_id(obj.get("invoice"))
    if kind is None or result is None or invoice is None:
        return []
    return [
        TransactionRecord(
            external_id=obj["id"],
            invoice_external_id=invoice,
            customer_external_id=ref_id(obj.get("account")),
            type=kind,
            date=required_ts(obj.get("collected_at") or obj.get("created_at"), "created_at"),
            result=result,
            amount_in_cents=minor_units(obj.get("amount"), currency(obj.get("currency"))),
        )
    ]


# --------------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------------

SPEC = ConnectorSpec(
    system="recurly",
    api_base="https://{region}",
    settings={"region": ConnectionSetting(choices=RECURLY_HOSTS, default="us")},
    auth=BasicAuth("api_key"),  # the private API key as user name, no password
    pagination=NextLinkPagination(),  # `next` link + `has_more`
    page_size=RECURLY_PAGE_SIZE,
    streams={
        RecordKind.CUSTOMERS: Stream(RecordKind.CUSTOMERS, "/accounts", map_account, params=_ORDER),
        RecordKind.PLANS: Stream(RecordKind.PLANS, "/plans", map_plan, params=_ORDER),
        RecordKind.SUBSCRIPTIONS: Stream(
            RecordKind.SUBSCRIPTIONS,
            "/subscriptions",
            map_subscription,
            params=_ORDER,
            customer_path="/accounts/{id}/subscriptions",
        ),
        RecordKind.INVOICES: Stream(
            RecordKind.INVOICES, "/invoices", map_invoice, params=_ORDER, customer_path="/accounts/{id}/invoices"
        ),
        RecordKind.TRANSACTIONS: Stream(
            RecordKind.TRANSACTIONS,
            "/transactions",
            map_transaction,
            params=_ORDER,
            customer_path="/accounts/{id}/transactions",
        ),
    },
    check_credentials=RequestSpec("/accounts", {"limit": 1}),
    rate_limit=PROVIDER_RATE_LIMITS["recurly"],
    error_policy=ErrorPolicy(request_id_header="X-Request-Id"),
    default_headers={"Accept": RECURLY_ACCEPT},
    customer_path="/accounts/{id}",
)
