"""Data derived from imported records: subscriptions from subscription line items (as subscription
analytics does for pushed data). Used by the Import API and by a support `reprocess`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sourcesync.records import SubscriptionRecord


class SubscriptionLine(Protocol):
    @property
    def plan_external_id(self) -> str | None: ...
    @property
    def quantity(self) -> int: ...
    @property
    def service_period_start(self) -> datetime | None: ...
    @property
    def service_period_end(self) -> datetime | None: ...
    @property
    def cancelled_at(self) -> datetime | None: ...


def derive_subscription(
    customer_external_id: str,
    subscription_external_id: str,
    lines: Sequence[tuple[datetime, str, SubscriptionLine]],
    previous: SubscriptionRecord | None = None,
) -> SubscriptionRecord:
    """One subscription from its line items `(invoice date, invoice currency, line)`: it starts with the
    earliest service period, takes plan and quantity from the latest, and is cancelled when a line says
    so (a later renewal than a previous cancellation reactivates it)."""

    def start(line: SubscriptionLine) -> datetime:
        assert line.service_period_start is not None
        return line.service_period_start

    def end(line: SubscriptionLine) -> datetime:
        assert line.service_period_end is not None
        return line.service_period_end

    _, currency, latest = max(lines, key=lambda entry: (end(entry[2]), entry[0]))
    started = min(start(line) for _, _, line in lines)
    cancellations = [line.cancelled_at for _, _, line in lines if line.cancelled_at]
    cancelled = max(cancellations) if cancellations else None
    if previous is not None:
        started = min(started, previous.started_at)
        renewed = max(start(line) for _, _, line in lines)
        if cancelled is None and previous.cancelled_at and previous.cancelled_at > renewed:
            cancelled = previous.cancelled_at
    return SubscriptionRecord(
        external_id=subscription_external_id,
        customer_external_id=customer_external_id,
        plan_external_id=latest.plan_external_id,
        quantity=latest.quantity,
        status="cancelled" if cancelled else "active",
        currency=currency,
        started_at=started,
        cancelled_at=cancelled,
    )
