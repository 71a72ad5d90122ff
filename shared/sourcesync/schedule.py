"""Schedules as EventBridge writes them: ``rate(value unit)`` and ``cron(min hour dom month dow year)``.

`validate` refuses anything else (400 on the API); `is_due` answers whether a schedule fires in a
time interval, which is how the scheduler function (started every minute by the template's rule)
picks the due sources without keeping a timer per source.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RATE = re.compile(r"^rate\((\d{1,6}) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(([^()]+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_FIELD = re.compile(r"^[0-9A-Za-z*?,/#L\-W]+$")


class ScheduleError(ValueError):
    pass


def _rate_seconds(expression: str) -> int | None:
    match = _RATE.match(expression)
    if not match:
        return None
    value, unit = int(match.group(1)), match.group(2)
    if value < 1:
        raise ScheduleError("A rate must be at least 1.")
    if (value == 1) != (not unit.endswith("s")):
        raise ScheduleError("Use the singular unit for 1 and the plural otherwise, e.g. rate(1 hour), rate(5 hours).")
    return value * _UNIT_SECONDS[unit.rstrip("s")]


def _croniter_expression(expression: str) -> tuple[str, str]:
    """AWS's six-field cron -> (five-field expression croniter reads, the year field)."""
    match = _CRON.match(expression)
    if not match:
        raise ScheduleError(
            "A schedule is rate(value unit) or cron(minutes hours day-of-month month day-of-week year)."
        )
    fields = match.group(1).split()
    if len(fields) != 6 or not all(_FIELD.match(f) for f in fields):
        raise ScheduleError("cron() takes six fields: minutes hours day-of-month month day-of-week year.")
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError("cron(): exactly one of day-of-month and day-of-week must be '?'.")

    def shift_dow(part: str) -> str:  # AWS numbers days 1-7 from Sunday, croniter 0-6
        return re.sub(r"\d+", lambda m: str(int(m.group()) - 1) if 1 <= int(m.group()) <= 7 else "x", part)

    dow = (
        "*"
        if dow == "?"
        else ("#".join([shift_dow(dow.split("#")[0]), dow.split("#")[1]]) if "#" in dow else shift_dow(dow))
    )
    dom = "*" if dom == "?" else dom
    return f"{minutes} {hours} {dom} {month} {dow}", year


def _year_matches(year_field: str, year: int) -> bool:
    if year_field in ("*", "?"):
        return True
    for part in year_field.split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            if low.isdigit() and high.isdigit() and int(low) <= year <= int(high):
                return True
        elif part.isdigit() and int(part) == year:
            return True
    return False


def validate(expression: str) -> str:
    """Return the expression if EventBridge would accept it as a schedule, else raise ScheduleError."""
    if _rate_seconds(expression) is not None:
        return expression
    cron, year = _croniter_expression(expression)
    from croniter import croniter  # lazily: cold init (only cron schedules need it)

    if not croniter.is_valid(cron) or not re.fullmatch(r"[0-9*,/\-]+", year):
        raise ScheduleError(f"Not a valid cron expression: {expression}")
    return expression


def is_due(expression: str, anchor: datetime, start: datetime, end: datetime) -> bool:
    """Whether the schedule fires in (start, end].

    A rate fires every period counted from `anchor` (when the schedule was set); a cron fires at
    the minutes it names, in UTC.
    """
    period = _rate_seconds(expression)
    if period is not None:
        if end <= anchor:
            return False
        elapsed_end = int((end - anchor).total_seconds()) // period
        elapsed_start = int((max(start, anchor) - anchor).total_seconds()) // period
        return elapsed_end > elapsed_start
    from croniter import croniter  # lazily: cold init (only cron schedules need it)

    cron, year = _croniter_expression(expression)
    fire = croniter(cron, start.astimezone(UTC)).get_next(datetime)
    while fire <= end:
        if _year_matches(year, fire.year):
            return True
        fire = croniter(cron, fire + timedelta(seconds=1)).get_next(datetime)
        if fire.year > end.year + 1:
            break
    return False


def next_fire(expression: str, anchor: datetime, after: datetime) -> datetime | None:
    """The schedule's first firing strictly after `after` (None if a cron's years are all past): the
    time at which `is_due` first answers True for an interval starting at `after`."""
    period = _rate_seconds(expression)
    if period is not None:
        if after < anchor:
            return anchor + timedelta(seconds=period)
        return anchor + timedelta(seconds=period * (int((after - anchor).total_seconds()) // period + 1))
    from croniter import croniter  # lazily: cold init (only cron schedules need it)

    cron, year = _croniter_expression(expression)
    fire: datetime = croniter(cron, after.astimezone(UTC)).get_next(datetime)
    for _ in range(1000):  # a year field names a few years at most: this ends long before
        if _year_matches(year, fire.year):
            return fire.astimezone(UTC)
        fire = croniter(cron, fire + timedelta(seconds=1)).get_next(datetime)
    return None
