"""Fire the deployed schedules (moto stores EventBridge rules but never fires them).

`Scheduler.tick(now)` reads the scheduled rules of the default bus from moto (ListRules,
ListTargetsByRule), finds each rule's latest due time in (last tick, now] and invokes its targets with an
EventBridge "Scheduled Event" whose `time` is that due time: a Lambda target runs in-process (as
EventBridge would invoke it, but synchronously, so tests see its result), a state machine target gets a
StartExecution with a name. Tests call `tick` with exact datetimes; the running stack calls it every second
with the real clock (`Scheduler.run`).

Due times:
- `rate(N unit)`: multiples of the period counted from the Unix epoch (rate(1 minute) fires at every whole
  minute, rate(1 day) at 00:00 UTC). AWS starts counting when the rule is created; this keeps tests exact.
- `cron(min hour day-of-month month day-of-week year)`: AWS's six fields mapped to croniter (`?` -> `*`,
  day-of-week 1-7 = SUN-SAT -> 0-6, `6L` -> `L5`, `2#1` -> `1#1`, year kept as croniter's 7th field).
Missed occurrences are coalesced: one firing per rule and tick, with the latest due time.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import CroniterBadDateError, croniter

from devstack import ACCOUNT_ID, REGION
from devstack.lambda_runtime import RUNTIME, LambdaRuntime

LOG = logging.getLogger("devstack.scheduler")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EXECUTION_NAME = re.compile(r"[^A-Za-z0-9_-]")


class ScheduleExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class RateSchedule:
    seconds: int

    def latest_due(self, after: datetime, until: datetime) -> datetime | None:
        """The latest multiple of the period (from the epoch) in (after, until]."""
        step = timedelta(seconds=self.seconds)
        due = _EPOCH + ((until - _EPOCH) // step) * step
        return due if due > after else None


@dataclass(frozen=True)
class CronSchedule:
    expression: str  # croniter's 7-field form

    def latest_due(self, after: datetime, until: datetime) -> datetime | None:
        # croniter's get_prev from `until + 1 s` includes `until` itself when it matches exactly.
        try:
            previous = croniter(self.expression, until + timedelta(seconds=1)).get_prev(datetime)
        except CroniterBadDateError:  # no match in the years croniter searches (e.g. a future year)
            return None
        due = previous.astimezone(UTC)
        return due if after < due <= until else None


Schedule = RateSchedule | CronSchedule


def parse_schedule(expression: str) -> Schedule:
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if value < 1:
            raise ScheduleExpressionError(f"{expression}: the rate must be at least 1")
        return RateSchedule(value * _UNIT_SECONDS[unit])
    cron = _CRON.match(expression)
    if cron:
        return CronSchedule(aws_cron_to_croniter(cron.group(1)))
    raise ScheduleExpressionError(f"unsupported schedule expression {expression!r} (rate(...) or cron(...))")


def _map_dow_token(token: str) -> str:
    """One AWS day-of-week list item (1-7 = SUN-SAT, names, ranges, `6L`, `2#3`) -> croniter's (0-6)."""

    def number(text: str) -> str:
        if text.isdigit():
            value = int(text)
            if not 1 <= value <= 7:
                raise ScheduleExpressionError(f"day-of-week {value} is out of range 1-7")
            return str(value - 1)
        return text.lower()

    if token in ("*", "?"):
        return "*"
    if token.endswith("L") and len(token) > 1:
        return "L" + number(token[:-1])
    if "#" in token:
        day, nth = token.split("#", 1)
        return f"{number(day)}#{nth}"
    step = ""
    if "/" in token:
        token, step_value = token.split("/", 1)
        step = "/" + step_value
    if "-" in token:
        start, end = token.split("-", 1)
        return f"{number(start)}-{number(end)}{step}"
    return number(token) + step


def aws_cron_to_croniter(fields_text: str) -> str:
    """`0 10 ? * MON-FRI *` (AWS: min hour dom month dow year) -> `0 10 * * mon-fri 0 *` for croniter."""
    fields = fields_text.split()
    if len(fields) != 6:
        raise ScheduleExpressionError(
            f"cron({fields_text}): AWS cron has 6 fields (minutes hours day-of-month month day-of-week year)"
        )
    minute, hour, dom, month, dow, year = fields
    if "W" in dom.upper() and dom.upper() != "W":
        raise ScheduleExpressionError(f"cron({fields_text}): the W (nearest weekday) wildcard is not supported")
    dom = "*" if dom == "?" else dom
    dow = ",".join(_map_dow_token(token) for token in dow.split(","))
    expression = " ".join((minute, hour, dom, month.lower(), dow, "0", year))
    if not croniter.is_valid(expression):
        raise ScheduleExpressionError(f"cron({fields_text}) -> {expression!r} is not a valid expression")
    return expression


def scheduled_event(
    rule_arn: str, fire_time: datetime, *, event_id: str | None = None, account: str = ACCOUNT_ID, region: str = REGION
) -> dict[str, Any]:
    """The event EventBridge sends to a scheduled rule's targets."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": fire_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def execution_name(rule_name: str, fire_time: datetime) -> str:
    """A valid, deterministic Step Functions execution name (at most 80 of [A-Za-z0-9_-])."""
    suffix = fire_time.astimezone(UTC).strftime("-%Y%m%dT%H%M%SZ")
    return _EXECUTION_NAME.sub("_", rule_name)[: 80 - len(suffix)] + suffix


@dataclass
class Firing:
    """One target invoked for one due time."""

    rule_name: str
    rule_arn: str
    target_arn: str
    time: datetime
    event: Any
    ok: bool
    result: Any = None  # a Lambda's return value or the StartExecution answer's executionArn
    error: str | None = None


class Scheduler:
    def __init__(
        self,
        events_client: Any,
        sfn_client: Any,
        *,
        runtime: LambdaRuntime = RUNTIME,
        start: datetime | None = None,
        account: str = ACCOUNT_ID,
        region: str = REGION,
        name_prefix: str | None = None,
    ) -> None:
        """`name_prefix`: only rules whose name starts with it (a test firing one stack among several)."""
        self.events = events_client
        self.name_prefix = name_prefix
        self.sfn = sfn_client
        self.runtime = runtime
        self.last_tick = start.astimezone(UTC) if start else None
        self.account = account
        self.region = region
        self._lock = threading.Lock()
        self._schedules: dict[str, Schedule] = {}

    def scheduled_rules(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        kwargs = {"NamePrefix": self.name_prefix} if self.name_prefix else {}
        for page in self.events.get_paginator("list_rules").paginate(EventBusName="default", **kwargs):
            rules.extend(r for r in page["Rules"] if r.get("ScheduleExpression") and r.get("State") == "ENABLED")
        # moto reads NamePrefix as a regular expression: check the prefix literally too.
        return [r for r in rules if r["Name"].startswith(self.name_prefix or "")]

    def _schedule(self, expression: str) -> Schedule:
        if expression not in self._schedules:
            self._schedules[expression] = parse_schedule(expression)
        return self._schedules[expression]

    def tick(self, now: datetime) -> list[Firing]:
        """Fire every rule due in (last tick, now]; the first tick without `start` only sets the baseline."""
        now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
        with self._lock:
            after, self.last_tick = self.last_tick, now
            if after is None or now <= after:
                return []
            firings: list[Firing] = []
            for rule in self.scheduled_rules():
                try:
                    due = self._schedule(rule["ScheduleExpression"]).latest_due(after, now)
                except ScheduleExpressionError as exc:
                    LOG.error("rule %s: %s", rule["Name"], exc)
                    continue
                if due is not None:
                    firings.extend(self.fire(rule, due))
            return firings

    def fire(self, rule: dict[str, Any], due: datetime) -> list[Firing]:
        firings = []
        targets = self.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        for target in targets:
            event: Any = scheduled_event(rule["Arn"], due, account=self.account, region=self.region)
            if target.get("Input") is not None:
                event = json.loads(target["Input"])
            firings.append(self._invoke_target(rule, target["Arn"], due, event))
        return firings

    def _invoke_target(self, rule: dict[str, Any], arn: str, due: datetime, event: Any) -> Firing:
        firing = Firing(rule["Name"], rule["Arn"], arn, due, event, ok=False)
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        try:
            if service == "lambda":
                firing.result = self.runtime.invoke(arn, event)
            elif service == "states":
                answer = self.sfn.start_execution(
                    stateMachineArn=arn, name=execution_name(rule["Name"], due), input=json.dumps(event)
                )
                firing.result = answer["executionArn"]
            else:
                raise ValueError(f"target type of {arn} is not supported by the local scheduler")
            firing.ok = True
            LOG.info("rule %s fired at %s -> %s", rule["Name"], event_time(due), arn)
        except Exception as exc:
            firing.error = f"{type(exc).__name__}: {exc}"
            LOG.exception("rule %s -> %s failed", rule["Name"], arn)
        return firing

    def run(
        self, stop: threading.Event, interval: float = 1.0, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        """Tick with `clock` every `interval` seconds until `stop` is set (the stack's scheduler thread)."""
        if self.last_tick is None:
            self.last_tick = clock()
        while not stop.wait(interval - (time.time() % interval)):
            try:
                self.tick(clock())
            except Exception:
                LOG.exception("scheduler tick failed")

    def start_thread(self, stop: threading.Event, interval: float = 1.0) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop, interval), name="devstack-scheduler", daemon=True)
        thread.start()
        return thread


def event_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
