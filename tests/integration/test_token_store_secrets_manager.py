"""The connector kit's token store over Secrets Manager, on moto's server: a token a connector
refreshes reaches the source's secret, and the next connector built for the source starts with it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sourcesync.aws import client, reset_clients
from sourcesync.store.credentials import CredentialStore
from sourcesync.store.tokens import SecretsManagerTokenStore

pytestmark = pytest.mark.integration

PREFIX = "sourcesync/test-tokens/"


@pytest.fixture
def credentials(dynamodb_local: Any, moto_server: Any) -> Iterator[CredentialStore]:
    reset_clients()  # moto's server (AWS_ENDPOINT_URL); dynamodb_local sets the region and fake keys
    store = CredentialStore(PREFIX)
    yield store
    reset_clients()


def test_a_saved_token_becomes_the_sources_current_secret(credentials: CredentialStore) -> None:
    # Given a source whose credentials hold a refresh token
    credentials.put("acct_1", "ds_tokens", {"client_id": "cid", "client_secret": "cs", "refresh_token": "rt_0"})
    tokens = SecretsManagerTokenStore(credentials, "acct_1", "ds_tokens")

    # When a connector saves a refreshed token (the refresh token rotated)
    renewed = {"client_id": "cid", "client_secret": "cs", "refresh_token": "rt_1", "access_token": "at_1"}
    tokens.save(renewed)

    # Then the source's secret is the new credentials, for the next worker to read
    assert credentials.get("acct_1", "ds_tokens") == renewed
    versions = client("secretsmanager").list_secret_version_ids(SecretId=f"{PREFIX}acct_1/ds_tokens")["Versions"]
    assert len(versions) == 2


def test_saving_never_recreates_a_deleted_sources_secret(credentials: CredentialStore) -> None:
    credentials.put("acct_1", "ds_gone", {"api_key": "k"})
    credentials.delete("acct_1", "ds_gone")
    with pytest.raises(Exception) as caught:
        SecretsManagerTokenStore(credentials, "acct_1", "ds_gone").save({"access_token": "at"})
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"  # type: ignore[attr-defined]
    names = [s["Name"] for s in client("secretsmanager").list_secrets()["SecretList"]]
    assert f"{PREFIX}acct_1/ds_gone" not in names


def test_the_saved_secret_is_plain_json(credentials: CredentialStore) -> None:
    credentials.put("acct_2", "ds_json", {"api_key": "k"})
    SecretsManagerTokenStore(credentials, "acct_2", "ds_json").save({"access_token": "at", "expires_at": "99"})
    raw = client("secretsmanager").get_secret_value(SecretId=f"{PREFIX}acct_2/ds_json")["SecretString"]
    assert json.loads(raw) == {"access_token": "at", "expires_at": "99"}
