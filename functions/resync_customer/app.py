"""The customer re-sync function: POST /v1/data_sources/{uuid}/customers/{customer_uuid}/resync (SPEC 2.3)."""

from __future__ import annotations

from typing import Any

from sourcesync.api.app import create_app
from sourcesync.api.routes import resync_customer
from sourcesync.log import logger

app = create_app(resync_customer.router)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
