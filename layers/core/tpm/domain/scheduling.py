"""Scheduling: catalogue, appointments, their state machine and the practice's booking
rules. Pure: no I/O, no clock (callers pass `now`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tpm.errors import Conflict, ValidationFailed

SLOT = timedelta(minutes=15)
MAX_GROUP = 12
CPT = r"^[0-9]{4}[0-9A-Z]$"


def check_zone(value: str) -> str:
    if value not in available_timezones():
        raise ValueError("unknown IANA time zone")
    return value


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a time needs an offset")
    return moment.astimezone(UTC)


# ---- errors (mapped to HTTP by their base class) ----------------------------------------------


class SlotUnavailable(Conflict):
    code = "slot_unavailable"
    message = "The clinician or room is already booked at that time."


class InvalidTransition(Conflict):
    code = "invalid_status_transition"
    message = "The appointment cannot move to that status from its current one."


class OutsideBookingRules(ValidationFailed):
    """Self-booking refused by the practice's rules; `details.rule` says which one."""

    code = "outside_booking_rules"
    message = "This booking is outside the practice's online booking rules."


class OutsideAvailability(ValidationFailed):
    """A booking outside the clinician's availability (weekly hours and extra hours, less
    time off and the practice's holidays, at that location) without an override.
    `details.override_allowed` says whether the caller may give one (`override.reason`);
    a series lists the occurrences outside by index and local date."""

    code = "outside_availability"
    message = (
        "The clinician is not available at that time and place. Book inside their "
        "availability, or give an override with a reason if your role allows it."
    )


def misaligned(field: str) -> ValidationFailed:
    return ValidationFailed(fields=[{"path": field, "type": "not_on_15_minute_boundary"}])


# ---- catalogue --------------------------------------------------------------------------------


class LocationKind(StrEnum):
    OFFICE = "office"
    TELEHEALTH = "telehealth"


class Location(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = Field(min_length=1, max_length=80)
    kind: LocationKind
    timezone: str
    active: bool = True
    version: int = 1

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)


class Service(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = Field(min_length=1, max_length=80)
    cpt_code: str = Field(pattern=CPT)
    duration_minutes: int = Field(ge=5, le=480, multiple_of=5)
    fee: Decimal = Field(ge=0, max_digits=9, decimal_places=2)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    self_bookable: bool = False
    active: bool = True
    version: int = 1

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)


# ---- appointments -----------------------------------------------------------------------------


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


# Completed, cancelled and no-show are final; telehealth visits complete without "arrived".
TRANSITIONS: dict[AppointmentStatus, frozenset[AppointmentStatus]] = {
    AppointmentStatus.BOOKED: frozenset(
        {
            AppointmentStatus.ARRIVED,
            AppointmentStatus.COMPLETED,
            AppointmentStatus.NO_SHOW,
            AppointmentStatus.CANCELLED,
        }
    ),
    AppointmentStatus.ARRIVED: frozenset({AppointmentStatus.COMPLETED}),
}
# Statuses that only make sense once the visit time has come.
_NEEDS_START = frozenset({AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW})
ARRIVAL_LEAD = timedelta(hours=2)


class Appointment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    patient_ids: tuple[str, ...] = Field(min_length=1, max_length=MAX_GROUP)
    clinician_id: str
    location_id: str
    location_kind: LocationKind = LocationKind.OFFICE
    service_id: str
    start: datetime
    end: datetime
    status: AppointmentStatus = AppointmentStatus.BOOKED
    series_id: str | None = None
    series_index: int | None = None
    detached: bool = False  # an occurrence edited on its own, no longer following its series
    created_by: str
    created_at: datetime
    cancelled_reason: str | None = Field(default=None, max_length=500)
    cancelled_at: datetime | None = None
    late_cancel: bool = False
    # Booked outside the clinician's availability by someone allowed to override it: who,
    # and why (free text, sealed at rest like the cancellation reason).
    override_by: str | None = None
    override_reason: str | None = Field(default=None, max_length=500)
    version: int = 1

    @field_validator("start", "end", "created_at", "cancelled_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc(value)

    @model_validator(mode="after")
    def _shape(self) -> Appointment:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if len(set(self.patient_ids)) != len(self.patient_ids):
            raise ValueError("a patient appears twice")
        return self

    @property
    def active(self) -> bool:
        return self.status in (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED)

    @property
    def holds_room(self) -> bool:
        return self.location_kind is LocationKind.OFFICE

    def bump(self, **changes: object) -> Appointment:
        return self.model_copy(update={**changes, "version": self.version + 1})


def check_aligned(start: datetime, field: str = "body.start") -> datetime:
    start = utc(start)
    if start.second or start.microsecond or start.minute % 15:
        raise misaligned(field)
    return start


def slot_starts(start: datetime, end: datetime) -> list[datetime]:
    """The 15-minute blocks [start, end) touches; a 50-minute visit holds four."""
    first = check_aligned(start)
    blocks = []
    at = first
    while at < utc(end):
        blocks.append(at)
        at += SLOT
    return blocks


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def transition(appt: Appointment, status: AppointmentStatus, now: datetime) -> Appointment:
    if status is AppointmentStatus.CANCELLED or status not in TRANSITIONS.get(appt.status, ()):
        raise InvalidTransition(current_status=appt.status.value)
    if status in _NEEDS_START and now < appt.start:
        raise InvalidTransition(current_status=appt.status.value, reason="not_started")
    if status is AppointmentStatus.ARRIVED and now < appt.start - ARRIVAL_LEAD:
        raise InvalidTransition(current_status=appt.status.value, reason="too_early")
    return appt.bump(status=status)


def is_late_cancel(start: datetime, now: datetime, window_hours: int) -> bool:
    return now >= start - timedelta(hours=window_hours)


def cancel(appt: Appointment, reason: str, now: datetime, window_hours: int) -> Appointment:
    if appt.status is not AppointmentStatus.BOOKED:
        raise InvalidTransition(current_status=appt.status.value)
    return appt.bump(
        status=AppointmentStatus.CANCELLED,
        cancelled_reason=reason,
        cancelled_at=now,
        late_cancel=is_late_cancel(appt.start, now, window_hours),
    )


def move(appt: Appointment, start: datetime, duration: timedelta, *, detach: bool) -> Appointment:
    if appt.status is not AppointmentStatus.BOOKED:
        raise InvalidTransition(current_status=appt.status.value)
    start = check_aligned(start)
    return appt.bump(start=start, end=start + duration, detached=appt.detached or detach)


# ---- the practice's booking rules --------------------------------------------------------------


class Holiday(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    date: date
    name: str = Field(min_length=1, max_length=80)


class SchedulingRules(BaseModel):
    """Practice-wide: online self-booking (which clinicians, how much notice, how far
    ahead), the cancellation window (late-cancel flag; online cancel cut-off), holidays.
    Which services patients may book is the service's own `self_bookable` flag."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    self_booking_enabled: bool = False
    self_booking_clinician_ids: tuple[str, ...] = Field(default=(), max_length=200)
    min_notice_hours: int = Field(default=24, ge=0, le=720)
    max_advance_days: int = Field(default=90, ge=1, le=365)
    cancel_window_hours: int = Field(default=24, ge=0, le=168)
    holidays: tuple[Holiday, ...] = Field(default=(), max_length=100)
    version: int = 0  # 0: never saved (the defaults)

    @property
    def holiday_dates(self) -> frozenset[date]:
        return frozenset(h.date for h in self.holidays)


def refuse(rule: str) -> OutsideBookingRules:
    return OutsideBookingRules(rule=rule)


def check_self_booking(
    rules: SchedulingRules, service: Service, clinician_id: str, start: datetime, now: datetime
) -> None:
    """Raises OutsideBookingRules (422, `details.rule`) when a patient may not book this."""
    if not rules.self_booking_enabled:
        raise refuse("self_booking_disabled")
    if not (service.self_bookable and service.active):
        raise refuse("service_not_self_bookable")
    if clinician_id not in rules.self_booking_clinician_ids:
        raise refuse("clinician_not_self_bookable")
    if start < now + timedelta(hours=rules.min_notice_hours):
        raise refuse("minimum_notice")
    if start > now + timedelta(days=rules.max_advance_days):
        raise refuse("too_far_ahead")


def check_self_cancel(rules: SchedulingRules, appt: Appointment, now: datetime) -> None:
    """Online cancellation closes `cancel_window_hours` before the visit (call the office)."""
    if is_late_cancel(appt.start, now, rules.cancel_window_hours):
        raise refuse("cancel_window")
