"""SourceSync's local stack (development and tests only, never deployed).

The same handlers, SAM template and state machine definitions as production, run on real parts:
DynamoDB Local for DynamoDB, moto's server for Step Functions / Lambda / EventBridge / Secrets Manager,
localstripe for Stripe, plus a small local API Gateway and a scheduler for the template's schedules.
See docs/local-stack.md.

Importing this package is cheap (no moto, no boto3): the CLI and the test fixtures import what they need.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_DIR = REPO_ROOT / ".local"
DEFAULT_TEMPLATE = REPO_ROOT / "infra" / "template.yaml"
DEFAULT_ENDPOINTS_FILE = LOCAL_DIR / "endpoints.json"

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "sourcesync-local"
# Obviously fake credentials: moto and DynamoDB Local (-sharedDb) accept anything.
FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"

__all__ = [
    "ACCOUNT_ID",
    "DEFAULT_ENDPOINTS_FILE",
    "DEFAULT_TEMPLATE",
    "LOCAL_DIR",
    "REGION",
    "REPO_ROOT",
    "STACK_NAME",
    "aws_environment",
    "env_for",
    "load_endpoints",
]


def aws_environment(*, aws_url: str | None, dynamodb_url: str | None, region: str = REGION) -> dict[str, str]:
    """The AWS SDK variables that point boto3 at the local parts (only DynamoDB goes to DynamoDB Local)."""
    env = {
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }
    if aws_url:
        env["AWS_ENDPOINT_URL"] = aws_url
    if dynamodb_url:
        env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_url
    return env


def env_for(endpoints: Mapping[str, Any]) -> dict[str, str]:
    """The environment a separate client process (tests, CLI, benchmarks) needs to talk to a running stack.

    `endpoints` is the content of endpoints.json (see `load_endpoints`). The result holds the AWS SDK
    variables (endpoints, fake credentials, region) and the functions' merged environment (table names,
    bus name, state machine ARN...), exactly what the in-process handlers see. A caller that inherits
    its own environment should drop AWS_PROFILE / AWS_SESSION_TOKEN, which the stack never needs.
    """
    env = aws_environment(
        aws_url=str(endpoints["aws"]),
        dynamodb_url=str(endpoints["dynamodb"]),
        region=str(endpoints.get("region", REGION)),
    )
    env.update({str(k): str(v) for k, v in dict(endpoints.get("environment", {})).items()})
    return env


def load_endpoints(path: Path | str | None = None) -> dict[str, Any]:
    """Read endpoints.json written by `python -m devstack serve` (default: .local/endpoints.json)."""
    file = Path(path) if path is not None else DEFAULT_ENDPOINTS_FILE
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{file} not found: is the local stack running? (make up / make run)") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file} does not hold an endpoints object")
    return data
