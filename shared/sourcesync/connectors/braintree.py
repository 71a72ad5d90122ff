"""Braintree: customers, plans, subscriptions and transactions from its XML API (docs/connectors.md#braintree).

Lists are two-step searches (`kit.id_search.IdSearchPagination`): `POST .../advanced_search_ids`
answers every matching id, `POST .../advanced_search` the objects of at most 50 of them. Plans are one
whole list (`GET .../plans`). Braintree subscriptions name no customer: they hang under the customer's
payment methods, so subscriptions are read from the customers search (each customer embeds its
payment methods and their subscriptions). Braintree has no invoices: each subscription charge (a sale
transaction) stands for one, and refunds (credit transactions) point at the sale they refund.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from sourcesync.connectors.base import (
    BasicAuth,
    ConnectionSetting,
    ConnectorSpec,
    CreatedFilter,
    CreatedWindows,
    ErrorPolicy,
    JsonObject,
    MappingContext,
    ParamValue,
    RequestSpec,
    Stream,
)
from sourcesync.connectors.kit.fields import cents, currency, first, required_ts, ts
from sourcesync.connectors.kit.id_search import IdSearchPagination, WholeListPagination, typed_xml_decoder, xml_body
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

SubscriptionStatus = Literal["active", "trialing", "past_due", "cancelled", "unpaid", "incomplete"]

CUSTOMERS, PLANS, SUBSCRIPTIONS = RecordKind.CUSTOMERS, RecordKind.PLANS, RecordKind.SUBSCRIPTIONS
INVOICES, TRANSACTIONS = RecordKind.INVOICES, RecordKind.TRANSACTIONS

#: Braintree's search page: `advanced_search` takes at most 50 ids.
SEARCH_PAGE_SIZE = 50

#: Every payment method kind a Braintree customer embeds; each may carry subscriptions.
PAYMENT_METHOD_LISTS = (
    "credit_cards",
    "paypal_accounts",
    "apple_pay_cards",
    "android_pay_cards",
    "venmo_accounts",
    "us_bank_accounts",
    "sepa_direct_debit_accounts",
    "visa_checkout_cards",
    "samsung_pay_cards",
    "masterpass_cards",
)


def _search_time(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)  # sent as `type="datetime"`, as the SDK sends it


def search_body(params: Mapping[str, ParamValue], ids: list[str] | None) -> bytes:
    """A Braintree `<search>`: `field[min]`/`field[before]` (unix seconds) become an inclusive range
    (`before` is exclusive, so its max is one second earlier); `field[in]` a one-value list (a
    multiple-value field: a transaction's type); a plain `field` `<field><is>` (a text field); the
    page's ids `<ids type="array">`."""
    criteria: dict[str, Any] = {}
    for name, value in params.items():
        field, _, bound = name.partition("[")
        bound = bound.rstrip("]")
        if bound == "min":
            criteria.setdefault(field, {})["min"] = _search_time(int(str(value)))
        elif bound == "before":
            criteria.setdefault(field, {})["max"] = _search_time(int(str(value)) - 1)
        elif bound == "in":
            criteria[field] = [str(value)]
        elif not bound:
            criteria[field] = {"is": str(value)}
        else:
            raise ValueError(f"a Braintree search parameter the connector does not know: {name!r}")
    if ids is not None:
        criteria["ids"] = list(ids)
    return xml_body(criteria, "search")


def _search(items_field: str) -> IdSearchPagination:
    return IdSearchPagination(encode=search_body, items_field=items_field)


_CREATED = CreatedFilter("created_at[min]", "created_at[before]")


# ------------------------------------------------------------------------------------------ mapping


def _customer_object(obj: JsonObject) -> JsonObject:
    """A customer from a search page, or from the detail answer `{"customer": {...}}`."""
    inner = obj.get("customer")
    if isinstance(inner, dict) and "id" not in obj:
        return inner
    return obj


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def map_customer(obj: JsonObject, ctx: MappingContext) -> list[CustomerRecord]:
    customer = _customer_object(obj)
    person = " ".join(part for part in (customer.get("first_name"), customer.get("last_name")) if part)
    addresses = [a for a in _as_list(customer.get("addresses")) if isinstance(a, dict)]
    country = first(*(a.get("country_code_alpha2") for a in addresses))
    return [
        CustomerRecord(
            external_id=str(customer["id"]),
            name=first(person, customer.get("company"), customer.get("email")) or str(customer["id"]),
            email=customer.get("email") or None,
            company=customer.get("company") or None,
            country=country or None,
            created_at=ts(customer.get("created_at")),
        )
    ]


def customer_subscriptions(customer: JsonObject) -> Iterator[JsonObject]:
    """The subscriptions of every payment method a customer embeds, each once."""
    seen: set[str] = set()
    for list_name in PAYMENT_METHOD_LISTS:
        for method in _as_list(customer.get(list_name)):
            if not isinstance(method, dict):
                continue
            for subscription in _as_list(method.get("subscriptions")):
                if isinstance(subscription, dict) and subscription.get("id") not in seen:
                    seen.add(str(subscription.get("id")))
                    yield subscription


def _status_time(subscription: JsonObject, statuses: set[str]) -> datetime | None:
    """When the subscription last entered one of `statuses` (its status history), if it says."""
    times = [
        ts(event.get("timestamp"))
        for event in _as_list(subscription.get("status_history"))
        if isinstance(event, dict) and event.get("status") in statuses
    ]
    known = [moment for moment in times if moment is not None]
    return max(known) if known else None


def _date(value: Any) -> datetime | None:
    """A Braintree date (`2024-05-01`) or datetime, as an aware UTC datetime."""
    return ts(value)


def _subscription_status(subscription: JsonObject, now: datetime) -> SubscriptionStatus:
    status = subscription.get("status")
    if status == "Active":
        first_billing = _date(subscription.get("first_billing_date"))
        in_trial = bool(subscription.get("trial_period")) and first_billing is not None and first_billing > now
        return "trialing" if in_trial else "active"
    if status == "Past Due":
        return "past_due"
    if status in ("Canceled", "Expired"):
        return "cancelled"
    if status == "Pending":
        return "incomplete"  # starts on a later first billing date; nothing billed yet
    raise ValueError(f"unknown subscription status {status!r}")


def map_customer_subscriptions(obj: JsonObject, ctx: MappingContext) -> list[SubscriptionRecord]:
    customer = _customer_object(obj)
    now = datetime.now(UTC)
    records = []
    for subscription in customer_subscriptions(customer):
        status = _subscription_status(subscription, now)
        cancelled_at = None
        if status == "cancelled":
            cancelled_at = first(
                _status_time(subscription, {"Canceled", "Expired"}),
                ts(subscription.get("updated_at")),
            )
        history = [e for e in _as_list(subscription.get("status_history")) if isinstance(e, dict)]
        records.append(
            SubscriptionRecord(
                external_id=str(subscription["id"]),
                customer_external_id=str(customer["id"]),
                plan_external_id=subscription.get("plan_id") or None,
                status=status,
                currency=first(*(currency(e.get("currency_iso_code")) for e in history)),
                started_at=required_ts(subscription.get("created_at"), "subscription created_at"),
                cancelled_at=cancelled_at,
            )
        )
    return records


def map_plan(obj: JsonObject, ctx: MappingContext) -> list[PlanRecord]:
    frequency = int(obj["billing_frequency"])  # months; Braintree plans bill monthly multiples only
    return [
        PlanRecord(
            external_id=str(obj["id"]),
            name=obj.get("name") or str(obj["id"]),
            interval_count=frequency,
            interval_unit="month",
            currency=currency(obj.get("currency_iso_code")),
            amount_in_cents=cents(obj.get("price")),
        )
    ]


#: Transaction statuses: money moved (or is moving), or the attempt failed. Others (authorized,
#: authorizing, voided, authorization_expired) moved nothing yet and give no record.
SUCCESSFUL = {"settled", "settling", "submitted_for_settlement", "settlement_pending", "settlement_confirmed"}
FAILED = {"processor_declined", "gateway_rejected", "failed", "settlement_declined", "settlement_failed"}


def _transaction_customer(obj: JsonObject) -> str | None:
    customer = obj.get("customer")
    if isinstance(customer, dict) and customer.get("id"):
        return str(customer["id"])
    return None


def map_invoice(obj: JsonObject, ctx: MappingContext) -> list[InvoiceRecord]:
    """A sale that was charged or tried: the invoice it stands for (refunds give none)."""
    if obj.get("type") != "sale" or obj.get("status") not in SUCCESSFUL | FAILED:
        return []
    customer_id = _transaction_customer(obj)
    if customer_id is None:
        return []  # a sale without a vaulted customer: not subscription revenue
    amount = cents(obj.get("amount"))
    if amount is None:
        raise ValueError("a sale without an amount")
    raw_details = obj.get("subscription_details")
    details: JsonObject = raw_details if isinstance(raw_details, dict) else {}
    subscription_id = obj.get("subscription_id") or None
    discount = cents(obj.get("discount_amount")) or 0
    line = LineItem(
        external_id=str(obj["id"]),
        type="subscription" if subscription_id else "one_time",
        subscription_external_id=subscription_id,
        plan_external_id=(obj.get("plan_id") or None) if subscription_id else None,
        service_period_start=_date(details.get("billing_period_start_date")),
        service_period_end=_date(details.get("billing_period_end_date")),
        amount_in_cents=amount,
        discount_amount_in_cents=discount,
    )
    code = currency(obj.get("currency_iso_code"))
    if code is None:
        raise ValueError("a sale without a currency")
    return [
        InvoiceRecord(
            external_id=str(obj["id"]),
            customer_external_id=customer_id,
            date=required_ts(obj.get("created_at"), "transaction created_at"),
            currency=code,
            line_items=(line,),
            total_in_cents=amount,
        )
    ]


def map_transaction(obj: JsonObject, ctx: MappingContext) -> list[TransactionRecord]:
    status = obj.get("status")
    if status not in SUCCESSFUL | FAILED:
        return []
    kind = obj.get("type")
    if kind == "sale":
        invoice = str(obj["id"])
        if _transaction_customer(obj) is None:
            return []
    elif kind == "credit":
        invoice = obj.get("refunded_transaction_id") or ""
        if not invoice:
            return []  # a stand-alone credit refunds no invoice
    else:
        raise ValueError(f"unknown transaction type {kind!r}")
    return [
        TransactionRecord(
            external_id=str(obj["id"]),
            invoice_external_id=str(invoice),
            customer_external_id=_transaction_customer(obj),
            type="payment" if kind == "sale" else "refund",
            date=required_ts(obj.get("created_at"), "transaction created_at"),
            result="successful" if status in SUCCESSFUL else "failed",
            amount_in_cents=cents(obj.get("amount")),
        )
    ]


# ------------------------------------------------------------------------------------------ the spec

SPEC = ConnectorSpec(
    system="braintree",
    api_base="https://{environment}/merchants/{merchant_id}",
    settings={
        "environment": ConnectionSetting(
            choices={"production": "api.braintreegateway.com", "sandbox": "api.sandbox.braintreegateway.com"},
            default="production",
        ),
        "merchant_id": ConnectionSetting(pattern=r"[A-Za-z0-9_]{1,64}"),
    },
    auth=BasicAuth("public_key", "private_key"),
    pagination=_search(""),
    page_size=SEARCH_PAGE_SIZE,
    decoder=typed_xml_decoder(),
    default_headers={
        "Accept": "application/xml",
        "Content-Type": "application/xml",
        "X-ApiVersion": "6",
    },
    streams={
        CUSTOMERS: Stream(
            CUSTOMERS, "/customers", map_customer, pagination=_search("customers.customer"), created_filter=_CREATED
        ),
        PLANS: Stream(PLANS, "/plans/", map_plan, pagination=WholeListPagination("plans")),
        SUBSCRIPTIONS: Stream(
            SUBSCRIPTIONS,
            "/customers",
            map_customer_subscriptions,
            pagination=_search("customers.customer"),
            created_filter=_CREATED,
            customer_param="id",
        ),
        INVOICES: Stream(
            INVOICES,
            "/transactions",
            map_invoice,
            params={"type[in]": "sale"},
            pagination=_search("credit_card_transactions.transaction"),
            created_filter=_CREATED,
            customer_param="customer_id",
        ),
        TRANSACTIONS: Stream(
            TRANSACTIONS,
            "/transactions",
            map_transaction,
            pagination=_search("credit_card_transactions.transaction"),
            created_filter=_CREATED,
            customer_param="customer_id",
        ),
    },
    check_credentials=RequestSpec("/plans/"),  # the path the SDK uses
    rate_limit=PROVIDER_RATE_LIMITS["braintree"],
    error_policy=ErrorPolicy(request_id_header="X-Request-Id"),
    customer_path="/customers/{id}",
    windows=CreatedWindows(),
)
