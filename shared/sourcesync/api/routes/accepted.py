"""What the routes that start a job share: `?dry_run=` and the 202 answer with the job."""

from __future__ import annotations

from sourcesync.api.app import json_response, parse_query
from sourcesync.api.params import DryRunQuery
from sourcesync.api.resolver import Response, Router
from sourcesync.services.jobs import present_job


def dry_run(source: Router) -> bool:
    """`?dry_run=true` or `?dry_run=false` (the default), nothing else: anything else is a 400, never a
    real run."""
    return parse_query(source, DryRunQuery).dry_run


def accepted(job: dict[str, object]) -> Response[str]:
    presented = present_job(job)
    return json_response(202, presented, headers={"Location": f"/v1/jobs/{presented['id']}"})
