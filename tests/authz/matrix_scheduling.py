"""Authorization matrix rows for the scheduling routes (see matrix.py for the format).

Targets write their records straight through the scheduling repositories (as a system
actor), each appointment in its own hour so no two collide on a slot lock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from matrix import (
    ADMINS_201,
    CL,
    OW,
    PATIENT_VARIANTS,
    PX,
    STAFF,
    A,
    C,
    Case,
    F,
    P,
    S,
    Target,
    every,
    patient,
)
from world import Practice, World

from tpm.clock import to_rfc3339
from tpm.domain.availability import Availability, WeeklyRule
from tpm.domain.scheduling import Appointment, Location, LocationKind, SchedulingRules, Service
from tpm.ids import new_id
from tpm.repositories.appointments import AppointmentRepository, Series
from tpm.repositories.availability import AvailabilityRepository
from tpm.repositories.catalogue import CatalogueRepository
from tpm.repositories.waitlist import (
    AppointmentRequest,
    Offer,
    TimeWindow,
    WaitlistEntry,
    WaitlistRepository,
)
from tpm.security.principal import Role

_HOURS = itertools.count(1)
_FIXTURES: dict[str, tuple[str, str]] = {}
# Within the online-booking horizon of the (real-time) harness clock, past the notice period.
FUTURE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=30)
VARIANTS_2 = ("own", "foreign")


_SERIES = itertools.count(1)


def next_start() -> datetime:
    return FUTURE + timedelta(hours=next(_HOURS))


def next_series_start() -> datetime:
    """Daily two-occurrence series get two days of their own, after every single booking."""
    return FUTURE + timedelta(days=60 + 2 * next(_SERIES))


def iso(moment: datetime) -> str:
    return to_rfc3339(moment)


def catalogue(world: World, practice: Practice) -> tuple[str, str]:
    """(location id, service id) of the practice, created once per world; the practice's
    online rules let patients book its clinician."""
    key = practice.id
    if key not in _FIXTURES:
        store = world.runtime.store.practice(practice.id)
        repo = CatalogueRepository(store)
        loc = Location(id=new_id("loc"), name="Room A", kind=LocationKind.OFFICE, timezone="UTC")
        svc = Service(
            id=new_id("svc"),
            name="Therapy",
            cpt_code="90832",
            duration_minutes=30,
            fee=Decimal("100.00"),
            self_bookable=True,
        )
        rules = SchedulingRules(
            self_booking_enabled=True,
            self_booking_clinician_ids=(practice.users[Role.CLINICIAN].id,),
            max_advance_days=365,
            version=1,
        )
        avail = AvailabilityRepository(store)
        world.system_write(
            practice.id, [repo.location_op(loc), repo.service_op(svc), avail.rules_op(rules)]
        )
        _FIXTURES[key] = (loc.id, svc.id)
        for role in (Role.CLINICIAN, Role.SUPERVISOR):
            always_available(world, practice.id, practice.users[role].id, loc.id)
    return _FIXTURES[key]


def always_available(world: World, practice_id: str, clinician_id: str, loc: str) -> None:
    """The clinician works 00:00-23:45 UTC every day in the practice's room: every booking
    the matrix makes (on the hour, 30 minutes) falls inside their availability."""
    repo = AvailabilityRepository(world.runtime.store.practice(practice_id))
    if repo.availability(clinician_id).version:
        return
    weekly = tuple(
        WeeklyRule(weekday=d, start=time(0, 0), end=time(23, 45), location_ids=(loc,))
        for d in range(7)
    )
    hours = Availability(clinician_id=clinician_id, timezone="UTC", weekly=weekly, version=1)
    world.system_write(practice_id, [repo.availability_op(hours)])


def practice_of(world: World, variant: str) -> Practice:
    return world.b if variant == "foreign" else world.a


def make_appointment(
    world: World, practice: Practice, pid: str, clinician: str, **extra: Any
) -> Appointment:
    loc, svc = catalogue(world, practice)
    always_available(world, practice.id, clinician, loc)
    start = extra.pop("start", None) or next_start()
    appt = Appointment(
        id=new_id("apt"),
        patient_ids=(pid,),
        clinician_id=clinician,
        location_id=loc,
        service_id=svc,
        start=start,
        end=start + timedelta(minutes=30),
        created_by="test-harness",
        created_at=world.runtime.clock.now(),
        **extra,
    )
    store = world.runtime.store.practice(practice.id)
    world.system_write(
        practice.id, AppointmentRepository(store, world.runtime.cipher).create_ops(appt)
    )
    return appt


def appointment_target(body: Any = None, *, past: bool = False) -> Target:
    """own: the caller's related patient with practice A's clinician; other: an unrelated
    patient on another clinician's schedule; foreign: practice B."""

    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        practice = practice_of(world, variant)
        pid = patient(world, role, variant)
        if variant == "other":
            clinician = world.new_user(world.a.id, Role.CLINICIAN).id
        else:
            clinician = practice.users[Role.CLINICIAN].id
        start = datetime.now(UTC).replace(second=0, microsecond=0) if past else None
        if start is not None:
            start -= timedelta(minutes=start.minute % 15, hours=next(_HOURS))
        appt = make_appointment(world, practice, pid, clinician, start=start)
        params = {"appointmentId": appt.id, "patientId": pid}
        return params, body(world, appt) if body else None

    return make


def booking_body(series: bool = False) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        pid = patient(world, role, variant)
        loc, svc = catalogue(world, world.a)
        body: dict[str, Any] = {
            "patient_ids": [pid],
            "clinician_id": world.a.users[Role.CLINICIAN].id,
            "service_id": svc,
            "location_id": loc,
        }
        if series:
            start = next_series_start()
            body |= {
                "rrule": "FREQ=DAILY",
                "count": 2,
                "timezone": "UTC",
                "start_local": start.replace(tzinfo=None).isoformat(),
            }
        else:
            body["start"] = iso(next_start())
        return {"patientId": pid}, body

    return make


def series_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    practice = practice_of(world, variant)
    pid = patient(world, role, variant)
    clinician = (
        world.new_user(world.a.id, Role.CLINICIAN).id
        if variant == "other"
        else practice.users[Role.CLINICIAN].id
    )
    loc, svc = catalogue(world, practice)
    first = next_series_start()
    second = first + timedelta(days=1)
    series_id = new_id("ser")
    appts = [
        make_appointment(
            world, practice, pid, clinician, start=s, series_id=series_id, series_index=i
        )
        for i, s in enumerate((first, second))
    ]
    series = Series(
        id=series_id,
        rrule="FREQ=DAILY",
        start_local=first.replace(tzinfo=None),
        timezone="UTC",
        clinician_id=clinician,
        patient_ids=(pid,),
        service_id=svc,
        location_id=loc,
        appointment_ids=tuple(a.id for a in appts),
        created_by="test-harness",
    )
    store = world.runtime.store.practice(practice.id)
    world.system_write(
        practice.id, [AppointmentRepository(store, world.runtime.cipher).series_op(series)]
    )
    moved = (second + timedelta(minutes=15)).time().isoformat()
    body = {"version": 1, "from_occurrence": 1, "changes": {"start_time": moved}}
    return {"seriesId": series_id, "patientId": pid}, body


def catalogue_target(kind: str, body: Any = None, fresh: bool = False) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        practice = practice_of(world, variant)
        loc, svc = catalogue(world, practice)
        if fresh:
            store = world.runtime.store.practice(practice.id)
            repo = CatalogueRepository(store)
            loc = new_id("loc")
            op = repo.location_op(
                Location(id=loc, name="Spare room", kind=LocationKind.OFFICE, timezone="UTC")
            )
            if kind == "service":
                svc = new_id("svc")
                op = repo.service_op(
                    Service(
                        id=svc,
                        name="Intake",
                        cpt_code="90791",
                        duration_minutes=60,
                        fee=Decimal(200),
                    )
                )
            world.system_write(practice.id, [op])
        key = "locationId" if kind == "location" else "serviceId"
        return {key: loc if kind == "location" else svc}, body

    return make


def clinician_target(body: bool = False) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        if variant == "foreign":
            cid = world.b.users[Role.CLINICIAN].id
        elif variant == "other":
            cid = world.new_user(world.a.id, Role.CLINICIAN).id
        elif role in (Role.CLINICIAN, Role.SUPERVISOR):
            cid = world.a.users[role].id
        else:
            cid = world.a.users[Role.CLINICIAN].id
        if not body:
            return {"clinicianId": cid}, None
        practice = practice_of(world, variant)
        repo = AvailabilityRepository(world.runtime.store.practice(practice.id))
        version = repo.availability(cid).version
        return {"clinicianId": cid}, {"version": version, "timezone": "America/New_York"}

    return make


SLOTS_QUERY: list[tuple[str, str]] = []


def slots_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    # The service id is only known once the world exists: fill the case's query in place.
    _, svc = catalogue(world, world.a)
    day = (FUTURE + timedelta(days=59)).date()
    SLOTS_QUERY[:] = [("service_id", svc), ("from", day.isoformat()), ("to", day.isoformat())]
    return {"clinicianId": world.a.users[Role.CLINICIAN].id}, None


def rules_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    catalogue(world, world.a)
    version = AvailabilityRepository(world.runtime.store.practice(world.a.id)).rules().version
    return {}, {"version": version, "min_notice_hours": 12}


def online_rules(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    """Practice A's online-booking rules (listing its clinician) exist before the call."""
    catalogue(world, world.a)
    return {}, None


def self_booking_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    loc, svc = catalogue(world, world.a)
    return {}, {
        "clinician_id": world.a.users[Role.CLINICIAN].id,
        "service_id": svc,
        "location_id": loc,
        "start": iso(next_start()),
    }


def waitlist_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = patient(world, role, variant)
    start = next_start()
    window = {"start": iso(start), "end": iso(start + timedelta(days=7))}
    return {"patientId": pid}, {"patient_id": pid, "windows": [window]}


def waitlist_entry_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    practice = practice_of(world, variant)
    pid = practice.own_patient if variant != "other" else world.a.other_patient
    start = next_start()
    entry = WaitlistEntry(
        id=new_id("wtl"),
        patient_id=pid,
        windows=(TimeWindow(start=start, end=start + timedelta(hours=4)),),
        created_at=world.runtime.clock.now(),
        created_by="test-harness",
    )
    store = world.runtime.store.practice(practice.id)
    world.system_write(
        practice.id, [WaitlistRepository(store, world.runtime.cipher).entry_op(entry)]
    )
    return {"entryId": entry.id, "patientId": pid}, {"version": 1}


def offer_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    practice = practice_of(world, variant)
    pid = practice.own_patient if variant != "other" else world.a.other_patient
    loc, svc = catalogue(world, practice)
    start = next_start()
    offer = Offer(
        id=new_id("wof"),
        entry_id=new_id("wtl"),
        patient_id=pid,
        clinician_id=practice.users[Role.CLINICIAN].id,
        service_id=svc,
        location_id=loc,
        location_kind=LocationKind.OFFICE,
        start=start,
        end=start + timedelta(minutes=30),
        expires=start,
    )
    store = world.runtime.store.practice(practice.id)
    world.system_write(
        practice.id, [WaitlistRepository(store, world.runtime.cipher).offer_op(offer)]
    )
    return {"offerId": offer.id, "patientId": pid}, None


def request_target(accept: bool) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        practice = practice_of(world, variant)
        request = AppointmentRequest(
            id=new_id("req"),
            name="Prospective Person (synthetic)",
            email="prospect@example.test",
            preferred_times="Weekday mornings",
            created_at=world.runtime.clock.now(),
        )
        store = world.runtime.store.practice(practice.id)
        world.system_write(
            practice.id, [WaitlistRepository(store, world.runtime.cipher).request_op(request)]
        )
        body: dict[str, Any] = {"version": 1}
        if accept:
            loc, svc = catalogue(world, world.a)
            body |= {
                "legal_first_name": "Prospect",
                "legal_last_name": "Synthetic",
                "date_of_birth": "1990-02-02",
                "clinician_id": world.a.users[Role.CLINICIAN].id,
                "service_id": svc,
                "location_id": loc,
                "start": iso(next_start()),
            }
        return {"requestId": request.id}, body

    return make


def version_body(world: World, appt: Appointment) -> dict[str, Any]:
    return {"version": appt.version}


def reschedule_body(world: World, appt: Appointment) -> dict[str, Any]:
    return {"version": appt.version, "start": iso(next_start())}


DESK = {OW: (200, 200, 404), A: (200, 200, 404), F: (200, 200, 404)}
DESK_201 = {OW: (201, 201, 404), A: (201, 201, 404), F: (201, 201, 404)}
CHANGE = {**DESK, CL: (200, 404, 404), S: 404}
BOOK = {**DESK_201, CL: (201, 404, 404), S: 404}
STAFF_READS = [OW, A, F, CL, S]
ADMINS_2 = {OW: (200, 404), A: (200, 404)}
RANGE = [("from", iso(FUTURE)), ("to", iso(FUTURE + timedelta(days=60)))]

CASES: list[Case] = [
    # -- catalogue --
    Case(
        "GET",
        "/v1/clinicians",
        every(200, STAFF_READS),
        audit=("scheduling.clinicians.read",),
    ),
    Case(
        "POST",
        "/v1/locations",
        ADMINS_201,
        target=lambda w, r, v: ({}, {"name": "Room 9", "kind": "office", "timezone": "UTC"}),
        audit=("scheduling.catalogue.manage",),
    ),
    Case(
        "GET",
        "/v1/locations",
        every(200, [*STAFF_READS, C, P]),
        audit=("scheduling.catalogue.read",),
    ),
    Case(
        "GET",
        "/v1/locations/{locationId}",
        every((200, 404), [*STAFF_READS, C, P]),
        variants=VARIANTS_2,
        target=catalogue_target("location"),
        audit=("scheduling.catalogue.read",),
    ),
    Case(
        "PATCH",
        "/v1/locations/{locationId}",
        ADMINS_2,
        variants=VARIANTS_2,
        target=catalogue_target("location", {"version": 1, "name": "Room Z"}, fresh=True),
        audit=("scheduling.catalogue.manage",),
    ),
    Case(
        "POST",
        "/v1/locations/{locationId}/deactivate",
        ADMINS_2,
        variants=VARIANTS_2,
        target=catalogue_target("location", {"version": 1}, fresh=True),
        audit=("scheduling.catalogue.manage",),
    ),
    Case(
        "POST",
        "/v1/services",
        ADMINS_201,
        target=lambda w, r, v: (
            {},
            {
                "name": "Family therapy",
                "cpt_code": "90847",
                "duration_minutes": 50,
                "fee": {"amount": "140.00", "currency": "USD"},
            },
        ),
        audit=("scheduling.catalogue.manage",),
    ),
    Case(
        "GET",
        "/v1/services",
        every(200, [*STAFF_READS, C, P]),
        audit=("scheduling.catalogue.read",),
    ),
    Case(
        "GET",
        "/v1/services/{serviceId}",
        every((200, 404), [*STAFF_READS, C, P]),
        variants=VARIANTS_2,
        target=catalogue_target("service"),
        audit=("scheduling.catalogue.read",),
    ),
    Case(
        "PATCH",
        "/v1/services/{serviceId}",
        ADMINS_2,
        variants=VARIANTS_2,
        target=catalogue_target("service", {"version": 1, "fee": {"amount": "210.00"}}, fresh=True),
        audit=("scheduling.catalogue.manage",),
    ),
    Case(
        "POST",
        "/v1/services/{serviceId}/deactivate",
        ADMINS_2,
        variants=VARIANTS_2,
        target=catalogue_target("service", {"version": 1}, fresh=True),
        audit=("scheduling.catalogue.manage",),
    ),
    # -- availability, slots, rules --
    Case(
        "GET",
        "/v1/clinicians/{clinicianId}/availability",
        every((200, 404), STAFF_READS),
        variants=VARIANTS_2,
        target=clinician_target(),
        audit=("availability.read",),
    ),
    Case(
        "PATCH",
        "/v1/clinicians/{clinicianId}/availability",
        {OW: (200, 200, 404), A: (200, 200, 404), CL: (200, 404, 404), S: (200, 404, 404)},
        variants=("own", "other", "foreign"),
        target=clinician_target(body=True),
        audit=("availability.update",),
    ),
    Case(
        "GET",
        "/v1/clinicians/{clinicianId}/slots",
        every(200, [*STAFF_READS, P]),
        target=slots_target,
        query=SLOTS_QUERY,
        audit=("slots.read",),
    ),
    Case("GET", "/v1/scheduling-rules", {OW: 200, A: 200}, audit=("scheduling.rules.read",)),
    Case(
        "PATCH",
        "/v1/scheduling-rules",
        {OW: 200, A: 200},
        target=rules_body,
        audit=("scheduling.rules.update",),
    ),
    # -- appointments (staff) --
    Case(
        "POST",
        "/v1/appointments",
        BOOK,
        variants=PATIENT_VARIANTS,
        target=booking_body(),
        audit=("appointment.book",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/appointments",
        every(200, [*STAFF_READS, P]),
        query=RANGE,
        audit=("appointment.list",),
    ),
    Case(
        "GET",
        "/v1/appointments/{appointmentId}",
        {**DESK, CL: (200, 404, 404), S: (200, 404, 404), P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=appointment_target(),
        audit=("appointment.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/appointments/{appointmentId}/reschedule",
        CHANGE,
        variants=PATIENT_VARIANTS,
        target=appointment_target(reschedule_body),
        audit=("appointment.reschedule",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/appointments/{appointmentId}/cancel",
        CHANGE,
        variants=PATIENT_VARIANTS,
        target=appointment_target(lambda w, a: {"version": a.version, "reason": "Unwell"}),
        audit=("appointment.cancel",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/appointments/{appointmentId}/status",
        CHANGE,
        variants=PATIENT_VARIANTS,
        target=appointment_target(
            lambda w, a: {"version": a.version, "status": "arrived"}, past=True
        ),
        audit=("appointment.status",),
        patient_scoped=True,
    ),
    # -- series --
    Case(
        "POST",
        "/v1/appointment-series",
        BOOK,
        variants=PATIENT_VARIANTS,
        target=booking_body(series=True),
        audit=("appointment.book",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/appointment-series/{seriesId}",
        {**DESK, CL: (200, 404, 404), S: (200, 404, 404), P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=series_target,
        audit=("appointment.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/appointment-series/{seriesId}/split",
        BOOK,
        variants=PATIENT_VARIANTS,
        target=series_target,
        audit=("appointment.reschedule",),
        patient_scoped=True,
    ),
    # -- patient self-service --
    Case(
        "GET",
        "/v1/me/appointments",
        {**every(404, [*STAFF, PX]), P: 200},
        query=RANGE,
        audit=("appointment.list",),
    ),
    Case(
        "GET",
        "/v1/me/bookable-clinicians",
        {P: 200},
        target=online_rules,
        audit=("scheduling.bookable_clinicians.read",),
    ),
    Case(
        "POST",
        "/v1/me/appointments",
        {P: 201},
        target=self_booking_body,
        audit=("appointment.self_book",),
    ),
    Case(
        "POST",
        "/v1/me/appointments/{appointmentId}/cancel",
        {P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=appointment_target(lambda w, a: {"version": a.version, "reason": "Travel"}),
        audit=("appointment.self_cancel",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/me/appointments/{appointmentId}/reschedule",
        {P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=appointment_target(reschedule_body),
        audit=("appointment.self_reschedule",),
        patient_scoped=True,
    ),
    # -- waitlist --
    Case(
        "POST",
        "/v1/waitlist",
        {**DESK_201, CL: (201, 404, 404), S: 404, P: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=waitlist_body,
        audit=("waitlist.create",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/waitlist", {OW: 200, A: 200, F: 200, P: 200}, audit=("waitlist.list",)),
    Case(
        "POST",
        "/v1/waitlist/{entryId}/remove",
        DESK,
        variants=PATIENT_VARIANTS,
        target=waitlist_entry_target,
        audit=("waitlist.remove",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/waitlist-offers",
        {OW: 200, A: 200, F: 200},
        query=RANGE,
        audit=("waitlist.offer.list",),
    ),
    Case(
        "POST",
        "/v1/waitlist-offers/{offerId}/claim",
        {P: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=offer_target,
        audit=("waitlist.claim",),
        patient_scoped=True,
    ),
    # -- appointment requests --
    Case(
        "POST",
        "/v1/appointment-requests",
        {},
        public=True,
        anonymous=201,
        target=lambda w, r, v: (
            {},
            {
                "practice": "harness-a",
                "name": "Walk In (synthetic)",
                "email": "walkin@example.test",
                "preferred_times": "Tuesday afternoons",
            },
        ),
        audit=("appointment_request.create",),
    ),
    Case(
        "GET",
        "/v1/appointment-requests",
        {OW: 200, A: 200, F: 200},
        audit=("appointment_request.list",),
    ),
    Case(
        "POST",
        "/v1/appointment-requests/{requestId}/accept",
        {OW: (201, 404), A: (201, 404), F: (201, 404)},
        variants=VARIANTS_2,
        target=request_target(accept=True),
        audit=("appointment_request.decide",),
    ),
    Case(
        "POST",
        "/v1/appointment-requests/{requestId}/decline",
        {OW: (200, 404), A: (200, 404), F: (200, 404)},
        variants=VARIANTS_2,
        target=request_target(accept=False),
        audit=("appointment_request.decide",),
    ),
]
