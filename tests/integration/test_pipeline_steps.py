"""The re-sync and purge steps on the real parts, run by hand: retried, interrupted and repeated, they end
in the same state as a run that never failed (docs/architecture.md#the-re-sync-state-machine)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stripe_seed import TEST_KEY, seeded_emulator
from sourcesync.clock import now_iso
from sourcesync.config import get_settings
from sourcesync.errors import NotFoundError
from sourcesync.ids import new_id
from sourcesync.pipeline import purge, steps
from sourcesync.pipeline.steps import planning
from sourcesync.services import accounts, customers, delete_source
from sourcesync.services.jobs import new_job
from sourcesync.store import work_items
from sourcesync.store.accounts import Principal
from sourcesync.store.credentials import get_credential_store
from sourcesync.store.jobs import get_job_store
from sourcesync.store.records import get_record_store
from sourcesync.store.sources import get_source_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stripe() -> Iterator[str]:
    with seeded_emulator(customers=12, seed=5) as url:
        yield url


@pytest.fixture
def principal(deployed_stack: Any) -> Principal:
    key = accounts.create_account("steps")
    return Principal(key.account_id, key.key_id, key.role)


@pytest.fixture
def one_page_at_a_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fetch budget of zero: every worker invocation fetches one page, checkpoints and hands back."""
    monkeypatch.setenv("FETCH_BUDGET_SECONDS", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def stripe_source(principal: Principal, api_base: str) -> dict[str, Any]:
    uuid = new_id("ds")
    source = {
        "uuid": uuid,
        "account_id": principal.account_id,
        "name": "Steps",
        "system": "stripe",
        "status": "active",
        "options": {"api_base": api_base, "page_size": 3, "max_retry_seconds": 5},
        "created_at": now_iso(),
        "counts": {},
    }
    get_credential_store().put(principal.account_id, uuid, {"api_key": TEST_KEY})
    get_source_store().create(source)
    return source


def hold(principal: Principal, uuid: str, kind: str = "import") -> steps.JobContext:
    job = new_job(principal.account_id, uuid, kind, principal.key_id)
    get_job_store().create_holding_source(job, "importing")
    return steps.JobContext(account_id=principal.account_id, data_source_uuid=uuid, job_id=job["job_id"], kind=kind)


def run_job(job: steps.JobContext, repeat_every_step: bool, settle: bool = False) -> dict[str, Any]:
    """Drive every step as the state machine would; with `repeat_every_step`, each step runs twice (as a
    retry after a crash right after the step's work would). With `settle`, reconcile, the policy matrix
    and the switch run as the full re-sync's one task (`settle`), else one by one (a customer re-sync's
    path, and executions of the state machine's earlier definition)."""
    times = 2 if repeat_every_step else 1
    for _ in range(times):
        planned = steps.plan(job)
    context = steps.JobContext.model_validate(planned["job"])
    for partition in planned["partitions"]:
        iterations, done = 0, False
        while not done:
            for _ in range(times):
                answer = steps.fetch(context, partition, iterations, 10_000, lambda: 900.0)
            iterations, done = answer["iterations"], answer["done"]
        assert iterations > 1 or partition["kind"] == "plans"  # it really looped, one page at a time
    if settle:
        for _ in range(times):
            assert steps.settle(context, planned["partitions"])["all_fetched"]
    else:
        for _ in range(times):
            assert steps.reconcile(context, planned["partitions"])["all_fetched"]
        for _ in range(times):
            steps.apply_overlays(context)
        for _ in range(times):
            steps.commit(context)
    for _ in range(times):
        steps.collect_garbage(context, planned["partitions"])
    for _ in range(times):
        steps.finish(context)
    return planned


def everything(principal: Principal, uuid: str) -> dict[str, Any]:
    source = get_source_store().get(principal.account_id, uuid)
    assert source is not None
    view = customers.view_of(source)
    assert view is not None
    records = get_record_store().all_visible(uuid, view)
    return {"counts": source["counts"], "records": sorted((r.kind.value, r.record.model_dump_json()) for r in records)}


def test_a_run_whose_every_step_is_retried_ends_like_a_clean_run(
    principal: Principal, stripe: str, one_page_at_a_time: None
) -> None:
    clean, retried = stripe_source(principal, stripe), stripe_source(principal, stripe)
    clean_job, retried_job = hold(principal, clean["uuid"]), hold(principal, retried["uuid"])
    run_job(clean_job, repeat_every_step=False)
    run_job(retried_job, repeat_every_step=True)
    expected = everything(principal, clean["uuid"])
    assert expected["counts"]["customers"] >= 12
    got = everything(principal, retried["uuid"])
    assert [r[1] for r in got["records"]] == [r[1] for r in expected["records"]]
    assert got["counts"] == expected["counts"]
    # a retried finish keeps the result the first one wrote
    results = [get_job_store().get(principal.account_id, j.job_id)["result"] for j in (clean_job, retried_job)]  # type: ignore[index]
    assert results[0] == results[1] and results[1]["counts"]["customers"] == expected["counts"]["customers"]
    # and a re-sync of unchanged data stores nothing new: only the first generation's items exist
    before = get_record_store().count_items(retried["uuid"])
    run_job(hold(principal, retried["uuid"], "resync_source"), repeat_every_step=True)
    assert get_record_store().count_items(retried["uuid"]) == before
    assert everything(principal, retried["uuid"])["records"] == got["records"]


def test_settle_reconciles_applies_the_matrix_and_switches_in_one_step_like_the_three_steps(
    principal: Principal, stripe: str, one_page_at_a_time: None
) -> None:
    by_steps, settled = stripe_source(principal, stripe), stripe_source(principal, stripe)
    run_job(hold(principal, by_steps["uuid"]), repeat_every_step=False)
    # before every partition is fetched, settle neither counts nor switches
    early = hold(principal, settled["uuid"])
    planned = steps.plan(early)
    context = steps.JobContext.model_validate(planned["job"])
    assert steps.settle(context, planned["partitions"]) == {"all_fetched": False}
    stored = get_job_store().get(principal.account_id, early.job_id)
    assert stored is not None and not stored.get("committed") and stored["status"] == "running"
    assert work_items.read(early.job_id, "COUNTS") is None
    # once they are, it ends the job at the switch; retried (also after the switch), it changes nothing
    run_job(early, repeat_every_step=True, settle=True)
    expected, got = everything(principal, by_steps["uuid"]), everything(principal, settled["uuid"])
    assert [r[1] for r in got["records"]] == [r[1] for r in expected["records"]]
    assert got["counts"] == expected["counts"] and got["counts"]["customers"] >= 12
    job = get_job_store().get(principal.account_id, early.job_id)
    assert job is not None and job["status"] == "succeeded" and job["committed"]
    assert job["result"]["counts"] == expected["counts"]


def test_an_aborted_attempt_leaves_the_previous_generation_untouched(
    principal: Principal, stripe: str, one_page_at_a_time: None
) -> None:
    source = stripe_source(principal, stripe)
    run_job(hold(principal, source["uuid"]), repeat_every_step=False)
    before = everything(principal, source["uuid"])
    stored_before = get_record_store().count_items(source["uuid"])
    # an attempt that fetched part of its partitions, then failed
    job = hold(principal, source["uuid"], "resync_source")
    planned = steps.plan(job)
    context = steps.JobContext.model_validate(planned["job"])
    seen = everything(principal, source["uuid"])
    steps.fetch(context, planned["partitions"][0], 0, 10, lambda: 900.0)
    assert everything(principal, source["uuid"]) == seen  # readers never see the attempt
    for _ in range(2):
        assert steps.abort(context, {"Error": "ProviderUnavailableError"})["status"] == "failed"
    assert everything(principal, source["uuid"]) == before
    assert get_record_store().count_items(source["uuid"]) == stored_before
    after = get_source_store().get(principal.account_id, source["uuid"])
    assert after is not None and "current_job_id" not in after
    # the aborted generation stays pending for good: whatever a straggler writes into it stays invisible
    assert set(after.get("pending_generations") or []) == {context.generation}
    stored_job = get_job_store().get(principal.account_id, context.job_id)
    assert stored_job is not None and stored_job["error"]["code"] == "provider_unavailable"


def test_two_racing_deletes_make_one_purge_which_is_resumable_and_idempotent(
    principal: Principal, stripe: str, one_page_at_a_time: None
) -> None:
    source = stripe_source(principal, stripe)
    run_job(hold(principal, source["uuid"]), repeat_every_step=False)
    assert get_record_store().count_items(source["uuid"]) > 0

    # two DELETEs at once: one wins, the other answers 404
    outcomes: list[Any] = []

    def delete() -> None:
        try:
            outcomes.append(delete_source.delete(principal, source["uuid"]))
        except NotFoundError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=delete) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    jobs = [o for o in outcomes if isinstance(o, dict)]
    assert len(jobs) == 1 and sum(isinstance(o, NotFoundError) for o in outcomes) == 1
    listed = get_job_store().list_for_source(source["uuid"], 50, None)[0]
    assert [j["kind"] for j in listed].count("delete_source") == 1

    # the purge the delete started, and then the same purge's steps again by hand: same result
    from sourcesync.aws import client

    sfn = client("stepfunctions")
    names = [
        e["name"]
        for e in sfn.list_executions(stateMachineArn=get_settings().purge_state_machine_arn)["executions"]
        if e["name"].startswith(source["uuid"])
    ]
    assert len(names) == 1
    job = purge.PurgeJob(account_id=principal.account_id, data_source_uuid=source["uuid"], job_id=jobs[0]["job_id"])
    deadline = time.monotonic() + 60
    while get_job_store().get(principal.account_id, job.job_id)["status"] != "succeeded":  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert get_record_store().count_items(source["uuid"]) == 0
    assert get_source_store().get(principal.account_id, source["uuid"]) is None
    # run again (a retried execution): every step succeeds and nothing changes
    plan = purge.plan(job)
    for pk in plan["partitions"]:
        assert purge.purge_partition(job, pk, lambda: 900.0)["done"]
    purge.purge_rest(job)
    purge.finish(job, None)
    assert get_record_store().count_items(source["uuid"]) == 0
    assert get_job_store().get(principal.account_id, job.job_id)["status"] == "succeeded"  # type: ignore[index]


def test_a_purge_interrupted_mid_partition_continues_where_it_was(
    principal: Principal, one_page_at_a_time: None
) -> None:
    from sourcesync.records import CustomerRecord, RecordKind
    from sourcesync.store.records import Version, partition_keys, uuid_for

    uuid = new_id("ds")
    versions = [
        Version(
            kind=RecordKind.CUSTOMERS,
            uuid=uuid_for(principal.account_id, uuid, RecordKind.CUSTOMERS, f"c{i}"),
            customer_uuid=None,
            external_id=f"c{i}",
            generation=1,
            record=CustomerRecord(external_id=f"c{i}", name="n"),
        )
        for i in range(2500)
    ]
    get_record_store().write(uuid, versions)
    job = purge.PurgeJob(account_id=principal.account_id, data_source_uuid=uuid, job_id=new_id("job"))
    busiest = max(partition_keys(uuid), key=lambda pk: len(get_record_store().keys_in(pk, limit=1000)[0]))
    before = len(get_record_store().keys_in(busiest, limit=1000)[0])
    assert before > 100
    # a worker whose time is up at once deletes one page and stops, leaving a checkpoint...
    original_page = purge.PAGE
    purge.PAGE = 50
    try:
        first = purge.purge_partition(job, busiest, lambda: 0.0)
    finally:
        purge.PAGE = original_page
    left = len(get_record_store().keys_in(busiest, limit=1000)[0])
    assert not first["done"] and left == before - 50
    # ...and the retried worker continues from there to the end
    assert purge.purge_partition(job, busiest, lambda: 900.0)["done"]
    assert get_record_store().keys_in(busiest)[0] == []
    progress = work_items.of_job(job.job_id)
    assert sum(item["kinds"].get("customers", 0) for item in progress) == before


def test_a_long_fetch_continues_in_a_new_execution_and_completes(
    principal: Principal, stripe: str, one_page_at_a_time: None, monkeypatch: pytest.MonkeyPatch, deployed_stack: Any
) -> None:
    """With a tiny iteration budget per execution (AWS caps an execution's history), the job hands over to
    fresh executions named after it, which resume from the checkpoints and finish the job."""
    monkeypatch.setattr(planning, "ITERATION_BUDGET_PER_EXECUTION", 5)  # 5 partitions: one page each per execution
    source = stripe_source(principal, stripe)
    from sourcesync.services.jobs import start_source_job

    job = start_source_job(principal.account_id, source["uuid"], "import", principal.key_id)
    deadline = time.monotonic() + 120
    while get_job_store().get(principal.account_id, job["job_id"])["status"] not in ("succeeded", "failed"):  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    finished = get_job_store().get(principal.account_id, job["job_id"])
    assert finished is not None and finished["status"] == "succeeded", finished
    from sourcesync.aws import client

    names = sorted(
        e["name"]
        for e in client("stepfunctions").list_executions(stateMachineArn=get_settings().resync_state_machine_arn)[
            "executions"
        ]
        if e["name"].startswith(f"{source['uuid']}-{job['job_id']}")
    )
    assert len(names) >= 3, names
    assert f"{source['uuid']}-{job['job_id']}-2" in names
    assert all(len(name) <= 80 for name in names)
    assert everything(principal, source["uuid"])["counts"]["customers"] >= 12


def test_every_delete_publishes_an_audit_event(principal: Principal, deployed_stack: Any) -> None:
    from sourcesync.api.models import DataSourceCreateRequest
    from sourcesync.aws import client
    from sourcesync.services import data_sources

    # Given a queue subscribed to the audit bus (a rule without a Lambda target)
    bus = get_settings().audit_event_bus
    sqs, events = client("sqs"), client("events")
    queue = sqs.create_queue(QueueName=f"audit-{principal.account_id[-8:]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name=f"audit-{principal.account_id[-8:]}", EventBusName=bus, EventPattern='{"source": ["sourcesync"]}'
    )
    events.put_targets(
        Rule=f"audit-{principal.account_id[-8:]}", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )
    uuid = data_sources.create(
        principal, DataSourceCreateRequest.model_validate({"name": "Audited", "system": "custom"})
    )["data_source"]["uuid"]
    job = delete_source.delete(principal, uuid)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    details = [json.loads(m["Body"])["detail"] for m in messages]
    ours = [d for d in details if d.get("data_source_uuid") == uuid]
    assert len(ours) == 1
    assert ours[0]["key_id"] == principal.key_id and ours[0]["job_id"] == job["job_id"]
    assert ours[0]["account_id"] == principal.account_id and "counts" in ours[0]
    assert "api_key" not in json.dumps(ours[0])


def test_customer_pages_step_over_many_invisible_versions(principal: Principal, deployed_stack: Any) -> None:
    """Hundreds of customers that only exist in a pending generation (a big import in flight) must not stall a
    reader's pagination: pages may be short, but the position always moves on, and nothing is missed."""
    from sourcesync.records import CustomerRecord, RecordKind
    from sourcesync.store.records import Version, View, uuid_for

    uuid = new_id("ds")

    def version(i: int, generation: int) -> Version:
        ext = f"c{i}"
        return Version(
            kind=RecordKind.CUSTOMERS,
            uuid=uuid_for(principal.account_id, uuid, RecordKind.CUSTOMERS, ext),
            customer_uuid=None,
            external_id=ext,
            generation=generation,
            record=CustomerRecord(external_id=ext, name=ext),
        )

    visible = [version(i, 1) for i in range(3)]
    get_record_store().write(uuid, visible + [version(i, 2) for i in range(3, 400)])
    seen: list[str] = []
    start: str | None = None
    for _ in range(400):
        page, start = get_record_store().customers_page(uuid, View(1, frozenset({2})), 2, start)
        seen += [r.uuid for r in page]
        if start is None:
            break
    assert start is None
    assert sorted(seen) == sorted(v.uuid for v in visible)


def test_an_import_racing_a_delete_takes_back_what_it_wrote(
    principal: Principal, deployed_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sourcesync.api.import_models import ImportCustomersRequest
    from sourcesync.api.models import DataSourceCreateRequest
    from sourcesync.services import data_sources, imports
    from sourcesync.store.records import RecordStore

    uuid = data_sources.create(principal, DataSourceCreateRequest.model_validate({"name": "Racy", "system": "custom"}))[
        "data_source"
    ]["uuid"]
    original_write = RecordStore.write

    def write_then_get_deleted(self: RecordStore, data_source_uuid: str, versions: Any) -> int:
        written = original_write(self, data_source_uuid, versions)
        delete_source.delete(principal, uuid)  # the DELETE lands between the import's write and its end
        return written

    monkeypatch.setattr(RecordStore, "write", write_then_get_deleted)
    request = ImportCustomersRequest.model_validate({"customers": [{"external_id": "late", "name": "Late"}]})
    with pytest.raises(NotFoundError):
        imports.import_customers(principal, uuid, request)
    monkeypatch.setattr(RecordStore, "write", original_write)
    assert get_record_store().count_items(uuid) == 0


ENDED = ("succeeded", "failed", "cancelled")


@pytest.fixture
def endings(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every write that ends a job, with what was left of the job at that moment: its work items, and whether
    its source still named it as its running job (a client that sees the job ended may act on it at once)."""
    from sourcesync.store.jobs import JobStore

    seen: list[dict[str, Any]] = []
    original = JobStore.update

    def update(
        self: JobStore, account_id: str, job_id: str, set_values: dict[str, Any], only_if_status: tuple[str, ...] = ()
    ) -> bool:
        if set_values.get("status") in ENDED:
            stored = self.get(account_id, job_id) or {}
            source = get_source_store().get(account_id, str(stored.get("data_source_uuid"))) or {}
            seen.append(
                {
                    "job_id": job_id,
                    "status": set_values["status"],
                    "work_items": [item["sk"] for item in work_items.of_job(job_id)],
                    "holds_source": source.get("current_job_id") == job_id,
                }
            )
        return original(self, account_id, job_id, set_values, only_if_status)

    monkeypatch.setattr(JobStore, "update", update)
    return seen


def deleting(principal: Principal, uuid: str) -> purge.PurgeJob:
    """The source deleted as the API deletes it, but its purge left to the test to run by hand."""
    job = new_job(principal.account_id, uuid, "delete_source", principal.key_id)
    job.update(status="queued", phase="purging", running_job_id=None)
    assert get_job_store().create_deleting_source(job, now_iso(), delete_source.PURGE_SHARD)
    return purge.PurgeJob(account_id=principal.account_id, data_source_uuid=uuid, job_id=job["job_id"])


def purge_by_hand(job: purge.PurgeJob) -> None:
    assert purge.await_running_job(job)["stopped"]
    for pk in purge.plan(job)["partitions"]:
        assert purge.purge_partition(job, pk, lambda: 900.0)["done"]
    purge.finish(job, purge.purge_rest(job))


def test_a_job_says_it_ended_only_once_nothing_of_it_is_left(
    principal: Principal, stripe: str, one_page_at_a_time: None, endings: list[dict[str, Any]]
) -> None:
    source = stripe_source(principal, stripe)
    run_job(hold(principal, source["uuid"]), repeat_every_step=False)
    # a job without a switch (reprocess) succeeds
    reprocess = hold(principal, source["uuid"], "reprocess")
    from sourcesync.pipeline.steps.reprocessing import reprocess as rebuild

    rebuild(reprocess)
    assert steps.finish(reprocess) == {"status": "succeeded"}
    # an attempt that fails
    failing = hold(principal, source["uuid"], "resync_source")
    planned = steps.plan(failing)
    context = steps.JobContext.model_validate(planned["job"])
    steps.fetch(context, planned["partitions"][0], 0, 10, lambda: 900.0)
    assert steps.abort(context, {"Error": "ProviderUnavailableError"})["status"] == "failed"
    # each ended with the figures its work items held (before the purge removes the source's jobs)
    assert get_job_store().get(principal.account_id, reprocess.job_id)["result"]["counts"]["customers"] >= 12  # type: ignore[index]
    assert get_job_store().get(principal.account_id, failing.job_id)["error"]["code"] == "provider_unavailable"  # type: ignore[index]
    # a purge
    stored = get_record_store().count_items(source["uuid"])
    deleted = deleting(principal, source["uuid"])
    purge_by_hand(deleted)

    ours = (reprocess.job_id, failing.job_id, deleted.job_id)  # (the stack may end other tests' jobs meanwhile)
    ended = {e["job_id"]: e for e in endings if e["job_id"] in ours}
    assert [ended[j]["status"] for j in (reprocess.job_id, failing.job_id, deleted.job_id)] == [
        "succeeded",
        "failed",
        "succeeded",
    ]
    for job_id in ours:
        assert ended[job_id]["work_items"] == [] and not ended[job_id]["holds_source"], ended[job_id]
    assert sorted(e["job_id"] for e in endings if e["job_id"] in ours) == sorted(ours)  # each job ended once
    result = get_job_store().get(principal.account_id, deleted.job_id)["result"]  # type: ignore[index]
    assert sum(result["counts"].values()) == stored > 0
    # a finish retried after the job ended changes nothing
    purge.finish(deleted, None)
    assert get_job_store().get(principal.account_id, deleted.job_id)["result"] == result  # type: ignore[index]
    assert [e["job_id"] for e in endings].count(deleted.job_id) == 1


def test_a_purge_finish_that_dies_before_its_last_write_ends_the_job_with_its_figures_when_retried(
    principal: Principal, stripe: str, one_page_at_a_time: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sourcesync.store.jobs import JobStore

    source = stripe_source(principal, stripe)
    run_job(hold(principal, source["uuid"]), repeat_every_step=False)
    stored = get_record_store().count_items(source["uuid"])
    job = deleting(principal, source["uuid"])
    assert purge.await_running_job(job)["stopped"]
    for pk in purge.plan(job)["partitions"]:
        assert purge.purge_partition(job, pk, lambda: 900.0)["done"]
    rest = purge.purge_rest(job)

    original = JobStore.update

    def dies_at_the_status(self: JobStore, account_id: str, job_id: str, set_values: dict[str, Any]) -> bool:
        if job_id == job.job_id and set_values.get("status") == "succeeded":
            raise RuntimeError("the invocation died")
        return original(self, account_id, job_id, set_values)

    monkeypatch.setattr(JobStore, "update", dies_at_the_status)
    with pytest.raises(RuntimeError):
        purge.finish(job, rest)
    monkeypatch.undo()
    # it died with its work items gone, and the job still running: nobody is told it succeeded
    assert work_items.of_job(job.job_id) == []
    assert get_job_store().get(principal.account_id, job.job_id)["status"] == "running"  # type: ignore[index]
    # Step Functions retries the step: the job ends with what the purge removed, not with nothing
    purge.finish(job, rest)
    ended = get_job_store().get(principal.account_id, job.job_id)
    assert ended is not None and ended["status"] == "succeeded" and not ended.get("ending")
    assert sum(ended["result"]["counts"].values()) == stored > 0
    assert ended["result"]["purged"] == rest and ended["progress"]["percent"] == 100
