"""Appointments: book, read, list, reschedule, cancel, status; staff and patient self-service.

A booking is one transaction: the appointment, a copy per patient, a lock per 15-minute
block for the clinician and (offices) the room, a Check that each patient exists, the
reminder hooks' operations and the audit event. Reads: the service, the location, the
clinician's account and the practice (for the reminder hook), plus the audit head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tpm.adapters.store.base import Check, ConditionFailed, Exists, Operation
from tpm.domain import scheduling as rules
from tpm.domain.availability import within
from tpm.domain.practice import Practice
from tpm.domain.scheduling import (
    Appointment,
    AppointmentStatus,
    Location,
    OutsideAvailability,
    Service,
    SlotUnavailable,
)
from tpm.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TpmError,
    ValidationFailed,
    VersionConflict,
)
from tpm.ids import new_id
from tpm.repositories.appointments import AppointmentRepository, merge_lock_ops
from tpm.repositories.availability import AvailabilityRepository
from tpm.repositories.catalogue import CatalogueRepository
from tpm.security.audit_chain import AuditEvent
from tpm.security.policy import Access, Scope
from tpm.security.principal import Role
from tpm.services import reminder_hooks
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice
from tpm.services.rate_limits import enforce

MAX_LIST_DAYS = 92
SELF_BOOKING_PER_HOUR = 10
CLINICAL_ROLES = frozenset({Role.CLINICIAN, Role.SUPERVISOR})
OVERRIDE = "appointment.override_availability"
OVERRIDE_CODE = "outside_availability"


@dataclass(frozen=True)
class BookingRequest:
    patient_ids: tuple[str, ...]
    clinician_id: str
    service_id: str
    location_id: str
    start: datetime
    # Why this is booked outside the clinician's availability (only roles holding
    # appointment.override_availability may give one; never patients).
    override: str | None = None


def patient_check(pid: str) -> Check:
    # The patient must exist when the booking commits (no read needed): key shape of
    # tpm.repositories.patients.
    return Check(f"PATIENT#{pid}", "PROFILE", Exists())


class Bookings:
    """The parts every booking path shares (staff, self-booking, series, waitlist claims)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.appointments = AppointmentRepository(ctx.store, ctx.runtime.cipher)
        self.catalogue = CatalogueRepository(ctx.store)
        self.availability = AvailabilityRepository(ctx.store)
        self._practice: Practice | None = None

    @property
    def practice(self) -> Practice:
        if self._practice is None:
            self._practice = get_practice(self.ctx.runtime.store, self.ctx.practice_id)
        return self._practice

    def service(self, service_id: str, path: str = "body.service_id") -> Service:
        service = self.catalogue.service(service_id)
        if service is None or not service.active:
            raise ValidationFailed(fields=[{"path": path, "type": "unknown_service"}])
        return service

    def location(self, location_id: str, path: str = "body.location_id") -> Location:
        location = self.catalogue.location(location_id)
        if location is None or not location.active:
            raise ValidationFailed(fields=[{"path": path, "type": "unknown_location"}])
        return location

    def check_clinician(self, clinician_id: str) -> None:
        user = self.ctx.users.get(clinician_id)
        if user is None or user.status.value != "active" or not (user.roles & CLINICAL_ROLES):
            raise ValidationFailed(
                fields=[{"path": "body.clinician_id", "type": "not_a_clinician"}]
            )

    # ---- availability ---------------------------------------------------------------------

    def may_override(self, clinician_id: str) -> bool:
        """Whether the caller's roles allow an override on this clinician's calendar
        (practice-wide, or their own calendar): what the refusal tells the staff app."""
        principal = self.ctx.principal
        if principal.patient_id is not None:
            return False
        scopes = self.ctx.authorizer.table.scopes(principal.roles, OVERRIDE)
        return Scope.PRACTICE in scopes or (
            Scope.SELF in scopes and clinician_id == principal.user_id
        )

    def outside(self, appts: list[Appointment]) -> list[Appointment]:
        """The appointments (of one clinician) not inside that clinician's availability."""
        if not appts:
            return []
        hours = self.availability.availability(appts[0].clinician_id)
        holidays = self.availability.rules().holiday_dates
        return [a for a in appts if not within(hours, holidays, a.start, a.end, a.location_id)]

    def gate(
        self,
        appts: list[Appointment],
        override: str | None,
        *,
        series_zone: str | None = None,
    ) -> tuple[list[Appointment], Access | None]:
        """Refuses appointments outside the clinician's availability (422
        outside_availability) unless the request carries an override reason and the
        caller's role may override on this calendar (else 403, audited). Returns the
        appointments, those outside stamped with who overrode and why (the reason is sealed
        with the appointment), and the override's access for its audit event (None when
        every appointment is inside: an override given then is not needed, not recorded)."""
        outside = self.outside(appts)
        stamped = [
            a.model_copy(update={"override_by": None, "override_reason": None}) for a in appts
        ]
        if not outside:
            return stamped, None
        clinician_id = appts[0].clinician_id
        if override is None or self.ctx.principal.patient_id is not None:
            details: dict[str, Any] = {"override_allowed": self.may_override(clinician_id)}
            if series_zone is not None:
                zone = ZoneInfo(series_zone)
                details["occurrences"] = [
                    {"index": a.series_index, "date": a.start.astimezone(zone).date().isoformat()}
                    for a in outside
                ]
            raise OutsideAvailability(**details)
        try:
            access = self.ctx.authorize(
                OVERRIDE, resource_kind="appointment", resource_id=appts[0].id, user_id=clinician_id
            )
        except NotFound:
            # The role may override only on its own calendar: a refusal, not a missing record.
            raise Forbidden(action=OVERRIDE) from None
        ids = {a.id for a in outside}
        me = self.ctx.principal.user_id
        return [
            a.model_copy(update={"override_by": me, "override_reason": override})
            if a.id in ids
            else a
            for a in stamped
        ], access

    def override_event(
        self, access: Access, kind: str, resource_id: str, patient_id: str
    ) -> AuditEvent:
        return self.ctx.event(
            access.action,
            kind,
            resource_id,
            patient_id=patient_id,
            reason_code=OVERRIDE_CODE,
        )

    def new_appointment(
        self, req: BookingRequest, service: Service, location: Location, **extra: object
    ) -> Appointment:
        start = rules.check_aligned(req.start)
        return Appointment.model_validate(
            {
                "id": new_id("apt"),
                "patient_ids": req.patient_ids,
                "clinician_id": req.clinician_id,
                "location_id": location.id,
                "location_kind": location.kind,
                "service_id": service.id,
                "start": start,
                "end": start + service.duration,
                "created_by": self.ctx.principal.user_id,
                "created_at": self.ctx.now(),
                **extra,
            }
        )

    def booking_ops(self, appt: Appointment) -> list[Operation]:
        ops = self.appointments.create_ops(appt)
        ops += [patient_check(pid) for pid in appt.patient_ids]
        return ops + self.reminder_ops(appt)

    def change_ops(
        self, before: Appointment, after: Appointment, *, moved: bool = False
    ) -> list[Operation]:
        """A move drops the old reminders and schedules new ones; leaving "booked"
        (cancelled, arrived, done, no-show) only drops the pending ones."""
        ops = self.appointments.update_ops(before, after)
        if before.status is AppointmentStatus.BOOKED and (
            moved or after.status is not AppointmentStatus.BOOKED
        ):
            ops += reminder_hooks.on_cancelled(self.ctx.store, before)
        if moved:
            ops += self.reminder_ops(after)
        return merge_lock_ops(ops)

    def reminder_ops(self, appt: Appointment) -> list[Operation]:
        ctx = self.ctx
        return reminder_hooks.on_booked(
            ctx.store, ctx.runtime.cipher, self.practice, appt, now=ctx.now()
        )

    def commit(
        self,
        access: Access,
        build: Callable[[], list[Operation]],
        appt: Appointment,
        *,
        reason_code: str | None = None,
        override: Access | None = None,
    ) -> None:
        """One transaction (change + audit event); a failed condition becomes the 409/404
        that explains it. An override of the clinician's availability adds its own event."""
        built: list[Operation] = []

        def ops() -> list[Operation]:
            built[:] = build()
            return list(built)

        # One event per patient: a group appointment touches every attendee's record, and
        # each patient's access report must show it (the actor's own patient first).
        patient = self.ctx.principal.patient_id
        first = patient if patient in appt.patient_ids else appt.patient_ids[0]
        ordered = [first, *(p for p in appt.patient_ids if p != first)]
        events = [
            self.ctx.event(
                access.action,
                "appointment",
                appt.id,
                patient_id=pid,
                break_glass=access.break_glass,
                reason_code=reason_code,
            )
            for pid in ordered
        ]
        if override is not None:
            events.append(self.override_event(override, "appointment", appt.id, first))
        try:
            self.ctx.runtime.audit.write_many_with_audit(self.ctx.store, ops, events)
        except ConditionFailed as exc:
            raise explain(built, exc, appt) from exc


def explain(ops: list[Operation], exc: ConditionFailed, appt: Appointment) -> TpmError:
    op = ops[exc.index] if 0 <= exc.index < len(ops) else None
    if op is None:
        return Conflict()
    if isinstance(op, Check):
        return NotFound()
    pk = op.item["pk"] if hasattr(op, "item") else op.pk
    if str(pk).startswith("SLOT#"):
        return SlotUnavailable()
    if str(pk).startswith("APPOINTMENT#"):
        return VersionConflict(current_version=exc.current_version)
    return Conflict()


class AppointmentService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.b = Bookings(ctx)
        self.appointments = self.b.appointments

    # ---- booking -----------------------------------------------------------------------

    def book(self, req: BookingRequest) -> Appointment:
        access = self._authorize_patients("appointment.book", req.patient_ids)
        service, location = self.b.service(req.service_id), self.b.location(req.location_id)
        self.b.check_clinician(req.clinician_id)
        new = self.b.new_appointment(req, service, location)
        (appt,), override = self.b.gate([new], req.override)
        self.b.commit(access, lambda: self.b.booking_ops(appt), appt, override=override)
        return appt

    def self_book(
        self, clinician_id: str, service_id: str, location_id: str, start: datetime
    ) -> Appointment:
        ctx = self.ctx
        pid = self._own_patient_id()
        access = ctx.authorize("appointment.self_book", resource_kind="appointment", patient_id=pid)
        enforce(
            ctx.store,
            ctx.runtime.clock,
            "self-booking",
            ctx.principal.user_id,
            SELF_BOOKING_PER_HOUR,
            3600,
        )
        service = self.b.service(service_id)
        location = self.b.location(location_id)
        rules.check_self_booking(
            self.b.availability.rules(), service, clinician_id, rules.utc(start), ctx.now()
        )
        self.b.check_clinician(clinician_id)
        req = BookingRequest((pid,), clinician_id, service_id, location_id, start)
        (appt,), _ = self.b.gate([self.b.new_appointment(req, service, location)], None)
        self.b.commit(access, lambda: self.b.booking_ops(appt), appt, reason_code="self_service")
        return appt

    # ---- reading -----------------------------------------------------------------------

    def get(self, apt_id: str) -> Appointment:
        access, appt = self._load("appointment.read", apt_id)
        self.ctx.record(access, "appointment", apt_id, patient_id=self._audit_patient(appt))
        return appt

    def list_appointments(
        self,
        *,
        clinician_id: str | None,
        patient_id: str | None,
        start: datetime,
        end: datetime,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Appointment], str | None]:
        ctx = self.ctx
        if clinician_id and patient_id:
            raise ValidationFailed(fields=[{"path": "query", "type": "one_filter_only"}])
        if end <= start or end - start > timedelta(days=MAX_LIST_DAYS):
            raise ValidationFailed(
                fields=[{"path": "query.to", "type": "range"}], max_days=MAX_LIST_DAYS
            )
        if not clinician_id and not patient_id:
            # Default: a patient's own appointments; a staff member's own schedule.
            if ctx.principal.patient_id:
                patient_id = ctx.principal.patient_id
            else:
                clinician_id = ctx.principal.user_id
        if patient_id:
            access = ctx.authorize(
                "appointment.list", resource_kind="appointment", patient_id=patient_id
            )
            found = self.appointments.for_patient(patient_id, start, end, limit, cursor)
        else:
            assert clinician_id is not None
            access = ctx.authorize(
                "appointment.list", resource_kind="appointment", user_id=clinician_id
            )
            found = self.appointments.for_clinician(clinician_id, start, end, limit, cursor)
        ctx.record(
            access, "appointment", patient_id=patient_id, reason_code=f"count_{len(found[0])}"
        )
        return found

    def list_mine(
        self, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> tuple[list[Appointment], str | None]:
        """A patient's own appointments (staff have no "my appointments": 404)."""
        if self.ctx.principal.patient_id is None:
            raise NotFound()
        return self.list_appointments(
            clinician_id=None,
            patient_id=self.ctx.principal.patient_id,
            start=start,
            end=end,
            limit=limit,
            cursor=cursor,
        )

    # ---- changes -----------------------------------------------------------------------

    def reschedule(
        self,
        apt_id: str,
        version: int,
        start: datetime,
        location_id: str | None = None,
        *,
        action: str = "appointment.reschedule",
        override: str | None = None,
    ) -> Appointment:
        """Moves a booked visit. The new time follows the booking rule: inside the
        clinician's availability, or an override with a reason (staff only); a move back
        inside drops an earlier override."""
        access, before = self._load(action, apt_id)
        self._check_version(before, version)
        service = self.b.service(before.service_id)
        location = self.b.location(location_id or before.location_id)
        if action == "appointment.self_reschedule":
            self._check_self_rules(before, service, rules.utc(start))
        moved = rules.move(before, start, service.duration, detach=before.series_id is not None)
        placed = moved.model_copy(
            update={"location_id": location.id, "location_kind": location.kind}
        )
        own = action == "appointment.self_reschedule"
        (after,), allowed = self.b.gate([placed], None if own else override)
        self.b.commit(
            access,
            lambda: self.b.change_ops(before, after, moved=True),
            after,
            reason_code="rescheduled",
            override=allowed,
        )
        return after

    def cancel(
        self, apt_id: str, version: int, reason: str, *, action: str = "appointment.cancel"
    ) -> Appointment:
        access, before = self._load(action, apt_id)
        self._check_version(before, version)
        booking_rules = self.b.availability.rules()
        if action == "appointment.self_cancel":
            rules.check_self_cancel(booking_rules, before, self.ctx.now())
        after = rules.cancel(before, reason, self.ctx.now(), booking_rules.cancel_window_hours)
        # Imported here: the waitlist module builds on this one.
        from tpm.services.waitlist import offer_ops

        def build() -> list[Operation]:
            return [*self.b.change_ops(before, after), *offer_ops(self.b, after)]

        self.b.commit(
            access, build, after, reason_code="late_cancel" if after.late_cancel else "cancelled"
        )
        return after

    def set_status(self, apt_id: str, version: int, status: AppointmentStatus) -> Appointment:
        access, before = self._load("appointment.status", apt_id)
        self._check_version(before, version)
        after = rules.transition(before, status, self.ctx.now())
        self.b.commit(
            access, lambda: self.b.change_ops(before, after), after, reason_code=status.value
        )
        return after

    # ---- helpers -----------------------------------------------------------------------

    def _own_patient_id(self) -> str:
        pid = self.ctx.principal.patient_id
        if pid is None:
            # Staff hold no self-booking action: 403, audited.
            self.ctx.authorize("appointment.self_book", resource_kind="appointment")
            raise NotFound()
        return pid

    def _authorize_patients(self, action: str, patient_ids: tuple[str, ...]) -> Access:
        accesses = [
            self.ctx.authorize(action, resource_kind="appointment", patient_id=pid)
            for pid in patient_ids
        ]
        return accesses[0]

    def _load(self, action: str, apt_id: str) -> tuple[Access, Appointment]:
        """Role check first (403), then the record (404), then the relationship (404)."""
        ctx = self.ctx
        ctx.authorize_list(action, resource_kind="appointment")
        appt = self.appointments.get(apt_id)
        if appt is None:
            raise NotFound()
        pid = self._audit_patient(appt)
        if ctx.principal.patient_id is None and appt.clinician_id == ctx.principal.user_id:
            scopes = ctx.authorizer.table.scopes(ctx.principal.roles, action)
            if Scope.SELF in scopes or Scope.PRACTICE in scopes:
                # The clinician's own schedule (the self scope names the schedule's owner).
                access = ctx.authorize(
                    action,
                    resource_kind="appointment",
                    resource_id=apt_id,
                    user_id=appt.clinician_id,
                )
                return access, appt
        access = ctx.authorize(
            action, resource_kind="appointment", resource_id=apt_id, patient_id=pid
        )
        return access, appt

    def _audit_patient(self, appt: Appointment) -> str:
        own = self.ctx.principal.patient_id
        return own if own in appt.patient_ids else appt.patient_ids[0]

    @staticmethod
    def _check_version(appt: Appointment, version: int) -> None:
        if appt.version != version:
            raise VersionConflict(current_version=appt.version)

    def _check_self_rules(self, appt: Appointment, service: Service, start: datetime) -> None:
        booking_rules = self.b.availability.rules()
        rules.check_self_cancel(booking_rules, appt, self.ctx.now())
        rules.check_self_booking(booking_rules, service, appt.clinician_id, start, self.ctx.now())
