"""/v1/jobs/{job_id} and /v1/data_sources/{uuid}/jobs."""

from __future__ import annotations

from sourcesync.api.app import json_response, parse_query, principal
from sourcesync.api.pagination import decode_cursor, encode_cursor
from sourcesync.api.params import PageQuery
from sourcesync.api.resolver import Response, Router
from sourcesync.services.jobs import present_job, visible_job
from sourcesync.services.live_sources import live_source
from sourcesync.store.jobs import get_job_store

router = Router()


@router.get("/v1/jobs/<job_id>")
def get_job(job_id: str) -> Response[str]:
    return json_response(200, present_job(visible_job(principal(router), job_id)))


@router.get("/v1/data_sources/<uuid>/jobs")
def list_source_jobs(uuid: str) -> Response[str]:
    page = parse_query(router, PageQuery)
    source = live_source(principal(router), uuid)
    jobs, last = get_job_store().list_for_source(source["uuid"], page.per_page, decode_cursor(page.cursor))
    entries = [present_job(job) for job in jobs]
    return json_response(200, {"entries": entries, "has_more": last is not None, "cursor": encode_cursor(last)})
