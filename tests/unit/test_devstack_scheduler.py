"""devstack.scheduler: schedule expressions, due times and the scheduled event (no AWS, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devstack.scheduler import (
    CronSchedule,
    RateSchedule,
    ScheduleExpressionError,
    aws_cron_to_croniter,
    execution_name,
    parse_schedule,
    scheduled_event,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(3 days)", 259200),
    ],
)
def test_rate_expressions(expression: str, seconds: int) -> None:
    assert parse_schedule(expression) == RateSchedule(seconds)


@pytest.mark.parametrize("expression", ["rate(0 minutes)", "rate(5 weeks)", "every 5 minutes", "cron(* * * *)"])
def test_invalid_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        parse_schedule(expression)


@pytest.mark.parametrize(
    ("aws", "croniter"),
    [
        ("0 10 * * ? *", "0 10 * * * 0 *"),  # ? in day-of-week
        ("15 12 ? * MON-FRI *", "15 12 * * mon-fri 0 *"),  # ? in day-of-month, names
        ("0 8 ? * 2-6 *", "0 8 * * 1-5 0 *"),  # AWS 1-7 = SUN-SAT -> 0-6
        ("0 8 ? * 1,7 *", "0 8 * * 0,6 0 *"),
        ("0 0 ? * 6L *", "0 0 * * L5 0 *"),  # last Friday
        ("0 0 ? * 2#1 *", "0 0 * * 1#1 0 *"),  # first Monday
        ("0/15 * * * ? 2030", "0/15 * * * * 0 2030"),  # the year field
        ("0 18 L * ? *", "0 18 L * * 0 *"),  # last day of the month
        ("0 9 1 JAN ? *", "0 9 1 jan * 0 *"),
    ],
)
def test_aws_cron_maps_to_croniter(aws: str, croniter: str) -> None:
    assert aws_cron_to_croniter(aws) == croniter


@pytest.mark.parametrize("fields", ["0 10 * *", "0 10 * * ? * *", "0 10 ? * 8 *", "0 10 15W * ? *"])
def test_unsupported_cron_is_refused(fields: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        aws_cron_to_croniter(fields)


def test_rate_is_due_on_multiples_of_its_period() -> None:
    five = RateSchedule(300)
    assert five.latest_due(at("2030-01-07 02:20:00"), at("2030-01-07 02:24:59")) is None
    assert five.latest_due(at("2030-01-07 02:20:00"), at("2030-01-07 02:25:00")) == at("2030-01-07 02:25:00")
    assert five.latest_due(at("2030-01-07 02:25:00"), at("2030-01-07 02:29:59")) is None  # (after, until]
    # A long gap coalesces into the latest due time.
    assert five.latest_due(at("2030-01-07 01:00:00"), at("2030-01-07 02:31:00")) == at("2030-01-07 02:30:00")
    day = RateSchedule(86400)
    assert day.latest_due(at("2030-01-07 23:59:59"), at("2030-01-08 00:00:00")) == at("2030-01-08 00:00:00")


def test_cron_due_times_follow_aws_semantics() -> None:
    weekdays = parse_schedule("cron(30 2 ? * MON-FRI *)")
    assert isinstance(weekdays, CronSchedule)
    monday = at("2030-01-07 02:30:00")  # 2030-01-07 is a Monday
    assert weekdays.latest_due(monday - timedelta(seconds=1), monday) == monday
    assert weekdays.latest_due(monday, monday + timedelta(hours=23)) is None
    saturday = at("2030-01-12 02:30:00")
    assert weekdays.latest_due(saturday - timedelta(minutes=1), saturday) is None
    first_monday = parse_schedule("cron(0 9 ? * 2#1 *)")
    assert first_monday.latest_due(at("2030-01-06 00:00:00"), at("2030-01-07 09:00:00")) == at("2030-01-07 09:00:00")
    assert first_monday.latest_due(at("2030-01-13 00:00:00"), at("2030-01-14 09:00:00")) is None
    in_2031_only = parse_schedule("cron(0 0 1 1 ? 2031)")
    assert in_2031_only.latest_due(at("2029-12-31 00:00:00"), at("2030-01-01 00:00:00")) is None
    assert in_2031_only.latest_due(at("2030-12-31 00:00:00"), at("2031-01-01 00:00:00")) == at("2031-01-01 00:00:00")


def test_scheduled_event_shape() -> None:
    arn = "arn:aws:events:us-east-1:123456789012:rule/r"
    event = scheduled_event(arn, at("2030-01-07 02:30:00"), event_id="id-1")
    assert event == {
        "version": "0",
        "id": "id-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2030-01-07T02:30:00Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {},
    }
    fire = at("2030-01-07 02:30:00")
    assert scheduled_event(arn, fire)["id"] != scheduled_event(arn, fire)["id"]  # a new id per event


def test_execution_names_are_valid_and_deterministic() -> None:
    name = execution_name("stack-Rule.with:odd/chars" + "x" * 100, at("2030-01-07 02:30:00"))
    assert len(name) <= 80
    assert name.endswith("-20300107T023000Z")
    assert set(name) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert name == execution_name("stack-Rule.with:odd/chars" + "x" * 100, at("2030-01-07 02:30:00"))
