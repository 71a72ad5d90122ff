"""/v1/data_sources/{uuid}/resync and /v1/jobs/{job_id}/cancel."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from sourcesync.api.app import json_response, principal
from sourcesync.services import jobs, resync

router = Router()


def dry_run(source: Router) -> bool:
    value = (source.current_event.query_string_parameters or {}).get("dry_run", "false").lower()
    return value in ("true", "1", "yes")


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
