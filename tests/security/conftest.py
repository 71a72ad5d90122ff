"""The security layer reuses the infrastructure tests' fixtures (the template, and as translated)."""

from tests.infrastructure.conftest import template, translated

__all__ = ["template", "translated"]
