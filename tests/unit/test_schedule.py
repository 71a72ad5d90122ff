"""Schedules: EventBridge's rate() and cron() and nothing else; when each is due."""

from datetime import UTC, datetime, timedelta

import pytest

from sourcesync.schedule import ScheduleError, is_due, validate

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(1 day)",
        "rate(7 days)",
        "cron(0 12 * * ? *)",
        "cron(15 10 ? * MON-FRI *)",
        "cron(0/15 * * * ? *)",
        "cron(0 8 1 * ? 2026-2030)",
        "cron(0 9 ? * 2 *)",
    ],
)
def test_accepts_what_eventbridge_accepts(expression: str) -> None:
    assert validate(expression) == expression


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(5 weeks)",
        "every 5 minutes",
        "",
        "cron(0 12 * * *)",
        "cron(0 12 * * * *)",
        "cron(0 12 ? * ? *)",
        "cron(61 12 * * ? *)",
        "rate(5 minutes) ",
        "cron(0 12 * * ? *); rm -rf /",
    ],
)
def test_refuses_anything_else(expression: str) -> None:
    with pytest.raises(ScheduleError):
        validate(expression)


def test_a_rate_fires_every_period_counted_from_its_anchor() -> None:
    anchor = T0
    # Given an hourly schedule set at T0, it fires at T0+1h, T0+2h, ...
    assert not is_due("rate(1 hour)", anchor, T0, T0 + timedelta(minutes=59))
    assert is_due("rate(1 hour)", anchor, T0 + timedelta(minutes=59), T0 + timedelta(minutes=60))
    assert not is_due("rate(1 hour)", anchor, T0 + timedelta(minutes=60), T0 + timedelta(minutes=61))
    # and never before its anchor
    assert not is_due("rate(1 minute)", anchor, T0 - timedelta(minutes=5), T0)


def test_a_cron_fires_at_the_minutes_it_names_in_utc() -> None:
    daily_noon = "cron(0 12 * * ? *)"
    assert is_due(daily_noon, T0, T0 - timedelta(minutes=1), T0)
    assert not is_due(daily_noon, T0, T0, T0 + timedelta(hours=23))


def test_cron_day_of_week_is_counted_from_sunday_as_aws_does() -> None:
    # AWS: 2 = Monday. T0 is a Monday at 12:00; the window covers 08:59..09:00 that day.
    monday_nine = "cron(0 9 ? * 2 *)"
    start = T0.replace(hour=8, minute=59)
    assert is_due(monday_nine, T0, start, start + timedelta(minutes=1))
    assert not is_due(monday_nine, T0, start + timedelta(days=1), start + timedelta(days=1, minutes=1))


def test_cron_year_field_limits_the_years() -> None:
    only_2030 = "cron(0 12 * * ? 2030)"
    assert not is_due(only_2030, T0, T0 - timedelta(minutes=1), T0)


@pytest.mark.parametrize(
    "expression",
    ["rate(1 minute)", "rate(7 minutes)", "rate(1 hour)", "rate(3 days)", "cron(30 2 * * ? *)", "cron(0 9 ? * 2 *)"],
)
def test_next_fire_is_where_is_due_first_answers_true(expression: str) -> None:
    from datetime import UTC, datetime, timedelta

    from sourcesync.schedule import is_due, next_fire

    anchor = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    for after in (anchor - timedelta(hours=1), anchor, anchor + timedelta(minutes=61, seconds=5)):
        fire = next_fire(expression, anchor, after)
        assert fire is not None and fire > after
        assert is_due(expression, anchor, after, fire)
        assert not is_due(expression, anchor, after, fire - timedelta(seconds=1))
