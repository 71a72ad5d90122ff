"""/v1/data_sources/{uuid}/customers/{customer_uuid}/resync: re-sync one customer."""

from __future__ import annotations

from sourcesync.api.app import principal
from sourcesync.api.resolver import Response, Router
from sourcesync.api.routes.accepted import accepted
from sourcesync.services import resync

router = Router()


@router.post("/v1/data_sources/<uuid>/customers/<customer_uuid>/resync")
def resync_customer(uuid: str, customer_uuid: str) -> Response[str]:
    return accepted(resync.start_customer_resync(principal(router), uuid, customer_uuid))
