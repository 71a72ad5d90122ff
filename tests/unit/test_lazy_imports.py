"""What a function's cold start loads: the workers' error mapping must not pull in the HTTP stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import REPO_ROOT


def _loaded_after(statement: str, modules: list[str]) -> dict[str, bool]:
    probe = f"import sys\n{statement}\nprint(' '.join(str(m in sys.modules) for m in {modules!r}))"
    answer = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT / "shared"
    )
    return dict(zip(modules, (word == "True" for word in answer.stdout.split()), strict=True))


def test_the_connectors_errors_load_neither_requests_nor_the_xml_parser() -> None:
    # When a worker imports the connectors' errors (the re-sync and purge workers do, at cold start)
    loaded = _loaded_after(
        "import sourcesync.connectors.errors", ["requests", "urllib3", "defusedxml", "sourcesync.connectors.base"]
    )
    # Then none of the HTTP stack is loaded
    assert loaded == dict.fromkeys(loaded, False)


def test_the_connectors_package_names_still_resolve_on_first_use() -> None:
    from sourcesync import connectors
    from sourcesync.connectors.errors import CredentialsInvalidError
    from sourcesync.connectors.kit.runtime import Connector

    assert connectors.CredentialsInvalidError is CredentialsInvalidError
    assert connectors.Connector is Connector
    for name in connectors.__all__:  # every name the package exports still resolves
        assert getattr(connectors, name) is not None


# ------------------------------------------------------------------ the API's functions (docs/architecture.md)
#: Each API-side function's directory under functions/ and its settings (the template's, any value).
API_FUNCTIONS = ("api", "resync_source", "resync_customer", "delete_source")
#: What none of them loads at cold start: Powertools' other resolvers (and asyncio with them), its event
#: classes but the HTTP API's, the request body models (and the domain's models they subclass), the OpenAPI
#: document and its answer models.
NOT_AT_COLD_START = [
    "asyncio",
    "aws_lambda_powertools.event_handler.appsync",
    "aws_lambda_powertools.event_handler.bedrock_agent",
    "aws_lambda_powertools.utilities.data_classes.sqs_event",
    "sourcesync.api.models",
    "sourcesync.api.import_models",
    "sourcesync.api.responses",
    "sourcesync.api.openapi",
    "sourcesync.domain.sources",
    "sourcesync.domain.manual_data",
    "sourcesync.domain.imports",
]
#: What no function loads at cold start: Powertools' Metrics and tracing packages and its user-agent module,
#: which imports botocore (in the Lambda runtime, so it would load there): the top-level package's `__init__`
#: imports all three, and `sourcesync.coldstart` registers it as a lazy package. Nor what the two lazy
#: modules would import: `importlib.metadata` (pydantic's plugin loader; plugins are disabled) loads `email`
#: and `zipfile`, Powertools' `jmespath_utils` (the Logger's correlation ids; none set) `jmespath` and `gzip`.
NOT_IN_ANY_COLD_START = [
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.tracing",
    "aws_lambda_powertools.shared.user_agent",
    "botocore",
    "email",
    "zipfile",
    "jmespath",
    "gzip",
]
#: What only the one function that serves such routes may load: the services of data sources, customers,
#: manual data and the Import API, and the console's files (loaded by their first request).
ONLY_ON_FIRST_USE = [
    "sourcesync.services.data_sources",
    "sourcesync.services.customers",
    "sourcesync.services.overlays",
    "sourcesync.services.imports",
    "sourcesync.console",
]


def _handler_loads(function: str, modules: list[str]) -> dict[str, bool]:
    """Which of `modules` a fresh interpreter has loaded (imported, and their code run) once it has imported
    the handler module of `functions/<function>/` with the environment the template gives the function."""
    from devstack.stack import load_template

    spec = next(spec for spec in load_template().functions() if spec.code_dir.name == function)
    environment = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", **spec.environment}
    probe = (
        "import sys\n"
        f"sys.path[:0] = [{str(REPO_ROOT / 'functions' / function)!r}, {str(REPO_ROOT / 'shared')!r}]\n"
        "import app\n"
        "from sourcesync.coldstart import loaded\n"
        f"print(' '.join(str(loaded(m)) for m in {modules!r}))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=environment, cwd="/"
    )
    return dict(zip(modules, (word == "True" for word in answer.stdout.split()), strict=True))


@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_an_api_function_cold_start_loads_only_its_resolver_and_checks(function: str) -> None:
    # When a fresh interpreter imports the function's handler module, as Lambda does at cold start
    loaded = _handler_loads(
        function, [*NOT_AT_COLD_START, *NOT_IN_ANY_COLD_START, *ONLY_ON_FIRST_USE, "sourcesync.api.contract"]
    )
    # Then it has its request checks, and nothing of what the module names says it must not load
    assert loaded.pop("sourcesync.api.contract") is True  # the probe sees what the handler loads
    assert loaded == dict.fromkeys(loaded, False)


def test_the_delete_function_loads_neither_the_resync_nor_the_creation_of_sources() -> None:
    # When the delete function starts (its route shares the answer of the routes that start a job, and its
    # service finds the caller's source, with the services that start a re-sync or create a source)
    loaded = _handler_loads(
        "delete_source",
        [
            "sourcesync.services.resync",
            "sourcesync.services.data_sources",
            "sourcesync.policy_matrix",
            "sourcesync.api.routes.accepted",
        ],
    )
    # Then it loads the shared answer, and neither of those services nor the policy matrix they load
    assert loaded.pop("sourcesync.api.routes.accepted") is True
    assert loaded == dict.fromkeys(loaded, False)


def test_the_lazy_powertools_packages_still_export_every_name() -> None:
    # Given the API's resolver module, which registers Powertools' packages as lazy ones
    loaded = _loaded_after(
        "import sourcesync.api.resolver\n"
        "from aws_lambda_powertools.event_handler import AppSyncResolver, APIGatewayHttpResolver, Response\n"
        "from aws_lambda_powertools.utilities.data_classes import SQSEvent, APIGatewayProxyEventV2\n"
        "import aws_lambda_powertools.event_handler as handlers\n"
        "assert handlers.Response is Response and 'AppSyncResolver' in handlers.__all__\n"
        "from sourcesync.api.resolver import APIGatewayHttpResolver as ours\n"
        "assert ours is APIGatewayHttpResolver",
        ["asyncio", "aws_lambda_powertools.event_handler.appsync"],
    )
    # Then a name asked for is imported from its submodule on first use (AppSync's resolver and asyncio with it)
    assert loaded == dict.fromkeys(loaded, True)


def test_the_lazy_top_level_powertools_package_still_exports_every_name_and_quiets_its_logger() -> None:
    # Given the layer's package, which registers Powertools' top-level package as a lazy one
    loaded = _loaded_after(
        "import logging\n"
        "import sourcesync.powertools\n"
        "import aws_lambda_powertools as powertools\n"
        "from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric\n"
        "from aws_lambda_powertools.shared.version import VERSION\n"
        "assert Logger is sourcesync.powertools.Logger and powertools.__version__ == VERSION\n"
        "assert set(powertools.__all__) >= {'Logger', 'Metrics', 'Tracer', 'single_metric'}\n"
        "package_logger = logging.getLogger('aws_lambda_powertools')\n"
        "assert not package_logger.propagate\n"
        "assert [type(h).__name__ for h in package_logger.handlers] == ['NullHandler']",
        ["aws_lambda_powertools.metrics", "aws_lambda_powertools.tracing"],
    )
    # Then a name asked for is imported from its submodule on first use, and Powertools' own logger
    # discards its output, as the package's `__init__` would have set it
    assert loaded == dict.fromkeys(loaded, True)


def _ran_after(statement: str, modules: list[str], **environment: str) -> dict[str, bool]:
    """Which of `modules` have run their code after `statement`, in a fresh interpreter that first imports
    the layer's package (which registers the lazy modules)."""
    probe = (
        "import sourcesync\n"
        f"{statement}\n"
        "from sourcesync.coldstart import loaded\n"
        f"print(' '.join(str(loaded(m)) for m in {modules!r}))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT / "shared",
        env={"PATH": "/usr/bin:/bin", **environment},
    )
    return dict(zip(modules, (word == "True" for word in answer.stdout.split()), strict=True))


def test_a_lazy_module_is_imported_without_running_until_a_name_is_looked_up() -> None:
    # When code imports the lazy modules the way Powertools' Logger and pydantic's plugin loader do
    imported = _ran_after(
        "import importlib.metadata as metadata\nfrom aws_lambda_powertools.utilities import jmespath_utils",
        ["importlib.metadata", "aws_lambda_powertools.utilities.jmespath_utils"],
    )
    # Then neither has run its code
    assert imported == dict.fromkeys(imported, False)
    # And a look-up of a name in each runs it, and the name is the module's own
    used = _ran_after(
        "import importlib.metadata as metadata\nfrom aws_lambda_powertools.utilities import jmespath_utils\n"
        "assert metadata.version('pydantic').startswith('2.')\n"
        "assert jmespath_utils.query(data={'detail': {'id': 7}}, envelope='detail.id') == 7\n"
        "import importlib.metadata._meta",  # and its submodules import as before
        ["importlib.metadata", "aws_lambda_powertools.utilities.jmespath_utils", "email"],
    )
    assert used == dict.fromkeys(used, True)


def test_threads_that_use_a_lazy_module_at_once_wait_for_its_code_to_run_once(tmp_path: Path) -> None:
    # Given a lazy module whose code takes a while to run, and counts its runs
    (tmp_path / "slow_module.py").write_text(
        "import builtins, time\n"
        "builtins.slow_module_runs = getattr(builtins, 'slow_module_runs', 0) + 1\n"
        "time.sleep(0.3)\n"
        "VALUE = 42\n"
    )
    probe = (
        f"import sys, builtins, threading\nsys.path.insert(0, {str(tmp_path)!r})\n"
        "from sourcesync.coldstart import lazy_module, loaded\n"
        "assert lazy_module('slow_module') and not loaded('slow_module')\n"
        "import slow_module\n"
        "seen = []\n"
        "def use():\n"
        "    try:\n"
        "        seen.append(slow_module.VALUE)\n"
        "    except AttributeError as error:\n"
        "        seen.append(repr(error))\n"
        "threads = [threading.Thread(target=use) for _ in range(8)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "import json\n"
        "print(json.dumps({'seen': seen, 'runs': builtins.slow_module_runs, 'loaded': loaded('slow_module')}))"
    )
    # When eight threads look up a name in it at the same moment
    answer = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT / "shared"
    )
    # Then each finds the name, and the module's code ran once
    assert json.loads(answer.stdout) == {"seen": [42] * 8, "runs": 1, "loaded": True}


@pytest.mark.parametrize(("disabled", "reads_entry_points"), [("__all__", False), (None, True)])
def test_pydantic_reads_the_installed_packages_only_when_its_plugins_are_enabled(
    disabled: str | None, reads_entry_points: bool
) -> None:
    # Given pydantic's plugins disabled, as the template sets them for every function, or enabled
    environment = {} if disabled is None else {"PYDANTIC_DISABLE_PLUGINS": disabled}
    # When the first model is built and used
    ran = _ran_after(
        "from pydantic import BaseModel\nclass Item(BaseModel):\n    name: str\nItem(name='x')",
        ["importlib.metadata", "pydantic.plugin._loader"],
        **environment,
    )
    # Then pydantic's plugin loader runs, and reads the installed packages' entry points only if plugins
    # are enabled
    assert ran == {"pydantic.plugin._loader": True, "importlib.metadata": reads_entry_points}


def test_every_contract_reference_resolves() -> None:
    from pydantic import BaseModel

    from sourcesync.api.contract import OPERATIONS, adapter, model

    # Given the contract, whose models and path types are named and imported on first use
    for operation in OPERATIONS:
        # Then each names a model or a type that exists
        references = [operation.query, *(r for r in operation.responses.values() if r is not None)]
        references += [operation.body] if operation.body is not None else []
        for reference in references:
            assert issubclass(model(reference), BaseModel), reference
        for name, kind in operation.params.items():
            assert adapter(kind).json_schema()["type"] == "string", (operation.route_key, name)


@pytest.mark.parametrize("function", ["resync_worker", "purge_worker", "scheduler"])
def test_a_worker_cold_start_loads_no_http_stack(function: str) -> None:
    # When a fresh interpreter imports a worker's handler module, as Lambda does at cold start
    loaded = _handler_loads(
        function, ["requests", "urllib3", "sourcesync.connectors.kit.http", *NOT_IN_ANY_COLD_START, "sourcesync.config"]
    )
    # Then the connectors' HTTP stack waits for the first fetch (most invocations never fetch)
    assert loaded.pop("sourcesync.config") is True  # the probe sees what the handler loads
    assert loaded == dict.fromkeys(loaded, False)
