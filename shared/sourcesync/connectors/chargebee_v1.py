"""Chargebee sites on product catalog 1.0 (API v2: plans and addons), as data plus mapping functions.

Customers, invoices and transactions are read and mapped as for catalog 2.0 (`connectors/chargebee.py`);
what differs:

- plans: `GET /plans`, then `GET /addons` (one stream over both lists, `kit.sequence.ListSequence`);
  recurring addons are plans too (a subscription subscribes to them), non-recurring ones give nothing.
- subscriptions: `GET /subscriptions`; the plan (`plan_id`, `plan_quantity`) gives the record with the
  subscription's id, each recurring addon of `addons` one with `{subscription id}:{addon id}`.
"""

from __future__ import annotations

from collections.abc import Iterator

from sourcesync.connectors.base import ConnectorSpec, JsonObject, MappingContext, RequestSpec, Stream
from sourcesync.connectors.chargebee import (
    CHARGEBEE_API_BASE,
    CUSTOMER_FILTER,
    ERROR_POLICY,
    PAGINATION,
    SETTINGS,
    common_streams,
    plan_record,
    subscription_records,
)
from sourcesync.connectors.kit.auth import BasicAuth
from sourcesync.connectors.kit.fields import first, integer
from sourcesync.connectors.kit.sequence import ListSequence
from sourcesync.connectors.limits import PROVIDER_RATE_LIMITS
from sourcesync.records import PlanRecord, RecordKind, SubscriptionRecord

PLAN_LISTS = ("/plans", "/addons")


def map_plan(obj: JsonObject, ctx: MappingContext) -> list[PlanRecord]:
    """A plan, or a recurring addon (`charge_type: recurring`); one-time addons give nothing."""
    if "addon" in obj:
        addon = obj["addon"]
        if addon.get("charge_type") != "recurring":
            return []
        return plan_record(addon, name=first(addon.get("invoice_name"), addon.get("name")))
    plan = obj["plan"]
    return plan_record(plan, name=first(plan.get("invoice_name"), plan.get("name")))


def map_subscription(obj: JsonObject, ctx: MappingContext) -> Iterator[SubscriptionRecord]:
    """The plan and each (recurring) addon of `addons`; event-based addons are one-time charges."""
    subscription = obj["subscription"]
    items: list[tuple[str, bool, int | None]] = []
    if subscription.get("plan_id"):
        items.append((subscription["plan_id"], True, integer(subscription.get("plan_quantity"))))
    items.extend((addon["id"], False, integer(addon.get("quantity"))) for addon in subscription.get("addons") or [])
    return subscription_records(subscription, items)


SPEC = ConnectorSpec(
    system="chargebee_v1",
    api_base=CHARGEBEE_API_BASE,
    settings=SETTINGS,
    auth=BasicAuth("api_key"),
    pagination=PAGINATION,
    page_size=100,
    streams={
        **common_streams(),
        RecordKind.PLANS: Stream(
            RecordKind.PLANS, PLAN_LISTS[0], map_plan, pagination=ListSequence(PLAN_LISTS, PAGINATION)
        ),
        RecordKind.SUBSCRIPTIONS: Stream(
            RecordKind.SUBSCRIPTIONS, "/subscriptions", map_subscription, customer_param=CUSTOMER_FILTER
        ),
    },
    # Checks the key, the site and the catalog: a 2.0 site answers 400 `configuration_incompatible`.
    check_credentials=RequestSpec("/plans", {"limit": 1}),
    rate_limit=PROVIDER_RATE_LIMITS["chargebee_v1"],
    error_policy=ERROR_POLICY,
    customer_path="/customers/{id}",
    windows=None,
)
