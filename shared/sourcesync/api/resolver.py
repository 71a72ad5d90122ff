"""Powertools' HTTP resolver, imported for what it costs at a cold start: every module of the API imports
the resolver's names from here. `sourcesync.coldstart`, imported first (by the package's `__init__`, and
here to say so), registers Powertools' `event_handler` and `utilities.data_classes` packages as lazy ones
(their `__init__`s import every resolver and every event class Powertools has), so only the HTTP API's
resolver and event class are loaded."""

from __future__ import annotations

import sourcesync.coldstart  # noqa: F401 (the lazy packages are registered before the imports below)

# isort: split
from aws_lambda_powertools.event_handler.api_gateway import (
    APIGatewayHttpResolver,
    Response,
    Router,
)
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

__all__ = ["APIGatewayHttpResolver", "NextMiddleware", "Response", "Router"]
