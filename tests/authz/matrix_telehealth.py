"""Authorization matrix rows for telehealth visits and clinicians' licence states (see
matrix.py for the format).

Targets are built straight into the store: a telehealth appointment and (for visit
routes) an open visit with its host admitted and the patient waiting or admitted.
  own      a visit the caller is in: for clinicians and supervisors, they are the
           appointment's clinician and on the patient's care team; for the patient user,
           it is their own appointment
  other    a visit in the same practice the caller has no relationship to
  foreign  a visit in practice B
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from matrix import CL, OW, PATIENT_VARIANTS, USER_VARIANTS, A, Case, P, S, Target, user_version
from world import World

from tpm.domain.scheduling import Appointment, LocationKind
from tpm.domain.telehealth import (
    GuestInvitation,
    LocationAttestation,
    Participant,
    ParticipantKind,
    ParticipantStatus,
    Signal,
    Visit,
    VisitStatus,
    token_hash,
)
from tpm.ids import new_id
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.visits import VisitRepository
from tpm.security.principal import Role


def _people(world: World, role: Role, variant: str) -> tuple[str, str, str]:
    """(practice id, patient id, clinician id) for the variant, as seen by `role`."""
    if variant == "foreign":
        b = world.b
        return b.id, b.own_patient, b.users[Role.CLINICIAN].id
    if role is Role.PATIENT:
        clinician = world.a.users[Role.CLINICIAN].id
        if variant == "own":
            return world.a.id, world.a.own_patient, clinician
        return world.a.id, world.new_patient(world.a.id, care_team=[clinician]), clinician
    if role in (Role.CLINICIAN, Role.SUPERVISOR):
        caller = world.a.users[role].id
        if variant == "own":
            return world.a.id, world.new_patient(world.a.id, care_team=[caller]), caller
        colleague = world.a.users[Role.SUPERVISOR if role is Role.CLINICIAN else Role.CLINICIAN]
        return (
            world.a.id,
            world.new_patient(world.a.id, care_team=[colleague.id]),
            colleague.id,
        )
    clinician = world.a.users[Role.CLINICIAN].id
    return world.a.id, world.new_patient(world.a.id, care_team=[clinician]), clinician


def make_appointment(world: World, practice_id: str, patient_id: str, clinician_id: str) -> str:
    now = world.runtime.clock.now()
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 15)
    appt = Appointment(
        id=new_id("apt"),
        patient_ids=(patient_id,),
        clinician_id=clinician_id,
        location_id=new_id("loc"),
        location_kind=LocationKind.TELEHEALTH,
        service_id=new_id("svc"),
        start=start,
        end=start + timedelta(minutes=60),
        created_by=clinician_id,
        created_at=now,
    )
    repo = AppointmentRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    # The appointment's own items only: many targets share a clinician and a time, and
    # slot locks are the booking path's business, not this one's.
    ops = [op for op in repo.create_ops(appt) if op.item["pk"].startswith("APPOINTMENT#")]  # type: ignore[union-attr]
    world.system_write(practice_id, ops)
    return appt.id


def make_visit(
    world: World,
    practice_id: str,
    patient_id: str,
    clinician_id: str,
    patient_status: ParticipantStatus = ParticipantStatus.WAITING,
) -> tuple[Visit, Participant, Participant]:
    """An open (local media) visit: the host admitted, the patient in `patient_status`."""
    now = world.runtime.clock.now()
    apt = make_appointment(world, practice_id, patient_id, clinician_id)
    visit_id = new_id("vis")
    visit = Visit(
        id=visit_id,
        appointment_id=apt,
        clinician_id=clinician_id,
        patient_ids=(patient_id,),
        status=VisitStatus.OPEN,
        media="local",
        meeting_id=f"local-{visit_id}",
        meeting={"MeetingId": f"local-{visit_id}", "MediaRegion": "local"},
        created_at=now,
        started_at=now,
    )
    host = Participant(
        id=new_id("vpt"),
        visit_id=visit_id,
        kind=ParticipantKind.HOST,
        alias="Test clinician",
        user_id=clinician_id,
        status=ParticipantStatus.ADMITTED,
        joined_at=now,
        admitted_at=now,
        attendee_id="host-attendee",
        join_token=secrets.token_urlsafe(8),
    )
    admitted = patient_status is ParticipantStatus.ADMITTED
    patient = Participant(
        id=new_id("vpt"),
        visit_id=visit_id,
        kind=ParticipantKind.PATIENT,
        alias="Testy",
        patient_id=patient_id,
        status=patient_status,
        joined_at=now,
        admitted_at=now if admitted else None,
        attendee_id="patient-attendee" if admitted else None,
        join_token=secrets.token_urlsafe(8) if admitted else None,
        location=LocationAttestation(state="TX", at_home=True, attested_at=now),
    )
    repo = VisitRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    ops = [
        *repo.create_ops(visit),
        *repo.add_participant_ops(host),
        *repo.add_participant_ops(patient),
    ]
    world.system_write(practice_id, ops)
    return visit, host, patient


Body = Callable[[World, Role, Visit, Participant, Participant], Any]


def visit_target(
    patient_status: ParticipantStatus = ParticipantStatus.WAITING,
    body: Body | None = None,
    inbox: bool = False,
) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        practice_id, pid, clinician = _people(world, role, variant)
        visit, host, patient = make_visit(world, practice_id, pid, clinician, patient_status)
        if inbox:
            me, other = (patient, host) if role is Role.PATIENT else (host, patient)
            signal = Signal(
                id=new_id("sig"),
                visit_id=visit.id,
                sender_id=other.id,
                recipient_id=me.id,
                type="chat",
                payload="Hello (synthetic)",
                sent_at=world.runtime.clock.now(),
            )
            store = world.runtime.store.practice(practice_id)
            world.system_write(
                practice_id, [VisitRepository(store, world.runtime.cipher).signal_op(signal)]
            )
        params = {"visitId": visit.id, "participantId": patient.id, "patientId": pid}
        return params, body(world, role, visit, host, patient) if body else None

    return make


def appointment_target(body: Any = None) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        practice_id, pid, clinician = _people(world, role, variant)
        apt = make_appointment(world, practice_id, pid, clinician)
        return {"appointmentId": apt, "patientId": pid}, body

    return make


def invitation_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    practice = world.a
    visit, _, _ = make_visit(
        world, practice.id, practice.own_patient, practice.users[Role.CLINICIAN].id
    )
    secret = secrets.token_urlsafe(24)
    now = world.runtime.clock.now()
    invitation = GuestInvitation(
        id=new_id("vin"),
        visit_id=visit.id,
        alias="Interpreter",
        token_hash=token_hash(secret),
        created_by=practice.users[Role.CLINICIAN].id,
        created_at=now,
        expires_at=now + timedelta(hours=1),
    )
    repo = VisitRepository(world.runtime.store.practice(practice.id), world.runtime.cipher)
    world.system_write(practice.id, [repo.invitation_op(invitation, create=True)])
    return {}, {"token": f"{practice.id}.{invitation.id}.{secret}"}


def message_to_other(world: World, role: Role, v: Visit, host: Participant, p: Participant) -> Any:
    to = host.id if role is Role.PATIENT else p.id
    return {"to": to, "type": "chat", "payload": "Hello (synthetic)"}


TEAM = (200, 404, 404)
HOSTS = {CL: TEAM, S: TEAM}
HOSTS_AND_PATIENT = {CL: TEAM, S: TEAM, P: TEAM}
GUEST_MESSAGE = {"to": "everyone", "type": "chat", "payload": "Hello (synthetic)"}

CASES: list[Case] = [
    Case(
        "POST",
        "/v1/appointments/{appointmentId}/visit",
        {CL: (201, 404, 404), S: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=appointment_target(),
        audit=("visit.start",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/appointments/{appointmentId}/visit/waiting-room",
        {P: TEAM},
        variants=PATIENT_VARIANTS,
        target=appointment_target({"location": {"state": "TX", "at_home": True}}),
        audit=("visit.join",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/visits", {CL: 200, S: 200}, audit=("visit.list",)),
    Case(
        "GET",
        "/v1/visits/{visitId}",
        HOSTS_AND_PATIENT,
        variants=PATIENT_VARIANTS,
        target=visit_target(),
        audit=("visit.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/visits/{visitId}/participants/{participantId}/admit",
        HOSTS,
        variants=PATIENT_VARIANTS,
        target=visit_target(body=lambda *_: {"identity_method": "photo_id"}),
        audit=("visit.admit",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/visits/{visitId}/participants/{participantId}/deny",
        HOSTS,
        variants=PATIENT_VARIANTS,
        target=visit_target(),
        audit=("visit.deny",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/visits/{visitId}/end",
        HOSTS,
        variants=PATIENT_VARIANTS,
        target=visit_target(ParticipantStatus.ADMITTED),
        audit=("visit.end",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/visits/{visitId}/leave",
        HOSTS_AND_PATIENT,
        variants=PATIENT_VARIANTS,
        target=visit_target(ParticipantStatus.ADMITTED),
        audit=("visit.leave",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/visits/{visitId}/mode",
        HOSTS_AND_PATIENT,
        variants=PATIENT_VARIANTS,
        target=visit_target(
            ParticipantStatus.ADMITTED,
            body=lambda *_: {"mode": "audio_only", "reason": "video_failed"},
        ),
        audit=("visit.mode",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/visits/{visitId}/sharing",
        HOSTS,
        variants=PATIENT_VARIANTS,
        target=visit_target(
            ParticipantStatus.ADMITTED,
            body=lambda *_: {"feature": "screen_share", "enabled": False},
        ),
        audit=("visit.sharing",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/visits/{visitId}/consent",
        {P: TEAM},
        variants=PATIENT_VARIANTS,
        target=visit_target(
            ParticipantStatus.ADMITTED, body=lambda *_: {"recording": False, "screen_share": True}
        ),
        audit=("visit.consent",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/visits/{visitId}/invitations",
        {CL: (201, 404, 404), S: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=visit_target(body=lambda *_: {"alias": "Interpreter", "expires_minutes": 30}),
        audit=("visit.invite",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/visits/{visitId}/messages",
        HOSTS_AND_PATIENT,
        variants=PATIENT_VARIANTS,
        target=visit_target(ParticipantStatus.ADMITTED, inbox=True),
        audit=("visit.message",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/visits/{visitId}/messages",
        {CL: (201, 404, 404), S: (201, 404, 404), P: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=visit_target(ParticipantStatus.ADMITTED, body=message_to_other),
        audit=("visit.message",),
        patient_scoped=True,
    ),
    # -- guests: public routes, the visit secret authenticates --
    Case(
        "POST",
        "/v1/visit-guests",
        {},
        public=True,
        anonymous=201,
        target=invitation_target,
        audit=("visit.guest_join",),
    ),
    Case("GET", "/v1/visit-guests/me", {}, public=True, anonymous=401),
    Case("POST", "/v1/visit-guests/me/leave", {}, public=True, anonymous=401),
    Case("GET", "/v1/visit-guests/me/messages", {}, public=True, anonymous=401),
    Case(
        "POST",
        "/v1/visit-guests/me/messages",
        {},
        public=True,
        anonymous=401,
        target=lambda w, r, v: ({}, GUEST_MESSAGE),
    ),
    # -- clinicians' licence states (user profile) --
    Case(
        "PUT",
        "/v1/users/{userId}/licence-states",
        {OW: (200, 404), A: (200, 404)},
        variants=USER_VARIANTS,
        target=lambda w, r, v: _licence_target(w, v),
        audit=("user.update_licences",),
    ),
]


def _licence_target(world: World, variant: str) -> tuple[dict[str, str], Any]:
    practice = world.a if variant == "staff" else world.b
    user = world.new_user(practice.id, Role.CLINICIAN)
    return {"userId": user.id}, {
        "states": ["TX", "OK"],
        "version": user_version(world, practice.id, user.id),
    }
