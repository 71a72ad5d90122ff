"""PATCH /v1/data_sources/{uuid} changes what it names and only that; credentials are checked with the
provider before anything is written, and a provider that cannot be reached is 422 `provider_unavailable`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Client

pytestmark = pytest.mark.e2e

OPTIONS = {"requests_per_second": 5, "max_retry_seconds": 60}


@pytest.fixture
def stripe_source(api: Client, stack: dict[str, Any]) -> dict[str, Any]:
    created = api.ok(
        "POST",
        "/v1/data_sources",
        {
            "name": "Stripe",
            "system": "stripe",
            "credentials": {"api_key": "sk_test_patch"},
            "options": {"api_base": stack["stripe"], **OPTIONS},
            "schedule": "rate(1 day)",
        },
        status=201,
    )
    api.wait_for_job(created["job"]["id"])
    return api.ok("GET", f"/v1/data_sources/{created['data_source']['uuid']}")  # type: ignore[no-any-return]


def patch(api: Client, uuid: str, body: dict[str, Any], status: int = 200) -> Any:
    return api.ok("PATCH", f"/v1/data_sources/{uuid}", body, status=status)


def test_an_option_not_named_stays_as_stored(api: Client, stripe_source: dict[str, Any], stack: dict[str, Any]) -> None:
    uuid = stripe_source["uuid"]
    assert stripe_source["options"] == {"api_base": stack["stripe"], **OPTIONS}
    assert patch(api, uuid, {"options": {"requests_per_second": 7}})["options"] == {
        "api_base": stack["stripe"],
        "requests_per_second": 7,
        "max_retry_seconds": 60,
    }
    assert patch(api, uuid, {"options": {"max_retry_seconds": 120}})["options"] == {
        "api_base": stack["stripe"],
        "requests_per_second": 7,
        "max_retry_seconds": 120,
    }
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["options"]["requests_per_second"] == 7


@pytest.mark.parametrize(
    ("option", "after"),
    [
        ("requests_per_second", {"max_retry_seconds": 60}),
        ("max_retry_seconds", {"requests_per_second": 5, "max_retry_seconds": 300}),
    ],
)
def test_null_puts_one_option_back_to_its_default(
    api: Client, stripe_source: dict[str, Any], stack: dict[str, Any], option: str, after: dict[str, Any]
) -> None:
    answer = patch(api, stripe_source["uuid"], {"options": {option: None}})
    assert answer["options"] == {"api_base": stack["stripe"], **after}


def test_api_base_can_be_changed_and_removed(api: Client, stripe_source: dict[str, Any], stack: dict[str, Any]) -> None:
    uuid = stripe_source["uuid"]
    moved = stack["stripe"].rstrip("/") + "/elsewhere"
    assert patch(api, uuid, {"options": {"api_base": moved}})["options"]["api_base"] == moved
    assert patch(api, uuid, {"options": {"api_base": None}})["options"] == OPTIONS


def test_bad_options_are_400_and_change_nothing(api: Client, stripe_source: dict[str, Any]) -> None:
    uuid = stripe_source["uuid"]
    for options in ({"requests_per_second": 0}, {"max_retry_seconds": -1}, {"unknown": 1}, {"api_base": "not a url"}):
        answer = api.patch(f"/v1/data_sources/{uuid}", {"options": options, "name": "Renamed"})
        assert answer.status_code == 400, options
    assert api.ok("GET", f"/v1/data_sources/{uuid}") == stripe_source


def test_name_changes_alone_and_cannot_be_null(api: Client, stripe_source: dict[str, Any]) -> None:
    uuid = stripe_source["uuid"]
    renamed = patch(api, uuid, {"name": "Billing"})
    assert renamed["name"] == "Billing"
    assert renamed["options"] == stripe_source["options"]
    assert renamed["schedule"] == stripe_source["schedule"]
    assert api.patch(f"/v1/data_sources/{uuid}", {"name": None}).status_code == 400
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["name"] == "Billing"


def test_schedule_is_set_and_turned_off(api: Client, stripe_source: dict[str, Any]) -> None:
    uuid = stripe_source["uuid"]
    assert patch(api, uuid, {"schedule": "rate(2 hours)"})["schedule"] == "rate(2 hours)"
    off = patch(api, uuid, {"schedule": None})
    assert off["schedule"] is None
    assert off["options"] == stripe_source["options"]


def test_good_credentials_are_stored(api: Client, stripe_source: dict[str, Any], aws: Any) -> None:
    uuid = stripe_source["uuid"]
    patch(api, uuid, {"credentials": {"api_key": "sk_test_rotated"}})
    secrets = aws("secretsmanager")
    name = next(s["Name"] for s in secrets.list_secrets()["SecretList"] if s["Name"].endswith(uuid))
    assert secrets.get_secret_value(SecretId=name)["SecretString"] == '{"api_key": "sk_test_rotated"}'


def test_bad_credentials_change_nothing_of_the_request(api: Client, stripe_source: dict[str, Any]) -> None:
    uuid = stripe_source["uuid"]
    answer = api.patch(
        f"/v1/data_sources/{uuid}",
        {"name": "Renamed", "credentials": {"api_key": "pk_not_a_secret_key"}, "options": {"max_retry_seconds": 1}},
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "credentials_invalid"
    shown = api.ok("GET", f"/v1/data_sources/{uuid}")
    assert (shown["name"], shown["options"]) == ("Stripe", stripe_source["options"])


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there any more: connections are refused


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.mark.parametrize("port_fixture", ["closed_port", "silent_port"])
def test_creating_a_source_whose_provider_cannot_be_reached_is_422_and_creates_nothing(
    api: Client, request: pytest.FixtureRequest, port_fixture: str
) -> None:
    port = request.getfixturevalue(port_fixture)
    # The client gives up after 30 s: an answer proves the check did not hang on the provider.
    answer = api.post(
        "/v1/data_sources",
        {
            "name": "Unreachable",
            "system": "stripe",
            "credentials": {"api_key": "sk_test_unreachable"},
            "options": {"api_base": f"http://127.0.0.1:{port}"},
        },
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "provider_unavailable"
    assert api.ok("GET", "/v1/data_sources")["entries"] == []


@pytest.mark.parametrize("port_fixture", ["closed_port", "silent_port"])
def test_new_credentials_for_a_provider_that_cannot_be_reached_are_422_and_change_nothing(
    api: Client, stripe_source: dict[str, Any], request: pytest.FixtureRequest, port_fixture: str
) -> None:
    port = request.getfixturevalue(port_fixture)
    uuid = stripe_source["uuid"]
    answer = api.patch(
        f"/v1/data_sources/{uuid}",
        {"credentials": {"api_key": "sk_test_other"}, "options": {"api_base": f"http://127.0.0.1:{port}"}},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "provider_unavailable"
    assert api.ok("GET", f"/v1/data_sources/{uuid}")["options"] == stripe_source["options"]
