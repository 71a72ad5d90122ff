"""Settings fail fast: a missing resource name fails the entry point's cold start, naming the variable;
each entry point requires only what it reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.stack import load_template
from sourcesync.config import FUNCTION_SETTINGS, OPERATOR_SETTINGS, SettingsError, check_settings

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_ENVIRONMENT = load_template().merged_environment()


def _import_function(name: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": f"{REPO}:{REPO / 'shared'}", **environment}
    return subprocess.run(
        [sys.executable, "-c", f"import functions.{name}.app"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_function_missing_a_variable_fails_at_cold_start_naming_it() -> None:
    environment = {k: v for k, v in TEMPLATE_ENVIRONMENT.items() if k != "JOBS_TABLE"}
    done = _import_function("resync_worker", environment)
    assert done.returncode != 0
    assert "SettingsError: Missing required setting: JOBS_TABLE" in done.stderr


def test_a_function_with_the_template_environment_starts() -> None:
    done = _import_function("scheduler", TEMPLATE_ENVIRONMENT)
    assert done.returncode == 0, done.stderr


def test_every_missing_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        check_settings(FUNCTION_SETTINGS["delete_source"], {"ACCOUNTS_TABLE": "accounts"})
    message = str(caught.value)
    for variable in ("PURGE_STATE_MACHINE_ARN", "AUDIT_EVENT_BUS", "JOBS_TABLE", "STACK_NAME"):
        assert variable in message
    assert "ACCOUNTS_TABLE" not in message


def test_an_empty_variable_counts_as_missing() -> None:
    with pytest.raises(SettingsError, match="ACCOUNTS_TABLE"):
        check_settings(OPERATOR_SETTINGS, {"ACCOUNTS_TABLE": ""})


def test_the_operator_commands_need_only_the_accounts_table() -> None:
    settings = check_settings(OPERATOR_SETTINGS, {"ACCOUNTS_TABLE": "accounts"})
    assert settings.accounts_table == "accounts"
    with pytest.raises(SettingsError, match="JOBS_TABLE"):
        _ = settings.jobs_table  # not checked, not set: reading it names the variable


def test_an_invalid_value_is_named() -> None:
    with pytest.raises(SettingsError, match="RATE_LIMIT_REQUESTS"):
        check_settings(OPERATOR_SETTINGS, {"ACCOUNTS_TABLE": "accounts", "RATE_LIMIT_REQUESTS": "many"})


def test_tuning_settings_keep_their_defaults() -> None:
    settings = check_settings(OPERATOR_SETTINGS, {"ACCOUNTS_TABLE": "accounts"})
    assert (settings.max_body_bytes, settings.allow_api_base, settings.rate_limit_requests) == (1_048_576, False, 600)
