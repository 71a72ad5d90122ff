"""Chargebee (API v2, product catalog 2.0: items and item prices), as data plus mapping functions.

`chargebee_v1` (product catalog 1.0: plans and addons) shares everything here but the plans and
subscriptions (see `connectors/chargebee_v1.py`); docs/connectors.md has every decision.

- customers: `GET /customers`; one customer: `GET /customers/{id}`.
- plans: `GET /item_prices`; item prices of plans and addons with a billing period (charges have none
  and give nothing).
- subscriptions: `GET /subscriptions`; one record per subscribed plan or addon item price: the plan's
  record has the subscription's id, an addon's `{subscription id}:{item price id}`; both name the
  subscription as their set.
- invoices: `GET /invoices` with their line items; `pending` and `voided` invoices are skipped.
- transactions: `GET /transactions`; payments on the invoices they are applied to, refunds on the
  invoice their credit note refers to.

Lists page with `limit` (at most 100) and `offset` = the answer's `next_offset`. The host is the
account's site, `https://{site}.chargebee.com/api/v2`; the API key is the Basic user name. Amounts are
in the currency's minor unit, as Chargebee sends them; times are unix seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

from sourcesync.connectors.base import (
    BasicAuth,
    ConnectionSetting,
    ConnectorSpec,
    JsonObject,
    MappingContext,
    NextTokenPagination,
    RequestSpec,
    Stream,
)
from sourcesync.connectors.kit.fields import currency, first, integer, required_ts, ts
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

CHARGEBEE_API_BASE = "https://{site}.chargebee.com/api/v2"

#: The account's site: `acme` for `acme.chargebee.com` (`acme-test` for its test site).
SETTINGS = {"site": ConnectionSetting()}

SubscriptionStatus = Literal["active", "trialing", "past_due", "cancelled", "unpaid", "incomplete"]

#: Chargebee subscription status -> record status. `future` (starts later) has not begun: `incomplete`;
#: `non_renewing` is active until its term ends; `paused` collects nothing: `unpaid` (the record model
#: has no `paused`); `transferred` (moved to another customer, who has it now): `cancelled`. An active
#: subscription with due invoices is `past_due`. An unknown status fails the mapping.
SUBSCRIPTION_STATUS: Mapping[str, SubscriptionStatus] = {
    "future": "incomplete",
    "in_trial": "trialing",
    "active": "active",
    "non_renewing": "active",
    "paused": "unpaid",
    "cancelled": "cancelled",
    "transferred": "cancelled",
}

#: Invoices that are no claim on the customer: `pending` (still open to usage charges, not yet
#: closed: a draft) and `voided`.
SKIPPED_INVOICE_STATUSES = frozenset({"pending", "voided"})

#: Line item entity types that bill a subscribed plan or addon (catalog 2.0 and 1.0).
PLAN_ENTITIES = frozenset({"plan_item_price", "plan"})
ADDON_ENTITIES = frozenset({"addon_item_price", "addon"})

Result = Literal["successful", "failed"]

#: Transaction status -> result; `in_progress` and `needs_attention` are skipped until they settle.
TRANSACTION_RESULT: Mapping[str, Result] = {
    "success": "successful",
    "failure": "failed",
    "timeout": "failed",
    "late_failure": "failed",
    "voided": "failed",
}

#: Transaction type -> record type; `authorization` moves no money and is skipped.
TRANSACTION_TYPE: Mapping[str, Literal["payment", "refund"]] = {
    "payment": "payment",
    "refund": "refund",
    "payment_reversal": "refund",
}

#: Item price period units the record model knows (all of Chargebee's).
PERIOD_UNITS = frozenset({"day", "week", "month", "year"})

#: Pricing models whose `price` is the price of one unit (tiered, volume and stairstep have tiers).
UNIT_PRICED = frozenset({"flat_fee", "per_unit"})


def subscription_record_id(subscription_id: str, price_id: str | None, *, is_plan: bool) -> str:
    """The record id of a subscribed item: the subscription's id for its plan, `{sub}:{price}` for an
    addon (what invoice lines link to)."""
    if is_plan or not price_id:
        return subscription_id
    return f"{subscription_id}:{price_id}"


def _entry(obj: JsonObject, name: str) -> JsonObject:
    """The object of a list entry (`{"customer": {...}, "card": {...}}`) or a detail answer."""
    inner = obj[name]
    if not isinstance(inner, dict):
        raise ValueError(f"{name} is not an object")
    return inner


# --------------------------------------------------------------------------------------------------
# Mapping functions shared by both catalogs
# --------------------------------------------------------------------------------------------------


def map_customer(obj: JsonObject, ctx: MappingContext) -> list[CustomerRecord]:
    customer = _entry(obj, "customer")
    if customer.get("deleted"):
        return []
    full_name = " ".join(part for part in (customer.get("first_name"), customer.get("last_name")) if part)
    billing = customer.get("billing_address") or {}
    return [
        CustomerRecord(
            external_id=customer["id"],
            name=first(full_name, customer.get("company"), customer.get("email"), customer["id"]),
            email=customer.get("email") or billing.get("email") or None,
            company=customer.get("company") or billing.get("company") or None,
            country=billing.get("country") or None,
            currency=currency(customer.get("preferred_currency_code")),
            created_at=ts(customer.get("created_at")),
        )
    ]


def subscription_status(subscription: JsonObject) -> SubscriptionStatus:
    found = SUBSCRIPTION_STATUS.get(subscription["status"])
    if found is None:
        raise ValueError(f"unknown subscription status {subscription['status']!r}")
    status = found
    if status == "active" and (integer(subscription.get("due_invoices_count")) or 0) > 0:
        return "past_due"
    return status


def subscription_records(
    subscription: JsonObject, items: list[tuple[str, bool, int | None]]
) -> Iterator[SubscriptionRecord]:
    """One record per subscribed `(price id, is plan, quantity)`."""
    if subscription.get("deleted"):
        return
    status = subscription_status(subscription)
    sub_id = subscription["id"]
    started = ts(
        first(
            subscription.get("started_at"),
            subscription.get("start_date"),
            subscription.get("activated_at"),
            subscription.get("created_at"),
        )
    )
    if started is None:
        raise ValueError("the subscription has no start")
    cancelled_at = ts(subscription.get("cancelled_at")) if status == "cancelled" else None
    customer = subscription["customer_id"]
    for price_id, is_plan, quantity in items:
        yield SubscriptionRecord(
            external_id=subscription_record_id(sub_id, price_id, is_plan=is_plan),
            customer_external_id=customer,
            plan_external_id=price_id,
            subscription_set_external_id=sub_id,
            quantity=1 if quantity is None else quantity,
            status=status,
            currency=currency(subscription.get("currency_code")),
            started_at=started,
            cancelled_at=cancelled_at,
        )


def map_subscription(obj: JsonObject, ctx: MappingContext) -> Iterator[SubscriptionRecord]:
    """Catalog 2.0: the subscription's plan and addon items (charge items are one-time)."""
    subscription = _entry(obj, "subscription")
    items = [
        (item["item_price_id"], item.get("item_type") == "plan", integer(item.get("quantity")))
        for item in subscription.get("subscription_items") or []
        if item.get("item_type") in ("plan", "addon")
    ]
    return subscription_records(subscription, items)


def map_line_item(line: JsonObject) -> LineItem:
    """A line billing a plan or addon of a subscription links to that subscription record; any other
    line (a charge, an ad hoc line) is one-time."""
    entity_type = line.get("entity_type")
    sub_id = line.get("subscription_id")
    is_plan = entity_type in PLAN_ENTITIES
    is_subscription = bool(sub_id) and (is_plan or entity_type in ADDON_ENTITIES)
    entity_id = line.get("entity_id")
    discount = integer(line.get("discount_amount")) or 0
    quantity = integer(line.get("quantity"))
    return LineItem(
        external_id=line.get("id"),
        type="subscription" if is_subscription else "one_time",
        subscription_external_id=(
            subscription_record_id(sub_id, entity_id, is_plan=is_plan) if is_subscription and sub_id else None
        ),
        plan_external_id=entity_id if is_subscription else None,
        service_period_start=ts(line.get("date_from")),
        service_period_end=ts(line.get("date_to")),
        amount_in_cents=line["amount"] - discount,  # charged for the line: after discounts, before tax
        quantity=1 if quantity is None else quantity,
        discount_amount_in_cents=discount,
        description=line.get("description") or line.get("entity_description"),
    )


def map_invoice(obj: JsonObject, ctx: MappingContext) -> list[InvoiceRecord]:
    invoice = _entry(obj, "invoice")
    if invoice.get("deleted") or invoice.get("status") in SKIPPED_INVOICE_STATUSES:
        return []
    if invoice.get("line_items_next_offset"):
        # Chargebee cuts very long invoices; never import a part of one silently.
        raise ValueError("the invoice has more line items than its answer carries")
    code = currency(invoice.get("currency_code"))
    if code is None:
        raise ValueError("currency_code is missing")
    return [
        InvoiceRecord(
            external_id=invoice["id"],
            customer_external_id=invoice["customer_id"],
            date=required_ts(invoice.get("date"), "date"),
            currency=code,
            line_items=tuple(map_line_item(line) for line in invoice.get("line_items") or []),
            total_in_cents=integer(invoice.get("total")),
        )
    ]


def _applied_invoices(transaction: JsonObject) -> list[tuple[str, int | None]]:
    """(invoice id, applied amount) the transaction is about: the invoices a payment is applied to, or
    the invoices the credit notes of a refund refer to."""
    found: list[tuple[str, int | None]] = []
    for link in transaction.get("linked_invoices") or []:
        if link.get("invoice_id"):
            found.append((link["invoice_id"], integer(link.get("applied_amount"))))
    if not found:
        for link in transaction.get("linked_credit_notes") or []:
            if link.get("cn_reference_invoice_id"):
                found.append((link["cn_reference_invoice_id"], integer(link.get("applied_amount"))))
    return found


def map_transaction(obj: JsonObject, ctx: MappingContext) -> list[TransactionRecord]:
    """A payment or refund on the invoice it concerns. Applied to several invoices, it gives one record
    per invoice (`{txn}:{invoice}`, the applied amount). Without an invoice it is skipped (a transaction
    belongs to an invoice), as are authorizations and unsettled transactions."""
    transaction = _entry(obj, "transaction")
    kind = TRANSACTION_TYPE.get(transaction.get("type", ""))
    result = TRANSACTION_RESULT.get(transaction.get("status", ""))
    if transaction.get("deleted") or kind is None or result is None:
        return []
    invoices = _applied_invoices(transaction)
    txn_id = transaction["id"]
    date = required_ts(transaction.get("date"), "date")
    return [
        TransactionRecord(
            external_id=txn_id if len(invoices) == 1 else f"{txn_id}:{invoice_id}",
            invoice_external_id=invoice_id,
            customer_external_id=transaction.get("customer_id"),
            type=kind,
            date=date,
            result=result,
            amount_in_cents=integer(transaction.get("amount")) if len(invoices) == 1 else applied,
        )
        for invoice_id, applied in invoices
    ]


def plan_record(price: JsonObject, *, name: str | None) -> list[PlanRecord]:
    """A recurring price (an item price, a 1.0 plan or recurring addon); nothing without a period."""
    unit = price.get("period_unit")
    if price.get("deleted") or unit not in PERIOD_UNITS:
        return []
    return [
        PlanRecord(
            external_id=price["id"],
            name=name or price["id"],
            interval_count=integer(price.get("period")) or 1,
            interval_unit=unit,
            currency=currency(price.get("currency_code")),
            amount_in_cents=integer(price.get("price")) if price.get("pricing_model") in UNIT_PRICED else None,
        )
    ]


def map_item_price(obj: JsonObject, ctx: MappingContext) -> list[PlanRecord]:
    """Catalog 2.0: item prices of plans and addons; charges (no period) give nothing."""
    price = _entry(obj, "item_price")
    if price.get("item_type") == "charge":
        return []
    return plan_record(price, name=first(price.get("external_name"), price.get("name")))


# --------------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------------

#: Chargebee's list filter by customer (`customer_id[is]=...`).
CUSTOMER_FILTER = "customer_id[is]"

#: Chargebee's error bodies carry `api_error_code` (read by the HTTP client); 429 and 5xx are retried,
#: 401/403 are the credentials, 404 a missing object, other 4xx (`configuration_incompatible`: the
#: site is on the other product catalog) fail the job.
ERROR_POLICY = ErrorPolicy()

PAGINATION = NextTokenPagination(token_param="offset", limit_param="limit", items_field="list")


def common_streams() -> dict[RecordKind, Stream]:
    """The streams both catalogs share."""
    return {
        RecordKind.CUSTOMERS: Stream(RecordKind.CUSTOMERS, "/customers", map_customer),
        RecordKind.INVOICES: Stream(RecordKind.INVOICES, "/invoices", map_invoice, customer_param=CUSTOMER_FILTER),
        RecordKind.TRANSACTIONS: Stream(
            RecordKind.TRANSACTIONS, "/transactions", map_transaction, customer_param=CUSTOMER_FILTER
        ),
    }


SPEC = ConnectorSpec(
    system="chargebee",
    api_base=CHARGEBEE_API_BASE,
    settings=SETTINGS,
    auth=BasicAuth("api_key"),
    pagination=PAGINATION,
    page_size=100,
    streams={
        **common_streams(),
        RecordKind.PLANS: Stream(RecordKind.PLANS, "/item_prices", map_item_price),
        RecordKind.SUBSCRIPTIONS: Stream(
            RecordKind.SUBSCRIPTIONS, "/subscriptions", map_subscription, customer_param=CUSTOMER_FILTER
        ),
    },
    # One call that checks the key, the site and the catalog: a 1.0 site answers 400
    # `configuration_incompatible` here.
    check_credentials=RequestSpec("/item_prices", {"limit": 1}),
    rate_limit=PROVIDER_RATE_LIMITS["chargebee"],
    error_policy=ERROR_POLICY,
    customer_path="/customers/{id}",
    windows=None,  # `created_at[after]`/`[before]` are exclusive bounds: see docs/connectors.md
)
