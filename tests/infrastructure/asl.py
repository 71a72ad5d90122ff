"""Read and check Amazon States Language definitions (JSONPath) the way the template wires them.

A state machine's file under infra/statemachine/ holds `${Name}` placeholders that CloudFormation replaces
with the resource's `DefinitionSubstitutions`. Here the placeholders are replaced with stand-in values
shaped like what CloudFormation would put there (a function's ARN for `!GetAtt XFunction.Arn`, ...),
so that checks can see which Task states invoke Lambda.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

# AWS's recommended retrier for Lambda tasks (the Step Functions documentation and console's default).
LAMBDA_RETRY_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.TooManyRequestsException",
    "Lambda.SdkClientException",
)

# Product names that read as one word although they are written in camel case.
PROPER_NOUNS = frozenset(
    {"CloudFormation", "CloudWatch", "DynamoDB", "EventBridge", "GoCardless", "HubSpot", "PayPal", "SourceSync"}
)
MAX_STATE_NAME_LENGTH = 80  # Step Functions' limit

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_LAMBDA_TASK_RESOURCE = re.compile(
    r"^arn:[^:]+:(?:states:::(?:aws-sdk:)?lambda:invoke(?:\.\w+)?|lambda:[^:]*:[^:]*:function:.+)$"
)
_CAMEL_HUMP = re.compile(r"[a-z][A-Z]")
# A JSONPath variable reference (`$name`), as opposed to `$`, `$.path`, `$$.context` or `$[0]`.
_VARIABLE_REFERENCE = re.compile(r"(?<![\w$])\$[A-Za-z_]")
# Fields that only exist in JSONata definitions or that set variables; moto 5.2.5 cannot run them.
_FORBIDDEN_STATE_FIELDS = {
    "QueryLanguage": "JSONata (QueryLanguage)",
    "Assign": "variables (Assign)",
    "Arguments": "JSONata (Arguments)",
    "Output": "JSONata (Output)",
}
_EXECUTION_START_TIME = "$$.Execution.StartTime"

# ---------------------------------------------------------------------------------------------- placeholders


def placeholders(text: str) -> set[str]:
    """The `${Name}` placeholders in a definition file's text."""
    return set(PLACEHOLDER.findall(text))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace each `${Name}` that has a value, as CloudFormation does with DefinitionSubstitutions."""
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def _arn_for(logical_id: str, resource_type: str) -> str:
    prefix = f"arn:aws:{{}}:{REGION}:{ACCOUNT_ID}:"
    by_type = {
        "AWS::Serverless::Function": prefix.format("lambda") + f"function:{logical_id}",
        "AWS::Lambda::Function": prefix.format("lambda") + f"function:{logical_id}",
        "AWS::Serverless::StateMachine": prefix.format("states") + f"stateMachine:{logical_id}",
        "AWS::StepFunctions::StateMachine": prefix.format("states") + f"stateMachine:{logical_id}",
        "AWS::DynamoDB::Table": prefix.format("dynamodb") + f"table/{logical_id}",
        "AWS::Serverless::SimpleTable": prefix.format("dynamodb") + f"table/{logical_id}",
        "AWS::Events::EventBus": prefix.format("events") + f"event-bus/{logical_id}",
        "AWS::SQS::Queue": prefix.format("sqs") + logical_id,
        "AWS::SNS::Topic": prefix.format("sns") + logical_id,
    }
    return by_type.get(resource_type, prefix.format("stand-in") + logical_id)


_PSEUDO_PARAMETERS = {
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::StackName": "sourcesync",
    "AWS::URLSuffix": "amazonaws.com",
}
# A `Ref` to these types answers the ARN rather than a name.
_REF_IS_ARN = {"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine", "AWS::SNS::Topic"}


@dataclass(frozen=True)
class StandIns:
    """Resolves intrinsic functions of a template to values shaped like the deployed ones."""

    template: Mapping[str, Any]

    def _type_of(self, logical_id: str) -> str:
        resource = (self.template.get("Resources") or {}).get(logical_id)
        return str(resource.get("Type", "")) if isinstance(resource, dict) else ""

    def ref(self, name: str) -> str:
        if name in _PSEUDO_PARAMETERS:
            return _PSEUDO_PARAMETERS[name]
        parameter = (self.template.get("Parameters") or {}).get(name)
        if isinstance(parameter, dict):
            return str(parameter.get("Default", f"stand-in-{name}"))
        resource_type = self._type_of(name)
        return _arn_for(name, resource_type) if resource_type in _REF_IS_ARN else name

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return _arn_for(logical_id, self._type_of(logical_id))
        return f"stand-in-{logical_id}-{attribute}"

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self.resolve(variables[name])
            if "." in name:
                logical_id, _, attribute = name.partition(".")
                return self.get_att(logical_id, attribute)
            return self.ref(name)

        return PLACEHOLDER.sub(replace, text)

    def resolve(self, value: Any) -> str:
        """A string standing in for what CloudFormation would substitute for `value`."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref" and isinstance(argument, str):
                return self.ref(argument)
            if function == "Fn::GetAtt" and isinstance(argument, list) and len(argument) == 2:
                return self.get_att(str(argument[0]), str(argument[1]))
            if function == "Fn::Sub" and isinstance(argument, str):
                return self._sub(argument, {})
            if function == "Fn::Sub" and isinstance(argument, list) and len(argument) == 2:
                return self._sub(str(argument[0]), argument[1] or {})
            if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
                return str(argument[0]).join(self.resolve(part) for part in argument[1])
        return "stand-in-" + hashlib.sha256(repr(value).encode()).hexdigest()[:12]

    def substitutions(self, definition_substitutions: Mapping[str, Any]) -> dict[str, str]:
        return {name: self.resolve(value) for name, value in definition_substitutions.items()}


# ---------------------------------------------------------------------------------------------- structure


@dataclass(frozen=True)
class Scope:
    """A set of states with its own StartAt: the machine itself, a Map's processor, a Parallel branch."""

    path: tuple[str, ...]
    body: Mapping[str, Any]

    @property
    def start_at(self) -> Any:
        return self.body.get("StartAt")

    @property
    def states(self) -> Mapping[str, Any]:
        states = self.body.get("States")
        return states if isinstance(states, dict) else {}


@dataclass(frozen=True)
class StateRef:
    """One state of one state machine, with the scope it lives in (for ids and transition checks)."""

    machine: str
    scope: Scope
    name: str

    @property
    def state(self) -> Mapping[str, Any]:
        state = self.scope.states.get(self.name)
        return state if isinstance(state, dict) else {}

    @property
    def test_id(self) -> str:
        return "/".join((self.machine, *self.scope.path, self.name))


def iter_scopes(body: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[Scope]:
    """The scope itself, then recursively the scopes of its Map and Parallel states."""
    scope = Scope(path, body)
    yield scope
    for name, state in scope.states.items():
        if not isinstance(state, dict):
            continue
        if state.get("Type") == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if isinstance(processor, dict):
                yield from iter_scopes(processor, (*path, name))
        if state.get("Type") == "Parallel":
            for index, branch in enumerate(state.get("Branches") or [], start=1):
                if isinstance(branch, dict):
                    yield from iter_scopes(branch, (*path, f"{name} [branch {index}]"))


def iter_states(machine: str, definition: Mapping[str, Any]) -> Iterator[StateRef]:
    for scope in iter_scopes(definition):
        for name in scope.states:
            yield StateRef(machine, scope, name)


def transitions(state: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Every (where, target) a state can move to within its scope."""
    found: list[tuple[str, Any]] = []
    for key in ("Next", "Default"):
        if key in state:
            found.append((key, state[key]))
    for key in ("Choices", "Catch"):
        for index, rule in enumerate(state.get(key) or []):
            if isinstance(rule, dict) and "Next" in rule:
                found.append((f"{key}[{index}].Next", rule["Next"]))
    return found


def transition_problems(scope: Scope) -> list[str]:
    """Targets that do not exist, states that neither move on nor end, and a StartAt that is missing."""
    problems: list[str] = []
    where = "/".join(scope.path) or "the machine"
    if scope.start_at not in scope.states:
        problems.append(f"{where}: StartAt {scope.start_at!r} is not a state")
    for name, state in scope.states.items():
        if not isinstance(state, dict):
            problems.append(f"{name!r} is not an object")
            continue
        for key, target in transitions(state):
            if target not in scope.states:
                problems.append(f"{name!r} {key} → {target!r}, which is not a state of {where}")
        terminal = state.get("Type") in {"Choice", "Succeed", "Fail"}
        if not terminal and ("Next" in state) == (state.get("End") is True):
            problems.append(f"{name!r} needs exactly one of Next or End: true")
    return problems


def reachable(scope: Scope) -> set[str]:
    """The states reachable from the scope's StartAt by following transitions (Catch included)."""
    seen: set[str] = set()
    queue = deque([scope.start_at] if scope.start_at in scope.states else [])
    while queue:
        name = queue.popleft()
        if name in seen:
            continue
        seen.add(name)
        state = scope.states.get(name)
        if isinstance(state, dict):
            queue.extend(target for _, target in transitions(state) if target in scope.states)
    return seen


# ---------------------------------------------------------------------------------------------- rules


def state_name_problems(name: str) -> list[str]:
    """Why a state name would not read as a sentence in the console (empty when it does)."""
    problems: list[str] = []
    if not name[:1].isupper():
        problems.append("does not start with a capital letter")
    if " " not in name.strip():
        problems.append("is one word (a sentence has spaces)")
    if "_" in name:
        problems.append("contains an underscore")
    humps = [word for word in re.split(r"[^\w]+", name) if _CAMEL_HUMP.search(word) and word not in PROPER_NOUNS]
    if humps:
        problems.append(f"has camelCase words {humps}")
    if len(name) > MAX_STATE_NAME_LENGTH:
        problems.append(f"is longer than {MAX_STATE_NAME_LENGTH} characters")
    return problems


def is_readable_state_name(name: str) -> bool:
    return not state_name_problems(name)


def invokes_lambda(state: Mapping[str, Any]) -> bool:
    """A Task that calls Lambda: the optimised `lambda:invoke` integration, the SDK one, or a function ARN."""
    resource = state.get("Resource")
    return state.get("Type") == "Task" and isinstance(resource, str) and bool(_LAMBDA_TASK_RESOURCE.match(resource))


def missing_lambda_retries(state: Mapping[str, Any]) -> list[str]:
    """The recommended Lambda errors no retrier of the state retries (a `States.ALL` retrier covers all)."""
    retried: set[str] = set()
    for retrier in state.get("Retry") or []:
        if isinstance(retrier, dict) and retrier.get("MaxAttempts", 3) != 0:
            retried.update(retrier.get("ErrorEquals") or [])
    if "States.ALL" in retried:
        return []
    return [error for error in LAMBDA_RETRY_ERRORS if error not in retried]


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """Every (path, key, value) in a JSON document; key is None for list items and the root."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", key, item
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield f"{path}[{index}]", None, item
            yield from _walk(item, f"{path}[{index}]")


def _rule_holders(definition: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Objects whose fields the interpreter reads: scopes, states, choice rules and catchers."""
    for scope in iter_scopes(definition):
        where = "/".join(scope.path) or "(top level)"
        yield where, scope.body
        for name, state in scope.states.items():
            if not isinstance(state, dict):
                continue
            yield f"{where}/{name}", state
            for key in ("Choices", "Catch"):
                for index, rule in enumerate(state.get(key) or []):
                    if isinstance(rule, dict):
                        yield f"{where}/{name}/{key}[{index}]", rule


def unsupported_features(definition: Mapping[str, Any]) -> list[str]:
    """JSONata, variables and `$$.Execution.StartTime`: what moto 5.2.5's interpreter cannot run."""
    problems = [
        f"{where}: {label}"
        for where, holder in _rule_holders(definition)
        for key, label in _FORBIDDEN_STATE_FIELDS.items()
        if key in holder
    ]
    for path, key, value in _walk(definition, "$"):
        if not isinstance(value, str):
            continue
        if _EXECUTION_START_TIME in value:
            problems.append(f"{path}: reads {_EXECUTION_START_TIME}")
        is_path_field = isinstance(key, str) and (key.endswith((".$", "Path")) or key == "Variable")
        if is_path_field and _VARIABLE_REFERENCE.search(value):
            problems.append(f"{path}: reads a variable ({value!r})")
    return problems


# ---------------------------------------------------------------------------------------------- loading


def substituted_definition(text: str, definition_substitutions: Mapping[str, Any], template: Mapping[str, Any]) -> Any:
    """The definition as CloudFormation would hand it to Step Functions (stand-ins for the values)."""
    return json.loads(substitute(text, StandIns(template).substitutions(definition_substitutions)))


def loadable_definitions(template: Mapping[str, Any], base_dir: Path) -> dict[str, dict[str, Any]]:
    """Each AWS::Serverless::StateMachine's substituted definition, by logical id.

    A machine whose file is missing or not JSON is left out: the per-machine tests say why.
    """
    definitions: dict[str, dict[str, Any]] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        properties = resource.get("Properties") or {}
        uri = properties.get("DefinitionUri")
        substitutions = properties.get("DefinitionSubstitutions") or {}
        if not isinstance(uri, str) or not isinstance(substitutions, dict):
            continue
        try:
            text = (base_dir / uri).read_text(encoding="utf-8")
            definition = substituted_definition(text, substitutions, template)
        except (OSError, ValueError):
            continue
        if isinstance(definition, dict):
            definitions[logical_id] = definition
    return definitions
