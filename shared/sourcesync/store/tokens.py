"""The connector kit's `TokenStore` over Secrets Manager: a source's credentials, with an OAuth2 token
that a connector obtained or refreshed, written back to the source's secret (the one
`store/credentials.py` keeps), so the next worker starts with the current token and refresh token."""

from __future__ import annotations

import json
from collections.abc import Mapping

from sourcesync.aws import client
from sourcesync.store.credentials import CredentialStore, get_credential_store


class SecretsManagerTokenStore:
    """Implements `connectors.kit.auth.TokenStore` for one data source."""

    def __init__(self, credentials: CredentialStore, account_id: str, data_source_uuid: str) -> None:
        self.secret_id = credentials.name(account_id, data_source_uuid)

    def save(self, credentials: Mapping[str, str]) -> None:
        """A new version of the source's secret (never created here: a deleted source stays deleted)."""
        client("secretsmanager").put_secret_value(
            SecretId=self.secret_id, SecretString=json.dumps(dict(credentials), sort_keys=True)
        )


def token_store_for(account_id: str, data_source_uuid: str) -> SecretsManagerTokenStore:
    return SecretsManagerTokenStore(get_credential_store(), account_id, data_source_uuid)
