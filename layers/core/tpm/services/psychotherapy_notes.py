"""Psychotherapy notes (45 CFR 164.501): the author's own process notes, kept apart from
the medical record. Only the author, and the people the author grants, can read one;
everyone else is answered 404 (the same as a note that does not exist) and the refusal is
audited. Reads are audited as `psychotherapy_note.read`; a release (disclosure under an
authorization) needs a recent MFA step-up and is audited as `psychotherapy_note.release`.

They never appear in note lists, the portal, exports, claims or right-of-access packages:
they live under their own keys (tpm.repositories.psychotherapy_notes) that none of those
paths read. Their audit events name the note, not the patient, so they do not show up in
the patient's "who looked at my record" page either (compliance resolves the patient
from the note).
"""

from __future__ import annotations

from typing import NoReturn

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.notes import PsychotherapyNote
from tpm.errors import AlreadyExists, NotFound, ValidationFailed
from tpm.ids import new_id
from tpm.repositories.patients import PatientRepository
from tpm.repositories.psychotherapy_notes import PsychotherapyNoteRepository
from tpm.security.audit_chain import Outcome
from tpm.security.policy import Access
from tpm.security.principal import Role
from tpm.services.context import ServiceContext
from tpm.services.request_auth import require_recent_mfa

KIND = "psychotherapy_note"
READERS = frozenset({Role.CLINICIAN, Role.SUPERVISOR})


class PsychotherapyNoteService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.notes = PsychotherapyNoteRepository(ctx.store, ctx.runtime.cipher)

    def create(self, patient_id: str, text: str) -> PsychotherapyNote:
        ctx = self.ctx
        # Role check (403, audited), then the care team; the audit events leave the
        # patient out on purpose (see the module docstring).
        ctx.authorize_list("psychotherapy_note.create", resource_kind=KIND)
        try:
            access = ctx.authorizer.check(
                ctx.principal, "psychotherapy_note.create", patient_id=patient_id, now=ctx.now()
            )
        except NotFound:
            self._denied("psychotherapy_note.create", "", "no_relationship")
        if PatientRepository(ctx.store, ctx.runtime.cipher).get(patient_id) is None:
            raise NotFound()
        note = PsychotherapyNote(
            id=new_id("psy"),
            patient_id=patient_id,
            author_id=ctx.principal.user_id,
            text=text,
            created_at=ctx.now(),
        )
        ctx.write(access, lambda: [self.notes.create_op(note)], KIND, note.id)
        return note

    def get(self, note_id: str) -> PsychotherapyNote:
        access, note = self._load("psychotherapy_note.read", note_id, grantees=True)
        self.ctx.record(access, KIND, note.id)
        return note

    def mine(self, limit: int, cursor: str | None) -> tuple[list[PsychotherapyNote], str | None]:
        """The caller's own psychotherapy notes (nobody lists anyone else's)."""
        ctx = self.ctx
        ctx.authorize_list("psychotherapy_note.read", resource_kind=KIND)
        notes, next_cursor = self.notes.by_author(ctx.principal.user_id, limit, cursor)
        ctx.runtime.audit.record(
            ctx.store,
            ctx.event("psychotherapy_note.read", KIND, reason_code=f"count_{len(notes)}"),
        )
        return notes, next_cursor

    def grant(self, note_id: str, user_id: str) -> None:
        ctx = self.ctx
        access, note = self._load("psychotherapy_note.grant", note_id, grantees=False)
        grantee = ctx.users.get(user_id)
        if grantee is None or not (grantee.roles & READERS) or user_id == note.author_id:
            raise ValidationFailed(fields=[{"path": "body.user_id", "type": "not_a_clinician"}])
        op = self.notes.grant_op(note.id, user_id, ctx.principal.user_id, ctx.now())
        try:
            ctx.write(access, lambda: [op], KIND, note.id, reason_code="grant")
        except ConditionFailed as exc:
            raise AlreadyExists() from exc

    def release(self, note_id: str) -> PsychotherapyNote:
        """The author discloses the note (with the patient's authorization on file)."""
        ctx = self.ctx
        access, note = self._load("psychotherapy_note.release", note_id, grantees=False)
        require_recent_mfa(ctx.runtime, ctx.principal)
        ctx.record(access, KIND, note.id, reason_code="released")
        return note

    def _load(
        self, action: str, note_id: str, *, grantees: bool
    ) -> tuple[Access, PsychotherapyNote]:
        ctx = self.ctx
        ctx.authorize_list(action, resource_kind=KIND)
        note = self.notes.get(note_id)
        if note is None:
            self._denied(action, note_id, "not_found")
        me = ctx.principal.user_id
        if note.author_id != me and not (grantees and self.notes.granted(note.id, me)):
            self._denied(action, note_id, "not_author")
        return ctx.authorize(action, resource_kind=KIND, resource_id=note_id), note

    def _denied(self, action: str, note_id: str, reason: str) -> NoReturn:
        ctx = self.ctx
        ctx.runtime.audit.record(
            ctx.store,
            ctx.event(action, KIND, note_id, outcome=Outcome.DENIED, reason_code=reason),
        )
        raise NotFound()
