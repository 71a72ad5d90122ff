"""The API's contract over HTTP: strict query strings, path ids checked for shape, 404/405/415 in the
error envelope, and the OpenAPI document served at /v1/openapi.json."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from devstack import REPO_ROOT
from tests.e2e.conftest import Client

pytestmark = pytest.mark.e2e

NOT_BOOLEANS = ["on", "1", "", "True", "yes", "false ", "true,false"]


def _error(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, f"{answer.status_code} {answer.text}"
    assert answer.headers["Content-Type"].startswith("application/json")
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code and error["message"] and error["request_id"]
    return error


def _custom_source(api: Client) -> str:
    uuid: str = api.ok("POST", "/v1/data_sources", {"name": "Pushed", "system": "custom"}, status=201)["data_source"][
        "uuid"
    ]
    api.ok(
        "POST", f"/v1/import/data_sources/{uuid}/customers", {"customers": [{"external_id": "c1", "name": "A"}]}, 201
    )
    return uuid


@pytest.mark.parametrize("value", NOT_BOOLEANS)
def test_a_dry_run_value_that_is_not_true_or_false_is_400_and_deletes_nothing(api: Client, value: str) -> None:
    uuid = _custom_source(api)
    error = _error(api.delete(f"/v1/data_sources/{uuid}", params={"dry_run": value}), 400, "invalid_request")
    assert [d["loc"] for d in error["details"]] == ["dry_run"]
    source = api.ok("GET", f"/v1/data_sources/{uuid}")
    assert source["status"] == "active" and source["current_job"] is None
    assert source["counts"]["customers"] == 1
    assert api.ok("GET", f"/v1/data_sources/{uuid}/jobs")["entries"] == []


def test_dry_run_true_previews_and_false_deletes(api: Client) -> None:
    uuid = _custom_source(api)
    preview = api.ok("DELETE", f"/v1/data_sources/{uuid}", params={"dry_run": "true"})
    assert preview["counts"]["customers"] == 1
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["status"] == "active"
    job = api.ok("DELETE", f"/v1/data_sources/{uuid}", params={"dry_run": "false"}, status=202)
    assert job["kind"] == "delete_source" and job["waiting_for"] is None and job["cleanup"] is None


@pytest.mark.parametrize("value", NOT_BOOLEANS)
def test_a_resync_dry_run_value_that_is_not_true_or_false_is_400(api: Client, value: str) -> None:
    uuid = _custom_source(api)
    _error(api.post(f"/v1/data_sources/{uuid}/resync", params={"dry_run": value}), 400, "invalid_request")
    assert api.ok("GET", f"/v1/data_sources/{uuid}/jobs")["entries"] == []


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("DELETE", "/v1/data_sources/{uuid}", {"dryrun": "true"}),
        ("GET", "/v1/data_sources", {"per_pages": "2"}),
        ("GET", "/v1/data_sources/{uuid}", {"x": "1"}),
        ("POST", "/v1/data_sources/{uuid}/resync", {"dry-run": "true"}),
    ],
)
def test_unknown_query_parameters_are_400_and_change_nothing(
    api: Client, method: str, path: str, params: dict[str, str]
) -> None:
    uuid = _custom_source(api)
    error = _error(api.request(method, path.format(uuid=uuid), params=params), 400, "invalid_request")
    assert error["details"] and error["details"][0]["loc"] == next(iter(params))
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["status"] == "active"
    assert api.ok("GET", f"/v1/data_sources/{uuid}/jobs")["entries"] == []


ID_ROUTES = [
    ("GET", "/v1/data_sources/{id}"),
    ("PATCH", "/v1/data_sources/{id}"),
    ("DELETE", "/v1/data_sources/{id}"),
    ("POST", "/v1/data_sources/{id}/resync"),
    ("POST", "/v1/data_sources/{id}/customers/{id}/resync"),
    ("GET", "/v1/data_sources/{id}/jobs"),
    ("GET", "/v1/jobs/{id}"),
    ("POST", "/v1/jobs/{id}/cancel"),
    ("GET", "/v1/customers/{id}"),
    ("POST", "/v1/customers/{id}/connect_subscriptions"),
    ("GET", "/v1/subscriptions/{id}"),
    ("POST", "/v1/subscriptions/{id}/mrr_edits"),
    ("DELETE", "/v1/subscriptions/{id}/mrr_edits/{id}"),
    ("POST", "/v1/import/data_sources/{id}/customers"),
]
ODD_IDS = ["ds_" + "a" * 3000, "x" * 2048, "ds_%00", "cus_%E2%80%AE" + "a" * 22, "sub_" + "0" * 27, "%F0%9F%92%A9"]


@pytest.mark.parametrize(("method", "path"), ID_ROUTES)
def test_ids_of_any_length_and_character_are_404_never_5xx(api: Client, method: str, path: str) -> None:
    for odd in ODD_IDS:
        body = {"name": "x"} if method == "PATCH" else None
        _error(api.request(method, path.replace("{id}", odd), json=body), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v1/data_sources/ds_00000000000000000000000000", "DELETE, GET, PATCH"),
        ("GET", "/v1/data_sources/ds_00000000000000000000000000/resync", "POST"),
        ("DELETE", "/v1/data_sources", "GET, POST"),
        ("POST", "/v1/jobs/job_00000000000000000000000000", "GET"),
        ("PATCH", "/v1/openapi.json", "GET"),
    ],
)
def test_a_method_a_route_does_not_take_is_405_with_allow(
    api: Client, stack: dict[str, Any], method: str, path: str, allow: str
) -> None:
    for client in (api, Client(stack["api"], None)):
        answer = client.request(method, path)
        _error(answer, 405, "method_not_allowed")
        assert answer.headers["Allow"] == allow


@pytest.mark.parametrize("path", ["/", "/v1", "/v2/data_sources", "/v1/data_sources/ds_x/nope", "/v1/%00"])
def test_a_path_nobody_serves_is_404_in_the_envelope(api: Client, path: str) -> None:
    _error(api.get(path), 404, "not_found")


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}, {"Content-Type": ""}],
)
def test_a_body_that_is_not_json_is_415_and_creates_nothing(api: Client, headers: dict[str, str]) -> None:
    body = json.dumps({"name": "x", "system": "custom"})
    _error(api.request("POST", "/v1/data_sources", data=body, headers=headers), 415, "unsupported_media_type")
    assert api.ok("GET", "/v1/data_sources")["entries"] == []


def test_binary_bodies_are_415_and_a_post_without_a_body_stays_valid(api: Client) -> None:
    answer = api.request("POST", "/v1/data_sources", data=b"\xff\xfe\x00", headers={"Content-Type": "application/json"})
    _error(answer, 415, "unsupported_media_type")
    uuid = _custom_source(api)
    _error(api.request("POST", f"/v1/data_sources/{uuid}/resync"), 422, "resync_not_supported")


def test_json_media_types_with_parameters_are_accepted(api: Client) -> None:
    body = json.dumps({"name": "x", "system": "custom"})
    answer = api.request(
        "POST", "/v1/data_sources", data=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert answer.status_code == 201, answer.text


def test_control_characters_and_mrr_beyond_the_bound_are_400(api: Client) -> None:
    error = _error(
        api.post("/v1/customers/merges", {"from": {"customer_uuid": "cus_\x00"}, "into": {"customer_uuid": "c"}}),
        400,
        "invalid_request",
    )
    assert any(d["loc"] == "from.customer_uuid" for d in error["details"])
    answer = api.post(
        "/v1/subscriptions/sub_00000000000000000000000000/mrr_edits", {"mrr": 10**13 + 1, "from": "2026-01-01"}
    )
    assert any(d["loc"] == "mrr" for d in _error(answer, 400, "invalid_request")["details"])


def test_the_openapi_document_is_served_without_a_key_and_equals_the_docs_copy(stack: dict[str, Any]) -> None:
    answer = Client(stack["api"], None).get("/v1/openapi.json")
    assert answer.status_code == 200
    served = answer.json()
    assert served["openapi"].startswith("3.1")
    assert served == json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    assert "/v1/data_sources/{uuid}" in served["paths"]


def test_two_functions_answering_at_once_each_read_their_own_request(api: Client) -> None:
    """Powertools keeps the current request on a class attribute shared by every resolver in a process; the
    local stack runs every function in one process, so requests to two functions at once must not mix (a
    delete preview once read a customer list's query string and answered 400)."""
    uuid = _custom_source(api)
    answers: list[tuple[str, int, str]] = []

    def customers() -> None:
        for _ in range(25):
            got = api.get("/v1/customers", params={"data_source_uuid": uuid, "per_page": 50})
            answers.append(("customers", got.status_code, got.text[:200]))

    def previews() -> None:
        for _ in range(25):
            got = api.delete(f"/v1/data_sources/{uuid}", params={"dry_run": "true"})
            answers.append(("preview", got.status_code, got.text[:200]))

    threads = [threading.Thread(target=customers), threading.Thread(target=previews)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == 50
    assert [a for a in answers if a[1] != 200] == []
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["uuid"] == uuid  # previews only: nothing deleted
