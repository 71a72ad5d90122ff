"""Data source credentials in AWS Secrets Manager: never in a table, an answer or a log line."""

from __future__ import annotations

import contextlib
import json

from sourcesync.aws import client
from sourcesync.config import get_settings


class CredentialStore:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def name(self, account_id: str, data_source_uuid: str) -> str:
        return f"{self.prefix}{account_id}/{data_source_uuid}"

    def put(self, account_id: str, data_source_uuid: str, credentials: dict[str, str]) -> None:
        name, secret = self.name(account_id, data_source_uuid), json.dumps(credentials)
        sm = client("secretsmanager")
        kms_key = get_settings().kms_key_arn  # the template's KmsKeyArn; empty: Secrets Manager's own key
        try:
            sm.create_secret(
                Name=name,
                SecretString=secret,
                Tags=[{"Key": "sourcesync:data_source", "Value": data_source_uuid}],
                **({"KmsKeyId": kms_key} if kms_key else {}),
            )
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=name, SecretString=secret)

    def get(self, account_id: str, data_source_uuid: str) -> dict[str, str]:
        answer = client("secretsmanager").get_secret_value(SecretId=self.name(account_id, data_source_uuid))
        value: dict[str, str] = json.loads(answer["SecretString"])
        return value

    def delete(self, account_id: str, data_source_uuid: str) -> None:
        """Delete at once, without a recovery window; deleting what is already gone is fine."""
        sm = client("secretsmanager")
        with contextlib.suppress(sm.exceptions.ResourceNotFoundException):
            sm.delete_secret(SecretId=self.name(account_id, data_source_uuid), ForceDeleteWithoutRecovery=True)


def get_credential_store() -> CredentialStore:
    return CredentialStore(get_settings().secrets_prefix)
