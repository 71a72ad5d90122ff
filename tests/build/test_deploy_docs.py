"""What docs/deploy.md promises about removing a deployment holds for the template: `sam delete` removes
every resource of the stack, so nothing the service stored survives in it."""

from __future__ import annotations

from typing import Any

from devstack.template import load_yaml
from tests.build import sam

KEEPING_POLICIES = ("Retain", "RetainExceptOnCreate", "Snapshot")


def test_no_resource_outlives_the_stack_as_docs_deploy_md_says() -> None:
    template: dict[str, Any] = load_yaml(sam.TEMPLATE.read_text(encoding="utf-8"))
    kept = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource.get("DeletionPolicy") in KEEPING_POLICIES
        or resource.get("UpdateReplacePolicy") in KEEPING_POLICIES
        or str((resource.get("Properties") or {}).get("DeletionProtectionEnabled", "false")).lower() == "true"
    ]
    assert kept == [], f"{kept} survive `sam delete`: say so in docs/deploy.md (Removing it) and README, then here"
    doc = (sam.ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "`Retain`" in doc and "deletion protection" in doc and "sam delete" in doc
