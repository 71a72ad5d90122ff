"""The purge state machine's worker: one Lambda, one action per state (see the ASL file)."""

from __future__ import annotations

from typing import Any

from sourcesync.config import FUNCTION_SETTINGS, check_settings
from sourcesync.log import logger
from sourcesync.pipeline.purge_handler import run_step

check_settings(FUNCTION_SETTINGS["purge_worker"])  # cold start: fail here, naming a missing variable


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(event, context)
