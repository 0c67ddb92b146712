"""Authorization matrix rows for clinical notes, supervision, charge capture and
psychotherapy notes (see matrix.py for the format).

Note targets are notes written by practice A's clinician (who is supervised by the
supervisor) for the variant's patient; params carry the patient id so the audit harness
checks that every note event names the patient. Psychotherapy notes are always for a
patient on the caller's care team: "own" is written by the caller, "other" by a colleague
— even the care team cannot read a colleague's psychotherapy note."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matrix import (
    CL,
    OW,
    PATIENT_VARIANTS,
    USER_VARIANTS,
    A,
    B,
    C,
    Case,
    S,
    Target,
    patient,
)
from world import World

from tpm.clock import to_rfc3339
from tpm.domain.notes import (
    GENESIS,
    Note,
    NoteStatus,
    PsychotherapyNote,
    VersionEvent,
    make_version,
)
from tpm.ids import new_id
from tpm.repositories.notes import NoteRepository
from tpm.repositories.psychotherapy_notes import PsychotherapyNoteRepository
from tpm.security.principal import Role

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures/template_examples/progress_note_soap.json"
TEMPLATE = "progress_note_soap"


def soap() -> dict[str, Any]:
    content: dict[str, Any] = json.loads(EXAMPLE.read_text("utf-8"))
    return content


def make_note(
    world: World, practice_id: str, patient_id: str, author_id: str, status: NoteStatus
) -> Note:
    """A stored note (head and version 1) as writing it through the API would leave it."""
    now = world.runtime.clock.now()
    note_id = new_id("note")
    content = soap()
    first = make_version(
        note_id,
        1,
        VersionEvent.CREATED,
        now,
        to_rfc3339(now),
        author_id,
        TEMPLATE,
        1,
        content,
        GENESIS,
    )
    note = Note(
        id=note_id,
        patient_id=patient_id,
        author_id=author_id,
        template_id=TEMPLATE,
        template_version=1,
        status=status,
        content=content,
        content_hash=first.content_hash,
        chain_hash=first.chain_hash,
        created_at=now,
        updated_at=now,
    )
    repo = NoteRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    world.system_write(practice_id, repo.create_ops(note, first))
    return note


def note_target(
    status: NoteStatus = NoteStatus.DRAFT, body: Callable[[Note], Any] | None = None
) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        pid = patient(world, role, variant)
        practice = world.b if variant == "foreign" else world.a
        author = practice.users[Role.CLINICIAN].id
        note = make_note(world, practice.id, pid, author, status)
        return {"noteId": note.id, "patientId": pid}, body(note) if body else None

    return make


def new_note_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = patient(world, role, variant)
    return {"patientId": pid}, {"patient_id": pid, "template_id": TEMPLATE}


def psy_author(world: World, role: Role, variant: str) -> str:
    caller = world.a.users[role].id
    if variant == "own":
        return caller
    colleague = Role.SUPERVISOR if role is Role.CLINICIAN else Role.CLINICIAN
    return (world.b if variant == "foreign" else world.a).users[colleague].id


def psy_target(body: Callable[[World, Role], Any] | None = None) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        practice = world.b if variant == "foreign" else world.a
        caller = world.a.users[role].id
        pid = world.new_patient(practice.id, care_team=[caller])
        note = PsychotherapyNote(
            id=new_id("psy"),
            patient_id=pid,
            author_id=psy_author(world, role, variant),
            text="Process note (synthetic).",
            created_at=world.runtime.clock.now(),
        )
        store = world.runtime.store.practice(practice.id)
        repo = PsychotherapyNoteRepository(store, world.runtime.cipher)
        world.system_write(practice.id, [repo.create_op(note)])
        return {"psychotherapyNoteId": note.id}, body(world, role) if body else None

    return make


def grant_body(world: World, role: Role) -> dict[str, str]:
    other = Role.SUPERVISOR if role is Role.CLINICIAN else Role.CLINICIAN
    return {"user_id": world.a.users[other].id}


def clinician_user(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    practice = world.a if variant == "staff" else world.b
    user = world.new_user(practice.id, Role.CLINICIAN)
    return {}, {"user_id": user.id, "required": True}


def psy_create_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = patient(world, role, variant)
    return {}, {"patient_id": pid, "text": "Process note (synthetic)."}


TEAM = (200, 404, 404)
READ_NOTE = {CL: TEAM, S: TEAM, B: (200, 200, 404)}
HISTORY = {CL: TEAM, S: TEAM, C: (200, 200, 404)}
AUTHOR_ONLY = {CL: TEAM, S: TEAM}

CASES: list[Case] = [
    Case(
        "POST",
        "/v1/notes",
        {CL: (201, 404, 404), S: 404},
        variants=PATIENT_VARIANTS,
        target=new_note_body,
        audit=("note.create",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/notes/{noteId}",
        READ_NOTE,
        variants=PATIENT_VARIANTS,
        target=note_target(),
        audit=("note.read",),
        patient_scoped=True,
    ),
    Case(
        "PATCH",
        "/v1/notes/{noteId}",
        {CL: TEAM, S: 404},
        variants=PATIENT_VARIANTS,
        target=note_target(body=lambda n: {"content": soap(), "version": n.version}),
        audit=("note.update",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/notes/{noteId}/sign",
        {CL: TEAM, S: 404},
        variants=PATIENT_VARIANTS,
        target=note_target(body=lambda n: {"version": n.version, "attestation": True}),
        audit=("note.sign",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/notes/{noteId}/addenda",
        {CL: (201, 404, 404), S: 404},
        variants=PATIENT_VARIANTS,
        target=note_target(NoteStatus.SIGNED, body=lambda n: {"text": "Late addendum."}),
        audit=("note.addendum",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/notes/{noteId}/versions",
        HISTORY,
        variants=PATIENT_VARIANTS,
        target=note_target(),
        audit=("note.history.read",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/notes/{noteId}/diff",
        HISTORY,
        variants=PATIENT_VARIANTS,
        target=note_target(),
        audit=("note.history.read",),
        patient_scoped=True,
        query=[("from", "1"), ("to", "1")],
    ),
    Case(
        "POST",
        "/v1/notes/{noteId}/verify",
        {**HISTORY, OW: (200, 200, 404), B: (200, 200, 404)},
        variants=PATIENT_VARIANTS,
        target=note_target(),
        audit=("note.verify",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/notes/{noteId}/pdf",
        {CL: TEAM, S: TEAM},
        variants=PATIENT_VARIANTS,
        target=note_target(NoteStatus.SIGNED),
        audit=("note.pdf",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/notes",
        {CL: TEAM, S: TEAM, B: (200, 200, 404), C: (200, 200, 404)},
        variants=PATIENT_VARIANTS,
        target=lambda w, r, v: ({"patientId": patient(w, r, v)}, None),
        audit=("note.list",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/notes/{noteId}/cosign",
        {S: TEAM},
        variants=PATIENT_VARIANTS,
        target=note_target(NoteStatus.PENDING_COSIGN, body=lambda n: {"version": n.version}),
        audit=("note.cosign",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/notes/{noteId}/return",
        {S: TEAM},
        variants=PATIENT_VARIANTS,
        target=note_target(
            NoteStatus.PENDING_COSIGN,
            body=lambda n: {"version": n.version, "comments": "Please add the plan."},
        ),
        audit=("note.return",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/supervision/queue", {S: 200}, audit=("supervision.queue.read",)),
    Case(
        "POST",
        "/v1/supervision/cosign-requirements",
        {OW: (204, 404), A: (204, 404)},
        variants=USER_VARIANTS,
        target=clinician_user,
        audit=("supervision.cosign_requirement.update",),
    ),
    Case("GET", "/v1/charges", {OW: 200, B: 200}, audit=("charge.read",)),
    # -- psychotherapy notes: the author (and grantees) only; 404 for everyone else --
    Case(
        "POST",
        "/v1/psychotherapy-notes",
        {CL: (201, 404, 404), S: 404},
        variants=PATIENT_VARIANTS,
        target=psy_create_body,
        audit=("psychotherapy_note.create",),
    ),
    Case("GET", "/v1/psychotherapy-notes", {CL: 200, S: 200}, audit=("psychotherapy_note.read",)),
    Case(
        "GET",
        "/v1/psychotherapy-notes/{psychotherapyNoteId}",
        AUTHOR_ONLY,
        variants=PATIENT_VARIANTS,
        target=psy_target(),
        audit=("psychotherapy_note.read",),
    ),
    Case(
        "POST",
        "/v1/psychotherapy-notes/{psychotherapyNoteId}/grants",
        {CL: (204, 404, 404), S: (204, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=psy_target(grant_body),
        audit=("psychotherapy_note.grant",),
    ),
    Case(
        "POST",
        "/v1/psychotherapy-notes/{psychotherapyNoteId}/release",
        AUTHOR_ONLY,
        variants=PATIENT_VARIANTS,
        target=psy_target(),
        audit=("psychotherapy_note.release",),
    ),
]
