"""MRR from subscriptions and invoices, normalised to a month."""

from datetime import UTC, date, datetime

from sourcesync.mrr import SubscriptionInput, merged_customer_mrr, subscription_mrr
from sourcesync.records import InvoiceRecord, LineItem, PlanRecord, SubscriptionRecord


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


MONTHLY = PlanRecord(external_id="m", name="Monthly", interval_count=1, interval_unit="month")
YEARLY = PlanRecord(external_id="y", name="Yearly", interval_count=1, interval_unit="year")
PLANS = {"m": MONTHLY, "y": YEARLY}


def subscription(ext: str, plan: str, started: str, cancelled: str | None = None) -> SubscriptionRecord:
    return SubscriptionRecord(
        external_id=ext,
        customer_external_id="c",
        plan_external_id=plan,
        status="active",
        started_at=at(started),
        cancelled_at=at(cancelled) if cancelled else None,
    )


def invoice(
    ext: str, sub: str, plan: str, start: str, end: str, amount: int, currency: str = "USD", discount: int = 0
) -> InvoiceRecord:
    line = LineItem(
        type="subscription",
        subscription_external_id=sub,
        plan_external_id=plan,
        service_period_start=at(start),
        service_period_end=at(end),
        amount_in_cents=amount,
        discount_amount_in_cents=discount,
    )
    return InvoiceRecord(
        external_id=ext, customer_external_id="c", date=at(start), currency=currency, line_items=(line,)
    )


def test_a_monthly_subscription_counts_its_invoice_amount() -> None:
    sub = subscription("s", "m", "2026-01-01")
    invoices = [invoice("i1", "s", "m", "2026-01-01", "2026-02-01", 5000)]
    assert subscription_mrr(sub, invoices, PLANS, date(2026, 1, 15)) == ("USD", 5000)
    # outside the billed period nothing covers the day
    assert subscription_mrr(sub, invoices, PLANS, date(2026, 2, 15))[1] == 0


def test_a_yearly_plan_is_divided_by_twelve_and_amounts_are_after_discount() -> None:
    sub = subscription("s", "y", "2026-01-01")
    invoices = [invoice("i1", "s", "y", "2026-01-01", "2027-01-01", 120000, discount=12000)]
    assert subscription_mrr(sub, invoices, PLANS, date(2026, 6, 1))[1] == 10000


def test_cancelled_and_not_started_count_zero() -> None:
    invoices = [invoice("i1", "s", "m", "2026-01-01", "2026-02-01", 5000)]
    assert (
        subscription_mrr(
            subscription("s", "m", "2026-01-01", cancelled="2026-01-10"), invoices, PLANS, date(2026, 1, 15)
        )[1]
        == 0
    )
    assert subscription_mrr(subscription("s", "m", "2026-01-20"), invoices, PLANS, date(2026, 1, 15))[1] == 0


def test_the_latest_invoice_covering_the_day_wins() -> None:
    sub = subscription("s", "m", "2026-01-01")
    first = invoice("i1", "s", "m", "2026-01-01", "2026-02-01", 5000)
    upgrade = invoice("i2", "s", "m", "2026-01-10", "2026-02-01", 8000)
    assert subscription_mrr(sub, [first, upgrade], PLANS, date(2026, 1, 15))[1] == 8000


def test_mrr_is_kept_per_currency() -> None:
    subs = [subscription("a", "m", "2026-01-01"), subscription("b", "m", "2026-01-01")]
    invoices = [
        invoice("i1", "a", "m", "2026-01-01", "2026-02-01", 5000, "USD"),
        invoice("i2", "b", "m", "2026-01-01", "2026-02-01", 3000, "EUR"),
    ]
    inputs = [SubscriptionInput(f"sub_{s.external_id}", s, tuple(invoices), PLANS) for s in subs]
    assert merged_customer_mrr(inputs, [], date(2026, 1, 2)) == {"USD": 5000, "EUR": 3000}


def test_without_a_plan_the_service_period_sets_the_month() -> None:
    sub = subscription("s", "unknown", "2026-01-01")
    invoices = [invoice("i1", "s", "unknown", "2026-01-01", "2026-04-01", 9000)]
    assert subscription_mrr(sub, invoices, {}, date(2026, 2, 1))[1] == round(9000 / (90 / (365.25 / 12)))
