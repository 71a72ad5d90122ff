"""End-to-end fixtures: HTTP against the full local stack (a subprocess the session starts and stops)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests

from devstack import env_for

pytestmark = pytest.mark.e2e


@dataclass
class Account:
    account_id: str
    api_key: str


class Client:
    """A thin HTTP client of the API for one key."""

    def __init__(self, base: str, key: str | None) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200, **kwargs: Any) -> Any:
        answer = self.request(method, path, json=body, **kwargs)
        assert answer.status_code == status, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    def wait_for_job(self, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.ok("GET", f"/v1/jobs/{job_id}")
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout} s: {job}"
            time.sleep(0.25)


def cli_environment(endpoints: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(env_for(endpoints))
    env["SOURCESYNC_API_URL"] = endpoints["api"]
    return env


def run_cli(
    endpoints: dict[str, Any], *args: str, key: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = cli_environment(endpoints)
    if key:
        env["SOURCESYNC_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "sourcesync_cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="session")
def stack(local_stack: dict[str, Any]) -> dict[str, Any]:
    return local_stack


@pytest.fixture(scope="session")
def new_account(stack: dict[str, Any]) -> Callable[[str], Account]:
    """`sourcesync account create NAME`, as an operator runs it."""

    def create(name: str) -> Account:
        done = run_cli(stack, "account", "create", name)
        assert done.returncode == 0, done.stderr
        created = json.loads(done.stdout)
        return Account(created["account_id"], created["api_key"])

    return create


@pytest.fixture
def account(new_account: Callable[[str], Account]) -> Account:
    return new_account("e2e")


@pytest.fixture
def api(stack: dict[str, Any], account: Account) -> Client:
    return Client(stack["api"], account.api_key)


@pytest.fixture(scope="session")
def aws(stack: dict[str, Any]) -> Callable[[str], Any]:
    """boto3 clients of the stack's services, for looking at what is stored."""
    region = stack.get("region", "us-east-1")

    def client(service: str) -> Any:
        endpoint = stack["dynamodb"] if service == "dynamodb" else stack["aws"]
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


class AuditBus:
    """An SQS queue subscribed to the stack's audit bus, as an operator's consumer would be."""

    def __init__(self, aws: Callable[[str], Any], bus: str, name: str) -> None:
        self.sqs, self.events, self.name, self.bus = aws("sqs"), aws("events"), name, bus
        self.queue = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name=name, EventBusName=bus, EventPattern='{"source": ["sourcesync"]}')
        self.events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
        self.seen: list[dict[str, Any]] = []

    def events_of(self, account_id: str, action: str, count: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            ):
                self.seen.append(json.loads(message["Body"]))
            ours = [e for e in self.seen if e["detail"]["account_id"] == account_id and e["detail"]["action"] == action]
            if len(ours) >= count or time.monotonic() > deadline:
                return ours

    def close(self) -> None:
        self.events.remove_targets(Rule=self.name, EventBusName=self.bus, Ids=["queue"])
        self.events.delete_rule(Name=self.name, EventBusName=self.bus)
        self.sqs.delete_queue(QueueUrl=self.queue)


@pytest.fixture
def audit_bus(aws: Callable[[str], Any], stack: dict[str, Any], account: Account) -> Iterator[AuditBus]:
    bus = AuditBus(aws, stack["environment"]["AUDIT_EVENT_BUS"], f"audit-{account.account_id[-10:]}")
    yield bus
    bus.close()
