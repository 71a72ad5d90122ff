"""The shared request budget (one token-bucket item in the jobs table) against DynamoDB Local.

Uses the session's `dynamodb_local` fixture (tests/conftest.py): AWS's DynamoDB Local with the template's
tables, so the budget item lands in the real jobs table definition (`pk`/`sk` strings).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from sourcesync.connectors.stripe import SPEC as STRIPE
from sourcesync.store.request_budget import DynamoDBRequestBudget, shared_budget

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


def assert_within_limit(times: list[float], burst: float, rate: float) -> None:
    """The documented bound on sorted request times: at most `burst + rate * t` requests in any window of
    `t` seconds (give or take a microsecond: epoch times as floats resolve to about a quarter of one)."""
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            length, count = times[j] - first, j - i + 1
            assert count <= burst + rate * (length + 1e-6), (count, first, length)


def assert_within_limit_around(grants: list[tuple[float, float]], burst: float, rate: float) -> None:
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
            assert count <= burst + rate * (length + 1e-6), (count, first, length)


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
        assert_within_limit_around(timed, BURST, RATE)
        # and, from the start (a full bucket, nothing held), never more than burst + rate * elapsed: the
        # count-th grant to have certainly happened did so by the end of its call
        for count, granted in enumerate(sorted(after for _, after in timed), start=1):
            assert count <= BURST + RATE * (granted - start) + 1e-6, (source, count, granted - start)
        # and the bucket refilled: more than its burst was granted (how much of the rate is used is checked
        # under a simulated clock below; here, on a loaded machine, DynamoDB Local sets the pace)
        assert len(timed) > BURST, (source, len(timed))
    # and each source had a bucket item of its own, under the documented keys in the jobs table, whose
    # theoretical arrival time is that of the tokens granted: one interval each after the full bucket's
    ended = time.time()
    for source in (shared, other):
        item = dynamodb_local.client().get_item(
            TableName=jobs_table, Key={"pk": {"S": f"BUDGET#{source}"}, "sk": {"S": "BUDGET"}}, ConsistentRead=True
        )["Item"]
        assert set(item) == {"pk", "sk", "tat"}
        assert start + (len(grants[source]) - BURST) / RATE - 1e-6 <= float(item["tat"]["N"]) <= ended + BURST / RATE


def test_an_uncontended_grant_is_one_write_and_no_read(dynamodb_local: Any, jobs_table: str) -> None:
    # Given one worker of a source allowed 1,000 requests a second, with a burst of 50
    client = CountingClient(dynamodb_local.client())
    now = [1_800_000_000.0]
    budget = DynamoDBRequestBudget(jobs_table, "ds_cost", rate=1000.0, burst=50.0, client=client, clock=lambda: now[0])

    # When it makes 1,000 requests, one every 10 ms
    waits = []
    for _ in range(1000):
        waits.append(budget.acquire())
        now[0] += 0.01

    # Then none waited, and each cost one update and nothing else: no read, no refused write
    assert waits == [0.0] * 1000
    assert dict(client.calls) == {"update_item": 1000}
    # and the item holds when the bucket is next full: one token's interval after the last grant
    item = client.get_item(TableName=jobs_table, Key=budget.key, ConsistentRead=True)["Item"]
    assert float(item["tat"]["N"]) == pytest.approx(now[0] - 0.01 + 0.001)


def test_a_burst_is_granted_at_once_then_the_rate_paces(dynamodb_local: Any, jobs_table: str) -> None:
    client = CountingClient(dynamodb_local.client())
    now = [1_800_000_000.0]
    budget = DynamoDBRequestBudget(jobs_table, "ds_burst", rate=10.0, burst=4.0, client=client, clock=lambda: now[0])
    # Given a full bucket of 4: four tokens at once, the fifth in a tenth of a second
    assert [budget.acquire() for _ in range(4)] == [0.0] * 4
    assert budget.acquire() == pytest.approx(0.1)
    # and a request for 3 once one token is back waits for the two more
    now[0] += 0.1
    assert budget.acquire(3) == pytest.approx(0.2)
    now[0] += 0.2
    assert budget.acquire(3) == 0.0
    # (the denials were computed from the state the worker saw: five updates in all, each a grant)
    assert dict(client.calls) == {"update_item": 5}
    with pytest.raises(ValueError, match="bucket of 4"):
        budget.acquire(5)


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
        ("ds_sim_throttled", 0.05, 0.95),  # six workers that want far more than the rate: the bucket paces them
        # a quarter of their requests followed by a pause of 0.9 s: together they want about 26 a second,
        # and get most of it
        ("ds_sim_pausing", 0.9, 0.8),
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
        # every worker mostly fast; with `slowest`, a pause now and then
        return draw.choice([0.001, 0.01, 0.01, slowest])

    # When they work for six seconds
    times = simulate(budgets, now, paces, duration)

    # Then over any window, at most burst + rate * its length were spent
    assert_within_limit(times, burst, rate)
    # and the rate was used
    assert len(times) >= rate * duration * used


def test_workers_below_the_rate_write_once_per_request(dynamodb_local: Any, jobs_table: str) -> None:
    # Given four workers at a tenth of a second per request (a provider's latency), 40 requests a second
    # in all, sharing a budget of 5,000 a second with a burst of 3 (a source whose rate is set far above
    # what it uses)
    now = [1_800_000_000.0]
    clients = [CountingClient(dynamodb_local.client()) for _ in range(4)]
    budgets = [
        DynamoDBRequestBudget(jobs_table, "ds_sim_cost", 5000.0, 3.0, client=c, clock=lambda: now[0]) for c in clients
    ]
    # When they work for ten seconds, each request taking 90 to 110 ms
    draw = random.Random(7)
    times = simulate(budgets, now, lambda worker: draw.uniform(0.09, 0.11), 10.0)
    # Then the requests were granted as they came (the fourth worker waited a moment for the burst of 3),
    # within the limit
    assert len(times) >= 4 * 99
    assert_within_limit(times, 3.0, 5000.0)
    # and each request cost about one update, where a compare-and-set on the state a worker last saw is
    # refused whenever another worker wrote since (a refusal here: a grant within a token's interval, 0.2 ms,
    # of another's, or the fourth worker's first grants, which the burst of 3 denied)
    writes = sum(sum(c.calls.values()) for c in clients)
    assert writes <= len(times) * 1.02 + 4, (writes, len(times))


def test_a_denial_says_how_long_to_wait_and_writes_nothing(dynamodb_local: Any, jobs_table: str) -> None:
    client = CountingClient(dynamodb_local.client())
    now = [1_800_000_000.0]
    budget = DynamoDBRequestBudget(jobs_table, "ds_denial", rate=2.0, burst=2.0, client=client, clock=lambda: now[0])

    assert [budget.acquire(), budget.acquire()] == [0.0, 0.0]
    writes = sum(client.calls.values())
    assert budget.acquire() == pytest.approx(1 / 2.0)
    assert sum(client.calls.values()) == writes
    now[0] += 1 / 2.0
    assert budget.acquire() == 0.0


def test_grants_of_workers_with_stale_views_commute_and_the_bucket_decides(
    dynamodb_local: Any, jobs_table: str
) -> None:
    # Time stands still, as when one worker's clock lags another's
    now = [1_800_000_000.0]

    def budget() -> DynamoDBRequestBudget:
        client = CountingClient(dynamodb_local.client())
        return DynamoDBRequestBudget(jobs_table, "ds_race", rate=1.0, burst=3.0, client=client, clock=lambda: now[0])

    first, second = budget(), budget()
    # Given the first worker took a token from a full bucket (one update)
    assert first.acquire() == 0.0
    assert first.client.calls["update_item"] == 1
    # and the second took one behind its back (its update for a full bucket was refused: the bucket was
    # busy; it took the token from the state the refusal returned)
    assert second.acquire() == 0.0
    assert second.client.calls["update_item"] == 2
    # When the first comes back, its view a token behind the bucket's
    assert first.acquire() == 0.0
    # Then its update applied on top of the second's: one write, no refusal
    assert first.client.calls["update_item"] == 2
    # and the bucket, not the stale views, decides: 3 tokens were there, all 3 are gone
    assert first.acquire() == pytest.approx(1.0)
    assert second.acquire() == pytest.approx(1.0)
    # (the first knew without a request; the second's view was stale: one refused update told it)
    assert first.client.calls["update_item"] == 2
    assert second.client.calls["update_item"] == 3


def test_the_client_is_created_lazily_from_the_environment(dynamodb_local: Any, jobs_table: str) -> None:
    # the dynamodb_local fixture points AWS_ENDPOINT_URL_DYNAMODB at DynamoDB Local
    budget = shared_budget(STRIPE.rate_limit, 4, table_name=jobs_table, data_source_uuid="ds_lazy")
    assert budget._client is None
    assert (budget.rate, budget.burst) == (4, 4)
    assert [budget.acquire() for _ in range(5)][:4] == [0.0] * 4
    assert budget._client is not None
