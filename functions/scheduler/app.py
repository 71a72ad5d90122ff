"""The scheduler function: the template's EventBridge rule calls it every minute."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sourcesync.clock import parse_iso
from sourcesync.config import FUNCTION_SETTINGS, check_settings
from sourcesync.log import logger
from sourcesync.services.scheduling import run_due_resyncs

check_settings(FUNCTION_SETTINGS["scheduler"])  # cold start: fail here, naming a missing variable


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return asdict(run_due_resyncs(parse_iso(event["time"])))
