"""The API function: data sources, jobs, customers, subscriptions, manual data and the Import API."""

from __future__ import annotations

from typing import Any

from sourcesync.api.app import create_app
from sourcesync.api.routes import api_keys, console, customers, data_sources, imports, jobs, openapi, subscriptions
from sourcesync.config import FUNCTION_SETTINGS, check_settings
from sourcesync.log import logger

check_settings(FUNCTION_SETTINGS["api"])  # cold start: fail here, naming a missing variable

app = create_app(
    data_sources.router,
    jobs.router,
    customers.router,
    subscriptions.router,
    imports.router,
    api_keys.router,
    openapi.router,
    console.router,
)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
