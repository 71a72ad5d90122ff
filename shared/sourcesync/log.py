"""The one structured logger (Powertools). Never log a credential, an API key or an Authorization header."""

from __future__ import annotations

from sourcesync.powertools import Logger

logger = Logger(service="sourcesync")
