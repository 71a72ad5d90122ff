"""How a job's workflow ends: `finish` (its clean-up done, or a job without a switch succeeded), `abort`
(an attempt undone), and `continue_in_new_execution` (the same job in a fresh execution)."""

from __future__ import annotations

from typing import Any

from sourcesync.clock import now_iso
from sourcesync.config import get_settings
from sourcesync.log import logger
from sourcesync.pipeline import failures
from sourcesync.pipeline.context import JobContext, frozen_progress, job_result, release, set_cleanup
from sourcesync.pipeline.ending import end_job
from sourcesync.services.jobs import execution_name
from sourcesync.store import work_items
from sourcesync.store.executions import start_execution
from sourcesync.store.jobs import get_job_store
from sourcesync.store.manifests import get_manifest_store
from sourcesync.store.records import get_record_store
from sourcesync.store.sources import get_source_store


def finish(job: JobContext) -> dict[str, Any]:
    """The end of a job's workflow. A committed job succeeded at its switch: this ends its clean-up
    (the overlays the policy matrix removed go, the work items go, `cleanup.status` is `done`). A job
    without a switch (`reprocess`) ends here: `succeeded` with its result, and the source released."""
    # lazily, for cold init: of the workers, only this step needs the manual-data logic
    from sourcesync.services.overlays import finish_removals

    finish_removals(job.account_id, job.job_id)
    stored_job = get_job_store().get(job.account_id, job.job_id)
    if stored_job is None:  # the source was deleted during the clean-up: its purge removed the job too
        work_items.drop(job.job_id)
        return {"status": "succeeded"}
    if stored_job.get("committed"):
        work_items.drop(job.job_id)
        set_cleanup(job, "done")
        return {"status": "succeeded"}
    # (a retried finish of a job that succeeded only releases and drops again: `end_job`)
    end_job(
        job.account_id,
        job.job_id,
        lambda stored: {
            "status": "succeeded",
            "phase": None,
            "waiting_for": None,
            "finished_at": now_iso(),
            "result": job_result(job),
            "progress": frozen_progress(job, "succeeded"),
        },
        lambda: _release_and_drop(job),
    )
    return {"status": "succeeded"}


def _release_and_drop(job: JobContext, release_source: bool = True) -> None:
    if release_source:
        release(job)
    work_items.drop(job.job_id)


def abort(job: JobContext, error: dict[str, Any] | None) -> dict[str, Any]:
    """Undo a failed or cancelled attempt: remove its partial generation (unless the source is being
    deleted: the purge removes everything), end the job, release the source. The previous generation
    is untouched throughout. How the job ends (status, error code, the provider's status) is
    `failures.JOB_ERRORS`'s entry for the exception that stopped it."""
    # lazily, for cold init: of the workers, only this step needs the manual-data logic
    from sourcesync.services.overlays import undo_removals

    status, error_body = failures.job_error(job.job_id, (error or {}).get("Error", "States.Runtime"))
    stored_job = get_job_store().get(job.account_id, job.job_id) or {}
    if stored_job.get("committed"):  # the clean-up after the switch failed: the job's data is live
        return _cleanup_failed(job)
    if stored_job.get("status") in ("succeeded", "failed", "cancelled"):  # a retried undo: finish releasing
        release(job)
        work_items.drop(job.job_id)
        return {"status": stored_job["status"]}
    plan_item = work_items.read(job.job_id, "PLAN")
    generation = plan_item["generation"] if plan_item else job.generation
    source = get_source_store().get(job.account_id, job.data_source_uuid)
    deleting = source is None or source.get("status") == "deleting"
    if generation is not None and not deleting:
        get_record_store().delete_generation(job.data_source_uuid, generation)
        get_manifest_store().delete_generation(job.account_id, job.data_source_uuid, generation)
        # The generation stays pending for good: a sibling worker still finishing a page could write one more
        # version of it after this clean-up, and a pending generation is invisible to every reader.
    undo_removals(job.account_id, job.job_id)
    ended = end_job(
        job.account_id,
        job.job_id,
        lambda stored: {
            "status": status,
            "phase": None,
            "waiting_for": None,
            "finished_at": now_iso(),
            "error": error_body,
            "progress": frozen_progress(job, status),
        },
        lambda: _release_and_drop(job, release_source=not deleting),
    )
    final = ended or {"status": status, "error": error_body}  # (None: the source's purge removed the job)
    logger.info("Job ended without committing", job_id=job.job_id, status=final["status"], code=final["error"]["code"])
    return {"status": final["status"]}


def _cleanup_failed(job: JobContext) -> dict[str, Any]:
    """A clean-up that kept failing: the job stays `succeeded` (its data is live, and readers never see
    what is left: versions no committed generation points at), its clean-up ends, and its `error` says
    what was left behind. The execution fails, so the operator sees it."""
    # lazily, for cold init: of the workers, only this step needs the manual-data logic
    from sourcesync.services.overlays import finish_removals

    finish_removals(job.account_id, job.job_id)  # the matrix's removals are in effect: carry them out
    work_items.drop(job.job_id)
    set_cleanup(
        job,
        "done",
        error={
            "code": "cleanup_failed",
            "message": "The new data is live; removing what only the old generation held failed, "
            "so some storage is left behind (invisible to readers).",
        },
    )
    logger.info("The clean-up after the switch failed", job_id=job.job_id)
    return {"status": "failed"}


def continue_in_new_execution(job: JobContext) -> dict[str, Any]:
    """Hand the job over to a fresh execution (AWS caps one execution's history at 25,000 events);
    the checkpoints make the new one resume where this one stopped."""
    following = job.model_copy(update={"execution": job.execution + 1})
    name = f"{execution_name(job.data_source_uuid, job.job_id)}-{following.execution}"
    start_execution(
        get_settings().resync_state_machine_arn,
        name,
        {"job": following.model_dump(mode="json", exclude={"generation", "previous_generation"})},
    )
    return {"continued_as": name}
