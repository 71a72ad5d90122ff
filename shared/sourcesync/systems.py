"""The integrations a data source can connect to (docs/architecture.md#concepts), as data."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class System(StrEnum):
    APP_STORE_CONNECT = "app_store_connect"
    BRAINTREE = "braintree"
    CHARGEBEE = "chargebee"
    CHARGEBEE_V1 = "chargebee_v1"
    PAYPAL = "paypal"
    RECURLY = "recurly"
    STRIPE = "stripe"
    GOCARDLESS = "gocardless"
    GOOGLE_PLAY = "google_play"
    MAXIO = "maxio"
    PADDLE = "paddle"
    XERO = "xero"
    HUBSPOT = "hubspot"
    INTERCOM = "intercom"
    SEGMENT = "segment"
    CUSTOM = "custom"


class SystemInfo(NamedTuple):
    integration: str
    resync_source: bool
    resync_customer: bool
    crm: bool = False


SYSTEMS: dict[System, SystemInfo] = {
    System.APP_STORE_CONNECT: SystemInfo("App Store Connect", True, True),
    System.BRAINTREE: SystemInfo("Braintree", True, True),
    System.CHARGEBEE: SystemInfo("Chargebee (latest version)", True, True),
    System.CHARGEBEE_V1: SystemInfo("Chargebee (previous version)", True, True),
    System.PAYPAL: SystemInfo("PayPal", True, True),
    System.RECURLY: SystemInfo("Recurly", True, True),
    System.STRIPE: SystemInfo("Stripe", True, True),
    System.GOCARDLESS: SystemInfo("GoCardless", True, True),
    System.GOOGLE_PLAY: SystemInfo("Google Play", True, True),
    System.MAXIO: SystemInfo("Maxio (Chargify) - maintained by SaaSync", True, True),
    System.PADDLE: SystemInfo("Paddle - maintained by SaaSync", True, True),
    System.XERO: SystemInfo("Xero - maintained by SaaSync", True, True),
    System.HUBSPOT: SystemInfo("HubSpot (CRM)", True, True, crm=True),
    System.INTERCOM: SystemInfo("Intercom (CRM)", True, True, crm=True),
    System.SEGMENT: SystemInfo("Segment (CRM, push)", True, True, crm=True),
    System.CUSTOM: SystemInfo("Import API", False, False),
}
