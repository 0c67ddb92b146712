"""Review and record-keeping for messages: the practice queue of unanswered messages,
flagging an inappropriate disclosure (the message is restricted at once and the privacy
officer is told), legal hold, filing a thread into the chart, and the retention review.

Nothing here deletes a message: messages are part of the record (see
docs/data-model.md, Messaging — retention).
"""

from __future__ import annotations

from dataclasses import dataclass

from tpm.adapters.store.base import ConditionFailed, Item
from tpm.domain.documents import Document
from tpm.domain.incidents import IncidentSource
from tpm.domain.messaging import FlagReason, LegalHold, Message, MessageFlag, Restriction, Thread
from tpm.errors import Conflict, NotFound, VersionConflict
from tpm.ids import new_id
from tpm.repositories.documents import DocumentRepository
from tpm.repositories.messaging_jobs import FlagRepository, queue_page, review_page
from tpm.services.context import ServiceContext
from tpm.services.incidents import prepare_incident
from tpm.services.messaging_access import KIND, MessagingAccess
from tpm.services.practices import get_practice
from tpm.services.thread_pdf import render_thread_pdf

FLAG_KIND = "message_flag"
REASON_WORDS = {
    FlagReason.WRONG_RECIPIENT: "sent to the wrong recipient",
    FlagReason.THIRD_PARTY_PHI: "holds another person's health information",
    FlagReason.OTHER: "other reason, see the note",
}


class AlreadyRestricted(Conflict):
    code = "already_restricted"
    message = "This message was already flagged and is restricted."


class LegalHoldUnchanged(Conflict):
    code = "legal_hold_unchanged"
    message = "The thread is already in that legal-hold state."


@dataclass(frozen=True)
class FlagDetail:
    flag: MessageFlag
    message: Message
    thread: Thread  # for its version and legal hold: the privacy officer may hold it


class ReviewService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.access = MessagingAccess(ctx)
        self.repo = self.access.repo
        self.flags = FlagRepository(ctx.store, ctx.runtime.cipher)

    # ---- the practice queue -----------------------------------------------------------

    def queue(self, limit: int, cursor: str | None) -> tuple[list[Thread], str | None]:
        """Threads whose patient has waited longer than the practice's expected response
        time, longest first. Working the queue lets the caller open and answer them."""
        ctx = self.ctx
        access = ctx.authorize("message.queue.read", resource_kind=KIND)
        ids, next_cursor = queue_page(ctx.store, limit, cursor)
        threads = [t for t in (self.repo.get_thread(i) for i in ids) if t is not None]
        ctx.record(access, KIND, reason_code=f"count_{len(threads)}")
        return threads, next_cursor

    # ---- disclosure flags -------------------------------------------------------------

    def flag(
        self, thread_id: str, message_id: str, reason: FlagReason, note: str | None
    ) -> MessageFlag:
        """Restricts the message at once (its text and files are withheld from every
        reader, the patient included), records who flagged it, when and why, and opens a
        security incident for the privacy officer (compliance role) — one transaction with
        both audit events (`message.flag`, `incident.open`)."""
        ctx = self.ctx
        reached = self.access.load("message.flag", thread_id)
        message = self.repo.get_message(thread_id, message_id)
        if message is None:
            raise NotFound()
        if message.restricted:
            raise AlreadyRestricted()
        now = ctx.now()
        flag_id = new_id("mfl")
        # The privacy officer's incident, opened in the same transaction (tpm.services.
        # incidents): the summary and the flagger's note are sealed there; the reference
        # is the message id. One incident per message, however often it is flagged.
        incident = prepare_incident(
            ctx.runtime,
            ctx.store,
            ctx.principal,
            source=IncidentSource.MESSAGING_ESCALATION,
            summary=f"A secure message was flagged as an inappropriate disclosure "
            f"({REASON_WORDS[reason]}).",
            details=note or "",
            reference=message.id,
            patient_ids=[message.patient_id],
            dedupe_key=f"message:{message.id}",
        )
        flag = MessageFlag(
            id=flag_id,
            message_id=message.id,
            thread_id=thread_id,
            patient_id=message.patient_id,
            reason=reason,
            note=note,
            flagged_by=ctx.principal.user_id,
            flagged_at=now,
            incident_id=incident.incident.id,
        )
        restricted = message.model_copy(
            update={
                "restriction": Restriction(
                    flag_id=flag.id, by=ctx.principal.user_id, at=now, reason=reason
                ),
                "version": message.version + 1,
            }
        )
        ops = [self.repo.message_op(restricted), self.flags.create_op(flag), *incident.operations]
        events = [
            ctx.event(
                reached.access.action,
                KIND,
                thread_id,
                patient_id=message.patient_id,
                break_glass=reached.access.break_glass,
                reason_code=reason.value,
            ),
            incident.event,
        ]
        try:
            ctx.runtime.audit.write_many_with_audit(ctx.store, lambda: list(ops), events)
        except ConditionFailed as exc:
            raise AlreadyRestricted() from exc
        return flag

    def flag_list(self, limit: int, cursor: str | None) -> tuple[list[MessageFlag], str | None]:
        ctx = self.ctx
        access = ctx.authorize("message.flag.read", resource_kind=FLAG_KIND)
        flags, next_cursor = self.flags.page(limit, cursor)
        ctx.record(access, FLAG_KIND, reason_code=f"count_{len(flags)}")
        return flags, next_cursor

    def flag_detail(self, flag_id: str) -> FlagDetail:
        """The flag and the restricted message itself, for the privacy officer's review."""
        ctx = self.ctx
        ctx.authorize_list("message.flag.read", resource_kind=FLAG_KIND)
        flag = self.flags.get(flag_id)
        if flag is None:
            raise NotFound()
        access = ctx.authorize(
            "message.flag.read",
            resource_kind=FLAG_KIND,
            resource_id=flag.id,
            patient_id=flag.patient_id,
        )
        message = self.repo.get_message(flag.thread_id, flag.message_id)
        thread = self.repo.get_thread(flag.thread_id)
        if message is None or thread is None:
            raise NotFound()
        ctx.record(access, FLAG_KIND, flag.id, patient_id=flag.patient_id, reason_code="review")
        return FlagDetail(flag, message, thread)

    # ---- legal hold -------------------------------------------------------------------

    def legal_hold(self, thread_id: str, version: int, hold: bool, reason: str | None) -> Thread:
        ctx = self.ctx
        reached = self.access.load("message.legal_hold", thread_id)
        thread = reached.thread
        if thread.version != version:
            raise VersionConflict(current_version=thread.version)
        if hold == (thread.legal_hold is not None):
            raise LegalHoldUnchanged()
        new_hold = (
            LegalHold(set_by=ctx.principal.user_id, set_at=ctx.now(), reason=reason or "")
            if hold
            else None
        )
        changed = thread.model_copy(update={"legal_hold": new_hold, "version": thread.version + 1})
        try:
            ctx.write(
                reached.access,
                lambda: [self.repo.thread_op(changed)],
                KIND,
                thread.id,
                patient_id=thread.patient_id,
                reason_code="hold_set" if hold else "hold_released",
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return changed

    # ---- filing into the chart --------------------------------------------------------

    def file_to_chart(self, thread_id: str, title: str | None) -> Document:
        """The thread as a PDF transcript, kept as a document of the patient (not shared
        with them); the thread remembers it. One transaction: the document, the thread,
        and two audit events (message.file on the thread, document.upload)."""
        ctx = self.ctx
        reached = self.access.load("message.file", thread_id)
        thread = reached.thread
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        messages = self.repo.all_messages(thread.id)
        now = ctx.now()
        data = render_thread_pdf(
            thread, messages, practice.timezone, ctx.principal.display_name, now
        )
        document = Document(
            id=new_id("doc"),
            patient_id=thread.patient_id,
            title=(title or f"Secure messages: {thread.subject}")[:200],
            filename=f"messages-{thread.id}.pdf",
            content_type="application/pdf",
            size_bytes=len(data),
            uploaded_by=ctx.principal.user_id,
            created_at=now,
            updated_at=now,
        )
        changed = thread.model_copy(
            update={
                "filed_document_ids": (*thread.filed_document_ids, document.id),
                "version": thread.version + 1,
            }
        )
        ctx.runtime.files.put(ctx.practice_id, document.id, data, guard=ctx.outbound)
        documents = DocumentRepository(ctx.store, ctx.runtime.cipher)
        ops = [self.repo.thread_op(changed), documents.create_op(document)]
        events = [
            ctx.event(
                "message.file",
                KIND,
                thread.id,
                patient_id=thread.patient_id,
                break_glass=reached.access.break_glass,
                reason_code=reached.how,
            ),
            ctx.event(
                "document.upload",
                "document",
                document.id,
                patient_id=thread.patient_id,
                reason_code="filed_from_messages",
            ),
        ]
        try:
            ctx.runtime.audit.write_many_with_audit(ctx.store, lambda: list(ops), events)
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return document

    # ---- retention --------------------------------------------------------------------

    def retention_review(self, limit: int, cursor: str | None) -> tuple[list[Item], str | None]:
        """Threads past the practice's retention and not on legal hold, listed by the
        daily retention job for a person to review. Nothing is disposed of automatically."""
        ctx = self.ctx
        access = ctx.authorize("message.retention.read", resource_kind=KIND)
        items, next_cursor = review_page(ctx.store, limit, cursor)
        ctx.record(access, KIND, reason_code=f"count_{len(items)}")
        return items, next_cursor
