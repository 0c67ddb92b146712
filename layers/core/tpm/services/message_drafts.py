"""Drafts: a message someone is still writing, saved as they type. A draft is its author's
alone (nobody else can list or open it, and it notifies no one); sending it
(`draft_id` on the send) or discarding it removes it. Drafts hold text only: files are
chosen when the message is sent, so a file nobody sent is never stored.

A reply draft needs the right to send in its thread; a new-conversation draft the right to
start one about its patient (a patient's drafts are always about themselves).
"""

from __future__ import annotations

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.messaging import Draft, ThreadKind
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.patients import PatientRepository
from tpm.security.audit_chain import Outcome
from tpm.security.policy import Access
from tpm.services.context import ServiceContext
from tpm.services.messaging_access import MessagingAccess

KIND = "message_draft"


class DraftService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.access = MessagingAccess(ctx)
        self.repo = self.access.repo

    def create(
        self,
        *,
        thread_id: str | None,
        patient_id: str | None,
        kind: ThreadKind,
        subject: str,
        body: str,
    ) -> Draft:
        ctx = self.ctx
        access = self._mine()
        if thread_id is not None:
            thread = self.access.load("message.send", thread_id).thread
            patient_id, kind = thread.patient_id, thread.kind
        else:
            if ctx.principal.is_patient:
                patient_id, kind = patient_id or ctx.principal.patient_id, ThreadKind.PATIENT
            if patient_id is None:
                raise ValidationFailed(fields=[{"path": "body.patient_id", "type": "missing"}])
            ctx.authorize(
                "message.thread.create",
                resource_kind="message_thread",
                resource_id=patient_id,
                patient_id=patient_id,
            )
            if PatientRepository(ctx.store, ctx.runtime.cipher).get(patient_id) is None:
                raise NotFound()
        draft = Draft(
            id=new_id("drf"),
            owner_id=ctx.principal.user_id,
            patient_id=patient_id,
            thread_id=thread_id,
            kind=kind,
            subject=subject,
            body=body,
            updated_at=ctx.now(),
        )
        ctx.write(
            access, lambda: [self.repo.draft_op(draft)], KIND, draft.id, patient_id=patient_id
        )
        return draft

    def update(self, draft_id: str, version: int, subject: str | None, body: str) -> Draft:
        ctx = self.ctx
        access, draft = self._load(draft_id)
        if draft.version != version:
            raise VersionConflict(current_version=draft.version)
        changed = draft.model_copy(
            update={
                "subject": draft.subject if subject is None else subject,
                "body": body,
                "updated_at": ctx.now(),
                "version": draft.version + 1,
            }
        )
        try:
            ctx.write(
                access,
                lambda: [self.repo.draft_op(changed)],
                KIND,
                draft.id,
                patient_id=draft.patient_id,
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return changed

    def discard(self, draft_id: str) -> None:
        ctx = self.ctx
        access, draft = self._load(draft_id)
        try:
            ctx.write(
                access,
                lambda: [self.repo.draft_delete_op(draft)],
                KIND,
                draft.id,
                patient_id=draft.patient_id,
                reason_code="discarded",
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc

    def mine(self, limit: int, cursor: str | None) -> tuple[list[Draft], str | None]:
        ctx = self.ctx
        access = self._mine()
        drafts, next_cursor = self.repo.drafts_of(ctx.principal.user_id, limit, cursor)
        ctx.record(
            access, KIND, patient_id=ctx.principal.patient_id, reason_code=f"count_{len(drafts)}"
        )
        return drafts, next_cursor

    def _mine(self) -> Access:
        return self.ctx.authorize(
            "message.draft", resource_kind=KIND, user_id=self.ctx.principal.user_id
        )

    def _load(self, draft_id: str) -> tuple[Access, Draft]:
        access = self._mine()
        draft = self.repo.get_draft(draft_id)
        if draft is None:
            raise NotFound()
        if draft.owner_id != self.ctx.principal.user_id:
            ctx = self.ctx
            ctx.runtime.audit.record(
                ctx.store,
                ctx.event(
                    "message.draft",
                    KIND,
                    draft.id,
                    patient_id=draft.patient_id,
                    outcome=Outcome.DENIED,
                    reason_code="not_owner",
                ),
            )
            raise NotFound()
        return access, draft
