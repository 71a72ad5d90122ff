"""boto3 clients for the local parts (fake credentials, explicit endpoint)."""

from __future__ import annotations

from typing import Any

from devstack import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, REGION


def aws_client(service: str, endpoint_url: str, *, region: str = REGION, **kwargs: Any) -> Any:
    """A boto3 client for `service` at `endpoint_url` (moto or DynamoDB Local)."""
    import boto3

    factory: Any = boto3.client  # typed as Any: boto3-stubs only accepts literal service names
    return factory(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
        **kwargs,
    )
