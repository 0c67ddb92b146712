"""EventBridge schedule expressions: rate(...) and cron(...), evaluated in UTC.

cron fields: minutes hours day-of-month month day-of-week year; day-of-week 1-7 = SUN-SAT
(or SUN..SAT); one of day-of-month/day-of-week is '?'. The L, W and # forms are refused at
load time rather than silently mis-scheduled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {
    m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())
}
_DAYS = {d: i + 1 for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
_SEARCH_LIMIT = timedelta(days=366 * 5)


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Rate:
    seconds: int

    def next_after(self, moment: datetime) -> datetime:
        return moment + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # None = '?'
    months: frozenset[int]
    weekdays: frozenset[int] | None  # 1=SUN..7=SAT; None = '?'
    years: frozenset[int] | None  # None = any

    def matches(self, m: datetime) -> bool:
        weekday = (m.isoweekday() % 7) + 1  # Monday=2 ... Sunday=1
        return (
            m.minute in self.minutes
            and m.hour in self.hours
            and m.month in self.months
            and (self.days is None or m.day in self.days)
            and (self.weekdays is None or weekday in self.weekdays)
            and (self.years is None or m.year in self.years)
        )

    def next_after(self, moment: datetime) -> datetime:
        candidate = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = candidate + _SEARCH_LIMIT
        while candidate < limit:
            if candidate.month not in self.months or (
                self.years is not None and candidate.year not in self.years
            ):
                # jump to the first minute of the next month
                year = candidate.year + (candidate.month == 12)
                month = candidate.month % 12 + 1
                candidate = candidate.replace(year=year, month=month, day=1, hour=0, minute=0)
                continue
            if not self._day_ok(candidate):
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if candidate.hour not in self.hours:
                candidate = (candidate + timedelta(hours=1)).replace(minute=0)
                continue
            if candidate.minute in self.minutes:
                return candidate
            candidate += timedelta(minutes=1)
        raise ScheduleError("cron expression never fires")

    def _day_ok(self, m: datetime) -> bool:
        weekday = (m.isoweekday() % 7) + 1
        return (self.days is None or m.day in self.days) and (
            self.weekdays is None or weekday in self.weekdays
        )


def parse(expression: str) -> Rate | Cron:
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if value < 1:
            raise ScheduleError("rate must be positive")
        if (value == 1) != (not rate.group(2).endswith("s")):
            raise ScheduleError("rate(1 minute) is singular, rate(5 minutes) plural")
        return Rate(value * _UNITS[unit])
    cron = _CRON.match(expression)
    if not cron:
        raise ScheduleError(f"unsupported schedule expression: {expression}")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ScheduleError("cron() needs 6 fields")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError("exactly one of day-of-month and day-of-week must be '?'")
    return Cron(
        minutes=_field(minute, 0, 59),
        hours=_field(hour, 0, 23),
        days=None if dom == "?" else _field(dom, 1, 31),
        months=_field(month, 1, 12, _MONTHS),
        weekdays=None if dow == "?" else _field(dow, 1, 7, _DAYS),
        years=None if year == "*" else _field(year, 1970, 2199),
    )


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if any(mark in part for mark in ("L", "W", "#")) and not (names and part in names):
            raise ScheduleError("cron L, W and # forms are not supported locally")
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = high if step != 1 else start
        if not (low <= start <= high and low <= end <= high) or step < 1:
            raise ScheduleError(f"cron value out of range in {text!r}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    return int(text)
