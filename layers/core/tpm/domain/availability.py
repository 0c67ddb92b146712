"""Clinician availability and free slots. Pure.

Rules are wall-clock times in the clinician's zone ("Mondays 09:00-17:00 America/Chicago");
each day's windows are built in that zone with zoneinfo and only then turned into UTC, so
a DST change moves the UTC hours and never the local ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tpm.domain.scheduling import SLOT, check_zone, slot_starts, utc

MAX_RANGE_DAYS = 31


class WeeklyRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    weekday: int = Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday")
    start: time
    end: time
    location_ids: tuple[str, ...] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _order(self) -> WeeklyRule:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ExceptionKind(StrEnum):
    OFF = "off"  # not available (the whole day, or start..end of each day)
    EXTRA = "extra"  # extra hours on these days


class AvailabilityException(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ExceptionKind
    start_date: date
    end_date: date
    start: time | None = None
    end: time | None = None
    location_ids: tuple[str, ...] = Field(default=(), max_length=10)

    @model_validator(mode="after")
    def _shape(self) -> AvailabilityException:
        if self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if self.kind is ExceptionKind.EXTRA and (self.start is None or not self.location_ids):
            raise ValueError("extra hours need start, end and location_ids")
        return self

    def covers(self, day: date) -> bool:
        return self.start_date <= day <= self.end_date


class Availability(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    clinician_id: str
    timezone: str = "America/Chicago"
    weekly: tuple[WeeklyRule, ...] = Field(default=(), max_length=70)
    exceptions: tuple[AvailabilityException, ...] = Field(default=(), max_length=200)
    version: int = 0  # 0: never saved

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    location_id: str


@dataclass(frozen=True)
class Window:
    start: datetime  # UTC
    end: datetime
    location_ids: tuple[str, ...]


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    # fold=0: an ambiguous time (fall back) is its first occurrence; a time in the spring
    # gap takes the offset before the gap (RFC 5545 section 3.3.5).
    return utc(datetime.combine(day, at, tzinfo=zone))


def windows(av: Availability, holidays: Set[date], first: date, last: date) -> list[Window]:
    """The UTC windows a clinician works between two local dates (inclusive)."""
    zone = ZoneInfo(av.timezone)
    found: list[Window] = []
    day = first
    while day <= last:
        if day not in holidays:
            found += _day_windows(av, day, zone)
        day += timedelta(days=1)
    return found


def _day_windows(av: Availability, day: date, zone: ZoneInfo) -> list[Window]:
    todays = [e for e in av.exceptions if e.covers(day)]
    if any(e.kind is ExceptionKind.OFF and e.start is None for e in todays):
        return []
    spans = [(r.start, r.end, r.location_ids) for r in av.weekly if r.weekday == day.weekday()]
    spans += [
        (e.start, e.end, e.location_ids)
        for e in todays
        if e.kind is ExceptionKind.EXTRA and e.start is not None and e.end is not None
    ]
    result: list[Window] = []
    for start, end, locations in spans:
        window = Window(local_to_utc(day, start, zone), local_to_utc(day, end, zone), locations)
        for off in (e for e in todays if e.kind is ExceptionKind.OFF):
            assert off.start is not None
            assert off.end is not None
            off_start, off_end = (
                local_to_utc(day, off.start, zone),
                local_to_utc(day, off.end, zone),
            )
            window = _cut(window, off_start, off_end, result)
        if window.end > window.start:
            result.append(window)
    return result


def _cut(window: Window, off_start: datetime, off_end: datetime, out: list[Window]) -> Window:
    """Removes [off_start, off_end) from a window; a piece before the cut goes to `out`."""
    if off_end <= window.start or off_start >= window.end:
        return window
    if off_start > window.start:
        out.append(Window(window.start, off_start, window.location_ids))
    return Window(max(off_end, window.start), window.end, window.location_ids)


def _ceil_to_slot(moment: datetime) -> datetime:
    base = moment.replace(second=0, microsecond=0)
    extra = (-base.minute) % 15
    if moment > base and extra == 0:
        extra = 15
    return base + timedelta(minutes=extra)


def free_slots(
    av: Availability,
    *,
    duration: timedelta,
    first: date,
    last: date,
    holidays: Set[date],
    clinician_busy: Set[datetime],
    room_busy: Mapping[str, Set[datetime]],
    earliest: datetime,
    allowed_locations: Set[str] | None = None,
) -> list[Slot]:
    """Bookable starts (every 15 minutes) for a visit of `duration`: inside a window, not
    before `earliest`, with the clinician and (offices: every id in `room_busy`) the room
    free for every 15-minute block. One slot per start: the first free location."""
    slots: list[Slot] = []
    seen: set[datetime] = set()
    for window in sorted(windows(av, holidays, first, last), key=lambda w: w.start):
        at = _ceil_to_slot(max(window.start, earliest))
        while at + duration <= window.end:
            blocks = slot_starts(at, at + duration)
            if at not in seen and not any(b in clinician_busy for b in blocks):
                for location_id in window.location_ids:
                    if allowed_locations is not None and location_id not in allowed_locations:
                        continue
                    taken = room_busy.get(location_id, frozenset())
                    if not any(b in taken for b in blocks):
                        slots.append(Slot(at, at + duration, location_id))
                        seen.add(at)
                        break
            at += SLOT
    return slots


def within(
    av: Availability,
    holidays: Set[date],
    start: datetime,
    end: datetime,
    location_id: str,
) -> bool:
    """True when the whole visit [start, end) lies inside the clinician's working windows
    at this location: their weekly hours and extra hours, less their time off and the
    practice's holidays. Windows that touch (09:00-12:00 and 12:00-17:00) count as one."""
    start, end = utc(start), utc(end)
    zone = ZoneInfo(av.timezone)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    spans = sorted(
        (w.start, w.end)
        for w in windows(av, holidays, first, last)
        if location_id in w.location_ids
    )
    covered_to: datetime | None = None
    for w_start, w_end in spans:
        if covered_to is not None and w_start <= covered_to:
            covered_to = max(covered_to, w_end)
        elif w_start <= start:
            covered_to = w_end
        else:
            break
        if covered_to >= end:
            return True
    return False
