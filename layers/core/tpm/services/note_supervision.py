"""Supervision of notes: who needs co-signature, the supervisor's queue, co-sign and
return with comments. Every step is a new note version and an audit event.

Rule (see docs/data-model.md, Notes): an author's signed notes need co-signature when an
owner/admin marked the author as requiring it (COSIGN_REQUIRED) AND the author has at
least one supervisor (the supervision links of tpm.repositories.users). Any of their
supervisors may co-sign or return; the note leaves every supervisor's queue at once.
"""

from __future__ import annotations

from tpm.domain.notes import COSIGN_ATTESTATION, Note, NoteStatus, VersionEvent
from tpm.errors import NotFound, ValidationFailed
from tpm.security.policy import Access
from tpm.security.principal import Role
from tpm.services.charge_capture import charge_ops
from tpm.services.context import ServiceContext
from tpm.services.notes import KIND, InvalidNoteState, NoteAccess, check_version


class SupervisionService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.access = NoteAccess(ctx)
        self.notes = self.access.notes

    def queue(self, limit: int, cursor: str | None) -> tuple[list[Note], str | None]:
        """Notes waiting for the caller's co-signature, oldest note first."""
        ctx = self.ctx
        ctx.authorize_list("supervision.queue.read", resource_kind=KIND)
        ids, next_cursor = self.notes.queue(ctx.principal.user_id, limit, cursor)
        notes = [n for n in (self.notes.get(i) for i in ids) if n is not None]
        ctx.runtime.audit.record(
            ctx.store,
            ctx.event("supervision.queue.read", KIND, reason_code=f"count_{len(notes)}"),
        )
        return notes, next_cursor

    def cosign(self, note_id: str, version: int) -> Note:
        ctx = self.ctx
        access, note = self._pending("note.cosign", note_id, version)
        row = self.access.next_version(note, VersionEvent.COSIGNED, note.content)
        changed = note.model_copy(
            update={
                "status": NoteStatus.COSIGNED,
                "cosignature": self.access.signature(note, row.n, COSIGN_ATTESTATION),
                "chain_hash": row.chain_hash,
                "updated_at": ctx.now(),
                "version": row.n,
            }
        )
        extra = [
            *self.notes.unqueue_ops(ctx.users.supervisors_of(note.author_id), note.id),
            *charge_ops(ctx, changed, self.access.template(note), self._location_kind(note)),
        ]
        self.access.commit(access, note, changed, row, extra, reason="cosigned")
        return changed

    def return_note(self, note_id: str, version: int, comments: str) -> Note:
        """Back to the author with comments: editable again, re-signed after revision."""
        ctx = self.ctx
        access, note = self._pending("note.return", note_id, version)
        row = self.access.next_version(note, VersionEvent.RETURNED, note.content)
        changed = note.model_copy(
            update={
                "status": NoteStatus.RETURNED,
                "return_comments": comments,
                "chain_hash": row.chain_hash,
                "updated_at": ctx.now(),
                "version": row.n,
            }
        )
        extra = self.notes.unqueue_ops(ctx.users.supervisors_of(note.author_id), note.id)
        self.access.commit(access, note, changed, row, extra, reason="returned")
        return changed

    def set_cosign_requirement(self, user_id: str, required: bool) -> None:
        ctx = self.ctx
        access = ctx.authorize(
            "supervision.cosign_requirement.update",
            resource_kind="user",
            resource_id=user_id,
            user_id=user_id,
        )
        user = ctx.users.get(user_id)
        if user is None:
            raise NotFound()
        if Role.CLINICIAN not in user.roles:
            raise ValidationFailed(fields=[{"path": "body.user_id", "type": "not_a_clinician"}])
        op = self.notes.cosign_requirement_op(user_id, required, ctx.principal.user_id, ctx.now())
        ctx.write(
            access,
            lambda: [op],
            "user",
            user_id,
            reason_code="cosign_required" if required else "cosign_not_required",
        )

    def _location_kind(self, note: Note) -> str | None:
        appt = self.access.appointment(note)
        return appt.location_kind.value if appt else None

    def _pending(self, action: str, note_id: str, version: int) -> tuple[Access, Note]:
        access, note = self.access.load(action, note_id)
        if not self.access.supervises(note.author_id):
            self.access.deny(action, note, "not_supervisee")
        if note.status is not NoteStatus.PENDING_COSIGN:
            raise InvalidNoteState(current_status=note.status.value)
        check_version(note, version)
        return access, note
