"""The CLI's shape: every API operation has a command, the layer stays free of the CLI, `--help` documents the
exit statuses, global options go anywhere, and credentials are never taken from the command line."""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import pytest

from devstack.template import Template
from sourcesync.api.contract import OPERATIONS
from sourcesync_cli.main import ApiCommand, cli, command_tree, hoist_global_options, main

ROOT = Path(__file__).resolve().parents[2]


def _covered() -> dict[str, list[str]]:
    covered: dict[str, list[str]] = {}
    for words, command in command_tree().items():
        for operation in getattr(command, "operations", ()):
            covered.setdefault(operation, []).append(" ".join(words))
    return covered


def test_every_operation_of_the_api_has_a_command() -> None:
    covered = _covered()
    missing = [f"{op.route_key} ({op.operation_id})" for op in OPERATIONS if op.operation_id not in covered]
    assert not missing, f"operations without a command: {missing}"


def test_commands_name_only_operations_the_api_has() -> None:
    known = {op.operation_id for op in OPERATIONS}
    assert set(_covered()) <= known, set(_covered()) - known
    api_commands = [words for words, command in command_tree().items() if isinstance(command, ApiCommand)]
    assert all(command_tree()[words].operations for words in api_commands)  # type: ignore[attr-defined]


def test_the_layer_does_not_hold_or_import_the_cli() -> None:
    layer = ROOT / "shared"
    assert not (layer / "sourcesync" / "cli.py").exists()
    assert not list(layer.rglob("sourcesync_cli"))
    for path in layer.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "sourcesync_cli" for n in names), f"{path} imports the CLI"
    # sam build packs the layer from its ContentUri: shared/, which the CLI's package is not under
    template = Template(ROOT / "infra" / "template.yaml").raw
    content = (ROOT / "infra" / template["Resources"]["SharedLayer"]["Properties"]["ContentUri"]).resolve()
    assert content == layer.resolve()
    import sourcesync_cli

    assert not Path(sourcesync_cli.__file__).resolve().is_relative_to(content)


def test_help_documents_the_exit_statuses() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sourcesync_cli", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0
    for line in ("Exit status:", "0  success", "1  the API refused", "2  usage", "3  the API could not be reached"):
        assert line in done.stdout
    assert "4  the job the command followed ended failed or cancelled" in done.stdout


@pytest.mark.parametrize(
    ("given", "hoisted"),
    [
        (["sources", "list", "--json"], ["--json", "sources", "list"]),
        (
            ["sources", "show", "ds_x", "--api-key", "k", "--api-url=u"],
            ["--api-key", "k", "--api-url=u", "sources", "show", "ds_x"],
        ),
        (["--json", "jobs", "show", "j"], ["--json", "jobs", "show", "j"]),
        (["import", "customers", "ds_x", "--", "--json"], ["import", "customers", "ds_x", "--", "--json"]),
    ],
)
def test_global_options_are_moved_before_the_subcommand(given: list[str], hoisted: list[str]) -> None:
    assert hoist_global_options(given) == hoisted


def test_a_global_option_after_the_subcommand_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    # an address nobody listens on, given after the subcommand: the command tries it (exit 3, one line)
    status = main(["sources", "list", "--api-key", "ssk_nothing", "--api-url", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert status == 3
    assert err.strip().count("\n") == 0 and "http://127.0.0.1:9" in err


def test_no_command_takes_credentials_from_the_command_line() -> None:
    for words, command in command_tree().items():
        for param in command.params:
            if isinstance(param, click.Option) and not param.is_flag:
                assert not any("credential" in o and "field" not in o for o in param.opts), (words, param.opts)
                assert not any(o in ("--secret", "--password", "--token") for o in param.opts), (words, param.opts)
    status = main(["sources", "create", "S", "--system", "stripe", "--credentials", '{"api_key": "sk_test_x"}'])
    assert status == 2
    status = main(["sources", "update", "ds_x", "--credentials", '{"api_key": "sk_test_x"}'])
    assert status == 2  # --credentials is a flag (read them from the prompt or stdin), its value an extra argument


def test_the_tree_is_what_docs_cli_lists() -> None:
    documented = (ROOT / "docs" / "cli.md").read_text()
    for words in command_tree():
        assert f"sourcesync {' '.join(words)}" in documented, " ".join(words)
    assert isinstance(cli, click.Group)


class _Answer(BaseHTTPRequestHandler):
    """What a gateway in front of a broken API, or a server that is not the API, answers."""

    status = 502
    body = b'{"message":"Internal Server Error"}'

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (502, b'{"message":"Internal Server Error"}', "failed: 502: Internal Server Error"),
        (200, b"<html>a web page</html>", "answered something that is not JSON: is it SourceSync's API?"),
    ],
)
def test_a_failing_or_foreign_server_is_one_line_and_exit_3(
    status: int, body: bytes, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = type("Handler", (_Answer,), {"status": status, "body": body})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert main(["--api-url", url, "--api-key", "ssk_nothing", "sources", "list"]) == 3
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err
