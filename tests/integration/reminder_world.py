"""A small practice for the reminder tests: a local runtime on a FixedClock, a clinician,
patients with reminder preferences, and appointments booked through the real hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tpm.adapters.notify.outbox import OutboxNotifier
from tpm.adapters.store.base import Operation
from tpm.clock import FixedClock
from tpm.domain.patients import Communication, Patient
from tpm.domain.practice import Practice
from tpm.domain.scheduling import (
    Appointment,
    AppointmentStatus,
    Location,
    LocationKind,
    Service,
)
from tpm.domain.users import User, UserStatus
from tpm.ids import new_id
from tpm.local.bootstrap import local_settings
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.catalogue import CatalogueRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime, build_runtime
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import Role, SystemActor
from tpm.services.practices import create_practice, get_practice
from tpm.services.reminder_hooks import forget_settings, on_booked, on_cancelled

# A Tuesday morning in Chicago (CST), outside the default quiet hours (21:00-08:00).
START = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)


@dataclass
class ReminderWorld:
    runtime: Runtime
    clock: FixedClock
    practice: Practice
    clinician: User
    location: Location
    service: Service
    patients: list[str] = field(default_factory=list)

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.runtime.store.practice(self.practice.id)

    @property
    def outbox(self) -> OutboxNotifier:
        notifier = self.runtime.notifier
        assert isinstance(notifier, OutboxNotifier)
        return notifier

    def write(self, ops: list[Operation]) -> None:
        self.runtime.audit.write_with_audit(
            self.store,
            lambda: list(ops),
            AuditEvent.for_system(
                SystemActor("test-harness", self.practice.id),
                action="practice.seed",
                resource_kind="practice",
            ),
        )

    def new_patient(
        self,
        *,
        first: str = "Ximena",
        last: str = "Quillfeather",
        email: str | None = "ximena@example.test",
        phone: str | None = "+15555550142",
        zone: str = "America/Chicago",
        email_on: bool = True,
        sms_on: bool = True,
        may_name_service: bool = False,
    ) -> str:
        patient = Patient(
            id=new_id("pat"),
            legal_first_name=first,
            legal_last_name=last,
            date_of_birth=date(1980, 4, 4),
            email=email,
            phone=phone,
            timezone=zone,
            communication=Communication(
                email_reminders=email_on,
                sms_reminders=sms_on,
                reminder_may_name_service=may_name_service,
            ),
            created_at=self.clock.now(),
            created_by="test-harness",
        )
        self.write(PatientRepository(self.store, self.runtime.cipher).create_ops(patient))
        self.patients.append(patient.id)
        return patient.id

    def book(self, patient_ids: list[str], start: datetime) -> Appointment:
        appointment = Appointment(
            id=new_id("apt"),
            patient_ids=tuple(patient_ids),
            clinician_id=self.clinician.id,
            location_id=self.location.id,
            service_id=self.service.id,
            start=start,
            end=start + timedelta(minutes=50),
            created_by="test-harness",
            created_at=self.clock.now(),
        )
        repo = AppointmentRepository(self.store, self.runtime.cipher)
        practice = get_practice(self.runtime.store, self.practice.id)
        ops = [
            *repo.create_ops(appointment),
            *on_booked(
                self.store, self.runtime.cipher, practice, appointment, now=self.clock.now()
            ),
        ]
        self.write(ops)
        return appointment

    def cancel(self, appointment: Appointment) -> Appointment:
        repo = AppointmentRepository(self.store, self.runtime.cipher)
        after = appointment.bump(status=AppointmentStatus.CANCELLED, cancelled_at=self.clock.now())
        self.write([*repo.update_ops(appointment, after), *on_cancelled(self.store, appointment)])
        return after


def build_reminder_world(tmp: Path, *, at: datetime = START) -> ReminderWorld:
    clock = FixedClock(at)
    runtime = build_runtime(local_settings(tmp, environment="test"), clock=clock)
    practice = create_practice(
        runtime.store,
        clock,
        name="Lakeside Wellness Group",
        slug=f"lakeside-{new_id('t')[-8:]}",
        timezone="America/Chicago",
    )
    forget_settings(practice.id)
    store = runtime.store.practice(practice.id)
    clinician = User(
        id=new_id("usr"),
        email="dr.quill@example.test",
        display_name="Dr. Rowan Quill",
        roles=frozenset({Role.CLINICIAN}),
        status=UserStatus.ACTIVE,
        created_at=clock.now(),
    )
    location = Location(
        id=new_id("loc"), name="Suite 200", kind=LocationKind.OFFICE, timezone="America/Chicago"
    )
    service = Service(
        id=new_id("svc"),
        name="Couples Intake",
        cpt_code="90847",
        duration_minutes=50,
        fee=Decimal("150.00"),
    )
    world = ReminderWorld(runtime, clock, practice, clinician, location, service)
    catalogue = CatalogueRepository(store)
    world.write(
        [
            *UserRepository(store, runtime.cipher).create_ops(clinician),
            catalogue.location_op(location),
            catalogue.service_op(service),
        ]
    )
    return world
