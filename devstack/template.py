"""Read a SAM template and resolve it the way CloudFormation would for the local stack.

The template is the single truth: tables, functions, state machines, buses, rules and API routes are all
read from it (never from a second, hand-written list). This module only parses and resolves; deploying
is `devstack.deploy`'s job. It imports nothing heavy, so tests can use it to list routes, functions and
tables.

Resolution rules (local, deterministic):
- parameters: the template's defaults, overridden by `parameters` (validated against AllowedValues);
- pseudo parameters: AWS::Region us-east-1, AWS::AccountId 123456789012, AWS::Partition aws,
  AWS::StackName (default "sourcesync-local"), AWS::URLSuffix amazonaws.com;
- physical names: the resource's explicit name property (TableName, FunctionName, Name...) or
  `<stack name>-<LogicalId>`;
- Ref / Fn::GetAtt give what CloudFormation gives for the type (a table's name, a state machine's ARN...),
  with the ARNs moto gives to the resources it creates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devstack import ACCOUNT_ID, REGION, STACK_NAME

LOG = logging.getLogger("devstack.template")

PSEUDO_DEFAULTS = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


class _NoValue:
    """What `Ref: AWS::NoValue` resolves to: the enclosing property or list item disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

# Resource type -> the property that gives it an explicit physical name.
NAME_PROPERTIES: Mapping[str, str] = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
}

FUNCTION_TYPES = ("AWS::Serverless::Function",)
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
SCHEDULE_EVENT_TYPES = ("Schedule", "ScheduleV2")
HANDLED_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        *FUNCTION_TYPES,
        *STATE_MACHINE_TYPES,
        "AWS::Events::EventBus",
        "AWS::Events::Rule",
        "AWS::Serverless::HttpApi",
        "AWS::Serverless::Api",
        "AWS::S3::Bucket",
    }
)
IGNORED_TYPES = frozenset({"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"})


class TemplateError(Exception):
    """The template cannot be resolved locally (the message names the resource and the cause)."""


class EnvironmentConflictError(TemplateError):
    """Two functions need different values for one environment variable (they share one process locally)."""


# ------------------------------------------------------------------------------------------------ loading
class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that understands CloudFormation's short tags (!Ref, !GetAtt, !Sub...)."""


def _construct_short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_short_tag)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=CfnLoader)


# ------------------------------------------------------------------------------------------------ specs
@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    arn: str
    create_args: dict[str, Any]  # boto3 DynamoDB create_table keyword arguments
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    architectures: tuple[str, ...]
    environment: dict[str, str]
    description: str = ""

    @property
    def module_name(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def function_attr(self) -> str:
        return self.handler.rpartition(".")[2]

    @property
    def module_file(self) -> Path:
        return self.code_dir / (self.module_name.replace(".", "/") + ".py")


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    arn: str
    definition: str  # JSON text, substitutions applied
    type: str = "STANDARD"


@dataclass(frozen=True)
class EventBusSpec:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class TargetSpec:
    id: str
    arn: str
    input: str | None = None


@dataclass(frozen=True)
class RuleSpec:
    logical_id: str
    name: str
    arn: str
    event_bus_name: str = "default"
    schedule_expression: str | None = None
    event_pattern: str | None = None
    state: str = "ENABLED"
    description: str = ""
    targets: tuple[TargetSpec, ...] = ()


@dataclass(frozen=True)
class Throttling:
    """An HTTP API stage's route throttling (`DefaultRouteSettings`): a token bucket per route."""

    rate: float  # requests per second, steady state (inf: none set)
    burst: float  # the bucket's size (inf: none set)


@dataclass(frozen=True)
class RouteSpec:
    function_logical_id: str
    function_name: str
    event_id: str
    method: str  # upper case, "ANY" for any method
    path: str  # "/v1/data_sources/{uuid}", "/{proxy+}" or "$default"
    api_logical_id: str
    payload_format: str = "2.0"  # "1.0" for REST (Api) events or PayloadFormatVersion 1.0
    throttling: Throttling | None = None  # the HTTP API's DefaultRouteSettings, if it sets any

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass
class _Context:
    """What !Sub's variables add to the resolution of one value."""

    variables: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ template
class Template:
    """A parsed SAM template with a CloudFormation-like resolver for the local stack."""

    def __init__(
        self,
        path: Path | str,
        *,
        parameters: Mapping[str, str] | None = None,
        stack_name: str = STACK_NAME,
        region: str = REGION,
        account_id: str = ACCOUNT_ID,
    ) -> None:
        self.path = Path(path).resolve()
        self.base_dir = self.path.parent
        raw = load_yaml(self.path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or not isinstance(raw.get("Resources"), dict):
            raise TemplateError(f"{self.path}: not a CloudFormation template (no Resources mapping)")
        self.raw: dict[str, Any] = raw
        self.resources: dict[str, dict[str, Any]] = raw["Resources"]
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.pseudo: dict[str, Any] = {
            **PSEUDO_DEFAULTS,
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/devstack",
            "AWS::NoValue": NO_VALUE,
        }
        self.parameters = self._parameter_values(parameters or {})
        self._conditions: dict[str, bool] = {}

    # -------------------------------------------------------------------------------- parameters / conditions
    def _parameter_values(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        declared: dict[str, Any] = self.raw.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"{self.path.name}: unknown parameter(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            spec = spec or {}
            if name in overrides:
                value: Any = str(overrides[name])
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise TemplateError(f"parameter {name} has no Default: pass it (--parameter {name}=...)")
            allowed = spec.get("AllowedValues")
            if allowed is not None and str(value) not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            if str(spec.get("Type", "String")).startswith(("CommaDelimitedList", "List<")):
                value = value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
            elif not isinstance(value, list):
                value = str(value)
            values[name] = value
        return values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.raw.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self._eval_condition(conditions[name]))
        return self._conditions[name]

    def _eval_condition(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._eval_condition(arg[0])
            if key == "Fn::And":
                return all(self._eval_condition(v) for v in arg)
            if key == "Fn::Or":
                return any(self._eval_condition(v) for v in arg)
        raise TemplateError(f"unsupported condition expression {node!r}")

    def included(self, logical_id: str) -> bool:
        """False when the resource has a Condition that is false."""
        condition = self.resources[logical_id].get("Condition")
        return True if condition is None else self.condition(condition)

    # -------------------------------------------------------------------------------- names and ARNs
    def type_of(self, logical_id: str) -> str:
        try:
            return str(self.resources[logical_id]["Type"])
        except KeyError:
            raise TemplateError(f"unknown resource {logical_id}") from None

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resources[logical_id].get("Properties") or {})

    def physical_name(self, logical_id: str) -> str:
        rtype = self.type_of(logical_id)
        prop = NAME_PROPERTIES.get(rtype)
        if prop:
            explicit = self.properties(logical_id).get(prop)
            if explicit is not None:
                return str(self.resolve(explicit))
        if rtype == "AWS::S3::Bucket":  # bucket names are lower case (CloudFormation generates them so)
            return f"{self.stack_name}-{logical_id}".lower()
        return f"{self.stack_name}-{logical_id}"

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:aws:{service}:{region}:{self.account_id}:{resource}"

    def api_id(self, logical_id: str) -> str:
        """A stable, API-Gateway-looking id (10 lowercase alphanumerics) for an API resource."""
        return hashlib.sha1(f"{self.stack_name}/{logical_id}".encode()).hexdigest()[:10]

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name not in self.resources:
            raise TemplateError(f"Ref to unknown parameter or resource {name!r}")
        rtype = self.type_of(name)
        physical = self.physical_name(name)
        if rtype in STATE_MACHINE_TYPES:
            return self.arn("states", f"stateMachine:{physical}")
        if rtype in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            return self.arn("lambda", f"layer:{physical}:1")
        if rtype in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api", "AWS::ApiGatewayV2::Api"):
            return self.api_id(name)
        if rtype == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{physical}"
        if rtype in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret"):
            return self.get_att(name, "Arn")
        return physical

    def get_att(self, logical_id: str, attribute: str) -> Any:
        rtype = self.type_of(logical_id)
        name = self.physical_name(logical_id)
        arns: dict[str, Callable[[], str]] = {
            "AWS::DynamoDB::Table": lambda: self.arn("dynamodb", f"table/{name}"),
            "AWS::Serverless::Function": lambda: self.arn("lambda", f"function:{name}"),
            "AWS::Lambda::Function": lambda: self.arn("lambda", f"function:{name}"),
            "AWS::Serverless::StateMachine": lambda: self.arn("states", f"stateMachine:{name}"),
            "AWS::StepFunctions::StateMachine": lambda: self.arn("states", f"stateMachine:{name}"),
            "AWS::Events::EventBus": lambda: self.arn("events", f"event-bus/{name}"),
            "AWS::Events::Rule": lambda: self.rule_arn(name, self._rule_bus(logical_id)),
            "AWS::IAM::Role": lambda: f"arn:aws:iam::{self.account_id}:role/{name}",
            "AWS::SQS::Queue": lambda: self.arn("sqs", name),
            "AWS::SNS::Topic": lambda: self.arn("sns", name),
            "AWS::SecretsManager::Secret": lambda: self.arn("secretsmanager", f"secret:{name}"),
            "AWS::S3::Bucket": lambda: f"arn:aws:s3:::{name}",
        }
        if attribute == "Arn" and rtype in arns:
            return arns[rtype]()
        if attribute in ("Name", "QueueName", "TopicName") and rtype in NAME_PROPERTIES:
            return name
        if attribute in ("DomainName", "RegionalDomainName") and rtype == "AWS::S3::Bucket":
            return f"{name}.s3.amazonaws.com" if attribute == "DomainName" else f"{name}.s3.{self.region}.amazonaws.com"
        if attribute == "QueueUrl" and rtype == "AWS::SQS::Queue":
            return self.ref(logical_id)
        if attribute == "ApiEndpoint" and rtype in ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"):
            return f"https://{self.api_id(logical_id)}.execute-api.{self.region}.amazonaws.com"
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} ({rtype}) is not supported locally")

    def rule_arn(self, name: str, bus: str = "default") -> str:
        return self.arn("events", f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}")

    def _rule_bus(self, logical_id: str) -> str:
        bus = self.properties(logical_id).get("EventBusName")
        return "default" if bus is None else _bus_name(str(self.resolve(bus)))

    # -------------------------------------------------------------------------------- intrinsic functions
    def resolve(self, value: Any, ctx: _Context | None = None) -> Any:
        """Resolve every intrinsic function inside `value` (recursively); AWS::NoValue removes its key."""
        result = self._resolve(value, ctx or _Context())
        return None if result is NO_VALUE else result

    def _resolve(self, value: Any, ctx: _Context) -> Any:
        if isinstance(value, list):
            return [v for v in (self._resolve(item, ctx) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, arg, ctx)
        return {k: v for k, v in ((k, self._resolve(v, ctx)) for k, v in value.items()) if v is not NO_VALUE}

    def _intrinsic(self, key: str, arg: Any, ctx: _Context) -> Any:  # noqa: C901 - a dispatch table
        if key == "Ref":
            return ctx.variables[arg] if arg in ctx.variables else self.ref(arg)
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
            return self.get_att(str(parts[0]), str(self._resolve(parts[1], ctx)))
        if key == "Fn::Sub":
            return self._sub(arg, ctx)
        if key == "Fn::Join":
            sep, items = arg
            return str(sep).join(str(v) for v in self._resolve(items, ctx))
        if key == "Fn::Select":
            index, items = arg
            return self._resolve(items, ctx)[int(self._resolve(index, ctx))]
        if key == "Fn::Split":
            sep, text = arg
            return str(self._resolve(text, ctx)).split(str(sep))
        if key == "Fn::If":
            name, if_true, if_false = arg
            return self._resolve(if_true if self.condition(name) else if_false, ctx)
        if key == "Fn::Equals":
            return self._eval_condition({key: arg})
        if key == "Fn::FindInMap":
            map_name, top, second = (self._resolve(v, ctx) for v in arg[:3])
            try:
                return self.raw["Mappings"][map_name][top][second]
            except KeyError:
                raise TemplateError(f"Fn::FindInMap {map_name}/{top}/{second} not found") from None
        if key == "Fn::Base64":
            import base64

            return base64.b64encode(str(self._resolve(arg, ctx)).encode()).decode()
        if key == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if key == "Fn::ToJsonString":
            return json.dumps(self._resolve(arg, ctx), separators=(",", ":"))
        raise TemplateError(f"intrinsic function {key} is not supported locally")

    _SUB_PATTERN = re.compile(r"\$\{([^}]*)\}")

    def _sub(self, arg: Any, ctx: _Context) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], arg[1] if len(arg) > 1 else {}
            inner = _Context({**ctx.variables, **{k: self._resolve(v, ctx) for k, v in variables.items()}})
        else:
            text, inner = arg, ctx

        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in inner.variables:
                return str(inner.variables[expr])
            if expr in self.pseudo or expr in self.parameters or expr in self.resources:
                return str(self.ref(expr))
            if "." in expr:
                resource, _, attribute = expr.partition(".")
                return str(self.get_att(resource, attribute))
            raise TemplateError(f"Fn::Sub: unknown variable ${{{expr}}} in {text!r}")

        return self._SUB_PATTERN.sub(replace, str(text))

    # -------------------------------------------------------------------------------- resources by kind
    def logical_ids(self, *types: str) -> Iterator[str]:
        for logical_id, resource in self.resources.items():
            if resource.get("Type") in types and self.included(logical_id):
                yield logical_id

    def unhandled_resources(self) -> dict[str, str]:
        """Resources the local stack does not create (logical id -> type); layers are served from disk."""
        return {
            lid: str(res.get("Type"))
            for lid, res in self.resources.items()
            if res.get("Type") not in HANDLED_TYPES and res.get("Type") not in IGNORED_TYPES and self.included(lid)
        }

    def tables(self) -> list[TableSpec]:
        specs = []
        for logical_id in self.logical_ids("AWS::DynamoDB::Table"):
            props = self.resolve(self.properties(logical_id))
            name = self.physical_name(logical_id)
            args: dict[str, Any] = {
                "TableName": name,
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
            }
            billing = props.get("BillingMode", "PROVISIONED")
            args["BillingMode"] = billing
            if billing == "PROVISIONED":
                args["ProvisionedThroughput"] = props.get(
                    "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
                )
            for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                if props.get(key):
                    args[key] = props[key]
            if props.get("StreamSpecification"):
                args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
            ttl = props.get("TimeToLiveSpecification") or {}
            ttl_attribute = ttl.get("AttributeName") if str(ttl.get("Enabled", False)).lower() == "true" else None
            specs.append(TableSpec(logical_id, name, self.get_att(logical_id, "Arn"), args, ttl_attribute))
        return specs

    def _function_globals(self) -> dict[str, Any]:
        return dict(((self.raw.get("Globals") or {}).get("Function")) or {})

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Globals.Function.Environment.Variables merged with the function's own, resolved to strings."""
        global_vars = (self._function_globals().get("Environment") or {}).get("Variables") or {}
        own_vars = (self.properties(logical_id).get("Environment") or {}).get("Variables") or {}
        merged = self.resolve({**global_vars, **own_vars})
        return {str(k): _env_string(v) for k, v in merged.items()}

    def functions(self) -> list[FunctionSpec]:
        specs = []
        glob = self._function_globals()
        for logical_id in self.logical_ids(*FUNCTION_TYPES):
            props = {**glob, **self.properties(logical_id)}
            code_uri = self.resolve(props.get("CodeUri"))
            if not isinstance(code_uri, str) or code_uri.startswith("s3://"):
                raise TemplateError(f"{logical_id}: CodeUri must be a local directory, got {code_uri!r}")
            handler = str(self.resolve(props.get("Handler", "")))
            if "." not in handler:
                raise TemplateError(f"{logical_id}: Handler must look like 'module.function', got {handler!r}")
            name = self.physical_name(logical_id)
            specs.append(
                FunctionSpec(
                    logical_id=logical_id,
                    name=name,
                    arn=self.get_att(logical_id, "Arn"),
                    code_dir=(self.base_dir / code_uri).resolve(),
                    handler=handler,
                    runtime=str(self.resolve(props.get("Runtime", "python3.11"))),
                    timeout=int(self.resolve(props.get("Timeout", 3))),
                    memory_size=int(self.resolve(props.get("MemorySize", 128))),
                    architectures=tuple(self.resolve(props.get("Architectures", ["x86_64"]))),
                    environment=self.function_environment(logical_id),
                    description=str(self.resolve(props.get("Description", ""))),
                )
            )
        return specs

    def merged_environment(self) -> dict[str, str]:
        """Every function's environment in one mapping; raises if two functions disagree on a key."""
        merged: dict[str, str] = {}
        owner: dict[str, str] = {}
        for fn in self.functions():
            for key, value in fn.environment.items():
                if key in merged and merged[key] != value:
                    raise EnvironmentConflictError(
                        f"functions {owner[key]} and {fn.logical_id} need different values for the "
                        f"environment variable {key} ({merged[key]!r} vs {value!r}); locally all functions "
                        "share one process environment: give the variable one value or rename one of them"
                    )
                merged[key] = value
                owner.setdefault(key, fn.logical_id)
        return merged

    def state_machines(self) -> list[StateMachineSpec]:
        specs = []
        for logical_id in self.logical_ids(*STATE_MACHINE_TYPES):
            props = self.properties(logical_id)
            name = self.physical_name(logical_id)
            definition = self._definition_text(logical_id, props)
            try:
                json.loads(definition)
            except json.JSONDecodeError as exc:
                raise TemplateError(f"{logical_id}: the state machine definition is not valid JSON: {exc}") from exc
            sm_type = str(self.resolve(props.get("Type", props.get("StateMachineType", "STANDARD"))))
            specs.append(StateMachineSpec(logical_id, name, self.ref(logical_id), definition, sm_type))
        return specs

    def _definition_text(self, logical_id: str, props: dict[str, Any]) -> str:
        substitutions = {
            str(k): _env_string(v) for k, v in self.resolve(props.get("DefinitionSubstitutions") or {}).items()
        }
        if "DefinitionUri" in props or "DefinitionS3Location" in props:
            uri = props.get("DefinitionUri", props.get("DefinitionS3Location"))
            if not isinstance(uri, str):
                raise TemplateError(f"{logical_id}: DefinitionUri must be a local file, got {uri!r}")
            file = (self.base_dir / uri).resolve()
            if not file.is_file():
                raise TemplateError(f"{logical_id}: definition file {file} not found")
            text = _substitute(file.read_text(encoding="utf-8"), substitutions)
            if file.suffix in (".yaml", ".yml"):
                text = json.dumps(yaml.safe_load(text))
        elif "Definition" in props:
            definition = props["Definition"]
            text = definition if isinstance(definition, str) else json.dumps(self.resolve(definition))
            text = _substitute(text, substitutions)
        elif "DefinitionString" in props:
            text = _substitute(str(self.resolve(props["DefinitionString"])), substitutions)
        else:
            raise TemplateError(f"{logical_id}: no DefinitionUri, Definition or DefinitionString")
        leftover = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text)))
        if leftover:
            LOG.warning("%s: definition still holds ${%s} (no DefinitionSubstitutions entry)", logical_id, leftover)
        return text

    def buckets(self) -> list[str]:
        """Names of the S3 buckets (created empty in moto; encryption and access settings are not modelled)."""
        return [self.physical_name(lid) for lid in self.logical_ids("AWS::S3::Bucket")]

    def event_buses(self) -> list[EventBusSpec]:
        return [
            EventBusSpec(lid, self.physical_name(lid), self.get_att(lid, "Arn"))
            for lid in self.logical_ids("AWS::Events::EventBus")
        ]

    def rules(self) -> list[RuleSpec]:
        """AWS::Events::Rule resources plus the Schedule/ScheduleV2 events of functions and state machines."""
        specs: list[RuleSpec] = []
        for logical_id in self.logical_ids("AWS::Events::Rule"):
            props = self.resolve(self.properties(logical_id))
            name = self.physical_name(logical_id)
            bus = self._rule_bus(logical_id)
            pattern = props.get("EventPattern")
            targets = tuple(
                TargetSpec(
                    id=str(t["Id"]),
                    arn=str(t["Arn"]),
                    input=t.get("Input")
                    if isinstance(t.get("Input"), str) or t.get("Input") is None
                    else json.dumps(t["Input"]),
                )
                for t in props.get("Targets", [])
            )
            specs.append(
                RuleSpec(
                    logical_id=logical_id,
                    name=name,
                    arn=self.rule_arn(name, bus),
                    event_bus_name=bus,
                    schedule_expression=props.get("ScheduleExpression"),
                    event_pattern=json.dumps(pattern) if isinstance(pattern, dict) else pattern,
                    state=str(props.get("State", "ENABLED")),
                    description=str(props.get("Description", "")),
                    targets=targets,
                )
            )
        for owner_id, event_id, event in self._events(*SCHEDULE_EVENT_TYPES):
            props = self.resolve(event.get("Properties") or {})
            rule_id = f"{owner_id}{event_id}"
            name = str(props.get("Name") or f"{self.stack_name}-{rule_id}")
            expression = props.get("Schedule") if event["Type"] == "Schedule" else props.get("ScheduleExpression")
            if not expression:
                raise TemplateError(f"{owner_id}.Events.{event_id}: no schedule expression")
            enabled = props.get("Enabled", True)
            state = str(props.get("State") or ("ENABLED" if str(enabled).lower() == "true" else "DISABLED"))
            target_input = props.get("Input")
            specs.append(
                RuleSpec(
                    logical_id=rule_id,
                    name=name,
                    arn=self.rule_arn(name),
                    schedule_expression=str(expression),
                    state=state,
                    description=str(props.get("Description", "")),
                    targets=(
                        TargetSpec(
                            id=f"{owner_id}{event_id}Target"[:64],
                            arn=self.get_att(owner_id, "Arn"),
                            input=target_input
                            if isinstance(target_input, str) or target_input is None
                            else json.dumps(target_input),
                        ),
                    ),
                )
            )
        return specs

    def _events(self, *event_types: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for owner_id in self.logical_ids(*FUNCTION_TYPES, *STATE_MACHINE_TYPES):
            events = self.properties(owner_id).get("Events") or {}
            for event_id, event in events.items():
                if event.get("Type") in event_types:
                    yield owner_id, event_id, event

    def routes(self) -> list[RouteSpec]:
        routes: list[RouteSpec] = []
        for owner_id, event_id, event in self._events("HttpApi", "Api"):
            if self.type_of(owner_id) not in FUNCTION_TYPES:
                continue
            props = event.get("Properties") or {}
            is_http = event["Type"] == "HttpApi"
            api_ref = props.get("ApiId" if is_http else "RestApiId")
            api_id = (
                api_ref["Ref"]
                if isinstance(api_ref, dict) and "Ref" in api_ref
                else ("ServerlessHttpApi" if is_http else "ServerlessRestApi")
            )
            method = str(props.get("Method", "ANY")).upper()
            if method in ("X-AMAZON-APIGATEWAY-ANY-METHOD", "*"):
                method = "ANY"
            path = str(props.get("Path", "$default"))
            payload_format = str(props.get("PayloadFormatVersion", "2.0")) if is_http else "1.0"
            throttling = self.route_throttling(api_id) if is_http else None
            routes.append(
                RouteSpec(
                    owner_id, self.physical_name(owner_id), event_id, method, path, api_id, payload_format, throttling
                )
            )
        return routes

    def route_throttling(self, api_logical_id: str) -> Throttling | None:
        """The HttpApi's `DefaultRouteSettings` throttling (None when it sets none, or the API is implicit)."""
        if api_logical_id not in self.resources:
            return None
        settings = self.resolve(self.properties(api_logical_id).get("DefaultRouteSettings") or {})
        rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
        if rate is None and burst is None:
            return None
        return Throttling(
            rate=float("inf") if rate is None else float(rate), burst=float("inf") if burst is None else float(burst)
        )

    def layer_dirs(self) -> list[Path]:
        """The directories of the template's layers to import from, like /opt/python on Lambda: a layer
        `sam build` made holds its packages in python/ (that directory is returned); a source layer
        (ContentUri: ../shared/) is importable as it is."""
        dirs = []
        for logical_id in self.logical_ids("AWS::Serverless::LayerVersion"):
            uri = self.properties(logical_id).get("ContentUri")
            if isinstance(uri, str) and not uri.startswith("s3://"):
                content = (self.base_dir / uri).resolve()
                dirs.append(content / "python" if (content / "python").is_dir() else content)
        return dirs

    def resource_map(self) -> dict[str, str]:
        """Logical id -> physical name or ARN (as endpoints.json lists them)."""
        out: dict[str, str] = {}
        for logical_id in self.resources:
            if not self.included(logical_id):
                continue
            rtype = self.type_of(logical_id)
            if rtype in (*FUNCTION_TYPES, "AWS::DynamoDB::Table", "AWS::Events::EventBus", "AWS::S3::Bucket"):
                out[logical_id] = self.physical_name(logical_id)
            elif rtype in HANDLED_TYPES or rtype in IGNORED_TYPES:
                out[logical_id] = str(self.ref(logical_id))
        for rule in self.rules():
            out.setdefault(rule.logical_id, rule.name)
        return out

    def outputs(self) -> dict[str, Any]:
        return {
            name: self.resolve(spec.get("Value"))
            for name, spec in (self.raw.get("Outputs") or {}).items()
            if spec.get("Condition") is None or self.condition(spec["Condition"])
        }


def _bus_name(value: str) -> str:
    """An event bus name from a name or an ARN."""
    return value.rsplit("event-bus/", 1)[-1] if value.startswith("arn:") else value


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _substitute(text: str, substitutions: Mapping[str, str]) -> str:
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    return text
