"""cfn-lint on the SAM template, and on the state machine definitions it cannot see through DefinitionUri."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint, lint_file
from cfnlint.rules import Match

from tests.infrastructure.asl import ACCOUNT_ID, loadable_definitions
from tests.infrastructure.cfn_yaml import load_template
from tests.infrastructure.sam import REGION, TEMPLATE_PATH

LINT_CONFIG = ManualArgs(regions=[REGION])


def _describe(matches: Iterable[Match]) -> str:
    """One line per match: rule, severity, file:line:column (when linting a file), path, message."""
    lines = []
    for match in matches:
        where = f"{match.filename}:{match.linenumber}:{match.columnnumber} " if match.filename else ""
        path = getattr(match, "path_string", "")
        lines.append(f"{match.rule.id} [{match.rule.severity}] {where}{path}: {match.message}")
    return "\n".join(lines)


def _of_severity(matches: Iterable[Match], severity: str) -> list[Match]:
    return [match for match in matches if match.rule.severity == severity]


@pytest.fixture(scope="module")
def template_matches() -> list[Match]:
    matches: list[Match] = lint_file(TEMPLATE_PATH, config=LINT_CONFIG)
    return matches


def test_cfn_lint_finds_no_error(template_matches: list[Match]) -> None:
    errors = _of_severity(template_matches, "error")
    assert errors == [], f"cfn-lint errors in {TEMPLATE_PATH}:\n{_describe(errors)}"


def test_cfn_lint_finds_no_warning(template_matches: list[Match]) -> None:
    warnings = _of_severity(template_matches, "warning")
    assert warnings == [], f"cfn-lint warnings in {TEMPLATE_PATH}:\n{_describe(warnings)}"


def test_cfn_lint_reports_errors_and_warnings_of_a_broken_template() -> None:
    # Given a function with a MemorySize that is not a number and no Handler (so the tests above can fail)
    broken = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "BrokenFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "s3://b/k", "Runtime": "python3.11", "MemorySize": "lots"},
            }
        },
    }

    # When linted
    matches = lint(json.dumps(broken), config=LINT_CONFIG)

    # Then the match has an error and a warning
    assert _of_severity(matches, "error"), _describe(matches)
    assert _of_severity(matches, "warning"), _describe(matches)


def _state_machines_as_plain_cloudformation(template: dict[str, Any]) -> dict[str, Any]:
    """Each definition (placeholders replaced by stand-ins) in an AWS::StepFunctions::StateMachine.

    cfn-lint validates a `Definition` object against the States Language schema (rule E3601), but not a
    SAM `DefinitionUri`, which is all our template has.
    """
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            machine_id: {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/stand-in",
                    "Definition": definition,
                },
            }
            for machine_id, definition in loadable_definitions(template, TEMPLATE_PATH.parent).items()
        },
    }


def test_cfn_lint_finds_no_problem_in_state_machine_definitions() -> None:
    # Given the definitions as Step Functions would receive them
    plain = _state_machines_as_plain_cloudformation(load_template(TEMPLATE_PATH))
    if not plain["Resources"]:
        pytest.skip("no loadable state machine definition (test_state_machines.py says why)")

    # When cfn-lint validates them, Then it finds nothing (line numbers refer to the generated JSON)
    matches = lint(json.dumps(plain, indent=1), config=LINT_CONFIG)
    assert matches == [], f"cfn-lint on the state machine definitions:\n{_describe(matches)}"
