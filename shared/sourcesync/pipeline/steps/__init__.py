"""The steps of the re-sync state machine (infra/statemachine/resync_source.asl.json), one module per phase:

* `planning`      `plan`: the attempt's generation and the partitions (once per job)
* `fetching`      `fetch`: one partition's pages, checkpointed; `customer`: `fetch_customer`, a customer
                  re-sync's one fetch
* `reconciling`   `reconcile`: tombstones for what vanished, the counts; `apply_overlays`: the policy matrix
* `switch`        `commit`: the switch of readers to the new generation, which ends the job; `settle`:
                  `reconcile`, `apply_overlays` and `commit` in one invocation, after the fetch Map
* `cleanup`       `collect_garbage`: after the grace period, what only the old generation held
* `end`           `finish`, `abort` (an attempt undone), `continue_in_new_execution`
* `reprocessing`  `reprocess`, a support action: derived data rebuilt from the stored records (the worker
                  imports it only when it runs, for cold init)

Each step is idempotent: Step Functions may run it again after a crash, a timeout or a retry, and the
result is the same. What they share is in `pipeline/context.py`; what outlives one invocation is in work
items (`store/work_items.py`).
"""

from sourcesync.pipeline.context import JobContext
from sourcesync.pipeline.steps.cleanup import collect_garbage
from sourcesync.pipeline.steps.customer import fetch_customer
from sourcesync.pipeline.steps.end import abort, continue_in_new_execution, finish
from sourcesync.pipeline.steps.fetching import fetch
from sourcesync.pipeline.steps.planning import plan
from sourcesync.pipeline.steps.reconciling import apply_overlays, reconcile
from sourcesync.pipeline.steps.switch import commit, settle

__all__ = [
    "JobContext",
    "abort",
    "apply_overlays",
    "collect_garbage",
    "commit",
    "continue_in_new_execution",
    "fetch",
    "fetch_customer",
    "finish",
    "plan",
    "reconcile",
    "settle",
]
