"""Starting a deleted source's purge workflow (the delete and the scheduler's restart of a lost start).

Apart from `services/jobs.py` so that only the two functions that start purges (DeleteSource, Scheduler)
read the purge state machine's setting, and check it at their cold start.
"""

from __future__ import annotations

from sourcesync.config import get_settings
from sourcesync.log import logger
from sourcesync.services.jobs import execution_name
from sourcesync.store.dynamo import Item
from sourcesync.store.executions import start_execution

#: Deleting sources sit in the sparse `scheduled` index under this shard, so the scheduler can restart
#: a purge whose start was lost; a finished purge removes the source item and with it the entry.
PURGE_SHARD = "purge"


def start_purge(job: Item, attempt: int = 1) -> None:
    name = execution_name(job["data_source_uuid"], job["job_id"]) + ("" if attempt == 1 else f"-{attempt}")
    execution_input = {
        "job": {
            "account_id": job["account_id"],
            "data_source_uuid": job["data_source_uuid"],
            "job_id": job["job_id"],
            "kind": "delete_source",
            "running_job_id": job.get("running_job_id"),
        }
    }
    try:
        start_execution(get_settings().purge_state_machine_arn, name, execution_input)
    except Exception:  # the source is deleted already; the scheduler restarts a purge that did not start
        logger.exception("The purge could not be started", job_id=job["job_id"])
