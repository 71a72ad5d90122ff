"""Monthly recurring revenue, from imported subscriptions and invoices (docs/api.md#customers).

A subscription's MRR on a day is the subscription line item whose service period covers that day
(from the most recent invoice that has one; its `amount_in_cents` is after discounts, as in the Import
API), normalised to a month: by the
plan's interval when the plan is known, else by the length of the service period. A subscription
that has not started, or was cancelled on or before that day, counts zero. Amounts are integer cents,
per currency.

Manual data: an MRR edit covering the day replaces a subscription's MRR; a merged customer counts every
member's subscriptions; connected subscriptions count as one continuing subscription (on a day when several
of them earn, only the one started last counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sourcesync.records import InvoiceRecord, LineItem, PlanRecord, SubscriptionRecord

DAYS_PER_MONTH = 365.25 / 12
MONTHS_PER_UNIT = {"day": 1 / DAYS_PER_MONTH, "week": 7 / DAYS_PER_MONTH, "month": 1.0, "year": 12.0}


def _day(value: datetime) -> date:
    return value.date()


def covering_line(
    subscription: SubscriptionRecord, invoices: Iterable[InvoiceRecord], day: date
) -> tuple[InvoiceRecord, LineItem] | None:
    best: tuple[InvoiceRecord, LineItem] | None = None
    for invoice in invoices:
        for line in invoice.line_items:
            if line.type != "subscription" or line.subscription_external_id != subscription.external_id:
                continue
            if line.service_period_start is None or line.service_period_end is None:
                continue
            if _day(line.service_period_start) <= day < _day(line.service_period_end) and (
                best is None or invoice.date > best[0].date
            ):
                best = (invoice, line)
    return best


def subscription_mrr(
    subscription: SubscriptionRecord, invoices: Iterable[InvoiceRecord], plans: Mapping[str, PlanRecord], day: date
) -> tuple[str | None, int]:
    """(currency, cents) of one subscription on `day`."""
    if _day(subscription.started_at) > day:
        return subscription.currency, 0
    if subscription.cancelled_at is not None and _day(subscription.cancelled_at) <= day:
        return subscription.currency, 0
    found = covering_line(subscription, invoices, day)
    if found is None:
        return subscription.currency, 0
    invoice, line = found
    plan = plans.get(line.plan_external_id or subscription.plan_external_id or "")
    if plan is not None:
        months = plan.interval_count * MONTHS_PER_UNIT[plan.interval_unit]
    else:
        assert line.service_period_start is not None and line.service_period_end is not None
        months = max(1, (line.service_period_end - line.service_period_start).days) / DAYS_PER_MONTH
    return invoice.currency, round(line.amount_in_cents / months)


@dataclass(frozen=True)
class Edit:
    """A hand-set MRR for a subscription over an interval of days (both ends inclusive)."""

    mrr: int
    start: date
    end: date | None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class SubscriptionInput:
    """One subscription of a (possibly merged) customer, with what its MRR is computed from: the
    invoices and plans of its own data source, and the MRR edits made for it."""

    uuid: str
    record: SubscriptionRecord
    invoices: tuple[InvoiceRecord, ...]
    plans: Mapping[str, PlanRecord]
    edits: tuple[Edit, ...] = ()

    def currency(self) -> str | None:
        if self.record.currency:
            return self.record.currency
        for invoice in sorted(self.invoices, key=lambda i: i.date, reverse=True):
            if any(li.subscription_external_id == self.record.external_id for li in invoice.line_items):
                return invoice.currency
        return None

    def mrr(self, day: date) -> tuple[str | None, int]:
        """(currency, cents) on `day`: an edit covering the day overrides what the invoices imply."""
        edit = next((e for e in self.edits if e.covers(day)), None)
        if edit is not None:
            return self.currency(), edit.mrr
        return subscription_mrr(self.record, self.invoices, self.plans, day)


def merged_customer_mrr(
    subscriptions: Iterable[SubscriptionInput], connected: Iterable[set[str]], day: date
) -> dict[str, int]:
    """A customer's MRR per currency over every subscription of its merged members. Connected
    subscriptions count as one continuing subscription: on a day when several of a group bring MRR (a
    migration's overlap), only the one started last counts."""
    entries = list(subscriptions)
    by_uuid = {s.uuid: s for s in entries}
    values = {s.uuid: s.mrr(day) for s in entries}
    for group in connected:
        earning = sorted(
            (u for u in group if u in by_uuid and values[u][1]),
            key=lambda u: (by_uuid[u].record.started_at, u),
        )
        for uuid in earning[:-1]:
            values[uuid] = (values[uuid][0], 0)
    by_currency: dict[str, int] = {}
    for currency, cents in values.values():
        if currency is not None and (cents or currency not in by_currency):
            by_currency[currency] = by_currency.get(currency, 0) + cents
    return by_currency
