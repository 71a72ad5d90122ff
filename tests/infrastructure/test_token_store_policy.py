"""The re-sync worker saves refreshed OAuth2 tokens to the source's secret (store/tokens.py): it may put a
new secret value there, on the stack's own secrets only, and may not create or delete secrets."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.cfn_yaml import load_template
from tests.infrastructure.sam import TEMPLATE_PATH, resources_of_type

WORKER = resources_of_type(load_template(TEMPLATE_PATH), "AWS::Serverless::Function")["ResyncWorkerFunction"]


def _secrets_statements() -> list[dict[str, Any]]:
    found = []
    for policy in WORKER["Properties"]["Policies"]:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(str(action).startswith("secretsmanager:") for action in actions):
                found.append({**statement, "Action": actions})
    return found


def test_the_resync_worker_may_read_and_put_its_stacks_secrets_only() -> None:
    statements = _secrets_statements()
    actions = sorted(action for statement in statements for action in statement["Action"])
    assert actions == ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    for statement in statements:
        resource = str(statement["Resource"])
        assert "secret:sourcesync/${AWS::StackName}/*" in resource, resource
