"""The template's rate limits: the HTTP API stage's route throttling and the per-account limit, both from
parameters, with the stage as the backstop behind the per-account limit."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.sam import events_of_type, resources_of_type


def test_the_http_api_stage_throttles_every_route_from_two_parameters(translated: dict[str, Any]) -> None:
    stages = resources_of_type(translated, "AWS::ApiGatewayV2::Stage")
    assert stages
    for stage in stages.values():
        assert stage["Properties"]["DefaultRouteSettings"] == {
            "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
        }


def test_every_function_behind_the_http_api_gets_the_account_limit(template: dict[str, Any]) -> None:
    global_variables = template["Globals"]["Function"]["Environment"]["Variables"]
    functions = resources_of_type(template, "AWS::Serverless::Function")
    behind_the_api = {event.function_id for event in events_of_type(template, "HttpApi")}
    assert behind_the_api
    for function_id in behind_the_api:
        own = ((functions[function_id]["Properties"].get("Environment") or {}).get("Variables")) or {}
        variables = {**global_variables, **own}
        assert variables["RATE_LIMIT_REQUESTS"] == {"Ref": "AccountRequestLimit"}, function_id
        assert variables["RATE_LIMIT_WINDOW_SECONDS"] == {"Ref": "AccountRequestWindowSeconds"}, function_id


def test_by_default_one_account_reaches_its_own_limit_before_the_stage_throttles(template: dict[str, Any]) -> None:
    defaults = {name: float(p["Default"]) for name, p in template["Parameters"].items() if p["Type"] == "Number"}
    per_account_burst = defaults["AccountRequestLimit"]
    per_account_rate = defaults["AccountRequestLimit"] / defaults["AccountRequestWindowSeconds"]
    assert per_account_burst <= defaults["ApiThrottlingBurstLimit"]
    assert per_account_rate <= defaults["ApiThrottlingRateLimit"]
