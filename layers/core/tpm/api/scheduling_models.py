"""Request and response models of the scheduling API (functions/scheduling). Inputs forbid
unknown fields (mass assignment -> 422); views pick what a caller may see."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, Strict

from tpm.api.models import (
    DecimalStr,
    EmailAddress,
    Instant,
    IsoDate,
    LocalDateTime,
    LocalTime,
    RequestModel,
)
from tpm.domain.availability import Availability, ExceptionKind, Slot
from tpm.domain.scheduling import (
    CPT,
    MAX_GROUP,
    Appointment,
    AppointmentStatus,
    Holiday,
    Location,
    LocationKind,
    SchedulingRules,
    Service,
)
from tpm.domain.users import User
from tpm.repositories.appointments import Series
from tpm.repositories.waitlist import AppointmentRequest, Offer, WaitlistEntry

ID = r"^[a-z]{2,5}_[0-9a-z]{26}$"
PATIENT_ID = r"^pat_[0-9a-z]{26}$"
ZONE = Field(max_length=64, description="IANA time zone, e.g. America/Chicago")


class Input(RequestModel):
    """Request bodies of the scheduling API (strict, unknown fields refused)."""


class Versioned(Input):
    version: int = Field(ge=0)


# ---- catalogue --------------------------------------------------------------------------------


class Money(RequestModel):
    amount: DecimalStr = Field(ge=0, max_digits=9, decimal_places=2)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class LocationIn(Input):
    name: str = Field(min_length=1, max_length=80)
    kind: Annotated[LocationKind, Strict(False)]
    timezone: str = ZONE


class LocationPatch(Versioned):
    name: str | None = Field(default=None, min_length=1, max_length=80)
    timezone: str | None = Field(default=None, max_length=64)


class LocationView(BaseModel):
    id: str
    name: str
    kind: LocationKind
    timezone: str
    active: bool
    version: int

    @classmethod
    def of(cls, loc: Location) -> LocationView:
        return cls.model_validate(loc.model_dump())


class ServiceIn(Input):
    name: str = Field(min_length=1, max_length=80)
    cpt_code: str = Field(pattern=CPT)
    duration_minutes: int = Field(ge=5, le=480, multiple_of=5)
    fee: Money
    self_bookable: bool = False


class ServicePatch(Versioned):
    name: str | None = Field(default=None, min_length=1, max_length=80)
    cpt_code: str | None = Field(default=None, pattern=CPT)
    duration_minutes: int | None = Field(default=None, ge=5, le=480, multiple_of=5)
    fee: Money | None = None
    self_bookable: bool | None = None


class ServiceView(BaseModel):
    id: str
    name: str
    cpt_code: str
    duration_minutes: int
    fee: Money
    self_bookable: bool
    active: bool
    version: int

    @classmethod
    def of(cls, s: Service) -> ServiceView:
        return cls(
            id=s.id,
            name=s.name,
            cpt_code=s.cpt_code,
            duration_minutes=s.duration_minutes,
            fee=Money(amount=s.fee, currency=s.currency),
            self_bookable=s.self_bookable,
            active=s.active,
            version=s.version,
        )


# ---- availability and rules -------------------------------------------------------------------


class WeeklyRuleIn(Input):
    weekday: int = Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday")
    start: LocalTime
    end: LocalTime
    location_ids: list[str] = Field(min_length=1, max_length=10)


class AvailabilityExceptionIn(Input):
    kind: Annotated[ExceptionKind, Strict(False)]
    start_date: IsoDate
    end_date: IsoDate
    start: LocalTime | None = None
    end: LocalTime | None = None
    location_ids: list[str] = Field(default_factory=list, max_length=10)


class AvailabilityPatch(Versioned):
    timezone: str | None = Field(default=None, max_length=64)
    weekly: list[WeeklyRuleIn] | None = Field(default=None, max_length=70)
    exceptions: list[AvailabilityExceptionIn] | None = Field(default=None, max_length=200)


class WeeklyRuleView(BaseModel):
    weekday: int
    start: LocalTime
    end: LocalTime
    location_ids: list[str]


class AvailabilityExceptionView(BaseModel):
    kind: ExceptionKind
    start_date: date
    end_date: date
    start: LocalTime | None
    end: LocalTime | None
    location_ids: list[str]


class AvailabilityView(BaseModel):
    clinician_id: str
    timezone: str
    weekly: list[WeeklyRuleView]
    exceptions: list[AvailabilityExceptionView]
    version: int

    @classmethod
    def of(cls, a: Availability) -> AvailabilityView:
        return cls.model_validate(a.model_dump())


class SlotView(BaseModel):
    start: datetime
    end: datetime
    location_id: str

    @classmethod
    def of(cls, s: Slot) -> SlotView:
        return cls(start=s.start, end=s.end, location_id=s.location_id)


class SlotsView(BaseModel):
    items: list[SlotView]


class HolidayIn(Input):
    date: IsoDate
    name: str = Field(min_length=1, max_length=80)


class RulesPatch(Versioned):
    self_booking_enabled: bool | None = None
    self_booking_clinician_ids: list[str] | None = Field(default=None, max_length=200)
    min_notice_hours: int | None = Field(default=None, ge=0, le=720)
    max_advance_days: int | None = Field(default=None, ge=1, le=365)
    cancel_window_hours: int | None = Field(default=None, ge=0, le=168)
    holidays: list[HolidayIn] | None = Field(default=None, max_length=100)


class RulesView(BaseModel):
    self_booking_enabled: bool
    self_booking_clinician_ids: list[str]
    min_notice_hours: int
    max_advance_days: int
    cancel_window_hours: int
    holidays: list[Holiday]
    version: int

    @classmethod
    def of(cls, r: SchedulingRules) -> RulesView:
        return cls.model_validate(r.model_dump())


class BookableClinicianView(BaseModel):
    """A clinician a patient may book online with: their name as the practice shows it
    (staff names are not PHI), nothing about their account."""

    id: str
    display_name: str
    credentials: str

    @classmethod
    def of(cls, user: User) -> BookableClinicianView:
        return cls(id=user.id, display_name=user.display_name, credentials=user.credentials)


# ---- appointments -----------------------------------------------------------------------------


class OverrideIn(Input):
    """Book outside the clinician's availability (their hours, time off, the practice's
    holidays): only roles holding appointment.override_availability, never patients. The
    reason is kept sealed with the appointment and the override is audited."""

    reason: str = Field(min_length=1, max_length=500)


OVERRIDE_FIELD = Field(
    default=None,
    description="Needed only outside the clinician's availability (else 422 outside_availability).",
)


class AppointmentIn(Input):
    patient_ids: list[Annotated[str, Field(pattern=PATIENT_ID)]] = Field(
        min_length=1, max_length=MAX_GROUP
    )
    clinician_id: str = Field(pattern=ID)
    service_id: str = Field(pattern=ID)
    location_id: str = Field(pattern=ID)
    start: Instant
    override: OverrideIn | None = OVERRIDE_FIELD


class SelfBookingIn(Input):
    clinician_id: str = Field(pattern=ID)
    service_id: str = Field(pattern=ID)
    location_id: str = Field(pattern=ID)
    start: Instant


class SelfRescheduleIn(Versioned):
    start: Instant
    location_id: str | None = Field(default=None, pattern=ID)


class RescheduleIn(SelfRescheduleIn):
    override: OverrideIn | None = OVERRIDE_FIELD


class CancelIn(Versioned):
    reason: str = Field(min_length=1, max_length=500)


class StatusIn(Versioned):
    status: Annotated[AppointmentStatus, Strict(False)]


class OverrideView(BaseModel):
    by: str = Field(description="The user who booked outside the clinician's availability")
    reason: str


class AppointmentView(BaseModel):
    id: str
    patient_ids: list[str]
    clinician_id: str
    location_id: str
    location_kind: LocationKind
    service_id: str
    start: datetime
    end: datetime
    status: AppointmentStatus
    series_id: str | None
    series_index: int | None
    detached: bool
    late_cancel: bool
    cancelled_reason: str | None
    override: OverrideView | None = Field(
        description="Booked outside the clinician's availability: by whom and why (staff only)"
    )
    version: int

    @classmethod
    def of(cls, a: Appointment, *, staff: bool = False) -> AppointmentView:
        """`staff`: the caller is staff (an override's reason is internal, never shown to
        patients)."""
        fields = a.model_dump(include=set(cls.model_fields))
        shown = staff and a.override_by is not None and a.override_reason is not None
        fields["override"] = {"by": a.override_by, "reason": a.override_reason} if shown else None
        return cls.model_validate(fields)


class SeriesIn(Input):
    patient_ids: list[Annotated[str, Field(pattern=PATIENT_ID)]] = Field(
        min_length=1, max_length=MAX_GROUP
    )
    clinician_id: str = Field(pattern=ID)
    service_id: str = Field(pattern=ID)
    location_id: str = Field(pattern=ID)
    rrule: str = Field(min_length=6, max_length=200, examples=["FREQ=WEEKLY;BYDAY=MO"])
    start_local: LocalDateTime = Field(description="Wall-clock time of the first visit, no offset")
    timezone: str = ZONE
    count: int | None = Field(default=None, ge=1, le=52)
    until: IsoDate | None = None
    override: OverrideIn | None = OVERRIDE_FIELD


class SplitChanges(Input):
    start_time: LocalTime | None = Field(default=None, description="New local time of day")
    rrule: str | None = Field(default=None, min_length=6, max_length=200)
    clinician_id: str | None = Field(default=None, pattern=ID)
    location_id: str | None = Field(default=None, pattern=ID)


class SplitIn(Versioned):
    from_occurrence: int = Field(ge=0, le=51)
    changes: SplitChanges
    override: OverrideIn | None = OVERRIDE_FIELD


class SeriesView(BaseModel):
    id: str
    rrule: str
    start_local: LocalDateTime
    timezone: str
    clinician_id: str
    patient_ids: list[str]
    service_id: str
    location_id: str
    appointment_ids: list[str]
    ended_at_index: int | None
    followed_by: str | None
    version: int

    @classmethod
    def of(cls, s: Series) -> SeriesView:
        return cls.model_validate(s.model_dump(exclude={"created_by"}))


class SeriesBooked(BaseModel):
    series: SeriesView
    appointments: list[AppointmentView]


# ---- waitlist and requests --------------------------------------------------------------------


class WindowIn(Input):
    start: Instant
    end: Instant


class WaitlistIn(Input):
    patient_id: str | None = Field(default=None, pattern=ID, description="Staff: whose entry")
    clinician_id: str | None = Field(default=None, pattern=ID)
    service_id: str | None = Field(default=None, pattern=ID)
    windows: list[WindowIn] = Field(min_length=1, max_length=10)


class WaitlistView(BaseModel):
    id: str
    patient_id: str
    clinician_id: str | None
    service_id: str | None
    windows: list[WindowIn]
    status: str
    version: int

    @classmethod
    def of(cls, e: WaitlistEntry) -> WaitlistView:
        return cls.model_validate(e.model_dump(include=set(cls.model_fields)))


class OfferView(BaseModel):
    """An offer of a freed slot to one waiting patient. `state`: open (may still be
    claimed), claimed (this patient took it), taken (another offer of the slot was claimed
    first), expired."""

    id: str
    entry_id: str
    patient_id: str
    clinician_id: str
    service_id: str
    location_id: str
    start: datetime
    end: datetime
    expires: datetime
    state: str
    appointment_id: str | None
    source_appointment_id: str | None

    @classmethod
    def of(cls, o: Offer, state: str) -> OfferView:
        return cls.model_validate(o.model_dump(include=set(cls.model_fields)) | {"state": state})


class RequestIn(Input):
    practice: str = Field(min_length=1, max_length=40, description="The practice's slug")
    name: str = Field(min_length=1, max_length=120)
    email: EmailAddress | None = None
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    preferred_times: str = Field(min_length=1, max_length=500)
    note: str | None = Field(default=None, max_length=1000)
    service_id: str | None = Field(default=None, pattern=ID)


class RequestReceived(BaseModel):
    id: str
    status: str


class RequestView(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    preferred_times: str
    note: str | None
    service_id: str | None
    status: str
    created_at: datetime
    patient_id: str | None
    appointment_id: str | None
    version: int

    @classmethod
    def of(cls, r: AppointmentRequest) -> RequestView:
        return cls.model_validate(r.model_dump())


class AcceptIn(Versioned):
    legal_first_name: str = Field(min_length=1, max_length=80)
    legal_last_name: str = Field(min_length=1, max_length=80)
    date_of_birth: IsoDate
    clinician_id: str = Field(pattern=ID)
    service_id: str = Field(pattern=ID)
    location_id: str = Field(pattern=ID)
    start: Instant
    override: OverrideIn | None = OVERRIDE_FIELD


class DeclineIn(Versioned):
    pass
