"""/v1/data_sources/{uuid}/resync and /v1/jobs/{job_id}/cancel."""

from __future__ import annotations

from sourcesync.api.app import json_response, principal
from sourcesync.api.resolver import Response, Router
from sourcesync.api.routes.accepted import accepted, dry_run
from sourcesync.services import jobs, resync

router = Router()


@router.post("/v1/data_sources/<uuid>/resync")
def resync_data_source(uuid: str) -> Response[str]:
    if dry_run(router):
        return json_response(200, resync.preview(principal(router), uuid))
    return accepted(resync.start(principal(router), uuid))


@router.post("/v1/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> Response[str]:
    return accepted(jobs.cancel(principal(router), job_id))


@router.post("/v1/data_sources/<uuid>/reprocess")
def reprocess_data_source(uuid: str) -> Response[str]:
    return accepted(resync.reprocess(principal(router), uuid))
