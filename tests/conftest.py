"""Session fixtures on the local stack's real parts (DynamoDB Local, moto's server); see docs/local-stack.md.

- `devstack_template`: infra/template.yaml parsed and resolved with the local parameters (`devstack.template.Template`).
- `dynamodb_local`: DynamoDB Local on a free port with the template's tables (their local names,
  `sourcesync-local-<LogicalId>`); sets AWS_ENDPOINT_URL_DYNAMODB, fake credentials, the region and every
  function's environment variable (ACCOUNTS_TABLE, SOURCES_TABLE, ...). Yields a `devstack.stack.DynamoDBHandle`.
- `moto_server`: moto's server on a free port (state machines execute, Lambda runs our handlers in this process);
  sets AWS_ENDPOINT_URL and MOTO_PORT. Yields a `devstack.moto_server.MotoServer`.
- `deployed_stack`: both, with the whole template deployed in this process (functions, state machines, rules,
  buses, buckets). Yields a `devstack.deploy.Deployment` (start_execution / wait_for_execution / client helpers).
- `local_stack`: the full stack (API, scheduler, Stripe emulator too) in a subprocess on free ports, started once
  per session and only if a test asks for it. Yields the endpoints dict (see `devstack.env_for`).

Everything set in os.environ is restored at the end of the session, and `sourcesync.config.get_settings`'s cache
is cleared whenever the environment changes. Do not mix these fixtures with moto's `mock_aws` in one session:
moto's backends are global to the process, and `mock_aws` resets them and intercepts every boto3 call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack import aws_environment
from devstack.stack import (
    DynamoDBHandle,
    LocalStack,
    clear_settings_cache,
    load_template,
    start_dynamodb_local,
    start_moto_server,
)
from devstack.template import Template

EXECUTION_DRAIN_SECONDS = 60.0
_DROPPED_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@pytest.fixture(scope="session")
def devstack_template() -> Template:
    """infra/template.yaml as the local stack resolves it (AllowApiBase=true, stack name sourcesync-local)."""
    return load_template()


@pytest.fixture(scope="session")
def dynamodb_local(devstack_template: Template) -> Iterator[DynamoDBHandle]:
    server = start_dynamodb_local(template=devstack_template)
    environment = {
        **aws_environment(aws_url=None, dynamodb_url=server.endpoint),
        **devstack_template.merged_environment(),
    }
    with pytest.MonkeyPatch.context() as env:
        for name in _DROPPED_VARIABLES:
            env.delenv(name, raising=False)
        for name, value in environment.items():
            env.setenv(name, value)
        clear_settings_cache()
        tables = {t.logical_id: t.name for t in devstack_template.tables()}
        try:
            yield DynamoDBHandle(server, tables, environment)
        finally:
            server.stop()
    clear_settings_cache()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Any]:
    from devstack.lambda_runtime import RUNTIME

    server = start_moto_server()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", server.url)
        env.setenv("MOTO_PORT", str(server.port))
        clear_settings_cache()
        # a client made before (e.g. an audit event of a DynamoDB-only test) would still aim at real AWS
        from sourcesync.aws import reset_clients

        reset_clients()
        try:
            yield server
        finally:
            # A running execution's thread would otherwise reach for the stopped server (or real AWS).
            server.wait_for_executions(EXECUTION_DRAIN_SECONDS)
            RUNTIME.wait_for_async(EXECUTION_DRAIN_SECONDS)
            server.stop()
    clear_settings_cache()


@pytest.fixture(scope="session")
def deployed_stack(devstack_template: Template, dynamodb_local: DynamoDBHandle, moto_server: Any) -> Any:
    from devstack.deploy import Deployer

    deployment = Deployer(
        devstack_template, aws_endpoint=moto_server.url, dynamodb_endpoint=dynamodb_local.endpoint
    ).deploy(environ=None)  # dynamodb_local already set the same environment for the session
    clear_settings_cache()
    return deployment


#: The session stack's template parameters. The per-account request limit has its own stack and tests
#: (tests/e2e/test_rate_limit.py); here it is lifted, so that schemathesis' ~60 requests a second reach the
#: operations instead of answering 429.
E2E_STACK_PARAMETERS = {"AccountRequestLimit": "1000000"}


@pytest.fixture(scope="session")
def local_stack() -> Iterator[dict[str, Any]]:
    from devstack import REPO_ROOT

    log = REPO_ROOT / ".local" / "e2e-stack.log"  # kept after the session, to read when a test fails
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    with LocalStack.start_subprocess(log_path=log, parameters=E2E_STACK_PARAMETERS) as endpoints:
        yield endpoints
