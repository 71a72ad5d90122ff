"""Request validation: unknown fields, wrong types and bad values are 400s, never silent coercions."""

import json

import pytest
from pydantic import ValidationError

from sourcesync import errors
from sourcesync.api.errors import status_of, validation_details
from sourcesync.api.import_models import ImportCustomersRequest, ImportInvoicesRequest
from sourcesync.api.models import DataSourceCreateRequest, DataSourceUpdateRequest
from sourcesync.connectors.errors import CredentialsInvalidError


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "x", "system": "stripe", "extra": 1}, "extra"),
        ({"name": 5, "system": "stripe"}, "name"),
        ({"name": "x", "system": "nope"}, "system"),
        ({"system": "stripe"}, "name"),
        ({"name": "x", "system": "stripe", "options": {"max_retry_seconds": "5"}}, "options.max_retry_seconds"),
        ({"name": "x", "system": "stripe", "options": {"api_base": "not a url"}}, "options.api_base"),
        ({"name": "x", "system": "stripe", "schedule": "every day"}, "schedule"),
        ({"name": "x", "system": "stripe", "credentials": {"api_key": 12}}, "credentials.api_key"),
    ],
    ids=[
        "unknown-field",
        "wrong-type",
        "unknown-system",
        "missing-name",
        "string-for-int",
        "bad-url",
        "bad-schedule",
        "non-string-credential",
    ],
)
def test_bad_data_source_bodies_name_the_field(body: dict, loc: str) -> None:
    with pytest.raises(ValidationError) as raised:
        DataSourceCreateRequest.model_validate_json(json.dumps(body))
    assert loc in [d["loc"] for d in validation_details(list(raised.value.errors()))]


def test_patch_tells_null_from_absent() -> None:
    turn_off = DataSourceUpdateRequest.model_validate_json('{"schedule": null}')
    untouched = DataSourceUpdateRequest.model_validate_json('{"name": "n"}')
    assert "schedule" in turn_off.model_fields_set and turn_off.schedule is None
    assert "schedule" not in untouched.model_fields_set


def test_an_import_names_the_index_of_the_bad_record() -> None:
    body = {"customers": [{"external_id": "a", "name": "A"}, {"external_id": "b", "name": "B", "email": 3}]}
    with pytest.raises(ValidationError) as raised:
        ImportCustomersRequest.model_validate_json(json.dumps(body))
    assert [d["loc"] for d in validation_details(list(raised.value.errors()))] == ["customers.1.email"]


def test_an_import_takes_at_most_a_thousand_records() -> None:
    body = {"customers": [{"external_id": str(i), "name": "n"} for i in range(1001)]}
    with pytest.raises(ValidationError):
        ImportCustomersRequest.model_validate_json(json.dumps(body))


def test_a_subscription_line_needs_its_subscription_plan_and_period() -> None:
    invoice = {
        "external_id": "i",
        "customer_external_id": "c",
        "date": "2026-01-01",
        "currency": "usd",
        "line_items": [{"type": "subscription", "amount_in_cents": 100}],
    }
    with pytest.raises(ValidationError):
        ImportInvoicesRequest.model_validate_json(json.dumps({"invoices": [invoice]}))
    invoice["line_items"] = [
        {
            "type": "subscription",
            "amount_in_cents": 100,
            "subscription_external_id": "s",
            "plan_external_id": "p",
            "service_period_start": "2026-01-01",
            "service_period_end": "2026-02-01",
        }
    ]
    parsed = ImportInvoicesRequest.model_validate_json(json.dumps({"invoices": [invoice]}))
    assert parsed.invoices[0].currency == "USD"
    assert parsed.invoices[0].date.tzinfo is not None


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidRequestError("x"), 400),
        (errors.UnauthorizedError("x"), 401),
        (errors.ForbiddenError("x"), 403),
        (errors.NotFoundError("x"), 404),
        (errors.JobRunningError("job_1"), 409),
        (errors.PayloadTooLargeError("x"), 413),
        (CredentialsInvalidError(), 422),
        (errors.IdempotencyKeyReusedError(), 422),
        (errors.UnprocessableError("resync_not_supported", "x"), 422),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_domain_errors_map_to_statuses_in_one_place(error: errors.SourceSyncError, status: int) -> None:
    assert status_of(error) == status
