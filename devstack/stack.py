"""The whole local stack: start the parts, deploy the template, serve, stop cleanly.

`LocalStack(config).start()` runs everything in this process (DynamoDB Local and localstripe as child
processes; moto, the API and the scheduler as threads) and returns the endpoints dict also written to
endpoints.json. `LocalStack.start_subprocess()` runs `python -m devstack serve --free-ports` in a child
process for tests and yields its endpoints. `start_dynamodb_local()` / `start_moto_server()` /
`deploy_template()` are the pieces the integration-test fixtures use on their own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import (
    DEFAULT_ENDPOINTS_FILE,
    DEFAULT_TEMPLATE,
    REGION,
    REPO_ROOT,
    STACK_NAME,
    aws_environment,
)
from devstack.dynamodb_local import DynamoDBLocal, create_tables
from devstack.lambda_runtime import RUNTIME, LambdaRuntime
from devstack.ports import ensure_free, free_ports, wait_until
from devstack.processes import die_with_parent
from devstack.template import Template

LOG = logging.getLogger("devstack.stack")

# Local values of the template's parameters (only applied to parameters the template declares).
LOCAL_PARAMETERS: Mapping[str, str] = {"AllowApiBase": "true", "CommitGraceSeconds": "1"}

PORT_VARIABLES = {
    "api": ("SOURCESYNC_API_PORT", 3000),
    "dynamodb": ("SOURCESYNC_DYNAMODB_PORT", 8000),
    "aws": ("SOURCESYNC_AWS_PORT", 5000),
    "stripe": ("SOURCESYNC_STRIPE_PORT", 8420),
    "emulators": ("SOURCESYNC_EMULATORS_PORT", 8430),
}


@dataclass(frozen=True)
class Ports:
    api: int = 3000
    dynamodb: int = 8000
    aws: int = 5000
    stripe: int = 8420
    emulators: int = 8430

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Ports:
        values = {}
        for key, (variable, default) in PORT_VARIABLES.items():
            raw = environ.get(variable, "")
            try:
                values[key] = int(raw) if raw else default
            except ValueError:
                raise ValueError(f"{variable}={raw!r} is not a port number") from None
        return cls(**values)

    @classmethod
    def free(cls) -> Ports:
        api, dynamodb, aws, stripe, emulators = free_ports(5)
        return cls(api=api, dynamodb=dynamodb, aws=aws, stripe=stripe, emulators=emulators)

    def items(self) -> list[tuple[str, int]]:
        return [
            ("api", self.api),
            ("dynamodb", self.dynamodb),
            ("aws", self.aws),
            ("stripe", self.stripe),
            ("emulators", self.emulators),
        ]


def template_parameters(template_path: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """LOCAL_PARAMETERS for the parameters this template declares, then explicit overrides."""
    declared = Template(template_path).parameters
    values = {k: v for k, v in LOCAL_PARAMETERS.items() if k in declared}
    values.update(overrides or {})
    return values


def load_template(
    path: Path = DEFAULT_TEMPLATE, *, parameters: Mapping[str, str] | None = None, stack_name: str = STACK_NAME
) -> Template:
    return Template(path, parameters=template_parameters(path, parameters), stack_name=stack_name)


def clear_settings_cache() -> None:
    """Forget cached settings of the product layer (they read os.environ), if it has such a cache."""
    config = sys.modules.get("sourcesync.config")
    if config is None:
        with contextlib.suppress(ImportError):
            import sourcesync.config as config
    get_settings = getattr(config, "get_settings", None) if config is not None else None
    if get_settings is not None and hasattr(get_settings, "cache_clear"):
        get_settings.cache_clear()


# ------------------------------------------------------------------------------------------ pieces
@dataclass
class DynamoDBHandle:
    """A running DynamoDB Local with the template's tables (what the `dynamodb_local` fixture yields)."""

    server: DynamoDBLocal
    tables: dict[str, str]  # logical id -> table name
    environment: dict[str, str]  # the variables set for the test session

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def client(self) -> Any:
        return self.server.client()

    def resource(self) -> Any:
        import boto3

        from devstack import FAKE_ACCESS_KEY, FAKE_SECRET_KEY

        factory: Any = boto3.resource
        return factory(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=FAKE_ACCESS_KEY,
            aws_secret_access_key=FAKE_SECRET_KEY,
        )

    def table(self, logical_id: str) -> Any:
        """A boto3 Table resource by the template's logical id (e.g. "SourcesTable")."""
        return self.resource().Table(self.tables[logical_id])


def start_dynamodb_local(
    *, port: int | None = None, db_path: Path | None = None, template: Template | None = None
) -> DynamoDBLocal:
    """DynamoDB Local on a (free) port, with the template's tables if a template is given."""
    ddb = DynamoDBLocal(port, db_path=db_path).start()
    if template is not None:
        create_tables(ddb.client(), template.tables())
    return ddb


def start_moto_server(*, port: int | None = None, dynamodb_endpoint: str | None = None) -> Any:
    """moto's server in this process with execution on and in-process Lambda (a `MotoServer`)."""
    from devstack.moto_server import MotoServer

    return MotoServer(port, dynamodb_endpoint=dynamodb_endpoint).start()


def deploy_template(
    template: Template,
    *,
    aws_endpoint: str,
    dynamodb_endpoint: str,
    runtime: LambdaRuntime = RUNTIME,
    environ: Any = os.environ,
) -> Any:
    """Deploy `template` onto running parts (a `devstack.deploy.Deployment`)."""
    from devstack.deploy import Deployer

    return Deployer(template, aws_endpoint=aws_endpoint, dynamodb_endpoint=dynamodb_endpoint, runtime=runtime).deploy(
        environ=environ
    )


# ------------------------------------------------------------------------------------------ the stack
@dataclass
class StackConfig:
    ports: Ports = field(default_factory=Ports.from_env)
    template_path: Path = DEFAULT_TEMPLATE
    parameters: dict[str, str] = field(default_factory=dict)
    stack_name: str = STACK_NAME
    endpoints_file: Path | None = DEFAULT_ENDPOINTS_FILE
    dynamodb_db_path: Path | None = None
    stripe: bool = True
    #: the provider emulators (devstack/emulators: every system but Stripe), one child process
    emulators: bool = True
    scheduler: bool = True
    drain_timeout: float = 10.0


class LocalStack:
    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.template = load_template(
            self.config.template_path, parameters=self.config.parameters, stack_name=self.config.stack_name
        )
        self.endpoints: dict[str, Any] = {}
        self.dynamodb: DynamoDBLocal | None = None
        self.stripe: Any = None
        self.emulators: Any = None
        self.moto: Any = None
        self.api: Any = None
        self.scheduler: Any = None
        self._scheduler_stop = threading.Event()
        self._scheduler_thread: threading.Thread | None = None
        self._saved_environ: dict[str, str | None] = {}

    # ------------------------------------------------------------------------------------ start
    def start(self) -> dict[str, Any]:
        started = time.monotonic()
        cfg = self.config
        environment = self.template.merged_environment()  # fail before starting anything
        optional = {"stripe": cfg.stripe, "emulators": cfg.emulators}
        for name, port in cfg.ports.items():
            if optional.get(name, True):
                ensure_free(port, f"{name}; set {PORT_VARIABLES[name][0]} or use --free-ports")
        try:
            self._start_parts(environment)
        except BaseException:
            self.stop()
            raise
        LOG.info("local stack ready in %.1f s", time.monotonic() - started)
        return self.endpoints

    def _start_parts(self, environment: dict[str, str]) -> None:
        from devstack.api_gateway import ApiGateway
        from devstack.emulators.base import EmulatorServer
        from devstack.stripe_emulator import StripeEmulator

        cfg = self.config
        # The slow ones first, in the background: DynamoDB Local (~4 s) and localstripe (~1 s).
        self.dynamodb = DynamoDBLocal(cfg.ports.dynamodb, db_path=cfg.dynamodb_db_path).launch()
        if cfg.stripe:
            self.stripe = StripeEmulator(cfg.ports.stripe).launch()
        if cfg.emulators:
            self.emulators = EmulatorServer(cfg.ports.emulators).launch()
        dynamodb_url = self.dynamodb.endpoint
        aws_url = f"http://127.0.0.1:{cfg.ports.aws}"
        self._set_environ(
            {
                **aws_environment(aws_url=aws_url, dynamodb_url=dynamodb_url),
                **environment,
                "MOTO_PORT": str(cfg.ports.aws),
            }
        )
        self.moto = start_moto_server(port=cfg.ports.aws, dynamodb_endpoint=dynamodb_url)
        from devstack.deploy import Deployer

        deployer = Deployer(self.template, aws_endpoint=aws_url, dynamodb_endpoint=dynamodb_url)
        deployment = deployer.deploy(environ=None, tables=False)  # moto side now, tables once DynamoDB answers
        self.dynamodb.wait_ready()
        deployer.deploy_tables()
        clear_settings_cache()
        routes = self.template.routes()
        api_id = self.template.api_id(routes[0].api_logical_id if routes else "HttpApi")
        self.api = ApiGateway(routes, api_id=api_id).start(cfg.ports.api)
        if cfg.scheduler:
            from devstack.scheduler import Scheduler

            self.scheduler = Scheduler(self.moto.client("events"), self.moto.client("stepfunctions"))
            self._scheduler_thread = self.scheduler.start_thread(self._scheduler_stop)
        if self.stripe is not None:
            self.stripe.wait_ready()
        emulators: dict[str, str] = {}
        if self.emulators is not None:
            from devstack.emulators import emulator_urls

            self.emulators.wait_ready()
            emulators = {"emulators": self.emulators.url, **emulator_urls(self.emulators.url)}
        self.endpoints = {
            "api": f"http://127.0.0.1:{cfg.ports.api}",
            "dynamodb": dynamodb_url,
            "aws": aws_url,
            "stripe": f"http://127.0.0.1:{cfg.ports.stripe}" if cfg.stripe else None,
            **emulators,
            "region": REGION,
            "stack_name": self.template.stack_name,
            "resources": deployment.resources,
            "environment": environment,
            "pid": os.getpid(),
        }
        if cfg.endpoints_file is not None:
            write_endpoints(cfg.endpoints_file, self.endpoints)

    def _set_environ(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self._saved_environ.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            self._saved_environ.setdefault(key, os.environ.get(key))
            os.environ.pop(key, None)

    # ------------------------------------------------------------------------------------ health / stop
    def failed_part(self) -> str | None:
        """Which child process died (with the end of its output), if one did."""
        parts = (
            ("DynamoDB Local", self.dynamodb),
            ("the Stripe emulator", self.stripe),
            ("the emulators", self.emulators),
        )
        for name, part in parts:
            if part is not None and not part.alive():
                return f"{name} exited unexpectedly; the end of its output:\n{part.log_tail()}"
        return None

    def stop(self) -> None:
        """Stop in dependency order; safe to call twice and after a failed start."""
        self._scheduler_stop.set()
        if self._scheduler_thread is not None:
            self._scheduler_thread.join(10)
            self._scheduler_thread = None
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.moto is not None:
            self.moto.wait_for_executions(self.config.drain_timeout)
            RUNTIME.wait_for_async(self.config.drain_timeout)
            self.moto.stop()
            self.moto = None
        for part in (self.stripe, self.emulators, self.dynamodb):
            if part is not None:
                part.stop()
        self.stripe = self.emulators = self.dynamodb = None
        if self.config.endpoints_file is not None and self.endpoints:
            self.config.endpoints_file.unlink(missing_ok=True)
        for key, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environ.clear()

    def __enter__(self) -> dict[str, Any]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------ subprocess
    @classmethod
    @contextlib.contextmanager
    def start_subprocess(
        cls,
        *,
        template_path: Path | None = None,
        parameters: Mapping[str, str] | None = None,
        endpoints_file: Path | None = None,
        timeout: float = 60.0,
        extra_args: tuple[str, ...] = (),
        log_path: Path | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Run `python -m devstack serve --free-ports` in a child process; yield its endpoints dict."""
        with tempfile.TemporaryDirectory(prefix="devstack-") as tmp:
            endpoints_path = endpoints_file or Path(tmp) / "endpoints.json"
            log_file = log_path or Path(tmp) / "stack.log"
            argv = [
                sys.executable,
                "-m",
                "devstack",
                "serve",
                "--free-ports",
                "--endpoints-file",
                str(endpoints_path),
                *extra_args,
            ]
            if template_path is not None:
                argv += ["--template", str(template_path)]
            for key, value in (parameters or {}).items():
                argv += ["--parameter", f"{key}={value}"]
            with open(log_file, "ab") as log:
                # Its own process group (stopped as a whole), and it dies with us if we are killed.
                process = subprocess.Popen(
                    argv,
                    cwd=REPO_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=die_with_parent,
                )
            try:
                ready = wait_until(endpoints_path.exists, timeout, 0.1, alive=lambda: process.poll() is None)
                if not ready:
                    raise RuntimeError(f"the local stack did not start in {timeout:.0f} s:\n{tail(log_file)}")
                yield json.loads(endpoints_path.read_text(encoding="utf-8"))
            finally:
                stop_process_group(process.pid, timeout=30)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)


def write_endpoints(path: Path, endpoints: Mapping[str, Any]) -> None:
    """Write atomically: readers polling for the file never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(endpoints, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(pid: int, timeout: float = 30.0) -> bool:
    """SIGTERM the leader (an orderly shutdown), then SIGKILL whatever is left of its process group.

    Returns True if the leader stopped within the timeout (False: it had to be killed).
    """
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    orderly = wait_until(lambda: not _pid_running(pid), timeout, 0.1)
    if not orderly:
        LOG.warning("process %d did not stop in %.0f s: killing its process group", pid, timeout)
    if group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        if not wait_until(lambda: not group_alive(pgid), 5, 0.1):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            wait_until(lambda: not group_alive(pgid), 5, 0.1)
    return orderly


def _pid_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (reaps it if it is our child)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
