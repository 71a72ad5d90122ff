"""SourceSync's layer. Importing the package first registers what a cold start does not load
(`sourcesync.coldstart`), before any of its modules imports pydantic or Powertools."""

from sourcesync import coldstart as _coldstart  # noqa: F401 (registers the lazy packages and modules)
