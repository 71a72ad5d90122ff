"""devstack.template: the SAM template as the local stack reads and resolves it (no AWS, no processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack import REPO_ROOT
from devstack.stack import LOCAL_PARAMETERS, load_template
from devstack.template import EnvironmentConflictError, Template, TemplateError, load_yaml

FIXTURES = REPO_ROOT / "tests" / "integration" / "fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"
STACK = "unit"


@pytest.fixture(scope="module")
def fixture_template() -> Template:
    return Template(FIXTURE_TEMPLATE, stack_name=STACK)


def write_template(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- the YAML tags
def test_short_tags_load_as_their_long_forms() -> None:
    data = load_yaml(
        """
        a: !Ref X
        b: !GetAtt Res.Arn
        c: !GetAtt [Res, Endpoint.Address]
        d: !Sub "${AWS::Region}-x"
        e: !Sub ["${A}", {A: !Ref Y}]
        f: !Join [",", [a, !Ref Z]]
        g: !If [Cond, 1, 2]
        h: !Select [0, !Split [",", "p,q"]]
        """
    )
    assert data == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["Res", "Arn"]},
        "c": {"Fn::GetAtt": ["Res", "Endpoint.Address"]},
        "d": {"Fn::Sub": "${AWS::Region}-x"},
        "e": {"Fn::Sub": ["${A}", {"A": {"Ref": "Y"}}]},
        "f": {"Fn::Join": [",", ["a", {"Ref": "Z"}]]},
        "g": {"Fn::If": ["Cond", 1, 2]},
        "h": {"Fn::Select": [0, {"Fn::Split": [",", "p,q"]}]},
    }


# ---------------------------------------------------------------------------------------------- resolution
def test_pseudo_parameters_and_sub_forms(fixture_template: Template) -> None:
    t = fixture_template
    assert t.resolve({"Fn::Sub": "${AWS::StackName}/${AWS::Region}/${AWS::AccountId}/${AWS::Partition}"}) == (
        "unit/us-east-1/123456789012/aws"
    )
    assert t.resolve({"Fn::Sub": "${AWS::URLSuffix}"}) == "amazonaws.com"
    assert t.resolve({"Fn::Sub": ["${A}-${B}", {"A": "x", "B": {"Ref": "Greeting"}}]}) == "x-hello"
    assert t.resolve({"Fn::Sub": "${!Literal} ${WorkerFunction.Arn}"}) == (
        "${Literal} arn:aws:lambda:us-east-1:123456789012:function:unit-WorkerFunction"
    )
    with pytest.raises(TemplateError, match="Nope"):
        t.resolve({"Fn::Sub": "${Nope}"})


def test_no_value_removes_a_property_but_null_stays(fixture_template: Template) -> None:
    t = fixture_template
    no_value = {"Ref": "AWS::NoValue"}
    assert t.resolve({"a": no_value, "b": None, "c": [1, no_value]}) == {"b": None, "c": [1]}
    assert t.resolve({"x": {"Fn::If": ["ExtraEnabled", "yes", no_value]}, "y": 1}) == {"y": 1}
    assert t.resolve({"Fn::If": ["ExtraEnabled", "yes", "no"]}) == "no"


def test_refs_and_arns_by_resource_type(fixture_template: Template) -> None:
    t = fixture_template
    assert t.ref("ItemsTable") == "unit-ItemsTable"  # a table: its name
    assert t.ref("NamedTable") == "unit-named-b"  # explicit TableName (Join + Select of a list parameter)
    assert t.ref("EchoFunction") == "unit-echo"  # a function: its name (explicit FunctionName)
    assert t.ref("FlakyMapStateMachine") == "arn:aws:states:us-east-1:123456789012:stateMachine:unit-flaky-map"
    assert t.ref("TestBus") == "unit-bus"  # an event bus: its name
    assert t.get_att("TestBus", "Arn") == "arn:aws:events:us-east-1:123456789012:event-bus/unit-bus"
    assert t.get_att("ItemsTable", "Arn") == "arn:aws:dynamodb:us-east-1:123456789012:table/unit-ItemsTable"
    assert t.get_att("NightlyRule", "Arn") == "arn:aws:events:us-east-1:123456789012:rule/unit-NightlyRule"
    assert len(t.ref("TestApi")) == 10
    with pytest.raises(TemplateError, match="not supported"):
        t.get_att("ItemsTable", "StreamArn")


def test_parameters_defaults_overrides_and_allowed_values(tmp_path: Path) -> None:
    assert Template(FIXTURE_TEMPLATE).parameters["Greeting"] == "hello"
    assert Template(FIXTURE_TEMPLATE, parameters={"Greeting": "bonjour"}).parameters["Greeting"] == "bonjour"
    assert Template(FIXTURE_TEMPLATE).parameters["Zones"] == ["a", "b", "c"]
    with pytest.raises(TemplateError, match="not one of"):
        Template(FIXTURE_TEMPLATE, parameters={"Greeting": "hi"})
    with pytest.raises(TemplateError, match="unknown parameter"):
        Template(FIXTURE_TEMPLATE, parameters={"Nope": "1"})
    no_default = write_template(tmp_path, "Parameters: {P: {Type: String}}\nResources: {}\n")
    with pytest.raises(TemplateError, match="no Default"):
        Template(no_default)


def test_conditions_exclude_resources(fixture_template: Template) -> None:
    assert not fixture_template.condition("ExtraEnabled")
    assert fixture_template.unhandled_resources() == {}
    with_extra = Template(FIXTURE_TEMPLATE, parameters={"EnableExtra": "true"}, stack_name=STACK)
    assert with_extra.condition("ExtraEnabled")
    # Not a type the local stack creates: listed (and logged at debug), never deployed.
    assert with_extra.unhandled_resources() == {"ExtraQueue": "AWS::SQS::Queue"}
    assert "ExtraQueue" not in with_extra.resource_map()
    assert with_extra.ref("ExtraQueue") == "https://sqs.us-east-1.amazonaws.com/123456789012/unit-ExtraQueue"


# ---------------------------------------------------------------------------------------------- resources by kind
def test_tables_with_indexes_billing_and_ttl(fixture_template: Template) -> None:
    tables = {t.logical_id: t for t in fixture_template.tables()}
    items = tables["ItemsTable"]
    assert items.name == "unit-ItemsTable"
    assert items.ttl_attribute == "expires_at"
    assert items.create_args["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in items.create_args
    assert items.create_args["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "by_kind",
            "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]
    assert "PointInTimeRecoverySpecification" not in items.create_args  # ignored locally
    named = tables["NamedTable"]
    assert named.create_args["BillingMode"] == "PROVISIONED"
    assert named.create_args["ProvisionedThroughput"] == {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    assert named.ttl_attribute is None


def test_functions_merge_globals(fixture_template: Template) -> None:
    functions = {f.logical_id: f for f in fixture_template.functions()}
    worker = functions["WorkerFunction"]
    assert worker.name == "unit-WorkerFunction"
    assert worker.code_dir == FIXTURES / "functions" / "worker"
    assert worker.module_file == FIXTURES / "functions" / "worker" / "app.py"
    assert (worker.module_name, worker.function_attr) == ("app", "handler")
    assert (worker.runtime, worker.timeout, worker.memory_size) == ("python3.11", 10, 256)
    assert functions["EchoFunction"].timeout == 5  # the function's own value beats Globals
    assert worker.environment == {
        "DEVSTACK_TEST_TABLE": "unit-ItemsTable",
        "DEVSTACK_TEST_GREETING": "hello",
        "DEVSTACK_TEST_STACK": "unit/us-east-1/123456789012",
        "DEVSTACK_TEST_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:unit-flaky-map",
        "DEVSTACK_TEST_ROLE": "worker",
    }
    assert "DEVSTACK_TEST_ROLE" not in functions["EchoFunction"].environment
    assert fixture_template.merged_environment()["DEVSTACK_TEST_ROLE"] == "worker"


def test_environment_conflict_between_functions_is_refused(tmp_path: Path) -> None:
    path = write_template(
        tmp_path,
        """
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: a/, Handler: app.handler, Environment: {Variables: {MODE: one}}}
  B:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: b/, Handler: app.handler, Environment: {Variables: {MODE: two}}}
""",
    )
    with pytest.raises(EnvironmentConflictError, match=r"A and B .* MODE \('one' vs 'two'\)"):
        Template(path).merged_environment()


def test_state_machine_definition_substitutions(fixture_template: Template) -> None:
    machines = {m.logical_id: m for m in fixture_template.state_machines()}
    recorder = machines["RecordItemStateMachine"]  # plain AWS::StepFunctions::StateMachine, no name
    assert recorder.name == "unit-RecordItemStateMachine"
    assert json.loads(recorder.definition)["States"]["PutItem"]["Parameters"]["TableName"] == "unit-ItemsTable"
    machine = machines["FlakyMapStateMachine"]
    assert machine.name == "unit-flaky-map"
    assert machine.type == "STANDARD"
    definition = json.loads(machine.definition)
    work = definition["States"]["EachItem"]["ItemProcessor"]["States"]["Work"]
    assert work["Parameters"]["FunctionName"] == "arn:aws:lambda:us-east-1:123456789012:function:unit-WorkerFunction"
    assert "${" not in machine.definition


def test_state_machine_definition_must_be_json(tmp_path: Path) -> None:
    (tmp_path / "bad.asl.json").write_text('{"StartAt": ', encoding="utf-8")
    path = write_template(
        tmp_path,
        "Resources:\n  M:\n    Type: AWS::Serverless::StateMachine\n    Properties: {DefinitionUri: bad.asl.json}\n",
    )
    with pytest.raises(TemplateError, match="not valid JSON"):
        Template(path).state_machines()
    missing = write_template(
        tmp_path,
        "Resources:\n  M:\n    Type: AWS::StepFunctions::StateMachine\n    Properties: {DefinitionUri: nope.json}\n",
    )
    with pytest.raises(TemplateError, match="not found"):
        Template(missing).state_machines()


def test_rules_from_events_rules_and_schedule_events(fixture_template: Template) -> None:
    rules = {r.logical_id: r for r in fixture_template.rules()}
    nightly = rules["NightlyRule"]
    assert nightly.schedule_expression == "cron(30 2 ? * MON-FRI *)"
    assert nightly.targets[0].arn == fixture_template.ref("FlakyMapStateMachine")
    assert nightly.targets[0].input == '{"items": []}'
    every5 = rules["RecorderFunctionEveryFiveMinutes"]
    assert every5.name == "unit-RecorderFunctionEveryFiveMinutes"
    assert every5.schedule_expression == "rate(5 minutes)"
    assert every5.state == "ENABLED"
    assert every5.targets[0].arn == "arn:aws:lambda:us-east-1:123456789012:function:unit-RecorderFunction"
    assert rules["RecorderFunctionPaused"].state == "DISABLED"


def test_routes_from_http_api_and_api_events(fixture_template: Template) -> None:
    routes = {r.route_key: r for r in fixture_template.routes()}
    assert set(routes) == {
        "GET /items/{item_id}",
        "POST /items",
        "ANY /files/{proxy+}",
        "GET /crash",
        "GET /plain",
        "GET /binary",
        "GET /rest/{id}",
    }
    assert routes["GET /items/{item_id}"].function_name == "unit-echo"
    assert routes["GET /items/{item_id}"].payload_format == "2.0"
    assert routes["GET /items/{item_id}"].api_logical_id == "TestApi"
    assert routes["GET /rest/{id}"].payload_format == "1.0"


# ---------------------------------------------------------------------------------------------- the real template
def test_real_template_resolves_locally() -> None:
    template = load_template()
    assert template.stack_name == "sourcesync-local"
    for name, value in LOCAL_PARAMETERS.items():
        assert template.parameters[name] == value
    environment = template.merged_environment()  # no conflicting variables between functions
    tables = {t.name for t in template.tables()}
    for variable in ("ACCOUNTS_TABLE", "SOURCES_TABLE", "JOBS_TABLE", "RECORDS_TABLE", "IDEMPOTENCY_TABLE"):
        assert environment[variable] in tables
    assert environment["ALLOW_API_BASE"] == "true"
    assert environment["AUDIT_EVENT_BUS"] in {b.name for b in template.event_buses()}
    routes = {r.route_key for r in template.routes()}
    assert "POST /v1/data_sources" in routes
    assert "GET /v1/data_sources/{uuid}" in routes
    for fn in template.functions():
        assert fn.code_dir.is_relative_to(REPO_ROOT / "functions")
    assert template.layer_dirs() == [REPO_ROOT / "shared"]
