"""aws-sam-translator turns infra/template.yaml into plain CloudFormation offline, with what we expect in it."""

from __future__ import annotations

import json
import socket
from typing import Any

import boto3
import botocore.endpoint
import pytest

from tests.infrastructure.cases import or_skip
from tests.infrastructure.cfn_yaml import load_template
from tests.infrastructure.sam import (
    ARTIFACT_BUCKET,
    TEMPLATE_PATH,
    DictManagedPolicyLoader,
    FunctionEvent,
    events_of_type,
    resources_of_type,
    translate,
)

TEMPLATE = load_template(TEMPLATE_PATH)
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
STATE_MACHINES = resources_of_type(TEMPLATE, "AWS::Serverless::StateMachine")
TABLES = resources_of_type(TEMPLATE, "AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
HTTP_API_EVENTS = events_of_type(TEMPLATE, "HttpApi")
SCHEDULE_EVENTS = events_of_type(TEMPLATE, "Schedule")
IMPLICIT_HTTP_API = "ServerlessHttpApi"  # what SAM creates for HttpApi events without ApiId


class NetworkBlockedError(RuntimeError):
    """Raised by the network guard instead of opening a connection."""


@pytest.fixture
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every socket connection and every botocore request fail, and record the attempts."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[1:2] or args[:1]))
        raise NetworkBlockedError("no network in infrastructure tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(botocore.endpoint.Endpoint, "make_request", refuse)
    return attempts


def _resource(translated: dict[str, Any], logical_id: str, resource_type: str) -> dict[str, Any]:
    resource = translated["Resources"].get(logical_id)
    assert resource is not None, f"{logical_id} missing from the translated template"
    assert resource["Type"] == resource_type, f"{logical_id} is a {resource['Type']}, not a {resource_type}"
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def _assumed_by(role: dict[str, Any]) -> list[str]:
    statements = role["AssumeRolePolicyDocument"]["Statement"]
    return [service for statement in statements for service in statement["Principal"].get("Service", [])]


def _api_id(event: dict[str, Any]) -> str:
    api = event.get("ApiId")
    if api is None:
        return IMPLICIT_HTTP_API
    assert isinstance(api, dict) and "Ref" in api, f"ApiId should be a !Ref, got {api!r}"
    return str(api["Ref"])


# ---------------------------------------------------------------------------------------------- offline


def test_network_guard_refuses_connections_and_aws_calls(network_attempts: list[str]) -> None:
    # Given the guard the offline test relies on
    client = boto3.client(
        "sts", region_name="us-east-1", aws_access_key_id="stand-in", aws_secret_access_key="stand-in"
    )

    # When something opens a socket or calls AWS, Then it fails and is recorded
    with pytest.raises(NetworkBlockedError):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(NetworkBlockedError):
        client.get_caller_identity()
    assert len(network_attempts) == 2


def test_translation_needs_no_aws_access(network_attempts: list[str]) -> None:
    # Given no network at all and a managed-policy loader backed by a dict
    loader = DictManagedPolicyLoader()

    # When the template is packaged and translated
    translated = translate(TEMPLATE_PATH, managed_policy_loader=loader)

    # Then it produced CloudFormation without reaching for anything
    assert translated["Resources"]
    assert network_attempts == []


def test_no_serverless_resource_is_left(translated: dict[str, Any]) -> None:
    leftovers = {
        logical_id: resource["Type"]
        for logical_id, resource in translated["Resources"].items()
        if resource["Type"].startswith("AWS::Serverless::")
    }
    assert leftovers == {}
    assert "Transform" not in translated
    assert "Globals" not in translated


def test_managed_policies_resolve_to_arns(translated: dict[str, Any]) -> None:
    # A name the translator could not resolve would be passed on as is, and fail at deploy time.
    unresolved = [
        (logical_id, arn)
        for logical_id, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
        for arn in resource["Properties"].get("ManagedPolicyArns", [])
        if isinstance(arn, str) and not arn.startswith("arn:")
    ]
    assert unresolved == []


# ---------------------------------------------------------------------------------------------- functions


@pytest.mark.parametrize("function_id", or_skip(FUNCTIONS, "no AWS::Serverless::Function"), ids=str)
def test_function_becomes_a_lambda_function_with_its_role(translated: dict[str, Any], function_id: str) -> None:
    function = _resource(translated, function_id, "AWS::Lambda::Function")

    assert function["Code"]["S3Bucket"] == ARTIFACT_BUCKET, "CodeUri was not packaged to S3"
    assert function["Handler"] == FUNCTIONS[function_id]["Properties"]["Handler"]
    role_id = f"{function_id}Role"
    assert function["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}
    role = _resource(translated, role_id, "AWS::IAM::Role")
    assert _assumed_by(role) == ["lambda.amazonaws.com"]


@pytest.mark.parametrize("function_id", or_skip(FUNCTIONS, "no AWS::Serverless::Function"), ids=str)
def test_function_uses_a_translated_layer(translated: dict[str, Any], function_id: str) -> None:
    layers = _resource(translated, function_id, "AWS::Lambda::Function").get("Layers", [])

    layer_ids = [layer["Ref"] for layer in layers if isinstance(layer, dict) and "Ref" in layer]
    assert layer_ids, f"{function_id} has no layer"
    for layer_id in layer_ids:
        _resource(translated, layer_id, "AWS::Lambda::LayerVersion")


# ---------------------------------------------------------------------------------------------- HTTP API


def test_http_apis_become_api_gateway_v2_apis_with_a_default_stage(translated: dict[str, Any]) -> None:
    api_ids = {_api_id(event.properties) for event in HTTP_API_EVENTS} | set(
        resources_of_type(TEMPLATE, "AWS::Serverless::HttpApi")
    )
    assert api_ids, "no HttpApi in the template"
    for api_id in sorted(api_ids):
        _resource(translated, api_id, "AWS::ApiGatewayV2::Api")
        stage = _resource(translated, f"{api_id}ApiGatewayDefaultStage", "AWS::ApiGatewayV2::Stage")
        assert stage["ApiId"] == {"Ref": api_id}


@pytest.mark.parametrize(
    "function_event", or_skip(HTTP_API_EVENTS, "no HttpApi event"), ids=lambda event: event.test_id
)
def test_http_api_event_becomes_a_route_and_a_permission(
    translated: dict[str, Any], function_event: FunctionEvent
) -> None:
    function_id, event_id, event = function_event.function_id, function_event.event_id, function_event.properties
    # Given the event's route in the API's OpenAPI body
    api = _resource(translated, _api_id(event), "AWS::ApiGatewayV2::Api")
    method = str(event["Method"]).lower()
    operations = api["Body"]["paths"].get(event["Path"], {})
    operation = operations.get("x-amazon-apigateway-any-method" if method == "any" else method)

    # Then it is integrated with the function, which lets API Gateway invoke it
    assert operation is not None, f"no {event['Method']} {event['Path']} in the API's paths"
    integration = operation["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"
    assert f"${{{function_id}.Arn}}" in json.dumps(integration["uri"])
    # SAM gives a function that has a `$default` route one permission for all its routes (SourceArn `.../*`)
    default = [
        e.event_id for e in HTTP_API_EVENTS if e.function_id == function_id and e.properties["Path"] == "$default"
    ]
    permission = _resource(
        translated, f"{function_id}{(default or [event_id])[0]}Permission", "AWS::Lambda::Permission"
    )
    if default:
        assert json.dumps(permission["SourceArn"]).endswith(
            '/${__Stage__}/*", {"__ApiId__": {"Ref": "HttpApi"}, "__Stage__": "*"}]}'
        )
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["FunctionName"] == {"Ref": function_id}


# ---------------------------------------------------------------------------------------------- schedule


@pytest.mark.parametrize(
    "function_event", or_skip(SCHEDULE_EVENTS, "no Schedule event"), ids=lambda event: event.test_id
)
def test_schedule_event_becomes_a_rule_with_a_lambda_permission(
    translated: dict[str, Any], function_event: FunctionEvent
) -> None:
    function_id, event = function_event.function_id, function_event.properties
    rule_id = f"{function_id}{function_event.event_id}"
    rule = _resource(translated, rule_id, "AWS::Events::Rule")

    assert rule["ScheduleExpression"] == event["Schedule"]
    assert [target["Arn"] for target in rule["Targets"]] == [{"Fn::GetAtt": [function_id, "Arn"]}]
    permission = _resource(translated, f"{rule_id}Permission", "AWS::Lambda::Permission")
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["FunctionName"] == {"Ref": function_id}
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


# ---------------------------------------------------------------------------------------------- data, workflows


@pytest.mark.parametrize("table_id", or_skip(TABLES, "no table"), ids=str)
def test_table_is_a_dynamodb_table(translated: dict[str, Any], table_id: str) -> None:
    _resource(translated, table_id, "AWS::DynamoDB::Table")


@pytest.mark.parametrize(
    "machine_id", or_skip(STATE_MACHINES, "no AWS::Serverless::StateMachine in infra/template.yaml yet"), ids=str
)
def test_state_machine_keeps_its_definition_and_substitutions(translated: dict[str, Any], machine_id: str) -> None:
    # Given the definition file the template points at
    properties = STATE_MACHINES[machine_id]["Properties"]
    definition_file = TEMPLATE_PATH.parent / properties["DefinitionUri"]

    # When translated, Then the file is inlined and CloudFormation still gets the substitutions
    machine = _resource(translated, machine_id, "AWS::StepFunctions::StateMachine")
    separator, lines = machine["DefinitionString"]["Fn::Join"]
    assert json.loads(separator.join(lines)) == json.loads(definition_file.read_text(encoding="utf-8"))
    assert machine["DefinitionSubstitutions"] == properties["DefinitionSubstitutions"]
    if "Role" not in properties:
        assert machine["RoleArn"] == {"Fn::GetAtt": [f"{machine_id}Role", "Arn"]}
        role = _resource(translated, f"{machine_id}Role", "AWS::IAM::Role")
        assert _assumed_by(role) == ["states.amazonaws.com"]


def test_outputs_are_kept(translated: dict[str, Any]) -> None:
    assert set(translated.get("Outputs", {})) == set(TEMPLATE.get("Outputs", {}))
