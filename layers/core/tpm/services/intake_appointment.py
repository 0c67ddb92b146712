"""Intake, the first visit (the appointment step): the times offered to the patient,
booking one (the patient in the portal, or staff for them), or linking a visit that is
already booked — and the intake keeps which appointment it was.

What is offered: the intake template's first-visit service (`first_visit_service_id`)
with the clinicians on the patient's care team, at the free times their calendars have
(`AvailabilityService.free`, the computation behind the portal's online booking), from the
practice's notice period (`min_notice_hours`) up to its booking horizon
(`max_advance_days`). The practice's general online-booking switch and its list of
bookable clinicians do not apply: a first-visit service in the intake template is the
practice's offer to the patients it invites (docs/decisions.md, 2026-12-06). A patient can
book only a time that is offered; staff book like the calendar does (any time the
clinician and room are free).

A booking is one transaction: the appointment with its locks, patient check and reminder
hooks (tpm.services.scheduling.Bookings), the intake's appointment step done with the
appointment linked, and two audit events — the appointment's and the intake's. A time
taken meanwhile is 409 `slot_unavailable` and nothing is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.domain import scheduling as rules
from tpm.domain.availability import MAX_RANGE_DAYS, Slot
from tpm.domain.intake import Intake, IntakeStatus, IntakeTemplate, Step, StepStatus
from tpm.domain.scheduling import Appointment, AppointmentStatus, Service
from tpm.domain.users import User, UserStatus
from tpm.errors import ValidationFailed, VersionConflict
from tpm.repositories.availability import AvailabilityRepository
from tpm.repositories.intake import IntakeRepository
from tpm.security.audit_chain import AuditEvent
from tpm.services.availability import AvailabilityService
from tpm.services.context import ServiceContext
from tpm.services.intake import KIND, answer
from tpm.services.rate_limits import enforce
from tpm.services.scheduling import CLINICAL_ROLES, BookingRequest, Bookings, explain

BOOKINGS_PER_HOUR = 10  # a patient's first-visit bookings (each one a real appointment)
UPCOMING_DAYS = 365  # how far ahead a visit already booked can be linked


@dataclass(frozen=True)
class Offer:
    service: Service | None  # None: the practice books the first visit with the patient
    clinicians: list[User]
    booked: list[Appointment]  # the patient's upcoming booked visits (one can be linked)


def slot_path(field: str) -> ValidationFailed:
    return ValidationFailed(fields=[{"path": field, "type": "not_offered"}])


class FirstVisit:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.b = Bookings(ctx)
        self.intakes = IntakeRepository(ctx.store, ctx.runtime.cipher)

    # ---- what is offered ----------------------------------------------------------------

    def offer(self, intake: Intake, template: IntakeTemplate) -> Offer:
        service = self._service(template)
        clinicians = self._clinicians(intake.patient_id) if service is not None else []
        return Offer(service, clinicians, self.upcoming(intake.patient_id))

    def upcoming(self, patient_id: str) -> list[Appointment]:
        now = self.ctx.now()
        found, _ = self.b.appointments.for_patient(
            patient_id, now, now + timedelta(days=UPCOMING_DAYS), 50, None
        )
        return [a for a in found if a.status is AppointmentStatus.BOOKED and a.start > now]

    def _service(self, template: IntakeTemplate) -> Service | None:
        if template.first_visit_service_id is None:
            return None
        service = self.b.catalogue.service(template.first_visit_service_id)
        return service if service is not None and service.active else None

    def _clinicians(self, patient_id: str) -> list[User]:
        found = []
        for user_id in self.ctx.relationships.care_team(patient_id):
            user = self.ctx.users.get(user_id)
            if (
                user is not None
                and user.status is UserStatus.ACTIVE
                and user.roles & CLINICAL_ROLES
            ):
                found.append(user)
        return sorted(found, key=lambda u: (u.display_name.casefold(), u.id))

    def _window(self) -> tuple[datetime, datetime]:
        booking = AvailabilityRepository(self.ctx.store).rules()
        now = self.ctx.now()
        return (
            now + timedelta(hours=booking.min_notice_hours),
            now + timedelta(days=booking.max_advance_days),
        )

    def slots(
        self,
        intake: Intake,
        template: IntakeTemplate,
        clinician_id: str,
        first: date,
        last: date,
    ) -> list[Slot]:
        """The free times offered to the patient with this clinician (query parameters)."""
        if last < first or (last - first).days >= MAX_RANGE_DAYS:
            raise ValidationFailed(
                fields=[{"path": "query.to", "type": "range"}], max_days=MAX_RANGE_DAYS
            )
        service = self._service(template)
        if service is None:
            raise slot_path("query.clinician_id")
        if clinician_id not in {u.id for u in self._clinicians(intake.patient_id)}:
            raise slot_path("query.clinician_id")
        earliest, horizon = self._window()
        found = AvailabilityService(self.ctx).free(clinician_id, service, first, last, earliest)
        return [s for s in found if s.start <= horizon]

    # ---- booking --------------------------------------------------------------------------

    def book_offered(
        self,
        intake: Intake,
        template: IntakeTemplate,
        clinician_id: str,
        location_id: str,
        start: datetime,
    ) -> tuple[Appointment, Intake]:
        """The patient books one of the offered times."""
        ctx = self.ctx
        enforce(
            ctx.store,
            ctx.runtime.clock,
            "intake-first-visit",
            ctx.principal.user_id,
            BOOKINGS_PER_HOUR,
            3600,
        )
        service = self._service(template)
        if service is None:
            raise slot_path("body.booking")
        start = rules.check_aligned(start, "body.booking.start")
        day = start.astimezone(self.b.practice.zone).date()
        offered = self.slots(intake, template, clinician_id, day, day)
        if not any(s.start == start and s.location_id == location_id for s in offered):
            raise slot_path("body.booking.start")
        location = self.b.location(location_id, "body.booking.location_id")
        req = BookingRequest((intake.patient_id,), clinician_id, service.id, location.id, start)
        appt = self.b.new_appointment(req, service, location)
        changed = self._linked(intake, appt.id)
        events = [
            ctx.event(
                "intake.self.submit",
                "appointment",
                appt.id,
                patient_id=intake.patient_id,
                reason_code="first_visit_booked",
            ),
            ctx.event(
                "intake.self.submit", KIND, intake.id, patient_id=intake.patient_id,
                reason_code="appointment",
            ),
        ]  # fmt: skip
        self._commit(appt, changed, events)
        answer(ctx, intake.id, Step.APPOINTMENT.value, {"done": True})
        return appt, changed

    def book_by_staff(
        self,
        intake: Intake,
        break_glass: bool,
        clinician_id: str,
        service_id: str,
        location_id: str,
        start: datetime,
        override: str | None = None,
    ) -> tuple[Appointment, Intake]:
        """Staff book the first visit for the patient (the calendar's rules: inside the
        clinician's availability, or an override with a reason, with the clinician and the
        room free). The caller has authorised intake.manage."""
        ctx = self.ctx
        access = ctx.authorize(
            "appointment.book", resource_kind="appointment", patient_id=intake.patient_id
        )
        service = self.b.service(service_id, "body.booking.service_id")
        location = self.b.location(location_id, "body.booking.location_id")
        self.b.check_clinician(clinician_id)
        start = rules.check_aligned(start, "body.booking.start")
        if start <= ctx.now():
            raise ValidationFailed(fields=[{"path": "body.booking.start", "type": "in_past"}])
        req = BookingRequest((intake.patient_id,), clinician_id, service.id, location.id, start)
        (appt,), allowed = self.b.gate([self.b.new_appointment(req, service, location)], override)
        changed = self._linked(intake, appt.id)
        events = [
            ctx.event(
                access.action,
                "appointment",
                appt.id,
                patient_id=intake.patient_id,
                break_glass=access.break_glass,
                reason_code="intake_first_visit",
            ),
            ctx.event(
                "intake.manage",
                KIND,
                intake.id,
                patient_id=intake.patient_id,
                break_glass=break_glass,
                reason_code="appointment_booked",
            ),
        ]
        if allowed is not None:
            events.append(self.b.override_event(allowed, "appointment", appt.id, intake.patient_id))
        self._commit(appt, changed, events)
        self._answer(intake)
        return appt, changed

    def check_linkable(self, intake: Intake, appointment_id: str, field: str) -> Appointment:
        """A visit already booked for this patient, still to come."""
        appointment = self.b.appointments.get(appointment_id)
        if (
            appointment is None
            or intake.patient_id not in appointment.patient_ids
            or appointment.status is not AppointmentStatus.BOOKED
            or appointment.start <= self.ctx.now()
        ):
            raise ValidationFailed(fields=[{"path": field, "type": "unknown_appointment"}])
        return appointment

    def link_by_staff(
        self, intake: Intake, break_glass: bool, appointment_id: str
    ) -> tuple[Appointment, Intake]:
        """Staff link a visit booked elsewhere (the calendar, a phone call)."""
        ctx = self.ctx
        appointment = self.check_linkable(intake, appointment_id, "body.appointment_id")
        changed = self._linked(intake, appointment.id)
        event = ctx.event(
            "intake.manage",
            KIND,
            intake.id,
            patient_id=intake.patient_id,
            break_glass=break_glass,
            reason_code="appointment_linked",
        )
        try:
            ctx.runtime.audit.write_with_audit(
                ctx.store, lambda: [self.intakes.put_op(changed)], event
            )
        except ConditionFailed as exc:
            raise VersionConflict() from exc
        self._answer(intake)
        return appointment, changed

    # ---- helpers --------------------------------------------------------------------------

    def _linked(self, intake: Intake, appointment_id: str) -> Intake:
        """The appointment step done with the appointment named; a stalled intake resumes
        (the workflow's next step finds every step done and completes it)."""
        now = self.ctx.now()
        update: dict[str, object] = {
            "steps": intake.with_step(Step.APPOINTMENT, StepStatus.DONE, now),
            "appointment_id": appointment_id,
        }
        if intake.status == IntakeStatus.STALLED:
            update |= {"status": IntakeStatus.SCHEDULING, "stalled_at": None, "reminders_sent": 0}
        return intake.bump(now, **update)

    def _commit(self, appt: Appointment, changed: Intake, events: list[AuditEvent]) -> None:
        built: list[Operation] = []

        def build() -> list[Operation]:
            built[:] = [*self.b.booking_ops(appt), self.intakes.put_op(changed)]
            return list(built)

        try:
            self.ctx.runtime.audit.write_many_with_audit(self.ctx.store, build, events)
        except ConditionFailed as exc:
            if exc.index == len(built) - 1:  # the intake moved meanwhile
                raise VersionConflict() from exc
            raise explain(built, exc, appt) from exc

    def _answer(self, intake: Intake) -> None:
        """Whichever wait the workflow is in: the appointment step, or the staff queue."""
        answer(self.ctx, intake.id, Step.APPOINTMENT.value, {"done": True})
        if intake.status == IntakeStatus.STALLED:
            answer(self.ctx, intake.id, "staff", {"action": "resume"})
