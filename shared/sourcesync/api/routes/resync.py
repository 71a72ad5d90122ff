"""/v1/data_sources/{uuid}/resync and /v1/jobs/{job_id}/cancel."""

from __future__ import annotations

from sourcesync.api.app import json_response, parse_query, principal
from sourcesync.api.params import DryRunQuery
from sourcesync.api.resolver import Response, Router
from sourcesync.services import jobs, resync

router = Router()


def dry_run(source: Router) -> bool:
    """`?dry_run=true` or `?dry_run=false` (the default), nothing else: anything else is a 400, never a
    real run."""
    return parse_query(source, DryRunQuery).dry_run


def accepted(job: dict[str, object]) -> Response[str]:
    presented = jobs.present_job(job)
    return json_response(202, presented, headers={"Location": f"/v1/jobs/{presented['id']}"})


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
