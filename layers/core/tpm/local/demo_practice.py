"""The demo practice's working data, written through the services (so every record is
authorised and audited exactly as real use would be): a catalogue and opening hours, a few
obviously synthetic patients, two weeks of appointments around today (recurring, a group,
cancelled, no-show, arrived), notes in each state (draft, signed, addended, waiting for
co-signature, returned by the supervisor, co-signed), a PHQ-9 series with a flagged point,
documents shared with a patient, a waitlist entry, secure messages (an answered patient
thread awaiting a second reply, a staff-only thread about a patient), and a minor whose
parent signs in to the portal as a proxy (demo_proxies).

One function per area, run in order by `seed_demo_practice`. To add your area's demo
data, write `def <area>(seed: DemoSeed) -> None` (act as a demo role with `seed.as_(Role.X)`,
keep names obviously synthetic, leave the portal patient Pat Example alone: the browser
tests read Pat's portal) and add it to `AREAS` — one line.

Records that describe the past are written with the service context's clock set back
(`seed.as_(role, at=...)`); the audit trail still records when the seed ran (event times
never go backwards), so the trail stays true.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from tpm.domain.messaging import ThreadKind
from tpm.domain.scheduling import Appointment, AppointmentStatus
from tpm.domain.users import User, UserStatus
from tpm.ids import new_id
from tpm.local.demo_billing import billing
from tpm.local.demo_intake import intake
from tpm.local.demo_proxies import proxies
from tpm.local.demo_rights import rights
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security import passwords
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import Principal, Role, SystemActor
from tpm.services.availability import AvailabilityService
from tpm.services.catalogue import CatalogueService
from tpm.services.context import ServiceContext
from tpm.services.documents import DocumentService, NewDocument
from tpm.services.measures import MeasureService, NewRequest
from tpm.services.messaging import MessagingService, NewThread
from tpm.services.note_supervision import SupervisionService
from tpm.services.notes import NoteService
from tpm.services.patients import NewPatient, PatientService
from tpm.services.scheduling import AppointmentService, BookingRequest
from tpm.services.series import SeriesRequest, SeriesService
from tpm.services.waitlist import WaitlistService

ZONE = "America/Chicago"
SUPERVISEE_EMAIL = "drew.supervisee@example.test"
SUPERVISEE_PASSWORD = "meadow-lantern-copper-44"  # noqa: S105 - synthetic, printed by tpm dev


@dataclass
class DemoSeed:
    runtime: Runtime
    practice_id: str
    staff: dict[Role, str]  # the demo account of each role (user ids)
    now: datetime
    ids: dict[str, str] = field(default_factory=dict)  # what earlier areas made, by name

    def as_(
        self,
        role: Role,
        at: datetime | None = None,
        user_id: str | None = None,
        patient_id: str | None = None,
    ) -> ServiceContext:
        """A service context acting as the demo account of `role` (MFA done), or as
        `user_id`, with its clock at `at` (default: now)."""
        principal = Principal(
            user_id=user_id or self.staff[role],
            practice_id=self.practice_id,
            patient_id=patient_id,
            roles=frozenset({role}),
            session_id="demo-seed",
            auth_time=self.now,
            mfa_authenticated=True,
            display_name="demo seed",
            user_agent="tpm dev demo seed",
            request_id=new_id("req"),
        )
        return ServiceContext(self.runtime, principal, _now=at or self.now)

    def local(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(ZONE))

    @property
    def today(self) -> date:
        return self.now.astimezone(ZoneInfo(ZONE)).date()


def catalogue(seed: DemoSeed) -> None:
    admin = CatalogueService(seed.as_(Role.ADMIN))
    office = admin.create_location(
        {"name": "Main office (synthetic)", "kind": "office", "timezone": ZONE}
    )
    video = admin.create_location({"name": "Video visits", "kind": "telehealth", "timezone": ZONE})
    for key, name, cpt, minutes, fee in (
        ("svc_intake", "Intake assessment 60 min", "90791", 60, "200.00"),
        ("svc_therapy", "Psychotherapy 53 min", "90837", 55, "160.00"),
        ("svc_group", "Group psychotherapy 90 min", "90853", 90, "60.00"),
    ):
        service = admin.create_service(
            {
                "name": name,
                "cpt_code": cpt,
                "duration_minutes": minutes,
                "fee": Decimal(fee),
            }
        )
        seed.ids[key] = service.id
    seed.ids["loc_office"], seed.ids["loc_video"] = office.id, video.id
    hours = AvailabilityService(seed.as_(Role.ADMIN))
    for role in (Role.CLINICIAN, Role.SUPERVISOR):
        clinician = seed.staff[role]
        current = hours.get(clinician)
        weekly = [
            {"weekday": d, "start": "08:00", "end": "19:00", "location_ids": [office.id, video.id]}
            for d in range(5)
        ]
        hours.update(clinician, current.version, {"timezone": ZONE, "weekly": weekly})


PATIENTS = (
    ("avery", "Avery", "Sample", date(1987, 4, 12), "+15555550111"),
    ("jordan", "Jordan", "Placeholder", date(1995, 9, 30), "+15555550122"),
    ("riley", "Riley", "Testcase", date(1979, 1, 5), "+15555550133"),
    ("morgan", "Morgan", "Fictional", date(2001, 6, 21), "+15555550144"),
)


def patients(seed: DemoSeed) -> None:
    desk = PatientService(seed.as_(Role.FRONT_DESK))
    for key, first, last, born, phone in PATIENTS:
        patient = desk.create(
            NewPatient(
                legal_first_name=first,
                legal_last_name=f"{last} (synthetic)",
                date_of_birth=born,
                email=f"{first.lower()}.{last.lower()}@example.test",
                phone=phone,
            ),
            add_me_to_care_team=False,
        )
        seed.ids[key] = patient.id
        desk.add_to_care_team(patient.id, seed.staff[Role.CLINICIAN])
    # The supervisee treats Morgan (their notes go to the supervisor's queue).
    desk.add_to_care_team(seed.ids["morgan"], seed.ids["supervisee"])


def supervisee(seed: DemoSeed) -> None:
    """A second clinician, supervised by the demo supervisor, whose notes need co-signing."""
    store = seed.runtime.store.practice(seed.practice_id)
    users = UserRepository(store, seed.runtime.cipher)
    user = User(
        id=new_id("usr"),
        email=SUPERVISEE_EMAIL,
        display_name="Drew Supervisee (synthetic)",
        roles=frozenset({Role.CLINICIAN}),
        status=UserStatus.ACTIVE,
        credentials="LPC-A",
        password_hash=passwords.hash_password(SUPERVISEE_PASSWORD),
        created_at=seed.now,
        invited_by="bootstrap",
        approved_by="bootstrap",
    )
    ops = [*users.create_ops(user)]
    ops.append(users.role_change_op(user.id, seed.now, "bootstrap", [], ["clinician"]))
    ops.append(users.supervision_op(user.id, seed.staff[Role.SUPERVISOR]))
    seed.runtime.audit.write_with_audit(
        store,
        lambda: list(ops),
        AuditEvent.for_system(
            SystemActor("bootstrap", seed.practice_id),
            action="practice.seed",
            resource_kind="user",
            resource_id=user.id,
            reason_code="demo_supervisee",
        ),
    )
    seed.ids["supervisee"] = user.id
    SupervisionService(seed.as_(Role.ADMIN)).set_cosign_requirement(user.id, True)


def appointments(seed: DemoSeed) -> None:
    desk = AppointmentService(seed.as_(Role.FRONT_DESK))
    office, therapy = seed.ids["loc_office"], seed.ids["svc_therapy"]
    clinician = seed.staff[Role.CLINICIAN]
    # Future visits sit at 08:00 and 17:30, outside the hours the browser tests book in
    # (they give the demo clinician 09:00-17:00), so the tests never collide with them.
    # The clinician works weekdays 08:00-19:00: a visit that falls on a weekend (the dates
    # follow today) is booked with an override and its reason, as the desk would.
    # Avery: weekly therapy from two weeks ago to two weeks ahead (a recurring series).
    start = seed.today - timedelta(days=14)
    start -= timedelta(days=start.weekday())  # a Monday
    SeriesService(seed.as_(Role.FRONT_DESK, at=seed.local(start, 7) - timedelta(days=1))).book(
        SeriesRequest(
            patient_ids=(seed.ids["avery"],),
            clinician_id=clinician,
            service_id=therapy,
            location_id=office,
            rrule="FREQ=WEEKLY",
            start_local=datetime.combine(start, time(8, 0)),
            timezone=ZONE,
            count=5,
        )
    )

    # Jordan: one visit last week they missed, one cancelled, one tomorrow-ish by video.
    def one(
        pids: tuple[str, ...],
        day: date,
        hour: int,
        minute: int = 0,
        location: str = office,
        service: str = therapy,
    ) -> Appointment:
        booker = AppointmentService(
            seed.as_(Role.FRONT_DESK, at=seed.local(day, 7) - timedelta(days=3))
        )
        return booker.book(
            BookingRequest(
                patient_ids=pids,
                clinician_id=clinician,
                service_id=service,
                location_id=location,
                start=seed.local(day, hour, minute),
                override=(
                    "Weekend session arranged with the clinician (synthetic)."
                    if day.weekday() >= 5
                    else None
                ),
            )
        )

    jordan = (seed.ids["jordan"],)
    missed = one(jordan, seed.today - timedelta(days=6), 14)
    AppointmentService(
        seed.as_(Role.FRONT_DESK, at=seed.local(seed.today - timedelta(days=6), 15))
    ).set_status(missed.id, missed.version, AppointmentStatus.NO_SHOW)
    cancelled = one(jordan, seed.today + timedelta(days=2), 17, 30)
    desk.cancel(cancelled.id, cancelled.version, "Patient is travelling (synthetic).")
    one(jordan, seed.today + timedelta(days=1), 17, 30, location=seed.ids["loc_video"])
    # Riley: seen earlier this week (arrived, then completed).
    seen_day = seed.today - timedelta(days=2)
    seen = one((seed.ids["riley"],), seen_day, 11)
    arrived = AppointmentService(
        seed.as_(Role.FRONT_DESK, at=seed.local(seen_day, 10, 55))
    ).set_status(seen.id, seen.version, AppointmentStatus.ARRIVED)
    AppointmentService(seed.as_(Role.FRONT_DESK, at=seed.local(seen_day, 12))).set_status(
        arrived.id, arrived.version, AppointmentStatus.COMPLETED
    )
    seed.ids["riley_visit"] = seen.id
    # A group session next week for three of them.
    group_day = seed.today + timedelta(days=7 - seed.today.weekday() + 2)
    one(
        (seed.ids["avery"], seed.ids["riley"], seed.ids["morgan"]),
        group_day,
        17,
        30,
        service=seed.ids["svc_group"],
    )


def _soap(day: date, risk: str = "low") -> dict[str, Any]:
    example = resources.files("tpm.local").joinpath("demo_soap.json").read_text("utf-8")
    content: dict[str, Any] = json.loads(example)
    content["session"]["date"] = day.isoformat()
    content["risk"]["risk_level"] = risk
    return content


def notes(seed: DemoSeed) -> None:
    day = seed.today - timedelta(days=2)
    at = seed.local(day, 13)
    writer = NoteService(seed.as_(Role.CLINICIAN, at=at))
    # Riley: signed, then an addendum.
    signed = writer.create(
        seed.ids["riley"], "progress_note_soap", None, seed.ids["riley_visit"], _soap(day)
    )
    signed = writer.sign(signed.id, signed.version)
    NoteService(seed.as_(Role.CLINICIAN, at=at + timedelta(hours=4))).add_addendum(
        signed.id, "Patient called after the session to confirm the homework (synthetic)."
    )
    # Avery: a draft still being written.
    draft = _soap(seed.today)
    del draft["assessment"]
    writer.create(seed.ids["avery"], "progress_note_soap", None, None, draft)
    # Morgan, by the supervisee: one waiting for co-signature, one returned, one co-signed.
    sup = seed.ids["supervisee"]
    drew = NoteService(seed.as_(Role.CLINICIAN, at=at, user_id=sup))
    for purpose in ("waiting", "returned", "cosigned"):
        note = drew.create(seed.ids["morgan"], "progress_note_soap", None, None, _soap(day))
        note = drew.sign(note.id, note.version)
        supervisor = SupervisionService(seed.as_(Role.SUPERVISOR, at=at + timedelta(hours=2)))
        if purpose == "returned":
            supervisor.return_note(
                note.id, note.version, "Add the safety plan you reviewed (synthetic)."
            )
        elif purpose == "cosigned":
            supervisor.cosign(note.id, note.version)


PHQ9_WEEKS = (  # answers over eight weeks; the fifth has item 9 above 0
    [2, 2, 2, 2, 1, 2, 1, 1, 0],
    [2, 2, 1, 2, 1, 2, 1, 1, 0],
    [2, 1, 1, 2, 1, 1, 1, 1, 0],
    [1, 2, 1, 1, 1, 1, 1, 1, 0],
    [2, 2, 2, 1, 1, 2, 1, 1, 1],
    [1, 1, 1, 1, 1, 1, 1, 0, 0],
    [1, 1, 1, 1, 0, 1, 0, 0, 0],
    [1, 0, 1, 1, 0, 1, 0, 0, 0],
)


def measures(seed: DemoSeed) -> None:
    """Avery's PHQ-9 every week for eight weeks (answered as Avery through their portal
    account), one with a positive item 9: a point flagged on the chart and a risk flag in
    the care team's (and supervisor's) inbox."""
    pid = seed.ids["avery"]
    account = _portal_account(seed, pid, "avery.sample@example.test", "Avery Sample (synthetic)")
    seed.ids["avery_account"] = account
    for n, answers in enumerate(PHQ9_WEEKS):
        day = seed.today - timedelta(days=7 * (len(PHQ9_WEEKS) - n))
        sent = MeasureService(seed.as_(Role.CLINICIAN, at=seed.local(day, 8))).send(
            pid, NewRequest(template_id="phq9")
        )
        patient_ctx = seed.as_(
            Role.PATIENT, at=seed.local(day, 19), user_id=account, patient_id=pid
        )
        MeasureService(patient_ctx).submit(
            sent.id, {f"item_{i}": v for i, v in enumerate(answers, start=1)}
        )


def _portal_account(seed: DemoSeed, patient_id: str, email: str, name: str) -> str:
    store = seed.runtime.store.practice(seed.practice_id)
    users = UserRepository(store, seed.runtime.cipher)
    user = User(
        id=new_id("usr"),
        email=email,
        display_name=name,
        roles=frozenset({Role.PATIENT}),
        status=UserStatus.INVITED,  # no password: the seed answers on their behalf
        patient_id=patient_id,
        created_at=seed.now,
        invited_by="bootstrap",
        approved_by="bootstrap",
    )
    ops = [*users.create_ops(user)]
    seed.runtime.audit.write_with_audit(
        store,
        lambda: list(ops),
        AuditEvent.for_system(
            SystemActor("bootstrap", seed.practice_id),
            action="practice.seed",
            resource_kind="user",
            resource_id=user.id,
            reason_code="demo_portal_account",
        ),
    )
    return user.id


def documents(seed: DemoSeed) -> None:
    desk = DocumentService(seed.as_(Role.CLINICIAN))
    text = (
        b"Welcome to the Demo Practice (synthetic). This is a sample document shared with "
        b"the patient through the portal. Nothing in it is real.\n"
    )
    shared = desk.upload(
        seed.ids["riley"],
        NewDocument("Welcome letter", "welcome.txt", "text/plain", text, shared_with_patient=True),
    )
    desk.upload(
        seed.ids["riley"],
        NewDocument(
            "Intake checklist (staff only)",
            "checklist.txt",
            "text/plain",
            b"Synthetic checklist.\n",
        ),
    )
    assert shared.shared_with_patient


def waitlist(seed: DemoSeed) -> None:
    start = seed.local(seed.today + timedelta(days=3), 8)
    WaitlistService(seed.as_(Role.FRONT_DESK)).add(
        seed.ids["morgan"],
        [(start, start + timedelta(hours=4))],
        seed.staff[Role.CLINICIAN],
        seed.ids["svc_therapy"],
    )


def messaging(seed: DemoSeed) -> None:
    """Secure messages: Avery (portal account from `measures`) asked the care team about a
    worksheet four days ago and the clinician answered; Avery wrote again the next
    morning and nobody has answered (past the practice's 48-hour response time: the
    practice queue shows it once the sweep runs); and a staff-only thread about Morgan from
    the supervisee to the clinician."""
    avery, account = seed.ids["avery"], seed.ids["avery_account"]
    clinician = seed.staff[Role.CLINICIAN]
    asked = seed.local(seed.today - timedelta(days=4), 10)

    def as_avery(at: datetime) -> MessagingService:
        ctx = seed.as_(Role.PATIENT, at=at, user_id=account, patient_id=avery)
        return MessagingService(ctx)

    started = as_avery(asked).start(
        NewThread(
            patient_id=None,
            kind=ThreadKind.PATIENT,
            subject="Worksheet from Tuesday",
            body="Should I fill in the thought record every day, or only on hard days?",
        )
    )
    thread_id = started.thread.id
    MessagingService(seed.as_(Role.CLINICIAN, at=asked + timedelta(hours=3))).reply(
        thread_id, "Every day if you can, even a line or two. We will look at it together."
    )
    as_avery(asked + timedelta(days=1)).reply(
        thread_id, "Thanks. Could we also talk about the sleep log next time?"
    )
    seed.ids["thread_avery"] = thread_id
    supervisee = seed.as_(Role.CLINICIAN, user_id=seed.ids["supervisee"])
    MessagingService(supervisee).start(
        NewThread(
            patient_id=seed.ids["morgan"],
            kind=ThreadKind.STAFF,
            subject="Cover for Morgan next week",
            body="I am away Thursday. Could you see Morgan if they call? Notes are up to date.",
            recipient_ids=(clinician,),
        )
    )


# Order matters: later areas use what earlier ones made (seed.ids).
AREAS: list[Callable[[DemoSeed], None]] = [
    catalogue,
    supervisee,
    patients,
    appointments,
    notes,
    measures,
    documents,
    waitlist,
    billing,
    intake,
    rights,
    messaging,
    proxies,
]


def seed_demo_practice(runtime: Runtime, practice_id: str, staff: dict[Role, str]) -> DemoSeed:
    seed = DemoSeed(runtime, practice_id, staff, runtime.clock.now())
    for area in AREAS:
        area(seed)
    return seed
