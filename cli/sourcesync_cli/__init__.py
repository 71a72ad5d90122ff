"""SourceSync's command line client (`sourcesync`): a client of the HTTP API, installed beside the layer but
not part of it (the Lambda layer is `shared/`; nothing there imports this package)."""

from sourcesync_cli.client import Api, CliError
from sourcesync_cli.progress import follow

__all__ = ["Api", "CliError", "follow"]
