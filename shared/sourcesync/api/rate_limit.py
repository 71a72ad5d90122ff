"""The resolver's rate-limit middleware: after authentication (the limit is per account, and a request
without a valid key never reaches it), before idempotency and the route's work."""

from __future__ import annotations

from typing import Any

from sourcesync.api.resolver import APIGatewayHttpResolver, NextMiddleware, Response
from sourcesync.services.rate_limit import count_request
from sourcesync.store.accounts import Principal


def limit_requests(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    caller: Principal | None = app.context.get("principal")
    if caller is not None:  # unauthenticated routes (if any) are left to the stage's throttling
        count_request(caller.account_id)
    return next_middleware(app)
