"""Powertools' Logger, the one name of Powertools every module of the layer that logs uses. Powertools'
packages are registered as lazy ones by `sourcesync.coldstart` (run by the package's `__init__`), so this
import loads the logging package and what it needs, not the `__init__` of `aws_lambda_powertools`."""

from __future__ import annotations

from aws_lambda_powertools.logging.logger import Logger

__all__ = ["Logger"]
