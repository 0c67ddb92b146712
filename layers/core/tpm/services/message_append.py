"""Adding a message to a thread, and everything that changes with it, in ONE transaction:

the thread (its version: concurrent messages conflict and are retried on a fresh read)
the message (Absent) and its attachments' rows; the files are sealed into the file store
  first, so a committed message always has its files
every participant's inbox row (each with VersionIs: a read receipt racing a message is
  retried, never lost) — what keeps the inbox list at one query per page
the author's read mark; a pending notice per recipient (the sweep sends "a message is
  waiting", never the content)
response expectations: a patient's unanswered message starts the escalation clock; a
  staff answer stops it and takes the thread off the practice queue
out of office: a participant's delegate joins the thread; the patient is told once
the practice's auto-reply when a patient writes outside business hours
the draft it was sent from, removed
the audit event
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tpm.adapters.store.base import ConditionFailed, Operation, TransactionConflict
from tpm.domain.documents import DocumentRuleError, DocumentTooLarge, check_content
from tpm.domain.messaging import (
    MAX_STAFF,
    PATIENT_SIDE,
    Attachment,
    AuthorKind,
    Draft,
    InboxEntry,
    Message,
    MessagingRuleError,
    ReadMark,
    Thread,
    ThreadKind,
    Via,
    auto_reply_due,
    check_attachment_sizes,
    sender_may_write,
)
from tpm.domain.messaging_settings import MessagingSettings, is_open
from tpm.domain.practice import Practice
from tpm.errors import Forbidden, PayloadTooLarge, ValidationFailed
from tpm.ids import new_id
from tpm.repositories.messaging import MessagingRepository, author_label
from tpm.repositories.messaging_jobs import (
    Notice,
    OutOfOfficeRepository,
    escalation_delete_op,
    escalation_op,
    notice_op,
    queue_delete_op,
)
from tpm.security.policy import Access
from tpm.services.context import ServiceContext
from tpm.services.messaging_access import KIND

ATTEMPTS = 3
SYSTEM_AUTHOR = "system"


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Author:
    user_id: str
    kind: AuthorKind
    name: str


@dataclass
class Appended:
    thread: Thread
    message: Message
    notices: list[Message] = field(default_factory=list)  # auto-reply, away notices


def rule_error(exc: MessagingRuleError | DocumentRuleError) -> ValidationFailed:
    return ValidationFailed(fields=[{"path": f"body.{p}", "type": t} for p, t in exc.fields])


def seal_files(ctx: ServiceContext, files: list[NewAttachment]) -> tuple[Attachment, ...]:
    """Checks each file like a document (type by its first bytes, size) and the message's
    total, then seals them into the file store under new attachment ids."""
    try:
        check_attachment_sizes(len(f.content) for f in files)
        for index, f in enumerate(files):
            try:
                check_content(f.content_type, f.content)
            except DocumentRuleError as exc:
                raise MessagingRuleError(
                    [(f"attachments.{index}.{p}", t) for p, t in exc.fields]
                ) from exc
    except DocumentTooLarge as exc:
        raise PayloadTooLarge(limit_bytes=exc.limit_bytes) from exc
    except MessagingRuleError as exc:
        raise rule_error(exc) from exc
    stored: list[Attachment] = []
    for f in files:
        attachment = Attachment(
            id=new_id("att"),
            filename=f.filename,
            content_type=f.content_type,
            size_bytes=len(f.content),
        )
        ctx.runtime.files.put(ctx.practice_id, attachment.id, f.content, guard=ctx.outbound)
        stored.append(attachment)
    return tuple(stored)


def fixed_ops(ops: list[Operation]) -> Callable[[], list[Operation]]:
    return lambda: list(ops)


class Appender:
    def __init__(self, ctx: ServiceContext, repo: MessagingRepository, practice: Practice) -> None:
        self.ctx = ctx
        self.repo = repo
        self.practice = practice
        self.settings: MessagingSettings = practice.settings.messaging
        self.absences = OutOfOfficeRepository(ctx.store)
        self._names: dict[str, str] = {}

    def append(
        self,
        access: Access,
        thread: Thread,
        author: Author,
        body: str,
        attachments: tuple[Attachment, ...],
        *,
        created: bool,
        via: Via = Via.PARTICIPANT,
        draft: Draft | None = None,
        reason: str | None = None,
    ) -> Appended:
        if not sender_may_write(thread, author.kind):
            raise Forbidden("This conversation is not open to you.")
        message_id = new_id("msg")
        for attempt in range(ATTEMPTS):
            result, ops = self._plan(thread, author, message_id, body, attachments, created, via)
            if draft is not None:
                ops.append(self.repo.draft_delete_op(draft))
            try:
                self.ctx.write(
                    access,
                    fixed_ops(ops),
                    KIND,
                    thread.id,
                    patient_id=thread.patient_id,
                    reason_code=reason,
                )
            except ConditionFailed:
                fresh = None if created else self.repo.get_thread(thread.id)
                if fresh is None or attempt == ATTEMPTS - 1:
                    raise
                thread = fresh
                continue
            return result
        raise TransactionConflict(attempts=ATTEMPTS)  # pragma: no cover - loop always returns

    # ---- the plan -------------------------------------------------------------------------

    def _plan(
        self,
        thread: Thread,
        author: Author,
        message_id: str,
        body: str,
        attachments: tuple[Attachment, ...],
        created: bool,
        via: Via,
    ) -> tuple[Appended, list[Operation]]:
        now = self.ctx.now()
        ops: list[Operation] = []
        message = Message(
            id=message_id,
            thread_id=thread.id,
            patient_id=thread.patient_id,
            author_id=author.user_id,
            author_kind=author.kind,
            author_name=author.name,
            body=body,
            attachments=attachments,
            sent_at=now,
        )
        staff_ids = list(thread.staff_ids)
        vias: dict[str, Via] = {}
        if author.kind is AuthorKind.STAFF and author.user_id not in staff_ids:
            staff_ids.append(author.user_id)
            vias[author.user_id] = via
        proxy_ids = list(thread.proxy_user_ids)
        if author.kind is AuthorKind.PROXY and author.user_id not in proxy_ids:
            proxy_ids.append(author.user_id)
        delegates = dict(thread.delegates)
        away = dict(thread.away_notices)
        system: list[Message] = []
        for user_id in list(staff_ids):
            if user_id == author.user_id:
                continue
            absence = self.absences.get(user_id)
            if absence is None or not absence.active(now):
                continue
            delegate = absence.delegate_id
            if delegate not in staff_ids and len(staff_ids) < MAX_STAFF:
                staff_ids.append(delegate)
                delegates[delegate] = user_id
                vias[delegate] = Via.DELEGATE
            if author.kind in PATIENT_SIDE and away.get(user_id) != absence.end:
                away[user_id] = absence.end
                system.append(self._system(thread, self._away_text(user_id, delegate, absence.end)))
        changes: dict[str, object] = {}
        if author.kind in PATIENT_SIDE:
            if thread.awaiting_since is None:
                changes["awaiting_since"] = now
                if self.settings.escalation_enabled:
                    due = now + timedelta(hours=self.settings.expected_response_hours)
                    changes["escalation_due"] = due
                    ops.append(escalation_op(due, thread))
            office_open = is_open(self.settings, now, self.practice.timezone)
            if auto_reply_due(thread, now, office_open):
                changes["auto_replied_at"] = now
                system.append(self._system(thread, self.settings.auto_reply_text))
        elif thread.kind is ThreadKind.PATIENT and thread.awaiting_since is not None:
            # A staff answer: the patient is no longer waiting.
            changes |= {"awaiting_since": None, "escalation_due": None, "escalated_at": None}
            if thread.escalation_due is not None:
                ops.append(escalation_delete_op(thread.escalation_due, thread.id))
            if thread.escalated_at is not None:
                ops.append(queue_delete_op(thread.escalated_at, thread.id))
        changed = thread.model_copy(
            update={
                **changes,
                "staff_ids": tuple(staff_ids),
                "proxy_user_ids": tuple(proxy_ids),
                "delegates": delegates,
                "away_notices": away,
                "last_message_at": now,
                "last_author_kind": author.kind,
                "last_author_name": author_label(author.kind, author.name),
                "message_count": thread.message_count + 1 + len(system),
                "version": thread.version if created else thread.version + 1,
            }
        )
        thread_put = self.repo.thread_op(changed)
        ops += [thread_put, self.repo.message_op(message)]
        ops += [self.repo.attachment_op(a.id, message) for a in attachments]
        ops += [self.repo.message_op(m) for m in system]
        labels = self.repo.labels(thread_put)
        for user_id in changed.participant_ids:
            entry = None if created else self.repo.inbox_entry(user_id, thread.id)
            ops.append(
                self.repo.inbox_op(self._entry(changed, entry, user_id, author, vias), labels)
            )
            if user_id != author.user_id and self._notify(changed, user_id):
                ops.append(notice_op(Notice(thread.id, user_id, "message", thread.patient_id, now)))
        last = system[-1].id if system else message.id
        ops.append(
            self.repo.read_op(
                ReadMark(user_id=author.user_id, thread_id=thread.id, message_id=last, read_at=now)
            )
        )
        return Appended(changed, message, system), ops

    def _entry(
        self,
        thread: Thread,
        entry: InboxEntry | None,
        user_id: str,
        author: Author,
        vias: dict[str, Via],
    ) -> InboxEntry:
        staff_row = user_id != thread.patient_user_id and user_id not in thread.proxy_user_ids
        unread = 0 if user_id == author.user_id else (entry.unread if entry else 0) + 1
        return InboxEntry(
            user_id=user_id,
            thread_id=thread.id,
            kind=thread.kind,
            patient_id=thread.patient_id,
            subject=thread.subject,
            patient_name=thread.patient_name,
            last_message_at=thread.last_message_at,
            last_author_kind=thread.last_author_kind,
            last_author_name=thread.last_author_name,
            unread=unread,
            awaiting_reply=staff_row and thread.awaiting_since is not None,
            escalated=staff_row and thread.escalated_at is not None,
            via=entry.via if entry else vias.get(user_id, Via.PARTICIPANT),
            version=entry.version + 1 if entry else 1,
        )

    def _notify(self, thread: Thread, user_id: str) -> bool:
        portal_side = user_id == thread.patient_user_id or user_id in thread.proxy_user_ids
        return portal_side or self.settings.notify_staff

    def _system(self, thread: Thread, text: str) -> Message:
        return Message(
            id=new_id("msg"),
            thread_id=thread.id,
            patient_id=thread.patient_id,
            author_id=SYSTEM_AUTHOR,
            author_kind=AuthorKind.SYSTEM,
            author_name=self.practice.name,
            body=text,
            sent_at=self.ctx.now(),
        )

    def _away_text(self, user_id: str, delegate_id: str, until: datetime) -> str:
        back = until.astimezone(self.practice.zone)
        day = f"{back:%A}, {back:%B} {back.day}"
        return (
            f"{self._name(user_id)} is away until {day}. {self._name(delegate_id)} is "
            "covering and will read your message."
        )

    def _name(self, user_id: str) -> str:
        if user_id not in self._names:
            user = self.ctx.users.get(user_id)
            self._names[user_id] = user.display_name if user else "Your clinician"
        return self._names[user_id]
