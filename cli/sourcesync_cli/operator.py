"""The operator's commands (`account create`, `key create`): there is no key to call the API with yet, so they
write to the accounts table directly, through the layer's services. They find the table through
`ACCOUNTS_TABLE`, or the local stack's `.local/endpoints.json`, or `--stack NAME` (a deployed stack's
outputs, with the AWS credentials of the environment)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from sourcesync_cli.client import ENDPOINTS_FILE, CliError, Unreachable, UsageProblem, local_endpoints

T = TypeVar("T")


def run_as_operator(stack: str | None, action: Callable[[], T]) -> T:
    """Point the layer's settings at the accounts table (and audit bus) of the local stack or of a deployed
    stack, check the settings the operator's commands read, and run `action` with the layer's errors and
    AWS's as one-line errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _environment(stack)
        from sourcesync.errors import SourceSyncError

        try:
            return action()
        except SourceSyncError as error:
            raise CliError(str(error)) from None
        except ValueError as error:
            raise UsageProblem(str(error)) from None
    except (BotoCoreError, ClientError) as error:
        raise Unreachable(f"AWS refused or could not be reached: {error}") from None


def _environment(stack: str | None) -> None:
    from sourcesync.log import logger

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)  # stdout holds the command's answer; audit log lines go aside
    _find_accounts_table(stack)
    from sourcesync.config import OPERATOR_SETTINGS, SettingsError, check_settings, get_settings

    get_settings.cache_clear()
    try:
        check_settings(OPERATOR_SETTINGS)
    except SettingsError as error:
        raise UsageProblem(str(error)) from None


def _find_accounts_table(stack: str | None) -> None:
    if os.environ.get("ACCOUNTS_TABLE"):
        return
    local = local_endpoints()
    if local and not stack:
        _use_local_stack(local)
        return
    if not stack:
        raise UsageProblem(
            f"Set ACCOUNTS_TABLE, start the local stack (make up; it writes {ENDPOINTS_FILE}, or name the file "
            "with SOURCESYNC_ENDPOINTS), or pass --stack NAME."
        )
    import boto3

    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    table = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "AccountsTableName"), None)
    if not table:
        raise UsageProblem(f"Stack {stack} has no AccountsTableName output.")
    os.environ["ACCOUNTS_TABLE"] = table
    bus = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "AuditEventBusName"), None)
    if bus:
        os.environ.setdefault("AUDIT_EVENT_BUS", bus)


def _use_local_stack(local: dict[str, Any]) -> None:
    os.environ.setdefault("AWS_ENDPOINT_URL", local["aws"])
    os.environ.setdefault("AWS_ENDPOINT_URL_DYNAMODB", local["dynamodb"])
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", local.get("region", "us-east-1"))
    os.environ["ACCOUNTS_TABLE"] = local["environment"]["ACCOUNTS_TABLE"]
    if local["environment"].get("AUDIT_EVENT_BUS"):
        os.environ.setdefault("AUDIT_EVENT_BUS", local["environment"]["AUDIT_EVENT_BUS"])
