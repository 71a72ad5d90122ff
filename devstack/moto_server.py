"""moto's server in this process, set up for the local stack.

- `ThreadedMotoServer` bound to 127.0.0.1 on the chosen port;
- `MOTO_PORT` set in this process (the Step Functions interpreter calls Lambda at localhost:$MOTO_PORT);
- state machines really execute (`POST /moto-api/config {"stepfunctions": {"execute_state_machine": true}}`);
- Lambda runs our handlers in-process (`devstack.lambda_runtime.install_moto_patch`);
- the interpreter's DynamoDB service integrations (`arn:aws:states:::dynamodb:*`, `aws-sdk:dynamodb:*`)
  go to DynamoDB Local instead of moto's own DynamoDB (where the template's tables do not exist).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from devstack.clients import aws_client
from devstack.lambda_runtime import MotoCompatibilityError, install_moto_patch
from devstack.ports import ensure_free, free_port

LOG = logging.getLogger("devstack.moto")

BOTO_CLIENT_MODULE = "moto.stepfunctions.parser.asl.utils.boto_client"


class MotoServer:
    """moto's ThreadedMotoServer with execution on and the in-process Lambda patch installed."""

    def __init__(
        self, port: int | None = None, *, host: str = "127.0.0.1", dynamodb_endpoint: str | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port()
        self.dynamodb_endpoint = dynamodb_endpoint
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        ensure_free(self.port, "moto (AWS services)")
        install_moto_patch()  # checks moto's version and the method's signature first
        route_sfn_dynamodb(self.dynamodb_endpoint)
        from moto.server import ThreadedMotoServer

        os.environ["MOTO_PORT"] = str(self.port)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        self.configure({"stepfunctions": {"execute_state_machine": True}})
        LOG.info("moto listening on %s", self.url)
        return self

    def configure(self, config: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/moto-api/config",
            data=json.dumps(config).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read() or b"{}")
        return result

    def client(self, service: str) -> Any:
        return aws_client(service, self.url)

    def running_executions(self) -> list[str]:
        """ARNs of the Step Functions executions still RUNNING (all state machines)."""
        sfn = self.client("stepfunctions")
        running: list[str] = []
        for page in sfn.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                for epage in sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
                ):
                    running.extend(e["executionArn"] for e in epage["executions"])
        return running

    def wait_for_executions(self, timeout: float = 30.0, poll: float = 0.2) -> list[str]:
        """Wait until no execution runs (or the timeout passes); returns those still running."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                running = self.running_executions()
            except Exception as exc:  # the server is going away: nothing more to wait for
                LOG.debug("cannot list executions: %s", exc)
                return []
            if not running or time.monotonic() >= deadline:
                if running:
                    LOG.warning("%d execution(s) still running: %s", len(running), ", ".join(running))
                return running
            time.sleep(poll)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            LOG.info("moto stopped")

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def route_sfn_dynamodb(endpoint: str | None = None) -> None:
    """Send the Step Functions interpreter's DynamoDB calls to DynamoDB Local (guarded moto internal).

    moto's interpreter builds every service client with `boto_client_for(region, service, state_credentials)`
    pointed at localhost:$MOTO_PORT; the template's tables live in DynamoDB Local, so DynamoDB goes to
    `endpoint`, or else to $AWS_ENDPOINT_URL_DYNAMODB read at call time (moto's own DynamoDB if neither).
    """
    import importlib
    import sys

    module = importlib.import_module(BOTO_CLIENT_MODULE)
    original = getattr(module, "boto_client_for", None)
    if original is None:
        raise MotoCompatibilityError(f"{BOTO_CLIENT_MODULE}.boto_client_for is missing")
    original = getattr(original, "__devstack_original__", original)
    parameters = tuple(inspect.signature(original).parameters)
    if parameters != ("region", "service", "state_credentials"):
        raise MotoCompatibilityError(f"{BOTO_CLIENT_MODULE}.boto_client_for{parameters} has changed")

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        dynamodb_url = endpoint or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        if service != "dynamodb" or not dynamodb_url:
            return original(region=region, service=service, state_credentials=state_credentials)
        from botocore.config import Config

        return aws_client(
            "dynamodb",
            dynamodb_url,
            region=region,
            config=Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1}),
        )

    boto_client_for.__devstack_original__ = original  # type: ignore[attr-defined]
    # Modules that already did `from ... import boto_client_for` hold their own reference: patch them too.
    for name, loaded in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions") and loaded is not None:
            current: Callable[..., Any] | None = getattr(loaded, "boto_client_for", None)
            if current is not None:
                loaded.boto_client_for = boto_client_for  # type: ignore[attr-defined]
