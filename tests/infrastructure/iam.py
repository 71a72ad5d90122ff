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


def _branches(value: Any) -> Iterator[Any]:
    """A value, or both branches of an `Fn::If` (recursively); `Ref: AWS::NoValue` is nothing."""
    if isinstance(value, dict) and "Fn::If" in value:
        for branch in value["Fn::If"][1:]:
            yield from _branches(branch)
    elif not (isinstance(value, dict) and value.get("Ref") == "AWS::NoValue"):
        yield value


def _documents(resource_id: str, resource: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    properties = resource.get("Properties") or {}
    if resource.get("Type") == "AWS::IAM::Role":
        # a policy may be conditional (`!If [HasKmsKey, {...}, !Ref AWS::NoValue]`): both branches are checked
        policies = [policy for item in properties.get("Policies") or [] for policy in _branches(item)]
        for index, policy in enumerate(policies):
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


# ---------------------------------------------------------------------------------------------- what a role reaches

#: The data source secrets: every secret ARN a policy names must be under this prefix (Settings.secrets_prefix).
SOURCE_SECRETS = "SourceSecrets"
_SECRETS_ARN = ":secret:sourcesync/${AWS::StackName}/*"
#: Actions that only read. A declared "read" use allows only these (on tables and buckets).
_READ_VERBS = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "ConditionCheck")


def is_read_action(action: str) -> bool:
    return action.split(":", 1)[-1].startswith(_READ_VERBS)


def _sub_names(template: Mapping[str, Any]) -> dict[str, str]:
    """Resources named by a `!Sub` of the stack name (state machines): the rendered name -> logical id."""
    names: dict[str, str] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        properties = resource.get("Properties") or {}
        name = properties.get("Name", properties.get("StateMachineName"))
        if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
            names[name["Fn::Sub"]] = logical_id
    return names


def _sub_targets(value: Mapping[str, Any], logical_ids: set[str], sub_names: Mapping[str, str]) -> set[str]:
    """What an ARN built with `Fn::Sub` names: its variables' Refs and GetAtts, a state machine named by a
    nested `!Sub "${AWS::StackName}-..."`, or the data source secrets' prefix."""
    body = value["Fn::Sub"]
    text, variables = (body, {}) if isinstance(body, str) else (body[0], body[1])
    here: set[str] = set()
    for variable in variables.values():
        if not isinstance(variable, dict):
            continue
        if variable.get("Ref") in logical_ids:
            here.add(variable["Ref"])
        elif "Fn::GetAtt" in variable:
            here.add(str(variable["Fn::GetAtt"][0]))
        elif isinstance(variable.get("Fn::Sub"), str) and variable["Fn::Sub"] in sub_names:
            here.add(sub_names[variable["Fn::Sub"]])
    if text.endswith(_SECRETS_ARN) and "secretsmanager" in text:
        here.add(SOURCE_SECRETS)
    return here


def targets(resource: Any, template: Mapping[str, Any]) -> set[str]:
    """The template resources (logical ids), parameters and SOURCE_SECRETS a statement's Resource names.

    Anything not recognised comes back as `?<expression>`, so that a check over it fails loudly."""
    logical_ids = set(template.get("Resources") or {}) | set(template.get("Parameters") or {})
    sub_names = _sub_names(template)
    found: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                visit(item)
        elif isinstance(value, dict) and "Fn::If" in value:
            for branch in _branches(value):
                visit(branch)
        elif isinstance(value, dict) and value.get("Ref") in logical_ids:
            found.add(value["Ref"])
        elif isinstance(value, dict) and "Fn::GetAtt" in value:
            found.add(str(value["Fn::GetAtt"][0]))
        elif isinstance(value, dict) and "Fn::Sub" in value:
            found.update(_sub_targets(value, logical_ids, sub_names) or {f"?{value!r}"})
        else:
            found.add(f"?{value!r}")

    visit(resource)
    return found


def role_of(template: Mapping[str, Any], logical_id: str) -> str:
    """The logical id of the role a (translated) function or state machine runs as."""
    properties = template["Resources"][logical_id]["Properties"]
    role = properties.get("Role", properties.get("RoleArn"))
    return str(role["Fn::GetAtt"][0])


def reach(template: Mapping[str, Any], role_id: str) -> dict[str, str]:
    """What a role's inline policies let it reach: target -> "read" or "write" (any non-read action)."""
    reached: dict[str, str] = {}
    for statement in statements(template):
        if statement.where.split("/", 1)[0] != role_id or not statement.allows:
            continue
        mode = "read" if all(map(is_read_action, statement.actions)) else "write"
        for target in targets(statement.body.get("Resource"), template):
            reached[target] = "write" if "write" in (mode, reached.get(target)) else "read"
    return reached
