"""Source records: what a connector (or the Import API) brings in, in one canonical shape.

Every provider's objects are mapped into these models; everything downstream (storage, MRR, the
policy matrix, the API's shapes) only knows these. Amounts are integer cents in the record's
currency; times are timezone-aware UTC datetimes; currencies are upper-case ISO 4217 codes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class RecordKind(StrEnum):
    CUSTOMERS = "customers"
    PLANS = "plans"
    SUBSCRIPTIONS = "subscriptions"
    INVOICES = "invoices"
    TRANSACTIONS = "transactions"


#: uuid prefix of each kind (docs/architecture.md#concepts).
UUID_PREFIX: dict[RecordKind, str] = {
    RecordKind.CUSTOMERS: "cus",
    RecordKind.PLANS: "pl",
    RecordKind.SUBSCRIPTIONS: "sub",
    RecordKind.INVOICES: "inv",
    RecordKind.TRANSACTIONS: "tr",
}

ExternalId = Annotated[str, Field(min_length=1, max_length=255)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    external_id: ExternalId


class CustomerRecord(_Record):
    name: str
    email: str | None = None
    company: str | None = None
    country: str | None = None
    currency: Currency | None = None
    created_at: datetime | None = None


class PlanRecord(_Record):
    name: str
    interval_count: int = Field(ge=1)
    interval_unit: Literal["day", "week", "month", "year"]
    currency: Currency | None = None
    amount_in_cents: int | None = None


class SubscriptionRecord(_Record):
    """One subscribed plan of a customer. A provider subscription with several items (Stripe) becomes
    one record per item; `subscription_set_external_id` then names the provider's subscription."""

    customer_external_id: ExternalId
    plan_external_id: ExternalId | None = None
    subscription_set_external_id: str | None = None
    quantity: int = Field(default=1, ge=0)
    status: Literal["active", "trialing", "past_due", "cancelled", "unpaid", "incomplete"]
    currency: Currency | None = None
    started_at: datetime
    cancelled_at: datetime | None = None


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    external_id: str | None = None
    type: Literal["subscription", "one_time"]
    subscription_external_id: str | None = None
    plan_external_id: str | None = None
    service_period_start: datetime | None = None
    service_period_end: datetime | None = None
    amount_in_cents: int
    quantity: int = 1
    discount_amount_in_cents: int = 0
    description: str | None = None
    cancelled_at: datetime | None = None


class InvoiceRecord(_Record):
    customer_external_id: ExternalId
    date: datetime
    currency: Currency
    line_items: tuple[LineItem, ...] = ()
    total_in_cents: int | None = None


class TransactionRecord(_Record):
    invoice_external_id: ExternalId
    customer_external_id: str | None = None
    type: Literal["payment", "refund"]
    date: datetime
    result: Literal["successful", "failed"]
    amount_in_cents: int | None = None


AnyRecord = CustomerRecord | PlanRecord | SubscriptionRecord | InvoiceRecord | TransactionRecord

RECORD_MODEL: dict[RecordKind, type[_Record]] = {
    RecordKind.CUSTOMERS: CustomerRecord,
    RecordKind.PLANS: PlanRecord,
    RecordKind.SUBSCRIPTIONS: SubscriptionRecord,
    RecordKind.INVOICES: InvoiceRecord,
    RecordKind.TRANSACTIONS: TransactionRecord,
}
