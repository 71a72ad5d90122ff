"""Deploy a parsed template onto the local parts: tables on DynamoDB Local, the rest on moto's server.

Order: IAM role, tables, S3 buckets, event buses, functions (registered with the in-process runtime too), state
machines, rules and their targets. The HTTP API's routes are served by `devstack.api_gateway`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import time
import uuid
import zipfile
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from devstack.clients import aws_client
from devstack.dynamodb_local import create_tables, dynamodb_client
from devstack.lambda_runtime import RUNTIME, LambdaRuntime
from devstack.template import Template

LOG = logging.getLogger("devstack.deploy")

ROLE_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}


def placeholder_zip() -> bytes:
    """The code moto stores for each function (the handler really runs from the repository)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "devstack: this function runs in-process from the repository\n")
    return buffer.getvalue()


@dataclass
class Deployment:
    """What a deploy created (logical id -> physical name or ARN, the functions' merged environment),
    with helpers for tests that drive it."""

    template: Template
    resources: dict[str, str]
    environment: dict[str, str]
    role_arn: str
    aws_endpoint: str
    dynamodb_endpoint: str
    created_tables: list[str] = field(default_factory=list)

    def state_machine_arn(self, logical_id: str) -> str:
        return str(self.template.ref(logical_id))

    def function_name(self, logical_id: str) -> str:
        return self.template.physical_name(logical_id)

    def table_name(self, logical_id: str) -> str:
        return self.template.physical_name(logical_id)

    def client(self, service: str) -> Any:
        """A boto3 client for the local parts (DynamoDB Local for "dynamodb", moto for the rest)."""
        return aws_client(service, self.dynamodb_endpoint if service == "dynamodb" else self.aws_endpoint)

    def start_execution(self, state_machine: str, payload: Any = None, *, name: str | None = None) -> str:
        """Start an execution (state machine by logical id or ARN; always named: moto names unnamed ones
        "None", so a second unnamed start would collide). Returns the execution ARN."""
        arn = state_machine if state_machine.startswith("arn:") else self.state_machine_arn(state_machine)
        answer = self.client("stepfunctions").start_execution(
            stateMachineArn=arn, name=name or uuid.uuid4().hex, input=json.dumps(payload or {})
        )
        return str(answer["executionArn"])

    def wait_for_execution(self, execution_arn: str, timeout: float = 60.0) -> dict[str, Any]:
        """DescribeExecution once the execution is no longer RUNNING (TimeoutError otherwise)."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after {timeout:.0f} s")
            time.sleep(0.05)


class Deployer:
    def __init__(
        self, template: Template, *, aws_endpoint: str, dynamodb_endpoint: str, runtime: LambdaRuntime = RUNTIME
    ) -> None:
        self.template = template
        self.aws_endpoint = aws_endpoint
        self.dynamodb_endpoint = dynamodb_endpoint
        self.runtime = runtime

    def client(self, service: str) -> Any:
        return aws_client(service, self.aws_endpoint, region=self.template.region)

    def deploy(self, *, environ: MutableMapping[str, str] | None = os.environ, tables: bool = True) -> Deployment:
        """Create everything; merge the functions' environment into `environ` (None: leave it alone)."""
        environment = self.template.merged_environment()  # fails early on a conflict
        if environ is not None:
            environ.update(environment)
        for rtype in sorted(set(self.template.unhandled_resources().values())):
            LOG.debug("not deployed locally: %s", rtype)
        role_arn = self.ensure_role()
        created = self.deploy_tables() if tables else []
        self.deploy_buckets()
        self.deploy_event_buses()
        self.deploy_functions(role_arn)
        self.deploy_state_machines(role_arn)
        self.deploy_rules()
        LOG.info("deployed %s (%d resources)", self.template.path.name, len(self.template.resources))
        return Deployment(
            self.template,
            self.template.resource_map(),
            environment,
            role_arn,
            self.aws_endpoint,
            self.dynamodb_endpoint,
            created,
        )

    def ensure_role(self) -> str:
        iam = self.client("iam")
        name = f"{self.template.stack_name}-devstack-role"
        try:
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])
        except iam.exceptions.NoSuchEntityException:
            role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(ROLE_TRUST_POLICY))
            return str(role["Role"]["Arn"])

    def deploy_tables(self) -> list[str]:
        return create_tables(dynamodb_client(self.dynamodb_endpoint), self.template.tables())

    def deploy_buckets(self) -> None:
        s3 = self.client("s3")
        for name in self.template.buckets():
            try:
                s3.create_bucket(Bucket=name)
            except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
                LOG.debug("bucket %s exists", name)

    def deploy_event_buses(self) -> None:
        events = self.client("events")
        for bus in self.template.event_buses():
            try:
                events.create_event_bus(Name=bus.name)
            except events.exceptions.ResourceAlreadyExistsException:
                LOG.debug("event bus %s exists", bus.name)

    def deploy_functions(self, role_arn: str) -> None:
        lam = self.client("lambda")
        layers = self.template.layer_dirs()
        # Layers come before the interpreter's site-packages, as /opt/python does on Lambda: a template
        # `sam build` made then runs its built layer (its sourcesync and pinned packages), not the repository.
        for directory in reversed(layers):
            if directory.is_dir() and str(directory) not in sys.path:
                sys.path.insert(0, str(directory))
        self.runtime.ensure_import_paths(layers)
        code = placeholder_zip()
        for fn in self.template.functions():
            self.runtime.register(fn)
            config: dict[str, Any] = {
                "FunctionName": fn.name,
                "Runtime": fn.runtime,
                "Role": role_arn,
                "Handler": fn.handler,
                "Timeout": fn.timeout,
                "MemorySize": fn.memory_size,
                "Environment": {"Variables": fn.environment},
                "Description": fn.description[:256],
            }
            try:
                lam.create_function(**config, Code={"ZipFile": code}, Architectures=list(fn.architectures))
            except lam.exceptions.ResourceConflictException:
                lam.update_function_configuration(**config)
            LOG.debug("function %s -> %s", fn.name, fn.module_file)

    def deploy_state_machines(self, role_arn: str) -> None:
        sfn = self.client("stepfunctions")
        for machine in self.template.state_machines():
            try:
                sfn.create_state_machine(
                    name=machine.name, definition=machine.definition, roleArn=role_arn, type=machine.type
                )
            except sfn.exceptions.StateMachineAlreadyExists:
                sfn.update_state_machine(stateMachineArn=machine.arn, definition=machine.definition, roleArn=role_arn)
            LOG.debug("state machine %s", machine.arn)

    def deploy_rules(self) -> None:
        events = self.client("events")
        for rule in self.template.rules():
            args: dict[str, Any] = {"Name": rule.name, "State": rule.state, "EventBusName": rule.event_bus_name}
            if rule.schedule_expression:
                args["ScheduleExpression"] = rule.schedule_expression
            if rule.event_pattern:
                args["EventPattern"] = rule.event_pattern
            if rule.description:
                args["Description"] = rule.description
            events.put_rule(**args)
            if rule.targets:
                targets = []
                for target in rule.targets:
                    entry = {"Id": target.id, "Arn": target.arn}
                    if target.input is not None:
                        entry["Input"] = target.input
                    targets.append(entry)
                result = events.put_targets(Rule=rule.name, EventBusName=rule.event_bus_name, Targets=targets)
                if result.get("FailedEntryCount"):
                    raise RuntimeError(f"PutTargets for rule {rule.name} failed: {result['FailedEntries']}")
            LOG.debug("rule %s (%s)", rule.name, rule.schedule_expression or "event pattern")
