"""The local stack itself, on its real parts: DynamoDB Local and moto's server (no mocks of AWS).

Most tests deploy devstack's own test template (tests/integration/fixtures/template.yaml, stack name
"devstack-test") onto the session's `dynamodb_local` + `moto_server`; the last ones start the whole stack
from infra/template.yaml in other processes (`local_stack`, `python -m devstack up/down`).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devstack import REPO_ROOT, env_for
from devstack.api_gateway import ApiGateway
from devstack.deploy import Deployer, Deployment
from devstack.lambda_runtime import RUNTIME, moto_patch_installed
from devstack.ports import free_port, port_is_free
from devstack.scheduler import Scheduler
from devstack.stack import DynamoDBHandle, load_template
from devstack.template import Template
from tests.conftest import E2E_STACK_PARAMETERS

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "fixtures"
TEST_STACK = "devstack-test"
ENDPOINT_KEYS = {"api", "dynamodb", "aws", "stripe", "emulators", "region", "stack_name", "resources", "environment"}


@pytest.fixture(scope="module")
def test_stack(dynamodb_local: DynamoDBHandle, moto_server: Any) -> Iterator[Deployment]:
    """The test template deployed next to whatever the session deployed (its own stack name and env keys)."""
    template = Template(FIXTURES / "template.yaml", stack_name=TEST_STACK)
    deployment = Deployer(template, aws_endpoint=moto_server.url, dynamodb_endpoint=dynamodb_local.endpoint).deploy(
        environ=None
    )
    with pytest.MonkeyPatch.context() as env:
        for key, value in deployment.environment.items():
            env.setenv(key, value)
        yield deployment


def items(run: str, *specs: dict[str, Any]) -> dict[str, Any]:
    return {"items": [{"run": run, **spec} for spec in specs]}


# ---------------------------------------------------------------------------------------------- the guard
def test_moto_patch_is_installed_on_the_pinned_version(moto_server: Any) -> None:
    import moto
    from moto.awslambda.models import LambdaFunction

    assert moto.__version__ == "5.2.5"
    assert moto_patch_installed()
    original = LambdaFunction.invoke.__devstack_original__  # type: ignore[attr-defined]
    assert original.__qualname__ == "LambdaFunction.invoke"
    assert os.environ["MOTO_PORT"] == str(moto_server.port)
    from moto.core.config import default_user_config

    assert default_user_config["stepfunctions"]["execute_state_machine"] is True
    # use_docker stays on: False would swap in moto's "simple" Lambda backend that echoes the payload.
    assert moto_server.configure({})["lambda"]["use_docker"] is True


# ---------------------------------------------------------------------------------------------- deploy
def test_tables_have_their_indexes_and_ttl(test_stack: Deployment, dynamodb_local: DynamoDBHandle) -> None:
    client = dynamodb_local.client()
    table = client.describe_table(TableName=f"{TEST_STACK}-ItemsTable")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by_kind"]
    assert table["GlobalSecondaryIndexes"][0]["Projection"]["ProjectionType"] == "KEYS_ONLY"
    ttl = client.describe_time_to_live(TableName=f"{TEST_STACK}-ItemsTable")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert f"{TEST_STACK}-named-b" in client.list_tables()["TableNames"]
    # the session's own tables: the real template's, under their local names, named in the environment
    existing = set(client.list_tables()["TableNames"])
    assert set(dynamodb_local.tables.values()) <= existing
    for key, value in dynamodb_local.environment.items():
        assert os.environ[key] == value
        if key.endswith("_TABLE"):
            assert value in existing


def test_functions_rules_and_buses_are_in_moto(test_stack: Deployment) -> None:
    lam = test_stack.client("lambda")
    config = lam.get_function_configuration(FunctionName=f"{TEST_STACK}-WorkerFunction")
    assert config["Runtime"] == "python3.11"
    assert config["Timeout"] == 10
    assert config["Environment"]["Variables"]["DEVSTACK_TEST_TABLE"] == f"{TEST_STACK}-ItemsTable"
    events = test_stack.client("events")
    rules = {r["Name"]: r for r in events.list_rules(NamePrefix=TEST_STACK)["Rules"]}
    assert rules[f"{TEST_STACK}-NightlyRule"]["ScheduleExpression"] == "cron(30 2 ? * MON-FRI *)"
    assert rules[f"{TEST_STACK}-RecorderFunctionPaused"]["State"] == "DISABLED"
    (target,) = events.list_targets_by_rule(Rule=f"{TEST_STACK}-RecorderFunctionEveryFiveMinutes")["Targets"]
    assert target["Arn"] == test_stack.template.get_att("RecorderFunction", "Arn")
    buses = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    assert f"{TEST_STACK}-bus" in buses


# ---------------------------------------------------------------------------------------------- Lambda
def test_lambda_invoke_runs_our_handler_with_lambdas_error_contract(test_stack: Deployment) -> None:
    lam = test_stack.client("lambda")
    name = f"{TEST_STACK}-WorkerFunction"
    ok = lam.invoke(FunctionName=name, Payload=json.dumps({"run": "invoke", "id": "ok"}))
    result = json.loads(ok["Payload"].read())
    assert "FunctionError" not in ok
    assert (result["pid"], result["function_name"], result["role"]) == (os.getpid(), name, "worker")
    failed = lam.invoke(FunctionName=name, Payload=json.dumps({"run": "invoke", "id": "bad", "fatal": True}))
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "FatalError"
    assert error["errorMessage"] == "item bad cannot be processed"
    assert isinstance(error["stackTrace"], list)
    queued = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"run": "invoke", "id": "ev"}))
    assert queued["StatusCode"] == 202
    assert RUNTIME.wait_for_async(10)
    again_answer = lam.invoke(FunctionName=name, Payload=json.dumps({"run": "invoke", "id": "ev"}))
    again = json.loads(again_answer["Payload"].read())
    assert again["attempts"] == 2  # the asynchronous invocation ran once before


# ---------------------------------------------------------------------------------------------- Step Functions
def test_state_machine_maps_in_process_with_retry_and_catch_on_class_names(test_stack: Deployment) -> None:
    run = f"map-{time.time_ns()}"
    arn = test_stack.start_execution(
        "FlakyMapStateMachine",
        items(run, {"id": "ok"}, {"id": "flaky", "fail_times": 2}, {"id": "bad", "fatal": True}),
        name=run,
    )
    done = test_stack.wait_for_execution(arn, timeout=60)
    assert done["status"] == "SUCCEEDED"
    ok, flaky, bad = json.loads(done["output"])
    assert (ok["attempts"], ok["pid"]) == (1, os.getpid())  # our handler, in this very process
    assert flaky["attempts"] == 3  # two TransientErrors retried by class name, then success
    assert bad["caught"] == "FatalError"  # caught by class name
    cause = json.loads(bad["cause"])
    assert cause["errorType"] == "FatalError"
    assert cause["errorMessage"] == "item bad cannot be processed"
    history = test_stack.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)
    failures = sorted(e["taskFailedEventDetails"]["error"] for e in history["events"] if e["type"] == "TaskFailed")
    assert failures == ["FatalError", "TransientError", "TransientError"]


def test_uncaught_error_fails_the_execution_with_its_class_name(test_stack: Deployment) -> None:
    run = f"boom-{time.time_ns()}"
    arn = test_stack.start_execution("FlakyMapStateMachine", items(run, {"id": "x", "boom": True}), name=run)
    done = test_stack.wait_for_execution(arn, timeout=30)
    assert done["status"] == "FAILED"
    assert done["error"] == "ValueError"


def test_state_machine_dynamodb_integration_writes_to_dynamodb_local(
    test_stack: Deployment, dynamodb_local: DynamoDBHandle
) -> None:
    pk = f"sfn-{time.time_ns()}"
    arn = test_stack.start_execution("RecordItemStateMachine", {"pk": pk}, name=pk)
    assert test_stack.wait_for_execution(arn, timeout=30)["status"] == "SUCCEEDED"
    item = dynamodb_local.client().get_item(
        TableName=f"{TEST_STACK}-ItemsTable", Key={"pk": {"S": pk}, "sk": {"S": "recorded"}}
    )["Item"]
    assert item["kind"] == {"S": "state-machine"}


# ---------------------------------------------------------------------------------------------- the local API
@pytest.fixture(scope="module")
def api_url(test_stack: Deployment) -> Iterator[str]:
    port = free_port()
    gateway = ApiGateway(test_stack.template.routes(), api_id=test_stack.template.api_id("TestApi")).start(port)
    yield f"http://127.0.0.1:{port}"
    gateway.stop()
    assert port_is_free(port)


def call(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_api_routes_build_payload_2_0_events(api_url: str, test_stack: Deployment) -> None:
    status, headers, body = call(
        "POST", f"{api_url}/items?x=1", b'{"a": 1}', {"Content-Type": "application/json", "Authorization": "Bearer t"}
    )
    assert status == 201
    assert headers["x-echo"] == "yes"
    answer = json.loads(body)
    event = answer["event"]
    assert answer["pid"] == os.getpid()
    assert answer["function_name"] == f"{TEST_STACK}-echo"
    assert event["routeKey"] == "POST /items"
    assert event["rawPath"] == "/items"
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["headers"]["authorization"] == "Bearer t"
    assert event["body"] == '{"a": 1}'
    assert event["requestContext"]["apiId"] == test_stack.template.api_id("TestApi")
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert abs(event["requestContext"]["timeEpoch"] / 1000 - time.time()) < 60
    status, _, body = call("GET", f"{api_url}/items/abc-123")
    assert status == 200
    assert json.loads(body)["event"]["pathParameters"] == {"item_id": "abc-123"}


def test_api_gateway_errors_over_http(api_url: str) -> None:
    assert call("GET", f"{api_url}/v1/unknown")[::2] == (404, b'{"message":"Not Found"}')
    assert call("GET", f"{api_url}/crash")[::2] == (500, b'{"message":"Internal Server Error"}')
    # Declare more than 10 MB and send only the start: API Gateway answers from the header alone.
    connection = http.client.HTTPConnection("127.0.0.1", int(api_url.rsplit(":", 1)[1]), timeout=10)
    connection.putrequest("POST", "/items")
    connection.putheader("Content-Length", str(11 * 1024 * 1024))
    connection.endheaders()
    connection.send(b"x" * 1024)
    response = connection.getresponse()
    assert (response.status, response.read()) == (413, b'{"message":"Request Entity Too Large"}')
    connection.close()


# ---------------------------------------------------------------------------------------------- the scheduler
def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_scheduler_fires_rate_and_cron_rules_on_an_injected_clock(test_stack: Deployment) -> None:
    scheduler = Scheduler(
        test_stack.client("events"),
        test_stack.client("stepfunctions"),
        start=at("2030-01-07 02:24:30"),
        name_prefix=f"{TEST_STACK}-",
    )  # a Monday
    assert scheduler.tick(at("2030-01-07 02:24:59")) == []

    (rate,) = scheduler.tick(at("2030-01-07 02:25:00"))
    assert rate.ok, rate.error
    assert rate.rule_name == f"{TEST_STACK}-RecorderFunctionEveryFiveMinutes"
    assert rate.result["pid"] == os.getpid()  # the Lambda target ran in-process
    event = rate.result["event"]
    assert event["time"] == "2030-01-07T02:25:00Z"  # the fire time, not the wall clock
    assert (event["detail-type"], event["source"], event["detail"]) == ("Scheduled Event", "aws.events", {})
    assert event["resources"] == [rate.rule_arn]

    assert scheduler.tick(at("2030-01-07 02:29:59")) == []  # nothing due; the DISABLED rate(1 minute) never fires

    fired = {f.rule_name: f for f in scheduler.tick(at("2030-01-07 02:30:00"))}
    assert set(fired) == {f"{TEST_STACK}-RecorderFunctionEveryFiveMinutes", f"{TEST_STACK}-NightlyRule"}
    nightly = fired[f"{TEST_STACK}-NightlyRule"]
    assert nightly.ok, nightly.error
    assert nightly.result.endswith(f":{TEST_STACK}-NightlyRule-20300107T023000Z")  # a named execution
    assert test_stack.wait_for_execution(nightly.result)["status"] == "SUCCEEDED"
    assert json.loads(test_stack.client("stepfunctions").describe_execution(executionArn=nightly.result)["input"]) == {
        "items": []  # the target's Input replaces the scheduled event
    }

    saturday = Scheduler(
        test_stack.client("events"),
        test_stack.client("stepfunctions"),
        start=at("2030-01-12 02:29:00"),
        name_prefix=f"{TEST_STACK}-",
    )
    assert [f.rule_name for f in saturday.tick(at("2030-01-12 02:30:00"))] == [
        f"{TEST_STACK}-RecorderFunctionEveryFiveMinutes"  # the weekday cron stays quiet on a Saturday
    ]


# ---------------------------------------------------------------------------------------------- the real template
def test_deployed_stack_deploys_infra_template(deployed_stack: Deployment, devstack_template: Template) -> None:
    lam = deployed_stack.client("lambda")
    names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    for fn in devstack_template.functions():
        assert fn.name in names
        config = lam.get_function_configuration(FunctionName=fn.name)
        assert config["Environment"]["Variables"] == fn.environment
        assert os.environ.items() >= fn.environment.items()  # the session runs with the functions' env
    listed = deployed_stack.client("stepfunctions").list_state_machines()["stateMachines"]
    machines = {m["stateMachineArn"] for m in listed}
    assert {m.arn for m in devstack_template.state_machines()} <= machines
    rules = {r["Name"] for r in deployed_stack.client("events").list_rules()["Rules"]}
    assert {r.name for r in devstack_template.rules() if r.event_bus_name == "default"} <= rules
    buckets = {b["Name"] for b in deployed_stack.client("s3").list_buckets()["Buckets"]}
    assert set(devstack_template.buckets()) <= buckets
    assert deployed_stack.resources == devstack_template.resource_map()


def _processes_in_group(pgid: int) -> list[str]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return found


def _devstack(state_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", "--state-dir", str(state_dir), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_up_then_down_leaves_no_process_behind(tmp_path: Path) -> None:
    started = time.monotonic()
    up = _devstack(tmp_path, "up", "--free-ports")
    assert up.returncode == 0, up.stdout + up.stderr
    assert time.monotonic() - started < 60
    pid = int((tmp_path / "stack.pid").read_text())
    endpoints = json.loads((tmp_path / "endpoints.json").read_text())
    assert set(endpoints) >= ENDPOINT_KEYS
    group = _processes_in_group(pid)
    assert any("DynamoDBLocal.jar" in cmd for cmd in group), group
    assert any("devstack.stripe_emulator" in cmd for cmd in group), group
    assert any("devstack.emulators" in cmd for cmd in group), group
    assert call("GET", f"{endpoints['api']}/nope")[0] == 404
    again = _devstack(tmp_path, "up", "--free-ports")
    assert (again.returncode, "already up" in again.stdout) == (0, True)

    down = _devstack(tmp_path, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert _processes_in_group(pid) == []  # the stack, DynamoDB Local's java and localstripe are gone
    for key in ("api", "dynamodb", "aws", "stripe", "emulators"):
        assert port_is_free(int(endpoints[key].rsplit(":", 1)[1]))
    assert not (tmp_path / "stack.pid").exists()
    assert not (tmp_path / "endpoints.json").exists()
    assert "not running" in _devstack(tmp_path, "down").stdout


def test_local_stack_fixture_serves_the_real_template(local_stack: dict[str, Any]) -> None:
    assert set(local_stack) >= ENDPOINT_KEYS
    template = load_template(parameters=E2E_STACK_PARAMETERS)
    assert local_stack["resources"] == template.resource_map()
    assert local_stack["environment"] == template.merged_environment()
    env = env_for(local_stack)
    assert env["AWS_ENDPOINT_URL"] == local_stack["aws"]
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == local_stack["dynamodb"]
    assert env["ACCOUNTS_TABLE"] == template.physical_name("AccountsTable")
    from devstack.clients import aws_client

    tables = aws_client("dynamodb", local_stack["dynamodb"]).list_tables()["TableNames"]
    assert {t.name for t in template.tables()} <= set(tables)
    status, _, body = call("GET", f"{local_stack['api']}/v1/not-a-route")
    assert status == 404  # the template's $default route: the API function answers, in the error envelope
    assert json.loads(body)["error"]["code"] == "not_found"
    status, _, _ = call("GET", f"{local_stack['stripe']}/v1/customers", headers={"Authorization": "Bearer sk_test_x"})
    assert status == 200
