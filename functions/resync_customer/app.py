"""The customer re-sync function: POST /v1/data_sources/{uuid}/customers/{customer_uuid}/resync."""

from __future__ import annotations

from typing import Any

from sourcesync.api.app import create_app
from sourcesync.api.routes import resync_customer
from sourcesync.config import FUNCTION_SETTINGS, check_settings
from sourcesync.log import logger

check_settings(FUNCTION_SETTINGS["resync_customer"])  # cold start: fail here, naming a missing variable

app = create_app(resync_customer.router)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
