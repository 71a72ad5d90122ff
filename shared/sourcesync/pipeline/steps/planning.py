"""`plan`: the attempt's generation and the source's partitions, once per job (the work item `PLAN`)."""

from __future__ import annotations

import json
from typing import Any

from sourcesync.clock import now_iso
from sourcesync.config import get_settings
from sourcesync.pipeline.context import CUSTOMER_KINDS, JobContext, ensure_live, set_job
from sourcesync.pipeline.failures import SourceDeletedError
from sourcesync.services import connections
from sourcesync.store import work_items
from sourcesync.store.jobs import get_job_store
from sourcesync.store.sources import get_source_store

#: History events per fetch loop iteration, and how many the loop may use in one execution before it
#: continues in a new one (AWS caps an execution at 25,000 events; moto does not, so we cap ourselves).
EVENTS_PER_ITERATION = 7
ITERATION_BUDGET_PER_EXECUTION = 3000


def plan(job: JobContext) -> dict[str, Any]:
    """Allocate the attempt's generation and split the source into partitions (once per job)."""
    stored = work_items.read(job.job_id, "PLAN")
    if stored is None:
        source = ensure_live(job)
        get_job_store().update(
            job.account_id,
            job.job_id,
            {"status": "running", "phase": "planning", "started_at": now_iso()},
            only_if_status=("queued",),
        )
        began = get_source_store().begin_generation(job.account_id, job.data_source_uuid, job.job_id)
        if began is None:
            raise SourceDeletedError("The data source was deleted while the job ran.")
        if job.kind == "resync_customer":  # one customer: its kinds, fetched by `fetch_customer`, no Map
            partitions: list[dict[str, Any]] = [{"kind": k.value, "key": k.value, "params": {}} for k in CUSTOMER_KINDS]
        else:
            connector = connections.connector_for(source)
            partitions = [p.model_dump(mode="json") for p in connector.plan_partitions()]
        stored = {
            "generation": int(began["next_generation"]),
            "previous_generation": source.get("committed_generation"),
            "partitions": json.dumps(partitions),
            "planned_at": now_iso(),
            "previous_counts": source.get("counts") or {},
            # the job whose clean-up of its old generation this job's own clean-up must follow, if any
            "after_cleanup_of": source.get("cleanup_job_id"),
        }
        work_items.write(job.job_id, "PLAN", stored)
        set_job(job, {"phase": "fetching"})
    partitions = json.loads(stored["partitions"])
    context = job.model_copy(
        update={"generation": stored["generation"], "previous_generation": stored.get("previous_generation")}
    )
    return {
        "job": context.model_dump(mode="json"),
        "partitions": partitions,
        "max_iterations": max(1, ITERATION_BUDGET_PER_EXECUTION // max(1, len(partitions))),
        "grace_seconds": get_settings().commit_grace_seconds,
        # every partition at once, up to the template's FetchConcurrency (the Map's MaxConcurrencyPath)
        "max_concurrency": max(1, min(len(partitions), get_settings().fetch_concurrency)),
    }
