"""Authorization matrix rows for secure messaging (see matrix.py for the format).

Thread targets are threads about the variant's patient: patient threads with practice A's
clinician (who is supervised by the supervisor) as the staff participant, and, for the
patient's own record, the patient's portal account. "own" reaches the thread as a
participant (clinician, patient), through supervision (supervisor) or the practice
(owner); "other" is a thread about a patient related to nobody; "foreign" lives in
practice B. Params carry the patient id so the audit harness checks every event names
the patient."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from matrix import (
    CL,
    OW,
    PATIENT_VARIANTS,
    A,
    B,
    C,
    Case,
    F,
    P,
    S,
    Target,
    every,
    patient,
    patient_target,
)
from support.outbound import RecordingGuard
from world import World

from tpm.clock import to_rfc3339
from tpm.domain.messaging import (
    Attachment,
    AuthorKind,
    Draft,
    FlagReason,
    Message,
    MessageFlag,
    OutOfOffice,
    Thread,
    ThreadKind,
)
from tpm.ids import new_id
from tpm.repositories.messaging import MessagingRepository
from tpm.repositories.messaging_jobs import FlagRepository, OutOfOfficeRepository
from tpm.security.principal import Role

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
WRITERS = [OW, CL, S, P]  # roles with an inbox (message.inbox.read)
NON_WRITERS = [A, C, B, F]


def practice_of(world: World, variant: str) -> str:
    return world.b.id if variant == "foreign" else world.a.id


def make_thread(
    world: World, practice_id: str, patient_id: str, *, own: bool
) -> tuple[Thread, Message]:
    """A patient thread with one message (with an attachment), as sending would leave it.
    Its staff participant is the practice's clinician for an "own" target, else a colleague
    who is none of the callers."""
    practice = world.b if practice_id == world.b.id else world.a
    staff = practice.users[Role.CLINICIAN].id if own else new_id("usr")
    now = world.runtime.clock.now()
    portal_user = practice.users[Role.PATIENT].id if patient_id == practice.own_patient else None
    thread = Thread(
        id=new_id("thr"),
        kind=ThreadKind.PATIENT,
        patient_id=patient_id,
        patient_user_id=portal_user,
        subject="Harness thread (synthetic)",
        patient_name="Testy McPatient",
        staff_ids=(staff,),
        created_by="test-harness",
        created_at=now,
        last_message_at=now,
        last_author_kind=AuthorKind.STAFF,
        message_count=1,
    )
    attachment = Attachment(
        id=new_id("att"), filename="scan.png", content_type="image/png", size_bytes=len(PNG)
    )
    message = Message(
        id=new_id("msg"),
        thread_id=thread.id,
        patient_id=patient_id,
        author_id=staff,
        author_kind=AuthorKind.STAFF,
        author_name="Test clinician (synthetic)",
        body="Harness message (synthetic)",
        attachments=(attachment,),
        sent_at=now,
    )
    world.runtime.files.put(practice_id, attachment.id, PNG, guard=RecordingGuard())
    repo = MessagingRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    world.system_write(
        practice_id,
        [
            repo.thread_op(thread),
            repo.message_op(message),
            repo.attachment_op(attachment.id, message),
        ],
    )
    return thread, message


def thread_target(body: Callable[[Thread, Message], Any] | None = None) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        pid = patient(world, role, variant)
        thread, message = make_thread(world, practice_of(world, variant), pid, own=variant == "own")
        params = {
            "threadId": thread.id,
            "messageId": message.id,
            "attachmentId": message.attachments[0].id,
            "patientId": pid,
        }
        return params, body(thread, message) if body else None

    return make


def flag_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = patient(world, role, variant)
    practice_id = practice_of(world, variant)
    thread, message = make_thread(world, practice_id, pid, own=variant == "own")
    flag = MessageFlag(
        id=new_id("mfl"),
        message_id=message.id,
        thread_id=thread.id,
        patient_id=pid,
        reason=FlagReason.WRONG_RECIPIENT,
        flagged_by="test-harness",
        flagged_at=world.runtime.clock.now(),
    )
    store = world.runtime.store.practice(practice_id)
    world.system_write(practice_id, [FlagRepository(store, world.runtime.cipher).create_op(flag)])
    return {"flagId": flag.id, "patientId": pid}, None


def draft_target(body: dict[str, Any] | None = None) -> Target:
    """own: the caller's draft; other: a colleague's; foreign: one in practice B."""

    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        practice = world.b if variant == "foreign" else world.a
        owner = practice.users[role]
        if variant == "other":
            owner = practice.users[Role.CLINICIAN if role is not Role.CLINICIAN else Role.OWNER]
        pid = practice.own_patient
        draft = Draft(
            id=new_id("drf"),
            owner_id=owner.id,
            patient_id=pid,
            body="Half a thought (synthetic)",
            updated_at=world.runtime.clock.now(),
        )
        store = world.runtime.store.practice(practice.id)
        world.system_write(
            practice.id, [MessagingRepository(store, world.runtime.cipher).draft_op(draft)]
        )
        return {"draftId": draft.id, "patientId": pid}, body

    return make


def new_thread_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = patient(world, role, variant)
    body: dict[str, Any] = {"patient_id": pid, "subject": "Hello", "body": "Synthetic message."}
    if role is not Role.PATIENT:
        colleague = Role.CLINICIAN if role is not Role.CLINICIAN else Role.SUPERVISOR
        body |= {"kind": "staff", "recipient_ids": [world.a.users[colleague].id]}
    return {"patientId": pid}, body


def out_of_office_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    now = world.runtime.clock.now()
    return {}, {
        "start": to_rfc3339(now),
        "end": to_rfc3339(now + timedelta(days=2)),
        "delegate_id": world.a.users[Role.CLINICIAN].id,
    }


def existing_out_of_office(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    user = world.a.users[role]
    store = world.runtime.store.practice(world.a.id)
    repo = OutOfOfficeRepository(store)
    current = repo.get(user.id)
    now = world.runtime.clock.now()
    absence = OutOfOffice(
        user_id=user.id,
        start=now,
        end=now + timedelta(days=1),
        delegate_id=world.a.users[Role.SUPERVISOR].id,
        version=current.version + 1 if current else 1,
    )
    world.system_write(world.a.id, [repo.put_op(absence)])
    return {}, None


READ = {OW: (200, 200, 404), CL: (200, 404, 404), S: (200, 404, 404), P: (200, 404, 404)}
SEND = {OW: (201, 201, 404), CL: (201, 404, 404), S: 404, P: (201, 404, 404)}
MINE_200 = every(200, WRITERS)

CASES: list[Case] = [
    Case(
        "POST",
        "/v1/threads",
        {OW: (201, 201, 404), CL: (201, 404, 404), S: 404, P: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=new_thread_body,
        audit=("message.thread.create",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/threads/{threadId}",
        READ,
        variants=PATIENT_VARIANTS,
        target=thread_target(),
        audit=("message.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/threads/{threadId}/messages",
        SEND,
        variants=PATIENT_VARIANTS,
        target=thread_target(lambda t, m: {"body": "A reply (synthetic)."}),
        audit=("message.send",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/threads/{threadId}/read",
        {OW: (204, 204, 404), CL: (204, 404, 404), S: (204, 404, 404), P: (204, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=thread_target(lambda t, m: {"message_id": m.id}),
        audit=("message.read",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/message-attachments/{attachmentId}/content",
        READ,
        variants=PATIENT_VARIANTS,
        target=thread_target(),
        audit=("message.attachment.read",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/me/inbox", MINE_200, audit=("message.inbox.read",)),
    Case("GET", "/v1/me/inbox/unread", MINE_200, audit=("message.status.read",)),
    Case("GET", "/v1/me/messaging", MINE_200, audit=("message.status.read",)),
    Case(
        "GET",
        "/v1/patients/{patientId}/threads",
        {OW: (200, 200, 404), CL: (200, 404, 404), S: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_target(),
        audit=("message.list",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/message-queue", {OW: 200, S: 200}, audit=("message.queue.read",)),
    Case(
        "POST",
        "/v1/threads/{threadId}/messages/{messageId}/flag",
        {OW: (201, 201, 404), CL: (201, 404, 404), S: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=thread_target(lambda t, m: {"reason": "wrong_recipient"}),
        audit=("message.flag",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/message-flags", {OW: 200, C: 200}, audit=("message.flag.read",)),
    Case(
        "GET",
        "/v1/message-flags/{flagId}",
        {OW: (200, 200, 404), C: (200, 200, 404)},
        variants=PATIENT_VARIANTS,
        target=flag_target,
        audit=("message.flag.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/threads/{threadId}/legal-hold",
        {OW: (200, 200, 404), C: (200, 200, 404)},
        variants=PATIENT_VARIANTS,
        target=thread_target(
            lambda t, m: {
                "hold": True,
                "reason": "Records request (synthetic)",
                "version": t.version,
            }
        ),
        audit=("message.legal_hold",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/threads/{threadId}/file",
        {OW: (201, 201, 404), CL: (201, 404, 404), S: 404},
        variants=PATIENT_VARIANTS,
        target=thread_target(lambda t, m: {}),
        audit=("message.file", "document.upload"),
        patient_scoped=True,
    ),
    Case(
        "GET", "/v1/message-retention-review", {OW: 200, C: 200}, audit=("message.retention.read",)
    ),
    Case(
        "GET",
        "/v1/me/out-of-office",
        every(200, [OW, CL, S]),
        audit=("message.out_of_office",),
    ),
    Case(
        "PUT",
        "/v1/me/out-of-office",
        every(200, [OW, CL, S]),
        target=out_of_office_body,
        fresh_caller=True,
        audit=("message.out_of_office",),
    ),
    Case(
        "DELETE",
        "/v1/me/out-of-office",
        every(204, [OW, CL, S]),
        target=existing_out_of_office,
        audit=("message.out_of_office",),
    ),
    Case(
        "POST",
        "/v1/message-drafts",
        {OW: (201, 201, 404), CL: (201, 404, 404), S: 404, P: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_target(lambda w, pid: {"patient_id": pid, "body": "Draft (synthetic)"}),
        audit=("message.draft",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/me/message-drafts", MINE_200, audit=("message.draft",)),
    Case(
        "PATCH",
        "/v1/message-drafts/{draftId}",
        {OW: (200, 404, 404), CL: (200, 404, 404), S: (200, 404, 404), P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=draft_target({"body": "Finished (synthetic)", "version": 1}),
        audit=("message.draft",),
        patient_scoped=True,
    ),
    Case(
        "DELETE",
        "/v1/message-drafts/{draftId}",
        {OW: (204, 404, 404), CL: (204, 404, 404), S: (204, 404, 404), P: (204, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=draft_target(),
        audit=("message.draft",),
        patient_scoped=True,
    ),
]
