"""Contract tests: every answer of a provider emulator checked against the provider's own SDK."""
