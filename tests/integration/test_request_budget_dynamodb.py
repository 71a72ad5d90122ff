"""The shared request budget (one token-bucket item in the jobs table) against DynamoDB Local.

Uses the session's `dynamodb_local` fixture (tests/conftest.py): AWS's DynamoDB Local with the template's
tables, so the budget item lands in the real jobs table definition (`pk`/`sk` strings).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
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


def test_workers_sharing_a_sources_budget_never_exceed_rate_times_elapsed_plus_burst(
    dynamodb_local: Any, jobs_table: str
) -> None:
    # Given six workers of one source and two of another, each with its own budget object and client
    shared, other = "ds_shared_budget", "ds_other_budget"
    workers = [(shared, dynamodb_local.client()) for _ in range(6)] + [
        (other, dynamodb_local.client()) for _ in range(2)
    ]
    grants: dict[str, list[float]] = {shared: [], other: []}
    lock = threading.Lock()
    start = time.time()

    def work(source: str, client: Any) -> None:
        budget = DynamoDBRequestBudget(jobs_table, source, RATE, BURST, client=client)
        while time.time() - start < DURATION:
            budget.take()
            granted = time.time()
            with lock:
                grants[source].append(granted)

    # When they all take tokens as fast as they can for two seconds
    threads = [threading.Thread(target=work, args=worker) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DURATION + 30)
    assert not any(thread.is_alive() for thread in threads)

    for source, times in grants.items():
        times.sort()
        # Then at no moment had a source been granted more than burst + rate * elapsed
        for count, granted in enumerate(times, start=1):
            assert count <= BURST + RATE * (granted - start) + 1e-6, (source, count, granted - start)
        # and the budget did grant: close to the rate, not a trickle
        elapsed = times[-1] - start
        assert len(times) >= 0.8 * RATE * elapsed, (source, len(times), elapsed)
    # each source had a budget of its own: the two workers of the other source got as much as six
    assert len(grants[other]) >= 0.8 * len(grants[shared])

    # the bucket items sit in the jobs table under the documented keys
    item = dynamodb_local.client().get_item(
        TableName=jobs_table, Key={"pk": {"S": f"BUDGET#{shared}"}, "sk": {"S": "BUDGET"}}, ConsistentRead=True
    )["Item"]
    assert 0 <= float(item["tokens"]["N"]) <= BURST
    assert float(item["updated_at"]["N"]) >= start


def test_an_uncontended_grant_costs_one_write_and_no_read(dynamodb_local: Any, jobs_table: str) -> None:
    client = CountingClient(dynamodb_local.client())
    budget = DynamoDBRequestBudget(jobs_table, "ds_cost", rate=1000.0, burst=50.0, client=client)

    waits = [budget.acquire() for _ in range(10)]

    assert waits == [0.0] * 10
    # one read to learn the state, then one conditional write per grant
    assert client.calls == Counter({"get_item": 1, "put_item": 1, "update_item": 9})


def test_a_denial_says_how_long_to_wait_and_writes_nothing(dynamodb_local: Any, jobs_table: str) -> None:
    client = CountingClient(dynamodb_local.client())
    now = [1_800_000_000.0]
    budget = DynamoDBRequestBudget(jobs_table, "ds_denial", rate=2.0, burst=2.0, client=client, clock=lambda: now[0])

    assert [budget.acquire(), budget.acquire()] == [0.0, 0.0]
    writes = client.calls["put_item"] + client.calls["update_item"]
    assert budget.acquire() == pytest.approx(0.5)
    assert client.calls["put_item"] + client.calls["update_item"] == writes
    now[0] += 0.5
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
    assert first.acquire() == pytest.approx(1.0)
    assert second.acquire() == pytest.approx(1.0)


def test_the_client_is_created_lazily_from_the_environment(dynamodb_local: Any, jobs_table: str) -> None:
    # the dynamodb_local fixture points AWS_ENDPOINT_URL_DYNAMODB at DynamoDB Local
    budget = shared_budget(STRIPE.rate_limit, 4, table_name=jobs_table, data_source_uuid="ds_lazy")
    assert budget._client is None
    assert (budget.rate, budget.burst) == (4, 4)
    assert [budget.acquire() for _ in range(5)][:4] == [0.0] * 4
    assert budget._client is not None
