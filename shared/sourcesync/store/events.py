"""Publishing events on the audit bus (EventBridge)."""

from __future__ import annotations

import json
from typing import Any

from sourcesync.aws import client
from sourcesync.config import get_settings


def publish_audit_event(detail_type: str, detail: dict[str, Any]) -> None:
    """One event of source `sourcesync` on the audit bus."""
    client("events").put_events(
        Entries=[
            {
                "Source": "sourcesync",
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": get_settings().audit_event_bus,
            }
        ]
    )
