"""PATCH on DynamoDB Local where the deployment refuses `options.api_base` (the template's default)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sourcesync.api.models import DataSourceCreateRequest, DataSourceUpdateRequest
from sourcesync.config import get_settings
from sourcesync.errors import ApiBaseNotAllowedError
from sourcesync.services import accounts, data_sources
from sourcesync.store.accounts import Principal

pytestmark = pytest.mark.integration


@pytest.fixture
def production_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ALLOW_API_BASE", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_patching_api_base_is_refused_unless_allowed_and_changes_nothing(
    dynamodb_local: Any, production_settings: None
) -> None:
    key = accounts.create_account("prod-patch")
    principal = Principal(key.account_id, key.key_id, key.role)
    created = data_sources.create(
        principal,
        DataSourceCreateRequest.model_validate(
            {"name": "Pushed", "system": "custom", "options": {"requests_per_second": 3, "max_retry_seconds": 30}}
        ),
    )["data_source"]
    uuid = created["uuid"]
    request = DataSourceUpdateRequest.model_validate(
        {"name": "Renamed", "options": {"api_base": "http://169.254.169.254/latest", "max_retry_seconds": 10}}
    )
    with pytest.raises(ApiBaseNotAllowedError):
        data_sources.update(principal, uuid, request)
    assert data_sources.get(principal, uuid) == created
    # removing an api_base (or naming none) needs no permission, and leaves the other options as stored
    cleared = data_sources.update(
        principal, uuid, DataSourceUpdateRequest.model_validate({"options": {"api_base": None}})
    )
    assert cleared["options"] == {"requests_per_second": 3, "max_retry_seconds": 30}
