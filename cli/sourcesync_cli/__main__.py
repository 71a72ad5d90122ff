"""`python -m sourcesync_cli`: the same as the installed `sourcesync`."""

from sourcesync_cli.main import run

run()
