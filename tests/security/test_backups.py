"""A delete is irrevocable: what the template's defaults keep of erased data, matched with what
docs/architecture.md promises (section "Backups: what a delete leaves behind")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from devstack.template import Template
from tests.infrastructure.sam import TEMPLATE_PATH

REPO = Path(__file__).resolve().parents[2]
ARCHITECTURE = REPO / "docs" / "architecture.md"
DATA_TABLES = ("SourcesTable", "JobsTable", "RecordsTable", "IdempotencyTable")


@pytest.fixture(scope="module")
def defaults() -> Template:
    """The template resolved with every parameter at its default, as `sam deploy` without overrides."""
    return Template(TEMPLATE_PATH)


def _resolved(template: Template, logical_id: str) -> dict[str, Any]:
    resolved: dict[str, Any] = template.resolve(template.properties(logical_id))
    return resolved


def _backups_section() -> str:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    match = re.search(r"^## Backups.*?(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "docs/architecture.md has no '## Backups' section"
    return match.group(0)


@pytest.mark.parametrize("table_id", DATA_TABLES)
def test_data_tables_keep_no_point_in_time_backup_by_default(defaults: Template, table_id: str) -> None:
    pitr = _resolved(defaults, table_id).get("PointInTimeRecoverySpecification") or {}

    assert str(pitr.get("PointInTimeRecoveryEnabled", False)).lower() == "false"


@pytest.mark.parametrize("table_id", DATA_TABLES[:3])
def test_turning_point_in_time_recovery_on_keeps_erased_data_at_most_the_documented_days(table_id: str) -> None:
    # Given the operator's choice: PITR on, with the longest window
    chosen = Template(TEMPLATE_PATH, parameters={"PointInTimeRecovery": "true"})
    pitr = _resolved(chosen, table_id)["PointInTimeRecoverySpecification"]
    days = int(chosen.parameters["PointInTimeRecoveryDays"])

    # Then backups reach back that many days, which is what the docs say a delete leaves restorable
    assert str(pitr["PointInTimeRecoveryEnabled"]).lower() == "true" and int(pitr["RecoveryPeriodInDays"]) == days
    assert days == 35 and "35 days" in _backups_section()


def test_the_manifests_bucket_keeps_no_old_versions(defaults: Template) -> None:
    bucket = _resolved(defaults, "ManifestBucket")
    versioning = (bucket.get("VersioningConfiguration") or {}).get("Status", "Suspended")
    rules = (bucket.get("LifecycleConfiguration") or {}).get("Rules") or []
    noncurrent_days = [
        int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        for rule in rules
        if rule.get("Status") == "Enabled" and "NoncurrentVersionExpiration" in rule
    ]

    # Then either no versions are kept, or they expire within what the docs promise
    assert versioning != "Enabled" or (noncurrent_days and max(noncurrent_days) <= 35)
    assert "versioning" in _backups_section().lower()


def test_the_docs_say_what_a_delete_leaves_in_backups() -> None:
    section = _backups_section().lower()

    for subject in ("point-in-time recovery", "pointintimerecovery", "secrets manager", "audit"):
        assert subject in section, f"the Backups section does not cover {subject!r}"
