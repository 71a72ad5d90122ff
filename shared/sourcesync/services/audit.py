"""The audit path every audited action takes (deletes, support actions, API key operations).

Each action leaves three traces: a structured log line, an event on the audit bus (source `sourcesync`)
and an `AUDIT#` item of the account's, which outlives what it describes. No secret goes into any of them.
"""

from __future__ import annotations

from typing import Any

from sourcesync.log import logger
from sourcesync.store.accounts import get_account_store
from sourcesync.store.events import publish_audit_event


def publish(detail_type: str, account_id: str, sort: str, record: dict[str, Any]) -> None:
    """Log, store under the account (`AUDIT#<sort>`) and publish `record` as a `detail_type` event.

    The item is written first: a failure there fails the action's request. The event is best effort (the
    action has happened; the item and the log line still hold it)."""
    logger.info(f"Audit: {detail_type}", audit=record)
    get_account_store().put_audit(account_id, sort, record)
    try:
        publish_audit_event(detail_type, record)
    except Exception:
        logger.exception("The audit event could not be published", detail_type=detail_type, sort=sort)
