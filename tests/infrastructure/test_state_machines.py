"""The state machines: wired through DefinitionUri + DefinitionSubstitutions, and definitions that run on
AWS and on moto alike (JSONPath, no variables), with readable state names and Lambda retries.

Every AWS::Serverless::StateMachine of infra/template.yaml is checked, however many there are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.asl import (
    LAMBDA_RETRY_ERRORS,
    StateRef,
    invokes_lambda,
    iter_scopes,
    iter_states,
    loadable_definitions,
    missing_lambda_retries,
    placeholders,
    reachable,
    state_name_problems,
    substituted_definition,
    transition_problems,
    unsupported_features,
)
from tests.infrastructure.cases import or_skip
from tests.infrastructure.cfn_yaml import load_template
from tests.infrastructure.sam import STATE_MACHINE_DIR, TEMPLATE_PATH, resources_of_type

TEMPLATE = load_template(TEMPLATE_PATH)
STATE_MACHINES = resources_of_type(TEMPLATE, "AWS::Serverless::StateMachine")
DEFINITIONS = loadable_definitions(TEMPLATE, TEMPLATE_PATH.parent)
STATES = [state for machine_id, definition in DEFINITIONS.items() for state in iter_states(machine_id, definition)]
LAMBDA_TASKS = [state for state in STATES if invokes_lambda(state.state)]

NO_MACHINE = "no AWS::Serverless::StateMachine in infra/template.yaml yet (see test_template_declares_state_machines)"
NO_DEFINITION = NO_MACHINE if not STATE_MACHINES else "no definition could be read (see the per-machine tests)"
NO_LAMBDA_TASK = NO_DEFINITION if not STATES else "no Task state invokes Lambda"
machines = pytest.mark.parametrize("machine_id", or_skip(STATE_MACHINES, NO_MACHINE), ids=str)
loaded_machines = pytest.mark.parametrize("machine_id", or_skip(DEFINITIONS, NO_DEFINITION), ids=str)


def _properties(machine_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = STATE_MACHINES[machine_id].get("Properties") or {}
    return properties


def _definition_file(machine_id: str) -> Path:
    uri = _properties(machine_id).get("DefinitionUri")
    assert isinstance(uri, str), f"DefinitionUri should be a path to a file, got {uri!r}"
    return (TEMPLATE_PATH.parent / uri).resolve()


def _substitutions(machine_id: str) -> dict[str, Any]:
    substitutions = _properties(machine_id).get("DefinitionSubstitutions")
    assert isinstance(substitutions, dict), "DefinitionSubstitutions should be a mapping"
    return substitutions


def test_template_declares_state_machines() -> None:
    assert STATE_MACHINES, "infra/template.yaml declares no AWS::Serverless::StateMachine"


# ---------------------------------------------------------------------------------------------- wiring


@machines
def test_definition_is_an_asl_json_file_under_statemachine(machine_id: str) -> None:
    path = _definition_file(machine_id)

    assert "Definition" not in _properties(machine_id), "use DefinitionUri, not an inline Definition"
    assert path.is_relative_to(STATE_MACHINE_DIR), f"{path} is not under {STATE_MACHINE_DIR}"
    assert path.name.endswith(".asl.json"), f"{path.name} should end with .asl.json"
    assert path.is_file(), f"{path} does not exist"


@machines
def test_every_placeholder_has_a_substitution_and_every_substitution_is_used(machine_id: str) -> None:
    # Given the ${Name} placeholders of the file and the resource's DefinitionSubstitutions
    used = placeholders(_definition_file(machine_id).read_text(encoding="utf-8"))
    given = set(_substitutions(machine_id))

    # Then they are the same names
    missing, unused = sorted(used - given), sorted(given - used)
    assert missing == [], f"placeholders without a substitution (CloudFormation leaves them as is): {missing}"
    assert unused == [], f"substitutions the definition does not use: {unused}"


@machines
def test_definition_is_valid_json_before_and_after_substitution(machine_id: str) -> None:
    text = _definition_file(machine_id).read_text(encoding="utf-8")

    # `sam package` (and our translate helper) inline the file as JSON; Step Functions reads it substituted
    assert isinstance(json.loads(text), dict)
    definition = substituted_definition(text, _substitutions(machine_id), TEMPLATE)
    assert isinstance(definition, dict) and {"StartAt", "States"} <= set(definition)


# ---------------------------------------------------------------------------------------------- definitions


@loaded_machines
def test_definition_uses_only_what_moto_runs(machine_id: str) -> None:
    # JSONata, variables and $$.Execution.StartTime work on AWS but break executions on moto 5.2.5
    found = unsupported_features(DEFINITIONS[machine_id])
    assert found == [], "\n".join(["features moto 5.2.5 cannot run:", *found])


@loaded_machines
def test_transitions_lead_to_states_of_the_same_scope(machine_id: str) -> None:
    problems = [problem for scope in iter_scopes(DEFINITIONS[machine_id]) for problem in transition_problems(scope)]

    assert problems == [], "\n".join(["broken transitions:", *problems])


@loaded_machines
def test_every_state_is_reachable_from_start_at(machine_id: str) -> None:
    unreachable = {
        "/".join(scope.path) or "(top level)": sorted(set(scope.states) - reachable(scope))
        for scope in iter_scopes(DEFINITIONS[machine_id])
    }

    found = {scope: names for scope, names in unreachable.items() if names}
    assert found == {}, f"states not reachable from StartAt, by scope: {found}"


# ---------------------------------------------------------------------------------------------- states


@pytest.mark.parametrize("state", or_skip(STATES, NO_DEFINITION), ids=lambda state: state.test_id)
def test_state_name_reads_as_a_sentence(state: StateRef) -> None:
    problems = state_name_problems(state.name)
    assert problems == [], f"{state.name!r} should read as a sentence in the console: it {', '.join(problems)}"


@pytest.mark.parametrize("state", or_skip(LAMBDA_TASKS, NO_LAMBDA_TASK), ids=lambda state: state.test_id)
def test_lambda_task_retries_lambda_service_errors(state: StateRef) -> None:
    missing = missing_lambda_retries(state.state)

    assert missing == [], f"no retrier covers {missing}: add a Retry on {list(LAMBDA_RETRY_ERRORS)} (AWS's advice)"
