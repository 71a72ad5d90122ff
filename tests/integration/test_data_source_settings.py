"""Deployment settings the API enforces, on DynamoDB Local: `options.api_base` only where allowed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sourcesync.api.models import DataSourceCreateRequest
from sourcesync.config import get_settings
from sourcesync.errors import ApiBaseNotAllowedError
from sourcesync.services import accounts, data_sources
from sourcesync.store.accounts import Principal

pytestmark = pytest.mark.integration


@pytest.fixture
def production_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ALLOW_API_BASE", "false")  # the template's default
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_api_base_is_refused_unless_the_deployment_allows_it(dynamodb_local: Any, production_settings: None) -> None:
    key = accounts.create_account("prod")
    principal = Principal(key.account_id, key.key_id, key.role)
    request = DataSourceCreateRequest.model_validate(
        {
            "name": "Elsewhere",
            "system": "stripe",
            "credentials": {"api_key": "sk_test_x"},
            "options": {"api_base": "http://169.254.169.254/latest"},
        }
    )
    with pytest.raises(ApiBaseNotAllowedError) as refused:
        data_sources.create(principal, request)
    assert refused.value.code == "api_base_not_allowed"
    assert data_sources.list_page(principal, 50, None) == ([], None)
    # a custom source needs no api_base and is still fine
    custom = DataSourceCreateRequest.model_validate({"name": "Pushed", "system": "custom"})
    assert data_sources.create(principal, custom)["data_source"]["system"] == "custom"
