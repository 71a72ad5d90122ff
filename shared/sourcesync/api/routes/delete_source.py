"""DELETE /v1/data_sources/{uuid}: erase a data source (202 with the delete job), or preview it."""

from __future__ import annotations

from sourcesync.api.app import json_response, principal
from sourcesync.api.resolver import Response, Router
from sourcesync.api.routes.accepted import accepted, dry_run
from sourcesync.services import delete_source

router = Router()


@router.delete("/v1/data_sources/<uuid>")
def delete_data_source(uuid: str) -> Response[str]:
    if dry_run(router):
        return json_response(200, delete_source.preview(principal(router), uuid))
    return accepted(delete_source.delete(principal(router), uuid))
