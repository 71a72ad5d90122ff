"""Least-privilege checks on the IAM policies of a translated (plain CloudFormation) template."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Actions that AWS does not let a policy scope to a resource, so `Resource: "*"` is the only way to
# grant them. Anything else on "*" must be scoped instead.
RESOURCE_STAR_ALLOWED_ACTIONS: Mapping[str, str] = {
    **dict.fromkeys(
        (
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
            "xray:GetSamplingStatisticSummaries",
        ),
        "X-Ray has no resource-level permissions",
    ),
    **dict.fromkeys(
        (
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
        ),
        "CloudWatch Logs delivery (Step Functions logging) must be granted on * (AWS documentation)",
    ),
}

# AWS managed policies a role may attach (their statements are not in the template, so they are vetted here).
ALLOWED_AWS_MANAGED_POLICIES = frozenset(
    {
        "AWSLambdaBasicExecutionRole",  # logs:CreateLogGroup/CreateLogStream/PutLogEvents
        "AWSXrayWriteOnlyAccess",  # SAM adds it with Tracing: Active
        "AWSXRayDaemonWriteAccess",
    }
)


@dataclass(frozen=True)
class Statement:
    """One IAM statement and where it came from (`RoleId/PolicyName#index`)."""

    where: str
    body: Mapping[str, Any]

    @property
    def allows(self) -> bool:
        return self.body.get("Effect") == "Allow"

    @property
    def actions(self) -> list[str]:
        return _as_list(self.body.get("Action"))

    @property
    def on_every_resource(self) -> bool:
        return "*" in _literal_strings(self.body.get("Resource"))

    def describe(self) -> str:
        sid = self.body.get("Sid")
        return f"{self.where}{f' ({sid})' if sid else ''}: {self.actions} on {self.body.get('Resource')!r}"


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [item for item in value or [] if isinstance(item, str)]


def _literal_strings(value: Any) -> Iterator[str]:
    """The plain strings a Resource can end up as (both branches of Fn::If; not the inside of Fn::Sub)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _literal_strings(item)
    elif isinstance(value, dict) and "Fn::If" in value:
        for branch in value["Fn::If"][1:]:
            yield from _literal_strings(branch)


def _documents(resource_id: str, resource: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    properties = resource.get("Properties") or {}
    if resource.get("Type") == "AWS::IAM::Role":
        for index, policy in enumerate(properties.get("Policies") or []):
            yield f"{resource_id}/{policy.get('PolicyName', index)}", policy.get("PolicyDocument")
    elif resource.get("Type") in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
        yield resource_id, properties.get("PolicyDocument")


def statements(template: Mapping[str, Any]) -> list[Statement]:
    """Every identity-policy statement of the template's roles and policies."""
    found: list[Statement] = []
    for resource_id, resource in (template.get("Resources") or {}).items():
        for where, document in _documents(resource_id, resource):
            body = (document or {}).get("Statement") or []
            for index, statement in enumerate(body if isinstance(body, list) else [body]):
                found.append(Statement(f"{where}#{index}", statement))
    return found


def _is_wildcard(action: str) -> bool:
    return action == "*" or action.endswith(":*")


def wildcard_actions_on_every_resource(template: Mapping[str, Any]) -> list[str]:
    return [
        statement.describe()
        for statement in statements(template)
        if statement.allows and statement.on_every_resource and any(map(_is_wildcard, statement.actions))
    ]


def every_action_granted(template: Mapping[str, Any]) -> list[str]:
    return [statement.describe() for statement in statements(template) if statement.allows and "*" in statement.actions]


def unscoped_statements(template: Mapping[str, Any]) -> list[str]:
    """Statements on Resource "*" granting an action outside RESOURCE_STAR_ALLOWED_ACTIONS."""
    return [
        statement.describe()
        for statement in statements(template)
        if statement.allows
        and statement.on_every_resource
        and any(action not in RESOURCE_STAR_ALLOWED_ACTIONS for action in statement.actions)
    ]


def negated_statements(template: Mapping[str, Any]) -> list[str]:
    """Allow statements with NotAction or NotResource: they grant everything but a list."""
    return [
        statement.describe()
        for statement in statements(template)
        if statement.allows and ({"NotAction", "NotResource"} & set(statement.body))
    ]


def unexpected_managed_policies(template: Mapping[str, Any]) -> list[str]:
    """Managed policy ARNs (strings) other than the allowed AWS managed policies."""
    unexpected: list[str] = []
    for resource_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        for arn in (resource.get("Properties") or {}).get("ManagedPolicyArns") or []:
            if not isinstance(arn, str):
                continue  # a Ref to a policy of this template: its statements are checked above
            aws_managed = ":iam::aws:policy/" in arn
            if not aws_managed or arn.rsplit("/", 1)[-1] not in ALLOWED_AWS_MANAGED_POLICIES:
                unexpected.append(f"{resource_id}: {arn}")
    return unexpected
