"""Booking an appointment: store calls per booking and latency against a raw store put.

Baseline: `store.practice(p).put(item)` on the same SqliteStore file (one write, no
condition). Measured: `AppointmentService.book` for a front-desk user — authorisation,
the reads a booking needs, and ONE transaction holding the appointment, its patient copy,
the slot locks (clinician + room), a patient-exists check, the reminder hooks' rows and the
audit event. Store calls are counted with `store.calls` around each booking.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path

from benchmarks.common import Figure, Options, Outcome, Stats
from tpm.clock import FixedClock
from tpm.domain.availability import Availability, WeeklyRule
from tpm.domain.patients import Patient
from tpm.domain.scheduling import Location, LocationKind, Service
from tpm.domain.users import User, UserStatus
from tpm.ids import new_id
from tpm.local.bootstrap import local_settings
from tpm.repositories.availability import AvailabilityRepository
from tpm.repositories.catalogue import CatalogueRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime, build_runtime
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import Principal, Role, SystemActor
from tpm.services.context import ServiceContext
from tpm.services.practices import create_practice
from tpm.services.scheduling import AppointmentService, BookingRequest

NAME = "booking"
BOOKINGS, QUICK_BOOKINGS = 300, 60
TARGET_RATIO = None  # a measurement; the store-call count is the figure to keep minimal
START = datetime(2030, 1, 7, 14, 0, tzinfo=UTC)


def _seed(runtime: Runtime, practice_id: str) -> tuple[Principal, BookingRequest]:
    store = runtime.store.practice(practice_id)
    now = runtime.clock.now()
    users = UserRepository(store, runtime.cipher)
    desk = User(
        id=new_id("usr"),
        email="desk@example.test",
        display_name="Desk (synthetic)",
        roles=frozenset({Role.FRONT_DESK}),
        status=UserStatus.ACTIVE,
        created_at=now,
    )
    clinician = desk.model_copy(
        update={
            "id": new_id("usr"),
            "email": "c@example.test",
            "roles": frozenset({Role.CLINICIAN}),
        }
    )
    patient = Patient(
        id=new_id("pat"),
        legal_first_name="Bench",
        legal_last_name="Patient",
        date_of_birth=date(1990, 1, 1),
        created_at=now,
        created_by="bench",
    )
    room = Location(id=new_id("loc"), name="Room", kind=LocationKind.OFFICE, timezone="UTC")
    service = Service(
        id=new_id("svc"), name="Therapy", cpt_code="90834", duration_minutes=50, fee=Decimal(150)
    )
    catalogue = CatalogueRepository(store)
    # The clinician works around the clock (UTC) in the room: every booking is inside.
    hours = Availability(
        clinician_id=clinician.id,
        timezone="UTC",
        weekly=tuple(
            WeeklyRule(weekday=d, start=dtime(0, 0), end=dtime(23, 45), location_ids=(room.id,))
            for d in range(7)
        ),
        version=1,
    )
    ops = [
        *users.create_ops(desk),
        *users.create_ops(clinician),
        PatientRepository(store, runtime.cipher).create_op(patient),
        catalogue.location_op(room),
        catalogue.service_op(service),
        AvailabilityRepository(store).availability_op(hours),
    ]
    runtime.audit.write_with_audit(
        store,
        lambda: list(ops),
        AuditEvent.for_system(
            SystemActor("bench", practice_id), action="practice.seed", resource_kind="practice"
        ),
    )
    principal = Principal(
        user_id=desk.id,
        practice_id=practice_id,
        roles=desk.roles,
        session_id="ses_bench",
        auth_time=now,
        mfa_authenticated=True,
    )
    return principal, BookingRequest((patient.id,), clinician.id, service.id, room.id, START)


def measure(*, bookings: int) -> Outcome:
    outcome = Outcome(NAME, details={"bookings": bookings})
    logging.getLogger("tpm").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tpm-bench-") as tmp:
        runtime = build_runtime(
            local_settings(Path(tmp), environment="test"), clock=FixedClock(START)
        )
        try:
            practice = create_practice(
                runtime.store, runtime.clock, name="Bench", slug="bench", timezone="UTC"
            )
            principal, base = _seed(runtime, practice.id)
            calls: Counter[str] = Counter()
            book_ms: list[float] = []
            put_ms: list[float] = []
            raw = runtime.store.practice(practice.id)
            for i in range(bookings):
                req = BookingRequest(
                    base.patient_ids,
                    base.clinician_id,
                    base.service_id,
                    base.location_id,
                    START + timedelta(hours=i),
                )
                service = AppointmentService(ServiceContext(runtime, principal))
                runtime.store.calls.reset()
                started = time.perf_counter_ns()
                service.book(req)
                book_ms.append((time.perf_counter_ns() - started) / 1e6)
                calls.update(runtime.store.calls.reset())
                started = time.perf_counter_ns()
                raw.put({"pk": "BENCH", "sk": f"{i:08d}", "n": i})
                put_ms.append((time.perf_counter_ns() - started) / 1e6)
        finally:
            runtime.store.close()
    per_booking = {op: round(n / bookings, 2) for op, n in sorted(calls.items())}
    outcome.details["store_calls_per_booking"] = per_booking
    writes = per_booking.get("transact", 0) + per_booking.get("put", 0)
    reads = sum(v for k, v in per_booking.items() if k in ("get", "query"))
    outcome.details["reads_per_booking"] = reads
    outcome.details["writes_per_booking"] = writes
    outcome.notes.append(
        f"store calls per booking: {per_booking} (reads {reads}, writes {writes}; "
        "writes = 1 transaction with the audit event)"
    )
    if per_booking.get("transact") != 1:
        outcome.failures.append(f"a booking made {per_booking.get('transact')} transactions")
    outcome.figures.append(
        Figure(
            "AppointmentService.book (1 transaction)",
            "ms",
            Stats.of(book_ms),
            Stats.of(put_ms),
            "SqliteStore practice(p).put(item)",
            TARGET_RATIO,
        )
    )
    return outcome


def benchmark(options: Options) -> Outcome:
    return measure(bookings=QUICK_BOOKINGS if options.quick else BOOKINGS)
