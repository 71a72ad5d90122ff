"""The shared request budget (one token-bucket item in the jobs table) against DynamoDB Local.

Uses the session's `dynamodb_local` fixture (tests/conftest.py): AWS's DynamoDB Local with the template's
tables, so the budget item lands in the real jobs table definition (`pk`/`sk` strings).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from sourcesync.connectors.stripe import SPEC as STRIPE
from sourcesync.store.request_budget import HOLD_SHARE, DynamoDBRequestBudget, shared_budget

pytestmark = pytest.mark.integration

RATE = 20.0
BURST = 5.0
DURATION = 2.0


@pytest.fixture
def jobs_table(dynamodb_local: Any) -> str:
    return str(dynamodb_local.tables["JobsTable"])


class CountingClient:
    """A DynamoDB client that counts the calls made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def counted(**kwargs: Any) -> Any:
            self.calls[name] += 1
            return method(**kwargs)

        return counted


def assert_within_limit(times: list[float], burst: float, rate: float, hold: float) -> None:
    """The documented bound on sorted request times: at most `burst + rate * t` requests in any window of
    `t >= 1` seconds, and at most `burst + hold + rate * t` in a shorter one."""
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            length, count = times[j] - first, j - i + 1
            assert count <= burst + hold + rate * length + 1e-6, (count, first, length)
            assert count <= burst + rate * max(1.0, length) + 1e-6, (count, first, length)


def assert_within_limit_around(grants: list[tuple[float, float]], burst: float, rate: float, hold: float) -> None:
    """The same bound on grants timed on a wall clock, each known only to lie within `(before, after)`, the
    moments around the `acquire` call that granted it (a thread may be paused on either side of the grant,
    so a time read after the call can land later than the grant itself). A window from one call's start to
    another's end counts the grants certainly inside it: a pause can widen what is tolerated, never make a
    grant within the bound look like one beyond it."""
    starts = sorted(before for before, _ in grants)
    ends = sorted(after for _, after in grants)
    for first in starts:
        for last in ends:
            if last < first:
                continue
            length = last - first
            count = sum(1 for before, after in grants if before >= first and after <= last)
            assert count <= burst + hold + rate * length + 1e-6, (count, first, length)
            assert count <= burst + rate * max(1.0, length) + 1e-6, (count, first, length)


def test_workers_sharing_a_sources_budget_stay_within_burst_plus_rate(dynamodb_local: Any, jobs_table: str) -> None:
    # Given six workers of one source and two of another, each with its own budget object and client
    shared, other = "ds_shared_budget", "ds_other_budget"
    workers = [(shared, dynamodb_local.client()) for _ in range(6)] + [
        (other, dynamodb_local.client()) for _ in range(2)
    ]
    grants: dict[str, list[tuple[float, float]]] = {shared: [], other: []}
    lock = threading.Lock()
    start = time.time()

    def work(source: str, client: Any) -> None:
        budget = DynamoDBRequestBudget(jobs_table, source, RATE, BURST, client=client)
        while time.time() - start < DURATION:
            # (what `take` does, with the grant's call timed on both sides)
            before = time.time()
            wait = budget.acquire()
            after = time.time()
            if wait > 0:
                time.sleep(wait)
                continue
            with lock:
                grants[source].append((before, after))

    # When they all take tokens as fast as they can for two seconds
    threads = [threading.Thread(target=work, args=worker) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DURATION + 30)
    assert not any(thread.is_alive() for thread in threads)

    for source, timed in grants.items():
        # Then the documented limit held over every window between two grants
        assert_within_limit_around(timed, BURST, RATE, RATE * HOLD_SHARE)
        # and, from the start (a full bucket, nothing held), never more than burst + rate * elapsed: the
        # count-th grant to have certainly happened did so by the end of its call
        for count, granted in enumerate(sorted(after for _, after in timed), start=1):
            assert count <= BURST + RATE * (granted - start) + 1e-6, (source, count, granted - start)
        # and the bucket refilled: more than its burst was granted (how much of the rate is used is checked
        # under a simulated clock below; here, on a loaded machine, DynamoDB Local sets the pace)
        assert len(timed) > BURST, (source, len(timed))
    # and each source had a bucket item of its own, under the documented keys in the jobs table
    for source in (shared, other):
        item = dynamodb_local.client().get_item(
            TableName=jobs_table, Key={"pk": {"S": f"BUDGET#{source}"}, "sk": {"S": "BUDGET"}}, ConsistentRead=True
        )["Item"]
        assert 0 <= float(item["tokens"]["N"]) <= BURST + RATE * HOLD_SHARE
        assert float(item["updated_at"]["N"]) >= start


def test_n_requests_cost_about_n_over_the_batch_writes(dynamodb_local: Any, jobs_table: str) -> None:
    # Given one worker of a source allowed 1,000 requests a second, with a burst of 50
    client = CountingClient(dynamodb_local.client())
    now = [1_800_000_000.0]
    budget = DynamoDBRequestBudget(jobs_table, "ds_cost", rate=1000.0, burst=50.0, client=client, clock=lambda: now[0])
    assert budget.max_batch == 25  # a quarter of the burst and the 5% of the rate set aside for held tokens

    # When it makes 1,000 requests, one every 10 ms
    waits = []
    for _ in range(1000):
        waits.append(budget.acquire())
        now[0] += 0.01

    # Then none waited, and after the batches grew (1, 2, 4, 8, 16, 25), each write granted 25 tokens:
    # one read to learn the state, then about 1000 / 25 conditional writes instead of 1,000
    assert waits == [0.0] * 1000
    writes = client.calls["put_item"] + client.calls["update_item"]
    assert client.calls["get_item"] == 1
    # (a few batches come out smaller, when the worker's earlier batch has not yet expired in the item)
    assert 6 + math.ceil((1000 - (1 + 2 + 4 + 8 + 16 + 25)) / 25) <= writes <= 50


def test_unspent_tokens_expire_and_the_next_batch_is_what_was_spent(dynamodb_local: Any, jobs_table: str) -> None:
    client = CountingClient(dynamodb_local.client())
    now = [1_800_000_000.0]
    budget = DynamoDBRequestBudget(jobs_table, "ds_expiry", rate=100.0, burst=20.0, client=client, clock=lambda: now[0])
    assert budget.max_batch == 6
    # Given a worker whose batches grew to the largest, 6 tokens (1 + 2 + 4 taken, then 6 granted)
    for _ in range(8):
        assert budget.acquire() == 0.0
    writes = client.calls["put_item"] + client.calls["update_item"]
    assert writes == 4
    # When it spends 2 more of its 6 and comes back after the batch's life
    for _ in range(2):
        assert budget.acquire() == 0.0
    now[0] += budget.lease_seconds
    assert budget.acquire() == 0.0
    # Then the 3 left expired: that request was a write, asking for as many as it spent (3 of 6)
    assert client.calls["put_item"] + client.calls["update_item"] == writes + 1
    assert budget._lease is not None and budget._lease.granted == 3
    # and the bucket forgot the expired batches: it holds only the new one
    item = client.get_item(TableName=jobs_table, Key=budget.key, ConsistentRead=True)["Item"]
    assert [entry.split(":")[1] for entry in item["leases"]["S"].split()] == ["3"]


def simulate(
    budgets: list[DynamoDBRequestBudget], now: list[float], paces: Callable[[int], float], duration: float
) -> list[float]:
    """Workers of one source under a shared simulated clock: each asks for a token when its last request
    is done (`paces(worker)` seconds later) or when the budget said to come back. Returns the sorted times
    at which tokens were spent."""
    start = now[0]
    due = [start] * len(budgets)
    spent: list[float] = []
    while True:
        worker = min(range(len(budgets)), key=due.__getitem__)
        now[0] = due[worker]
        if now[0] - start >= duration:
            return sorted(spent)
        wait = budgets[worker].acquire()
        if wait > 0:
            due[worker] = now[0] + max(wait, 1e-4)  # as a sleep would: not below the clock's resolution
        else:
            spent.append(now[0])
            due[worker] = now[0] + paces(worker)


@pytest.mark.parametrize(
    ("name", "slowest", "used"),
    [
        ("ds_sim_throttled", 0.05, 0.9),  # six workers that want far more than the rate: the bucket paces them
        # some hold their batch for most of a second, then spend it at once; what expires is lost
        ("ds_sim_hoarding", 0.9, 0.7),
    ],
)
def test_several_workers_sharing_a_budget_never_exceed_the_limit(
    dynamodb_local: Any, jobs_table: str, name: str, slowest: float, used: float
) -> None:
    # Given six workers of one source at 30 requests a second with a burst of 10, on a simulated clock
    rate, burst, duration = 30.0, 10.0, 6.0
    now = [1_800_000_000.0]
    budgets = [
        DynamoDBRequestBudget(jobs_table, name, rate, burst, client=dynamodb_local.client(), clock=lambda: now[0])
        for _ in range(6)
    ]
    draw = random.Random(name)

    def paces(worker: int) -> float:
        # every worker mostly fast; with `slowest`, a pause now and then while it holds its tokens
        return draw.choice([0.001, 0.01, 0.01, slowest])

    # When they work for six seconds
    times = simulate(budgets, now, paces, duration)

    # Then over any window of a second or more, at most burst + rate * its length were spent
    assert_within_limit(times, burst, rate, rate * HOLD_SHARE)
    # and the rate was used: most of the refill rate over the run (the held share aside)
    assert len(times) >= budgets[0].refill_rate * duration * used


def test_batches_cut_the_writes_of_workers_below_the_rate(dynamodb_local: Any, jobs_table: str) -> None:
    # Given four workers at a tenth of a second per request (a provider's latency), 40 requests a second
    # in all, sharing a budget of 5,000 a second with a burst of 3 (a source whose rate is set far above
    # what it uses, as the benchmarks set it)
    now = [1_800_000_000.0]
    clients = [CountingClient(dynamodb_local.client()) for _ in range(4)]
    budgets = [
        DynamoDBRequestBudget(jobs_table, "ds_sim_cost", 5000.0, 3.0, client=c, clock=lambda: now[0]) for c in clients
    ]
    # When they work for ten seconds
    times = simulate(budgets, now, lambda worker: 0.1, 10.0)
    # Then the requests were granted as they came (the fourth worker waited a moment for the burst of 3),
    # within the limit
    assert len(times) >= 4 * 99
    assert_within_limit(times, 3.0, 5000.0, 5000.0 * HOLD_SHARE)
    # and a worker, spending about 10 tokens in a batch's life of one second, wrote about once a second,
    # plus a refused write each time another worker had written since its last look: at most a quarter
    # as many writes as requests, where one write per request was the cost without batches
    writes = sum(c.calls["put_item"] + c.calls["update_item"] for c in clients)
    assert writes <= len(times) / 4, writes


def test_a_denial_says_how_long_to_wait_and_writes_nothing(dynamodb_local: Any, jobs_table: str) -> None:
    client = CountingClient(dynamodb_local.client())
    now = [1_800_000_000.0]
    budget = DynamoDBRequestBudget(jobs_table, "ds_denial", rate=2.0, burst=2.0, client=client, clock=lambda: now[0])

    assert [budget.acquire(), budget.acquire()] == [0.0, 0.0]
    writes = client.calls["put_item"] + client.calls["update_item"]
    # (a bucket of 2 grants no batches: one token at a time, at the rate less the share held tokens keep)
    assert budget.acquire() == pytest.approx(1 / budget.refill_rate)
    assert client.calls["put_item"] + client.calls["update_item"] == writes
    now[0] += 1 / budget.refill_rate + 1e-6
    assert budget.acquire() == 0.0


def test_a_stale_worker_loses_the_race_and_retries_with_the_winners_state(dynamodb_local: Any, jobs_table: str) -> None:
    # Time stands still, as when one worker's clock lags another's: `updated_at` does not move, so
    # only the token count tells a stale view from the current one.
    now = [1_800_000_000.0]

    def budget() -> DynamoDBRequestBudget:
        client = CountingClient(dynamodb_local.client())
        return DynamoDBRequestBudget(jobs_table, "ds_race", rate=1.0, burst=3.0, client=client, clock=lambda: now[0])

    first, second = budget(), budget()
    # Given the first worker took a token and remembers 2 left
    assert first.acquire() == 0.0
    # and the second took one behind its back (it read the bucket: 1 left)
    assert second.acquire() == 0.0
    # When the first comes back with its stale view of 2 tokens
    assert first.acquire() == 0.0
    # Then its first write was refused, and it took the last token from the current state
    assert first.client.calls["update_item"] == 2
    # and the bucket, not the stale views, decides: 3 tokens were there, all 3 are gone
    assert first.acquire() == pytest.approx(1 / first.refill_rate)
    assert second.acquire() == pytest.approx(1 / second.refill_rate)


def test_the_client_is_created_lazily_from_the_environment(dynamodb_local: Any, jobs_table: str) -> None:
    # the dynamodb_local fixture points AWS_ENDPOINT_URL_DYNAMODB at DynamoDB Local
    budget = shared_budget(STRIPE.rate_limit, 4, table_name=jobs_table, data_source_uuid="ds_lazy")
    assert budget._client is None
    assert (budget.rate, budget.burst) == (4, 4)
    assert [budget.acquire() for _ in range(5)][:4] == [0.0] * 4
    assert budget._client is not None
