"""Starting the state machines' executions (Step Functions): the one place that does."""

from __future__ import annotations

import json
from typing import Any

from sourcesync.aws import client


def start_execution(state_machine_arn: str, name: str, execution_input: dict[str, Any]) -> None:
    """Start an execution named `name` (Step Functions refuses a second execution of the same name)."""
    client("stepfunctions").start_execution(
        stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input)
    )
