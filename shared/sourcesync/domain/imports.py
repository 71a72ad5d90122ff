"""What an import carries (docs/api.md#import-api-custom-sources): up to 1,000 records a call, strict, all or nothing.

Built from the shared field types (`sourcesync.fields`): ids and texts without control characters, ISO 4217
currencies, amounts within `MAX_CENTS` (a number beyond 64 bits is a 400 like any other out of range),
bounded quantities. The API's request models (`api/import_models.py`) reuse these."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from sourcesync.fields import Cents, Currency, ExternalId, NonNegativeCents, Quantity, RecordName, Text

MAX_RECORDS = 1000


def _utc_datetime(value: Any) -> Any:
    """Dates and datetimes in ISO 8601; a bare date is midnight UTC; a time without zone is UTC."""
    if isinstance(value, str) and re.fullmatch(
        r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?"
        r"(Z|[+-]\d{2}:?\d{2})?",
        value,
    ):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_utc_datetime)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ImportCustomer(_Strict):
    external_id: ExternalId
    name: RecordName
    email: Text | None = None
    company: Text | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    created_at: UtcDatetime | None = None


class ImportPlan(_Strict):
    external_id: ExternalId
    name: RecordName
    interval_count: int = Field(ge=1, le=1000)
    interval_unit: Literal["day", "month", "year"]
    currency: Currency | None = None


class ImportLineItem(_Strict):
    type: Literal["subscription", "one_time"]
    subscription_external_id: ExternalId | None = None
    plan_external_id: ExternalId | None = None
    service_period_start: UtcDatetime | None = None
    service_period_end: UtcDatetime | None = None
    amount_in_cents: Cents
    quantity: Quantity = 1
    discount_amount_in_cents: NonNegativeCents = 0
    cancelled_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _subscription_fields(self) -> ImportLineItem:
        if self.type == "subscription":
            missing = [
                name
                for name in (
                    "subscription_external_id",
                    "plan_external_id",
                    "service_period_start",
                    "service_period_end",
                )
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"a subscription line item needs {', '.join(missing)}")
            assert self.service_period_start is not None and self.service_period_end is not None
            if self.service_period_end <= self.service_period_start:
                raise ValueError("service_period_end must be after service_period_start")
        return self


class ImportTransaction(_Strict):
    external_id: ExternalId
    type: Literal["payment", "refund"]
    date: UtcDatetime
    result: Literal["successful", "failed"]
    amount_in_cents: Cents | None = None


class ImportInvoice(_Strict):
    external_id: ExternalId
    customer_external_id: ExternalId
    date: UtcDatetime
    currency: Currency
    line_items: list[ImportLineItem] = Field(min_length=1, max_length=500)
    transactions: list[ImportTransaction] = Field(default_factory=list, max_length=100)


class CustomersImport(_Strict):
    customers: list[ImportCustomer] = Field(min_length=1, max_length=MAX_RECORDS)


class PlansImport(_Strict):
    plans: list[ImportPlan] = Field(min_length=1, max_length=MAX_RECORDS)


class InvoicesImport(_Strict):
    invoices: list[ImportInvoice] = Field(min_length=1, max_length=MAX_RECORDS)
