"""The helpers the template tests rely on catch what they claim to (otherwise those tests could not fail)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infrastructure import iam
from tests.infrastructure.asl import (
    Scope,
    StandIns,
    invokes_lambda,
    iter_scopes,
    missing_lambda_retries,
    placeholders,
    reachable,
    state_name_problems,
    substituted_definition,
    transition_problems,
    unsupported_features,
)
from tests.infrastructure.cfn_yaml import loads
from tests.infrastructure.sam import ARTIFACT_BUCKET, package

# ---------------------------------------------------------------------------------------------- cfn_yaml

SHORT_TAGS_YAML = """
A: !Ref Table
B: !GetAtt Table.Arn
C: !GetAtt [Db, Endpoint.Address]
D: !GetAtt Db.Endpoint.Address
E: !Sub "${AWS::StackName}-x"
F: !Join [",", [a, !Ref P]]
G: !Select [0, !GetAZs ""]
H: !If [IsProd, !Base64 x, !Split [",", "a,b"]]
I: !Equals [!Ref P, "1"]
J: !Not [!Condition IsProd]
K: !FindInMap [M, K1, K2]
L: !ImportValue other-stack-output
"""


def test_short_tags_become_long_forms() -> None:
    loaded = loads(SHORT_TAGS_YAML)

    assert loaded == {
        "A": {"Ref": "Table"},
        "B": {"Fn::GetAtt": ["Table", "Arn"]},
        "C": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
        "D": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
        "E": {"Fn::Sub": "${AWS::StackName}-x"},
        "F": {"Fn::Join": [",", ["a", {"Ref": "P"}]]},
        "G": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
        "H": {"Fn::If": ["IsProd", {"Fn::Base64": "x"}, {"Fn::Split": [",", "a,b"]}]},
        "I": {"Fn::Equals": [{"Ref": "P"}, "1"]},
        "J": {"Fn::Not": [{"Condition": "IsProd"}]},
        "K": {"Fn::FindInMap": ["M", "K1", "K2"]},
        "L": {"Fn::ImportValue": "other-stack-output"},
    }


def test_unknown_tags_are_refused() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="!Nope"):
        loads("A: !Nope x")


# ---------------------------------------------------------------------------------------------- package


def test_package_uploads_code_and_inlines_definitions(tmp_path: Path) -> None:
    # Given a template with local code and a state machine file
    (tmp_path / "machine.asl.json").write_text('{"StartAt": "Go now", "States": {}}', encoding="utf-8")
    template: dict[str, Any] = {
        "Globals": {"Function": {"CodeUri": "src/"}},
        "Resources": {
            "OneFunction": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "../functions/one/"}},
            "SharedLayer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "../shared/"}},
            "KeptFunction": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "s3://x/y.zip"}},
            "OneStateMachine": {
                "Type": "AWS::Serverless::StateMachine",
                "Properties": {"DefinitionUri": "machine.asl.json", "DefinitionSubstitutions": {"A": "b"}},
            },
        },
    }

    # When packaged
    packaged = package(template, tmp_path)

    # Then local paths became S3 URIs, the definition is inline and the substitutions stay
    resources = packaged["Resources"]
    assert resources["OneFunction"]["Properties"]["CodeUri"] == f"s3://{ARTIFACT_BUCKET}/OneFunction/one"
    assert resources["SharedLayer"]["Properties"]["ContentUri"] == f"s3://{ARTIFACT_BUCKET}/SharedLayer/shared"
    assert resources["KeptFunction"]["Properties"]["CodeUri"] == "s3://x/y.zip"
    assert packaged["Globals"]["Function"]["CodeUri"].startswith("s3://")
    assert resources["OneStateMachine"]["Properties"] == {
        "Definition": {"StartAt": "Go now", "States": {}},
        "DefinitionSubstitutions": {"A": "b"},
    }
    assert template["Resources"]["OneFunction"]["Properties"]["CodeUri"] == "../functions/one/", "input changed"


# ---------------------------------------------------------------------------------------------- IAM


def _role(*statements: dict[str, Any], managed: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "Resources": {
            "SomeRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "ManagedPolicyArns": list(managed),
                    "Policies": [{"PolicyName": "P", "PolicyDocument": {"Statement": list(statements)}}],
                },
            }
        }
    }


def test_iam_checks_flag_broad_statements() -> None:
    # Given a role with every kind of broad grant
    role = _role(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": ["*"]},
        {"Effect": "Allow", "Action": "*", "Resource": {"Fn::Sub": "arn:aws:s3:::b"}},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": {"Fn::If": ["C", "*", "arn:x"]}},
        managed=("arn:aws:iam::aws:policy/AdministratorAccess",),
    )

    # Then each check names what it found
    assert len(iam.wildcard_actions_on_every_resource(role)) == 1
    assert len(iam.unscoped_statements(role)) == 2
    assert len(iam.every_action_granted(role)) == 1
    assert len(iam.negated_statements(role)) == 1
    assert iam.unexpected_managed_policies(role) == ["SomeRole: arn:aws:iam::aws:policy/AdministratorAccess"]


def test_iam_checks_accept_scoped_and_unscopable_statements() -> None:
    role = _role(
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "logs:CreateLogDelivery"], "Resource": "*"},
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["T", "Arn"]}},
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        managed=(
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        ),
    )

    assert iam.wildcard_actions_on_every_resource(role) == []
    assert iam.unscoped_statements(role) == []
    assert iam.negated_statements(role) == []
    assert iam.unexpected_managed_policies(role) == []


# ---------------------------------------------------------------------------------------------- ASL


@pytest.mark.parametrize(
    "name",
    ["Fetch the next page", "Write records to DynamoDB", "Purge partitions in parallel", "Is the job done?"],
)
def test_readable_state_names_pass(name: str) -> None:
    assert state_name_problems(name) == []


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("fetch the next page", "capital"),
        ("FetchNextPage", "one word"),
        ("Fetch_next_page", "underscore"),
        ("Fetch nextPage", "camelCase"),
        ("Fetch " + "very " * 20 + "long", "longer"),
    ],
    ids=["lowercase", "pascal-case", "snake-case", "camel-case", "too-long"],
)
def test_unreadable_state_names_fail(name: str, problem: str) -> None:
    assert any(problem in found for found in state_name_problems(name))


BROKEN_DEFINITION: dict[str, Any] = {
    "StartAt": "Start the job",
    "States": {
        "Start the job": {"Type": "Pass", "Next": "Is it done?"},
        "Is it done?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "Nowhere"}],
            "Default": "Fan out",
        },
        "Fan out": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Work on an item",
                "States": {
                    "Work on an item": {"Type": "Pass", "End": True},
                    "Forgotten inner state": {"Type": "Succeed"},
                },
            },
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Fail the job"}],
            "Next": "Fail the job",
            "End": True,
        },
        "Fail the job": {"Type": "Fail"},
        "Forgotten state": {"Type": "Pass", "End": True},
    },
}


def test_transition_checks_find_missing_targets_and_unreachable_states() -> None:
    scopes = {scope.path: scope for scope in iter_scopes(BROKEN_DEFINITION)}

    top, inner = scopes[()], scopes[("Fan out",)]
    assert transition_problems(top) == [
        "'Is it done?' Choices[0].Next → 'Nowhere', which is not a state of the machine",
        "'Fan out' needs exactly one of Next or End: true",
    ]
    assert set(top.states) - reachable(top) == {"Forgotten state"}
    assert set(inner.states) - reachable(inner) == {"Forgotten inner state"}
    assert transition_problems(Scope((), {"StartAt": "Missing", "States": {}})) == [
        "the machine: StartAt 'Missing' is not a state"
    ]


def test_lambda_tasks_are_recognised_after_substitution() -> None:
    # Given a definition whose function ARN comes from DefinitionSubstitutions
    template = {"Resources": {"WorkFunction": {"Type": "AWS::Serverless::Function"}}}
    text = json.dumps(
        {"StartAt": "Do it", "States": {"Do it": {"Type": "Task", "Resource": "${WorkArn}", "End": True}}}
    )

    # When substituted with stand-ins shaped like the deployed values
    definition = substituted_definition(text, {"WorkArn": {"Fn::GetAtt": ["WorkFunction", "Arn"]}}, template)

    # Then the task is seen as a Lambda invocation
    assert placeholders(text) == {"WorkArn"}
    assert definition["States"]["Do it"]["Resource"] == "arn:aws:lambda:us-east-1:123456789012:function:WorkFunction"
    assert invokes_lambda(definition["States"]["Do it"])
    assert invokes_lambda({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"})
    assert not invokes_lambda({"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem"})


def test_stand_ins_resolve_sub_and_ref() -> None:
    stand_ins = StandIns({"Parameters": {"Rate": {"Default": "rate(1 minute)"}}, "Resources": {}})

    assert stand_ins.resolve({"Fn::Sub": "${AWS::StackName}-resync"}) == "sourcesync-resync"
    assert stand_ins.resolve({"Ref": "Rate"}) == "rate(1 minute)"
    assert stand_ins.resolve(5) == "5"


def test_lambda_retry_check() -> None:
    recommended = {"ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException"], "MaxAttempts": 3}
    sdk = {"ErrorEquals": ["Lambda.SdkClientException"]}

    assert missing_lambda_retries({"Retry": [recommended, sdk]}) == []
    assert missing_lambda_retries({"Retry": [{"ErrorEquals": ["States.ALL"]}]}) == []
    assert missing_lambda_retries({"Retry": [recommended]}) == ["Lambda.SdkClientException"]
    assert missing_lambda_retries({"Retry": [recommended, {**sdk, "MaxAttempts": 0}]}) == ["Lambda.SdkClientException"]
    assert len(missing_lambda_retries({})) == 3


def test_unsupported_features_are_found() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Remember",
        "States": {
            "Remember": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Use"},
            "Use": {
                "Type": "Pass",
                "Parameters": {"started.$": "$$.Execution.StartTime", "x.$": "$x", "ok.$": "$$.Execution.Id"},
                "End": True,
            },
        },
    }

    assert unsupported_features(definition) == [
        "(top level): JSONata (QueryLanguage)",
        "(top level)/Remember: variables (Assign)",
        "$.States.Use.Parameters.started.$: reads $$.Execution.StartTime",
        "$.States.Use.Parameters.x.$: reads a variable ('$x')",
    ]
