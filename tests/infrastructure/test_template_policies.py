"""What the template must keep true: least privilege, code where the handlers say, tables, routes, outputs.

State machine definitions are checked in test_state_machines.py.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure import iam
from tests.infrastructure.cases import or_skip
from tests.infrastructure.cfn_yaml import load_template
from tests.infrastructure.sam import INFRA_DIR, TEMPLATE_PATH, FunctionEvent, events_of_type, resources_of_type

TEMPLATE = load_template(TEMPLATE_PATH)
GLOBAL_FUNCTION: dict[str, Any] = (TEMPLATE.get("Globals") or {}).get("Function") or {}
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
LAYERS = resources_of_type(TEMPLATE, "AWS::Serverless::LayerVersion")
TABLES = resources_of_type(TEMPLATE, "AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
HTTP_APIS = resources_of_type(TEMPLATE, "AWS::Serverless::HttpApi")
STATE_MACHINES = resources_of_type(TEMPLATE, "AWS::Serverless::StateMachine")
HTTP_API_EVENTS = events_of_type(TEMPLATE, "HttpApi")

RUNTIME = "python3.11"
API_PREFIX = "/v1/"
CONSOLE_PATHS = ("/console", "/console/{proxy+}")
IDEMPOTENCY_TABLE_VARIABLE = "IDEMPOTENCY_TABLE"
# Powertools' DynamoDBPersistenceLayer defaults.
IDEMPOTENCY_KEY = "id"
IDEMPOTENCY_EXPIRY = "expiration"
SCHEDULE_EVENT_TYPES = ("Schedule", "ScheduleV2")
_SCHEDULE_EXPRESSION = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$")


def _effective(function_id: str, prop: str) -> Any:
    """A function's property, or the Globals value it inherits."""
    return FUNCTIONS[function_id].get("Properties", {}).get(prop, GLOBAL_FUNCTION.get(prop))


# ---------------------------------------------------------------------------------------------- IAM


def test_no_statement_grants_a_wildcard_action_on_every_resource(translated: dict[str, Any]) -> None:
    assert iam.wildcard_actions_on_every_resource(translated) == []


def test_statements_on_every_resource_only_grant_actions_aws_cannot_scope(translated: dict[str, Any]) -> None:
    # Given every statement, SAM policy templates expanded: those on "*" may only grant the allowlist
    assert iam.unscoped_statements(translated) == [], (
        f"scope these to resources, or add the action to iam.RESOURCE_STAR_ALLOWED_ACTIONS with the reason "
        f"AWS cannot scope it: {sorted(iam.RESOURCE_STAR_ALLOWED_ACTIONS)}"
    )


def test_no_statement_grants_every_action(translated: dict[str, Any]) -> None:
    assert iam.every_action_granted(translated) == []


def test_no_allow_statement_is_negated(translated: dict[str, Any]) -> None:
    assert iam.negated_statements(translated) == []


def test_roles_attach_only_vetted_aws_managed_policies(translated: dict[str, Any]) -> None:
    assert iam.unexpected_managed_policies(translated) == []


def test_iam_checks_see_every_generated_role(translated: dict[str, Any]) -> None:
    # Given the roles SAM generated for functions and state machines (so the checks above are not vacuous)
    generated = {
        f"{logical_id}Role"
        for logical_id, resource in {**FUNCTIONS, **STATE_MACHINES}.items()
        if "Role" not in (resource.get("Properties") or {})
    }
    with_statements = {statement.where.split("/", 1)[0] for statement in iam.statements(translated)}

    # Then every one that has inline policies was looked at, and there are statements to look at
    inline = {
        role_id
        for role_id, role in resources_of_type(translated, "AWS::IAM::Role").items()
        if role["Properties"].get("Policies")
    }
    assert iam.statements(translated), "no IAM statement found in the translated template"
    assert inline - with_statements == set()
    assert generated <= set(resources_of_type(translated, "AWS::IAM::Role"))


# ---------------------------------------------------------------------------------------------- functions


def _handler_file(code_dir: Path, module: str) -> Path:
    as_file = code_dir.joinpath(*module.split(".")).with_suffix(".py")
    as_package = code_dir.joinpath(*module.split("."), "__init__.py")
    return as_file if as_file.is_file() or not as_package.is_file() else as_package


def _top_level_definition(tree: ast.Module, name: str) -> ast.stmt | None:
    """The module-level statement that defines `name`: a (async) def, or an assignment."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, ast.Assign | ast.AnnAssign) and any(
            isinstance(target, ast.Name) and target.id == name for target in targets
        ):
            return node
    return None


@pytest.mark.parametrize("function_id", or_skip(FUNCTIONS, "no AWS::Serverless::Function"), ids=str)
def test_function_code_defines_its_handler(function_id: str) -> None:
    # Given the function's CodeUri folder and its Handler "module.function"
    code_uri, handler = _effective(function_id, "CodeUri"), _effective(function_id, "Handler")
    assert isinstance(code_uri, str) and isinstance(handler, str), "CodeUri and Handler must be strings"
    code_dir = (INFRA_DIR / code_uri).resolve()
    module, _, function_name = handler.rpartition(".")
    assert code_dir.is_dir(), f"CodeUri {code_uri} → {code_dir} is not a folder"
    assert module and function_name, f"Handler {handler!r} is not module.function"

    # When the module is parsed (not imported)
    source = _handler_file(code_dir, module)
    assert source.is_file(), f"Handler module {module!r} is not in {code_dir}"
    definition = _top_level_definition(ast.parse(source.read_text(encoding="utf-8"), str(source)), function_name)

    # Then it defines the handler; a def takes Lambda's (event, context)
    assert definition is not None, f"{source} defines no top-level {function_name!r}"
    if isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef):
        arguments = definition.args
        positional = len(arguments.posonlyargs) + len(arguments.args)
        assert positional == 2 or arguments.vararg, f"{function_name} should take (event, context)"


def test_globals_give_every_function_the_shared_layer() -> None:
    layers = GLOBAL_FUNCTION.get("Layers") or []

    assert LAYERS, "no AWS::Serverless::LayerVersion in the template"
    for layer_id in LAYERS:
        assert {"Ref": layer_id} in layers, f"Globals.Function.Layers does not include !Ref {layer_id}"


@pytest.mark.parametrize("function_id", or_skip(FUNCTIONS, "no AWS::Serverless::Function"), ids=str)
def test_function_runs_python_311_with_the_shared_layer(translated: dict[str, Any], function_id: str) -> None:
    # Given the function as deployed (Globals merged by the translator)
    function = translated["Resources"][function_id]["Properties"]
    layer_refs = [layer["Ref"] for layer in function.get("Layers", []) if isinstance(layer, dict)]

    # Then it runs python3.11 with every layer of the template (SAM suffixes a layer's id with a hash)
    assert function["Runtime"] == RUNTIME
    for layer_id in LAYERS:
        assert any(ref.startswith(layer_id) for ref in layer_refs), f"{function_id} lacks {layer_id}"


# ---------------------------------------------------------------------------------------------- tables


@pytest.mark.parametrize("table_id", or_skip(TABLES, "no table"), ids=str)
def test_table_is_billed_per_request(translated: dict[str, Any], table_id: str) -> None:
    table = translated["Resources"][table_id]["Properties"]

    assert table.get("BillingMode") == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in table


def _idempotency_table_id() -> str:
    variables = [
        (GLOBAL_FUNCTION.get("Environment") or {}).get("Variables") or {},
        *(((f.get("Properties") or {}).get("Environment") or {}).get("Variables") or {} for f in FUNCTIONS.values()),
    ]
    refs = {
        v[IDEMPOTENCY_TABLE_VARIABLE].get("Ref")
        for v in variables
        if isinstance(v.get(IDEMPOTENCY_TABLE_VARIABLE), dict)
    }
    assert len(refs) == 1, f"{IDEMPOTENCY_TABLE_VARIABLE} should !Ref one table, found {refs or 'none'}"
    (table_id,) = refs
    assert table_id in TABLES, f"{IDEMPOTENCY_TABLE_VARIABLE} refers to {table_id}, which is not a table"
    return str(table_id)


def test_idempotency_table_expires_records_as_powertools_expects() -> None:
    # Given the table the functions' IDEMPOTENCY_TABLE variable names
    table = TABLES[_idempotency_table_id()]["Properties"]

    # Then DynamoDB deletes expired records, on the attributes Powertools writes by default
    assert table.get("TimeToLiveSpecification") == {"AttributeName": IDEMPOTENCY_EXPIRY, "Enabled": True}
    assert table.get("KeySchema") == [{"AttributeName": IDEMPOTENCY_KEY, "KeyType": "HASH"}]


# ---------------------------------------------------------------------------------------------- HTTP API


@pytest.mark.parametrize(
    "function_event", or_skip(HTTP_API_EVENTS, "no HttpApi event"), ids=lambda event: event.test_id
)
def test_http_api_route_is_versioned_and_on_the_api(function_event: FunctionEvent) -> None:
    event = function_event.properties

    path = str(event.get("Path", ""))
    # the catch-all route ($default: the API function answers 404/405 in the envelope) and the console's
    # static files (docs/console.md) are the routes outside the versioned API
    assert path.startswith(API_PREFIX) or path == "$default" or path in CONSOLE_PATHS, (
        f"the public API is versioned under {API_PREFIX}"
    )
    assert event.get("ApiId") in [{"Ref": api_id} for api_id in HTTP_APIS], "ApiId is not !Ref to an HttpApi"


def test_http_api_routes_are_unique() -> None:
    # Given every (method, path) pair; `{uuid}` and `{id}` at the same place are the same route to API Gateway
    routes = Counter(
        (str(event.properties.get("Method", "")).upper(), re.sub(r"\{[^}]*\}", "{}", str(event.properties.get("Path"))))
        for event in HTTP_API_EVENTS
    )

    assert HTTP_API_EVENTS, "no HttpApi event in the template"
    assert [route for route, count in routes.items() if count > 1] == []


# ---------------------------------------------------------------------------------------------- schedule, outputs


def _resolved(value: Any) -> Any:
    if isinstance(value, dict) and "Ref" in value:
        return ((TEMPLATE.get("Parameters") or {}).get(value["Ref"]) or {}).get("Default")
    return value


def test_a_function_runs_on_a_schedule() -> None:
    # Given the functions with a Schedule event (the SchedulerFunction starts due re-syncs)
    scheduled = events_of_type(TEMPLATE, *SCHEDULE_EVENT_TYPES)

    assert scheduled, "no function has a Schedule event"
    for event in scheduled:
        expression = _resolved(event.properties.get("Schedule") or event.properties.get("ScheduleExpression"))
        assert isinstance(expression, str) and _SCHEDULE_EXPRESSION.match(expression), (
            f"{event.test_id}: {expression!r} is not a rate() or cron() expression"
        )


def test_outputs_give_the_api_url() -> None:
    value = (TEMPLATE.get("Outputs") or {}).get("ApiUrl", {}).get("Value")

    assert value is not None, "no ApiUrl output"
    assert isinstance(value, dict) and "Fn::Sub" in value, "ApiUrl should be a !Sub of the API's id"
    assert any(f"${{{api_id}}}.execute-api." in str(value["Fn::Sub"]) for api_id in HTTP_APIS)
