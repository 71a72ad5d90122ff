"""Least privilege over the translated template (SAM policy templates expanded).

Every statement names its actions and its resources; and each function (and state machine) reaches exactly
the tables, bucket, secrets, state machines and bus it uses. What it uses is declared in USES below, and
checked against the code: each declared use must be named by a setting the function's code can read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure import iam
from tests.infrastructure.sam import INFRA_DIR
from tests.security.code_reach import setting_of_resource, settings_used

R, W = "read", "write"
#: What each function and state machine uses, and how (read only, or read and write).
USES: dict[str, dict[str, str]] = {
    "ApiFunction": {
        "AccountsTable": W,  # keys (list, revoke, rotate, last used), audit items, support's started jobs
        "SourcesTable": W,
        "JobsTable": W,
        "RecordsTable": W,  # the Import API
        "IdempotencyTable": W,
        "ManifestBucket": R,  # subscription owners
        "ResyncSourceStateMachine": W,  # first import of a new source
        "AuditEventBus": W,  # key operations
        iam.SOURCE_SECRETS: W,  # a source's credentials: create, replace, delete
    },
    "ResyncSourceFunction": {
        "AccountsTable": W,  # last used; the reprocess audit item and started-job pointer
        "SourcesTable": W,
        "JobsTable": W,
        "IdempotencyTable": W,
        "ResyncSourceStateMachine": W,
        "AuditEventBus": W,  # the reprocess audit event
    },
    "ResyncCustomerFunction": {
        "AccountsTable": W,  # authentication only: last_used_at (UpdateItem and reads)
        "SourcesTable": W,
        "JobsTable": W,
        "RecordsTable": R,
        "IdempotencyTable": W,
        "ResyncSourceStateMachine": W,
    },
    "DeleteSourceFunction": {
        "AccountsTable": W,
        "SourcesTable": W,
        "JobsTable": W,
        "IdempotencyTable": W,
        "PurgeSourceStateMachine": W,
        "AuditEventBus": W,
    },
    "PurgeWorkerFunction": {
        "SourcesTable": W,
        "JobsTable": W,
        "RecordsTable": W,
        "IdempotencyTable": W,  # a deleted source's saved answers
        "ManifestBucket": W,
        iam.SOURCE_SECRETS: W,  # DeleteSecret only
    },
    "ResyncWorkerFunction": {
        "SourcesTable": W,
        "JobsTable": W,
        "RecordsTable": W,
        "ManifestBucket": W,
        "ResyncSourceStateMachine": W,  # a customer re-sync waiting for the source's re-sync
        iam.SOURCE_SECRETS: W,  # reads credentials; saves OAuth2 tokens a provider refreshed (PutSecretValue)
    },
    "SchedulerFunction": {
        "SourcesTable": W,
        "JobsTable": W,
        "ResyncSourceStateMachine": W,
        "PurgeSourceStateMachine": W,  # restarts a purge whose start was lost
    },
    "PurgeSourceStateMachine": {"PurgeWorkerFunction": W},
    "ResyncSourceStateMachine": {"ResyncWorkerFunction": W},
}
#: Reached by every role when the operator gives one (Condition HasKmsKey): the services encrypt with it.
KMS_PARAMETER = "KmsKeyArn"


def _principals(template: dict[str, Any]) -> list[str]:
    return sorted(
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine")
    )


def _own_dead_letter_queue(template: dict[str, Any], logical_id: str) -> set[str]:
    target = ((template["Resources"][logical_id].get("Properties") or {}).get("DeadLetterQueue") or {}).get("TargetArn")
    return {str(target["Fn::GetAtt"][0])} if isinstance(target, dict) and "Fn::GetAtt" in target else set()


def test_uses_cover_every_function_and_state_machine(template: dict[str, Any]) -> None:
    assert sorted(USES) == _principals(template)


@pytest.mark.parametrize("logical_id", sorted(USES))
def test_role_reaches_exactly_what_it_uses(
    template: dict[str, Any], translated: dict[str, Any], logical_id: str
) -> None:
    # Given what the role's statements reach (the function's own dead-letter queue and the optional key aside)
    reached = iam.reach(translated, iam.role_of(translated, logical_id))
    for exempt in {KMS_PARAMETER} | _own_dead_letter_queue(template, logical_id):
        reached.pop(exempt, None)

    # Then it is what the function uses, no more (and no less: a missing grant fails in AWS, not here)
    assert not [target for target in reached if target.startswith("?")], f"unrecognised resources: {reached}"
    assert reached == USES[logical_id]


def test_the_customer_managed_key_is_granted_only_when_given(translated: dict[str, Any]) -> None:
    for statement in iam.statements(translated):
        if iam.targets(statement.body.get("Resource"), translated) & {KMS_PARAMETER}:
            assert set(statement.actions) <= {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
    for logical_id in USES:
        role = translated["Resources"][iam.role_of(translated, logical_id)]["Properties"]
        plain = [p for p in role.get("Policies") or [] if "Fn::If" not in p]
        assert not [p for p in plain if KMS_PARAMETER in str(p)], f"{logical_id}: a KMS grant outside !If HasKmsKey"


@pytest.mark.parametrize("logical_id", [f for f in sorted(USES) if f.endswith("Function")])
def test_declared_uses_are_settings_the_code_reads(template: dict[str, Any], logical_id: str) -> None:
    # Given the settings the function's code can read, and the setting that names each template resource
    properties = template["Resources"][logical_id]["Properties"]
    handler_module = str(properties["Handler"]).rpartition(".")[0]
    handler_file = (INFRA_DIR / str(properties["CodeUri"]) / f"{handler_module}.py").resolve()
    readable = settings_used(Path(handler_file))
    setting = {**setting_of_resource(template), iam.SOURCE_SECRETS: "secrets_prefix"}

    # Then every declared use is named by a setting the code reads (no grant for what the code cannot name)
    unnamed = [use for use in USES[logical_id] if setting.get(use) not in readable]
    assert unnamed == [], f"{logical_id} declares uses its code never names: {unnamed}"


@pytest.mark.parametrize("logical_id", ["PurgeSourceStateMachine", "ResyncSourceStateMachine"])
def test_a_state_machine_invokes_only_its_worker(template: dict[str, Any], logical_id: str) -> None:
    substitutions = template["Resources"][logical_id]["Properties"]["DefinitionSubstitutions"]
    workers = {value["Fn::GetAtt"][0] for value in substitutions.values() if "Fn::GetAtt" in value}
    assert set(USES[logical_id]) == workers


def test_every_statement_names_its_actions(translated: dict[str, Any]) -> None:
    wildcards = [s.describe() for s in iam.statements(translated) if any("*" in action for action in s.actions)]
    assert iam.statements(translated) and wildcards == []


def test_no_data_plane_action_on_every_resource(translated: dict[str, Any]) -> None:
    # Given statements on Resource "*": only actions AWS cannot scope (X-Ray, log delivery) may be there
    unscoped = [
        s.describe()
        for s in iam.statements(translated)
        if s.on_every_resource and any(a not in iam.RESOURCE_STAR_ALLOWED_ACTIONS for a in s.actions)
    ]
    assert unscoped == []


def test_the_checks_see_conditional_policies(translated: dict[str, Any]) -> None:
    # the KMS grants live inside `!If`: the statement list must include them, or the checks above are blind
    sids = {s.body.get("Sid") for s in iam.statements(translated)}
    assert "CustomerManagedKey" in sids
