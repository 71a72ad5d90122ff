"""The domain's models stand without HTTP: the services and `sourcesync.domain` never import `api/`, and
the API's request models are the domain's (one declaration per field)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from sourcesync.api import import_models, models
from sourcesync.domain import imports, manual_data, sources

PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "sourcesync"
NO_HTTP = sorted(
    [*(PACKAGE / "domain").glob("*.py")]
    + [PACKAGE / "services" / name for name in ("data_sources.py", "imports.py", "overlays.py")]
)


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", NO_HTTP, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_domain_and_its_services_do_not_import_the_api(path: Path) -> None:
    http = sorted(m for m in _imported_modules(path) if m == "sourcesync.api" or m.startswith("sourcesync.api."))
    assert http == [], f"{path.name} imports {http}"


@pytest.mark.parametrize(
    ("request_model", "domain_model"),
    [
        (models.DataSourceCreateRequest, sources.NewDataSource),
        (models.DataSourceUpdateRequest, sources.DataSourceChanges),
        (models.MergeRequest, manual_data.Merge),
        (models.SubscriptionsRequest, manual_data.SubscriptionSet),
        (models.MrrEditRequest, manual_data.MrrEdit),
        (import_models.ImportCustomersRequest, imports.CustomersImport),
        (import_models.ImportPlansRequest, imports.PlansImport),
        (import_models.ImportInvoicesRequest, imports.InvoicesImport),
    ],
)
def test_each_request_model_declares_no_field_of_its_own(request_model: type, domain_model: type) -> None:
    assert issubclass(request_model, domain_model)
    assert request_model.model_fields.keys() == domain_model.model_fields.keys()  # type: ignore[attr-defined]
    assert "__annotations__" not in vars(request_model) or not vars(request_model)["__annotations__"]


@pytest.mark.parametrize(
    ("option", "highest", "beyond"), [("requests_per_second", 10_000, 10_000.5), ("max_retry_seconds", 86_400, 86_401)]
)
def test_an_option_is_bounded_alike_for_create_and_patch(option: str, highest: float, beyond: float) -> None:
    for model in (sources.DataSourceOptions, sources.DataSourceOptionsPatch):
        assert getattr(model.model_validate({option: highest}), option) == highest
        with pytest.raises(ValidationError):
            model.model_validate({option: beyond})
    assert sources.DataSourceOptions().max_retry_seconds == sources.DEFAULT_MAX_RETRY_SECONDS


def test_the_stored_api_base_is_an_absolute_http_url_without_trailing_slash() -> None:
    adapter = TypeAdapter(sources.StoredApiBase)
    assert adapter.validate_python("http://127.0.0.1:8420/") == "http://127.0.0.1:8420"
    for bad in ("ftp://example.test", "/relative", "http://example.test/?q=1", "http://example.test/#part"):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
