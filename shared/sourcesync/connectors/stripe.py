"""Stripe, described as data plus mapping functions (see docs/connectors.md for the decisions).

- customers: `GET /v1/customers`; deleted customers give no record.
- plans: `GET /v1/plans?expand[]=data.product`. Real Stripe serves every recurring price there too,
  under the price's id; `map_plan` maps `price` objects as well (`PRICES_STREAM`).
- subscriptions: `GET /v1/subscriptions?status=all`; one record per subscription item: `external_id`
  is `si_…`, `subscription_set_external_id` is `sub_…`.
- invoices: `GET /v1/invoices` with their line items (the nested list is followed when `has_more`);
  drafts and void invoices are skipped.
- transactions: `GET /v1/charges?expand[]=data.refunds`; a charge gives a payment and its refunds, on the
  invoice it names; charges without an invoice are skipped. On the emulator, which leaves `charge.invoice`
  empty and puts each invoice's charge in the invoice, from `GET /v1/invoices` (`transactions_stream`).

Requests carry `Stripe-Version: 2024-06-20`, so that the shapes read here stay what they are whatever
the account's default version (later versions drop `charge.invoice` and move invoice line fields).
Newer line-item shapes (`parent`, `pricing`) are read as well, where they carry the same facts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal
from urllib.parse import quote

from sourcesync.connectors.base import (
    BearerAuth,
    ConnectorSpec,
    CreatedFilter,
    CreatedWindows,
    CursorPagination,
    JsonObject,
    MappingContext,
    RequestSpec,
    Stream,
)
from sourcesync.connectors.kit.fields import currency, dig, integer, ref_id, required_id, required_ts, ts
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

STRIPE_API_BASE = "https://api.stripe.com"
STRIPE_API_VERSION = "2024-06-20"

SubscriptionStatus = Literal["active", "trialing", "past_due", "cancelled", "unpaid", "incomplete"]

#: Stripe subscription status -> record status. `paused` (a trial that ended without a payment method)
#: collects nothing, like `unpaid`; the record model has no `paused`. An unknown status fails the
#: mapping (RecordMappingError) rather than guessing.
SUBSCRIPTION_STATUS: Mapping[str, SubscriptionStatus] = {
    "active": "active",
    "trialing": "trialing",
    "past_due": "past_due",
    "unpaid": "unpaid",
    "incomplete": "incomplete",
    "canceled": "cancelled",
    "incomplete_expired": "cancelled",
    "paused": "unpaid",
}

#: Invoices that are not (or no longer) a claim on the customer: not imported.
SKIPPED_INVOICE_STATUSES = frozenset({"draft", "void"})

Result = Literal["successful", "failed"]

#: Charge status -> transaction result; `pending` charges are skipped until they settle.
CHARGE_RESULT: Mapping[str, Result] = {"succeeded": "successful", "failed": "failed"}

#: Refund status -> transaction result; `pending` and `requires_action` refunds are skipped.
REFUND_RESULT: Mapping[str, Result] = {"succeeded": "successful", "failed": "failed", "canceled": "failed"}

#: A subscription item created this long after its subscription was added later (multi-item
#: subscriptions): it starts at its own creation, not at the subscription's `start_date`.
ITEM_ADDED_LATER_SECONDS = 60


# --------------------------------------------------------------------------------------------------
# Stripe's embedded list objects (`{"object": "list", "data": [...], "has_more": true}`)
# --------------------------------------------------------------------------------------------------


def _list(value: Any) -> tuple[list[JsonObject], bool] | None:
    """The objects and `has_more` of an embedded list object, or None when it is absent."""
    if not isinstance(value, dict):
        return None
    data = value.get("data")
    if not isinstance(data, list):
        return None
    return [item for item in data if isinstance(item, dict)], bool(value.get("has_more"))


def _nested(ctx: MappingContext, embedded: Any, path: str, params: Mapping[str, str] | None = None) -> list[JsonObject]:
    """Every object of a nested list: what came embedded, and the rest fetched when `has_more`."""
    found = _list(embedded)
    if found is None:
        return list(ctx.list_all(path, params))
    items, has_more = found
    if has_more and items:
        items = items + list(ctx.list_all(path, params, start_cursor=str(items[-1]["id"])))
    return items


# --------------------------------------------------------------------------------------------------
# Mapping functions
# --------------------------------------------------------------------------------------------------


def map_customer(obj: JsonObject, ctx: MappingContext) -> list[CustomerRecord]:
    if obj.get("deleted"):
        return []
    # Stripe's name is optional: fall back on what identifies the customer to a person.
    name = next(
        (value for value in (obj.get("name"), obj.get("description"), obj.get("email")) if value),
        obj["id"],
    )
    return [
        CustomerRecord(
            external_id=obj["id"],
            name=name,
            email=obj.get("email") or None,
            country=dig(obj, "address.country") or dig(obj, "shipping.address.country") or None,
            currency=currency(obj.get("currency")),
            created_at=ts(obj.get("created")),
        )
    ]


def map_plan(obj: JsonObject, ctx: MappingContext) -> list[PlanRecord]:
    """A plan (`object: plan`) or a price (`object: price`); one-time prices are not plans."""
    if obj.get("deleted"):
        return []
    if obj.get("object") == "price":
        recurring = obj.get("recurring")
        if not recurring:
            return []
        interval, count, amount = recurring["interval"], recurring.get("interval_count"), obj.get("unit_amount")
    else:
        interval, count, amount = obj["interval"], obj.get("interval_count"), obj.get("amount")
    product = obj.get("product")
    product_name = product.get("name") if isinstance(product, dict) and not product.get("deleted") else None
    return [
        PlanRecord(
            external_id=obj["id"],
            name=obj.get("nickname") or product_name or obj.get("name") or obj["id"],
            interval_count=count or 1,
            interval_unit=interval,
            currency=currency(obj.get("currency")),
            amount_in_cents=integer(amount),
        )
    ]


def map_subscription(obj: JsonObject, ctx: MappingContext) -> Iterator[SubscriptionRecord]:
    """One record per subscription item: `external_id` = `si_…`, `subscription_set_external_id` =
    `sub_…`."""
    status = SUBSCRIPTION_STATUS[obj["status"]]
    sub_id = obj["id"]
    items = _nested(ctx, obj.get("items"), "/v1/subscription_items", {"subscription": sub_id})
    created = integer(obj.get("created"))
    started = ts(obj.get("start_date")) or required_ts(obj.get("created"), "created")
    cancelled_at = (ts(obj.get("ended_at")) or ts(obj.get("canceled_at"))) if status == "cancelled" else None
    customer = required_id(obj.get("customer"), "customer")
    for item in items:
        price = item.get("price") or item.get("plan") or {}
        item_created = integer(item.get("created"))
        added_later = (
            created is not None and item_created is not None and item_created > created + ITEM_ADDED_LATER_SECONDS
        )
        quantity = integer(item.get("quantity"))
        yield SubscriptionRecord(
            external_id=item["id"],
            customer_external_id=customer,
            plan_external_id=ref_id(item.get("price")) or ref_id(item.get("plan")),
            subscription_set_external_id=sub_id,
            quantity=1 if quantity is None else quantity,  # metered items carry no quantity
            status=status,
            currency=currency(obj.get("currency") or (price.get("currency") if isinstance(price, dict) else None)),
            started_at=ts(item_created) if added_later else started,
            cancelled_at=cancelled_at,
        )


def map_line_item(line: JsonObject) -> LineItem:
    """An invoice line. Subscription lines (and prorations of a subscription) link to the subscription
    item `si_…` (the SubscriptionRecord's id); when Stripe names no item (legacy proration invoice
    items), to the subscription `sub_…`, which is the records' `subscription_set_external_id`."""
    parent = line.get("parent") or {}
    item_details = parent.get("subscription_item_details") or {}
    invoice_item_details = parent.get("invoice_item_details") or {}
    subscription_item = ref_id(line.get("subscription_item")) or ref_id(item_details.get("subscription_item"))
    subscription = (
        ref_id(line.get("subscription"))
        or ref_id(item_details.get("subscription"))
        or ref_id(invoice_item_details.get("subscription"))
    )
    proration = bool(line.get("proration") or item_details.get("proration") or invoice_item_details.get("proration"))
    is_subscription = (
        line.get("type") == "subscription"
        or parent.get("type") == "subscription_item_details"
        or (proration and subscription is not None)
    )
    price_details = (line.get("pricing") or {}).get("price_details") or {}
    price = ref_id(line.get("price")) or ref_id(line.get("plan")) or ref_id(price_details.get("price"))
    discount = sum(integer(entry.get("amount")) or 0 for entry in line.get("discount_amounts") or [])
    gross = integer(line.get("amount_excluding_tax"))
    if gross is None:
        gross = line["amount"]
    period = line.get("period") or {}
    quantity = integer(line.get("quantity"))
    return LineItem(
        external_id=line.get("id"),
        type="subscription" if is_subscription else "one_time",
        subscription_external_id=(subscription_item or subscription) if is_subscription else None,
        plan_external_id=price if is_subscription else None,
        service_period_start=ts(period.get("start")),
        service_period_end=ts(period.get("end")),
        amount_in_cents=gross - discount,  # charged for the line: after discounts, before tax
        quantity=1 if quantity is None else quantity,
        discount_amount_in_cents=discount,
        description=line.get("description"),
    )


def map_invoice(obj: JsonObject, ctx: MappingContext) -> list[InvoiceRecord]:
    if obj.get("deleted") or obj.get("status") in SKIPPED_INVOICE_STATUSES:
        return []
    invoice_id = obj["id"]
    lines = _nested(ctx, obj.get("lines"), f"/v1/invoices/{quote(invoice_id, safe='')}/lines")
    transitions = obj.get("status_transitions") or {}
    date = (
        ts(obj.get("effective_at"))
        or ts(obj.get("date"))  # API versions before 2019-03-14, and the emulator
        or ts(transitions.get("finalized_at"))
        or required_ts(obj.get("created"), "created")
    )
    code = currency(obj.get("currency"))
    if code is None:
        raise ValueError("currency is missing")
    return [
        InvoiceRecord(
            external_id=invoice_id,
            customer_external_id=required_id(obj.get("customer"), "customer"),
            date=date,
            currency=code,
            line_items=tuple(map_line_item(line) for line in lines),
            total_in_cents=integer(obj.get("total")),
        )
    ]


def charge_invoice_id(charge: JsonObject) -> str | None:
    """The invoice a charge pays: `charge.invoice`, or its PaymentIntent's `invoice` where a stream expands it."""
    invoice = ref_id(charge.get("invoice"))
    if invoice is not None:
        return invoice
    payment_intent = charge.get("payment_intent")
    return ref_id(payment_intent.get("invoice")) if isinstance(payment_intent, dict) else None


def map_charge(obj: JsonObject, ctx: MappingContext) -> list[TransactionRecord]:
    """A charge gives a payment transaction and one refund transaction per refund, all on the charge's
    invoice. A charge without an invoice is skipped (a transaction belongs to an invoice)."""
    invoice = charge_invoice_id(obj)
    if invoice is None:
        return []
    customer = ref_id(obj.get("customer"))
    records: list[TransactionRecord] = []
    result = CHARGE_RESULT.get(obj.get("status", ""))
    authorised_only = obj.get("status") == "succeeded" and obj.get("captured") is False
    if result is not None and not authorised_only:
        records.append(
            TransactionRecord(
                external_id=obj["id"],
                invoice_external_id=invoice,
                customer_external_id=customer,
                type="payment",
                date=required_ts(obj.get("created"), "created"),
                result=result,
                amount_in_cents=integer(obj.get("amount")),
            )
        )
    embedded = obj.get("refunds")
    if embedded is None and not obj.get("amount_refunded"):
        return records
    for refund in _nested(ctx, embedded, "/v1/refunds", {"charge": obj["id"]}):
        refund_result = REFUND_RESULT.get(refund.get("status", ""))
        if refund_result is None:
            continue
        records.append(
            TransactionRecord(
                external_id=refund["id"],
                invoice_external_id=invoice,
                customer_external_id=customer,
                type="refund",
                date=required_ts(refund.get("created"), "created"),
                result=refund_result,
                amount_in_cents=integer(refund.get("amount")),
            )
        )
    return records


def map_invoice_payment(obj: JsonObject, ctx: MappingContext) -> list[TransactionRecord]:
    """An invoice that carries its charge as an object (the emulator's invoices do, unasked) gives that
    charge's transactions, as `map_charge` would on the invoice; an invoice without one gives none."""
    charge = obj.get("charge")
    if not isinstance(charge, dict):
        return []
    return map_charge({**charge, "invoice": required_id(obj.get("id"), "id")}, ctx)


#: Invoices asked for at a time while `transactions_stream` looks for one with a charge (the first usually has one).
PROBE_PAGE_SIZE = 10


def transactions_stream(ctx: MappingContext) -> Stream | None:
    """Where transactions are best read from a stand-in for Stripe (an emulator, a proxy; the connector
    never asks against Stripe's own API): None for the charges list, or the invoices list where invoices
    carry their charge and charges do not name their invoice (localstripe).

    Stripe, at the pinned version, names a charge's invoice in `charge.invoice`, and an invoice names its
    charge by id. The emulator leaves `charge.invoice` empty (only the charge's PaymentIntent knows the
    invoice) and puts the whole charge, refunds included, in each invoice it lists. So the invoices are read,
    ten at a time, up to the first that has a charge (usually the first): a charge object whose `invoice` is empty
    means the emulator, whose transactions then come from its invoices list rather than from its charges
    list with every PaymentIntent expanded (about three times the emulator's work, and four times the
    bytes). The emulator keeps one charge per invoice (`latest_charge`), which is what it gives."""
    params: dict[str, str | int] = {"limit": PROBE_PAGE_SIZE}
    while True:
        page = ctx.get_json("/v1/invoices", params)
        invoices = page.get("data") if isinstance(page, dict) else None
        if not isinstance(invoices, list) or not invoices:
            return None
        for invoice in invoices:
            charge = invoice.get("charge") if isinstance(invoice, dict) else None
            if charge is not None:
                return INVOICE_PAYMENTS_STREAM if isinstance(charge, dict) and charge.get("invoice") is None else None
        if not page.get("has_more"):
            return None
        params = {"limit": PROBE_PAGE_SIZE, "starting_after": str(invoices[-1].get("id"))}


# --------------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------------

_CREATED = CreatedFilter("created[gte]", "created[lt]")

#: An alternative plans stream for accounts that want one-time prices listed too (they map to nothing:
#: a plan needs an interval). `/v1/plans` already lists every recurring price; the emulator lacks
#: `/v1/prices`. Not used by default.
PRICES_STREAM = Stream(
    RecordKind.PLANS, "/v1/prices", map_plan, params={"type": "recurring", "expand[]": ["data.product"]}
)

#: Transactions read from the invoices list, where invoices carry their charge (see `transactions_stream`).
INVOICE_PAYMENTS_STREAM = Stream(
    RecordKind.TRANSACTIONS, "/v1/invoices", map_invoice_payment, created_filter=_CREATED, customer_param="customer"
)

SPEC = ConnectorSpec(
    system="stripe",
    api_base=STRIPE_API_BASE,
    auth=BearerAuth("api_key"),
    pagination=CursorPagination(),
    page_size=100,
    streams={
        RecordKind.CUSTOMERS: Stream(RecordKind.CUSTOMERS, "/v1/customers", map_customer, created_filter=_CREATED),
        RecordKind.PLANS: Stream(RecordKind.PLANS, "/v1/plans", map_plan, params={"expand[]": ["data.product"]}),
        RecordKind.SUBSCRIPTIONS: Stream(
            RecordKind.SUBSCRIPTIONS,
            "/v1/subscriptions",
            map_subscription,
            params={"status": "all"},  # the default leaves cancelled subscriptions out
            created_filter=_CREATED,
            customer_param="customer",
        ),
        RecordKind.INVOICES: Stream(
            RecordKind.INVOICES, "/v1/invoices", map_invoice, created_filter=_CREATED, customer_param="customer"
        ),
        RecordKind.TRANSACTIONS: Stream(
            RecordKind.TRANSACTIONS,
            "/v1/charges",
            map_charge,
            params={"expand[]": ["data.refunds"]},
            created_filter=_CREATED,
            customer_param="customer",
            chooser=transactions_stream,
        ),
    },
    # The emulator has no /v1/account; listing one customer is as cheap and works on both.
    check_credentials=RequestSpec("/v1/customers", {"limit": 1}),
    rate_limit=PROVIDER_RATE_LIMITS["stripe"],
    error_policy=ErrorPolicy(should_retry_header="Stripe-Should-Retry", request_id_header="Request-Id"),
    default_headers={"Stripe-Version": STRIPE_API_VERSION},
    customer_path="/v1/customers/{id}",
    windows=CreatedWindows(),
)
