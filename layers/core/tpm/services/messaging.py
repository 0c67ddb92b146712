"""Secure messaging: start a thread, reply, read a thread (with read receipts), download an
attachment, the inbox (one store query per page) and unread count, a patient's threads for
staff, and what the compose screen needs (office hours, auto-reply, who can be written to).

Every read and write is authorised (tpm.services.messaging_access) and audited with the
patient it concerns; message text never reaches a log or an error body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tpm.domain.messaging import (
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
    check_recipients,
)
from tpm.domain.messaging_settings import is_open, next_opening
from tpm.domain.users import User
from tpm.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tpm.ids import new_id
from tpm.repositories.messaging import MessagingRepository
from tpm.repositories.patients import PatientRepository
from tpm.services.context import ServiceContext
from tpm.services.message_append import (
    Appended,
    Appender,
    Author,
    NewAttachment,
    rule_error,
    seal_files,
)
from tpm.services.messaging_access import KIND, MessagingAccess
from tpm.services.patient_portal import portal_display_name
from tpm.services.practices import get_practice
from tpm.services.rate_limits import enforce

# Abuse limits: messages send notifications and store files.
SEND_LIMIT, SEND_WINDOW = 120, 3600


class MessageRestricted(Forbidden):
    code = "message_restricted"
    message = "This message is withheld pending a privacy review."


class DraftMismatch(Conflict):
    code = "draft_mismatch"
    message = "The draft belongs to a different conversation."


@dataclass(frozen=True)
class NewThread:
    patient_id: str | None
    kind: ThreadKind
    subject: str
    body: str
    recipient_ids: tuple[str, ...] = ()
    attachments: tuple[NewAttachment, ...] = ()
    draft_id: str | None = None


@dataclass(frozen=True)
class ThreadPage:
    thread: Thread
    messages: list[Message]  # oldest first
    earlier_cursor: str | None
    read_marks: list[ReadMark]
    names: dict[str, str]  # participant id -> display name


@dataclass(frozen=True)
class Recipient:
    user_id: str
    display_name: str
    credentials: str


@dataclass(frozen=True)
class MessagingStatus:
    open_now: bool
    next_open_at: datetime | None
    expected_response_hours: int
    auto_reply_text: str
    recipients: list[Recipient]


class MessagingService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.access = MessagingAccess(ctx)
        self.repo: MessagingRepository = self.access.repo

    # ---- writing ----------------------------------------------------------------------

    def start(self, new: NewThread) -> Appended:
        ctx, principal = self.ctx, self.ctx.principal
        # A patient writes about themselves (naming anyone else's record is a 404).
        patient_id = new.patient_id or (principal.patient_id if principal.is_patient else None)
        if patient_id is None:
            raise ValidationFailed(fields=[{"path": "body.patient_id", "type": "missing"}])
        if principal.is_patient and new.kind is ThreadKind.STAFF:
            raise ValidationFailed(fields=[{"path": "body.kind", "type": "not_allowed"}])
        access = ctx.authorize(
            "message.thread.create",
            resource_kind=KIND,
            resource_id=patient_id,
            patient_id=patient_id,
        )
        patient = PatientRepository(ctx.store, ctx.runtime.cipher).get(patient_id)
        if patient is None:
            raise NotFound()
        draft = self._draft(new.draft_id, thread_id=None, patient_id=patient_id)
        patient_user_id, staff_ids = self._participants(new, patient_id)
        self._rate_limit()
        attachments = seal_files(ctx, list(new.attachments))
        now = ctx.now()
        author = self._author()
        thread = Thread(
            id=new_id("thr"),
            kind=new.kind,
            patient_id=patient_id,
            patient_user_id=patient_user_id,
            subject=new.subject,
            patient_name=portal_display_name(patient),
            staff_ids=staff_ids,
            created_by=principal.user_id,
            created_at=now,
            last_message_at=now,
            last_author_kind=author.kind,
        )
        appender = Appender(ctx, self.repo, get_practice(ctx.runtime.store, ctx.practice_id))
        return appender.append(
            access,
            thread,
            author,
            new.body,
            attachments,
            created=True,
            draft=draft,
            reason="thread_started",
        )

    def reply(
        self,
        thread_id: str,
        body: str,
        files: tuple[NewAttachment, ...] = (),
        draft_id: str | None = None,
    ) -> Appended:
        ctx = self.ctx
        reached = self.access.load("message.send", thread_id)
        thread = reached.thread
        draft = self._draft(draft_id, thread_id=thread.id, patient_id=thread.patient_id)
        self._rate_limit()
        attachments = seal_files(ctx, list(files))
        appender = Appender(ctx, self.repo, get_practice(ctx.runtime.store, ctx.practice_id))
        via = Via.QUEUE if reached.how == "queue" else Via.PARTICIPANT
        return appender.append(
            reached.access,
            thread,
            self._author(),
            body,
            attachments,
            created=False,
            via=via,
            draft=draft,
            reason=reached.how,
        )

    def mark_read(self, thread_id: str, message_id: str) -> None:
        """The read receipt: the caller has read up to `message_id`; their unread count
        for the thread goes to zero."""
        ctx = self.ctx
        reached = self.access.load("message.read", thread_id)
        thread = reached.thread
        if self.repo.get_message(thread.id, message_id) is None:
            raise ValidationFailed(fields=[{"path": "body.message_id", "type": "unknown_message"}])
        user_id = ctx.principal.user_id
        mark = ReadMark(
            user_id=user_id, thread_id=thread.id, message_id=message_id, read_at=ctx.now()
        )
        entry = self.repo.inbox_entry(user_id, thread.id)
        ops = [self.repo.read_op(mark)]
        if entry is not None and entry.unread:
            labels = self.repo.labels(self.repo.thread_op(thread))
            cleared = entry.model_copy(update={"unread": 0, "version": entry.version + 1})
            ops.append(self.repo.inbox_op(cleared, labels))
        ctx.write(
            reached.access,
            lambda: list(ops),
            KIND,
            thread.id,
            patient_id=thread.patient_id,
            reason_code="read_receipt",
        )

    # ---- reading ----------------------------------------------------------------------

    def thread(self, thread_id: str, limit: int, cursor: str | None) -> ThreadPage:
        ctx = self.ctx
        reached = self.access.load("message.read", thread_id)
        thread = reached.thread
        newest_first, earlier = self.repo.messages(thread.id, limit, cursor)
        marks = self.repo.read_marks(thread.id)
        names = {}
        for user_id in (*thread.staff_ids, *thread.proxy_user_ids):
            user = ctx.users.get(user_id)
            names[user_id] = user.display_name if user else ""
        ctx.record(
            reached.access, KIND, thread.id, patient_id=thread.patient_id, reason_code=reached.how
        )
        return ThreadPage(thread, list(reversed(newest_first)), earlier, marks, names)

    def attachment(self, attachment_id: str) -> tuple[Attachment, bytes]:
        """An attachment's file name, type and bytes (never of a restricted message)."""
        ctx = self.ctx
        ctx.authorize_list("message.attachment.read", resource_kind=KIND)
        owner = self.repo.attachment_owner(attachment_id)
        if owner is None:
            raise NotFound()
        reached = self.access.load("message.attachment.read", owner[0])
        message = self.repo.get_message(owner[0], owner[1])
        found = [a for a in message.attachments if a.id == attachment_id] if message else []
        if message is None or not found:
            raise NotFound()
        attachment = found[0]
        if message.restricted:
            raise MessageRestricted()
        data = ctx.runtime.files.get(ctx.practice_id, attachment_id)
        ctx.record(
            reached.access,
            KIND,
            reached.thread.id,
            patient_id=reached.thread.patient_id,
            reason_code="attachment",
        )
        return attachment, data

    def inbox(self, limit: int, cursor: str | None) -> tuple[list[InboxEntry], str | None]:
        """The caller's threads, most recent first: ONE store query for the page."""
        ctx = self.ctx
        access = ctx.authorize(
            "message.inbox.read", resource_kind=KIND, user_id=ctx.principal.user_id
        )
        entries, next_cursor = self.repo.inbox(ctx.principal.user_id, limit, cursor)
        ctx.record(
            access, KIND, patient_id=ctx.principal.patient_id, reason_code=f"count_{len(entries)}"
        )
        return entries, next_cursor

    def unread_threads(self) -> int:
        ctx = self.ctx
        access = ctx.authorize(
            "message.status.read", resource_kind=KIND, user_id=ctx.principal.user_id
        )
        count = self.repo.unread_threads(ctx.principal.user_id)
        ctx.record(access, KIND, reason_code="unread_count")
        return count

    def for_patient(
        self, patient_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Thread], str | None]:
        ctx = self.ctx
        access = ctx.authorize(
            "message.list", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        if PatientRepository(ctx.store, ctx.runtime.cipher).get(patient_id) is None:
            raise NotFound()
        threads, next_cursor = self.repo.for_patient(patient_id, limit, cursor)
        ctx.record(access, KIND, patient_id=patient_id, reason_code=f"count_{len(threads)}")
        return threads, next_cursor

    def status(self) -> MessagingStatus:
        """What the compose screen shows: whether the office is open, the auto-reply text,
        the expected response time, and who the caller may write to (a patient: their care
        team; staff: colleagues who can take part in threads). Names only."""
        ctx = self.ctx
        access = ctx.authorize(
            "message.status.read", resource_kind=KIND, user_id=ctx.principal.user_id
        )
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        settings, now = practice.settings.messaging, ctx.now()
        if ctx.principal.is_patient and ctx.principal.patient_id is not None:
            users = self._care_team(ctx.principal.patient_id)
        else:
            listed, _ = ctx.users.page(1000, None)
            users = [
                u for u in listed if self.access.may_take_part(u) and u.id != ctx.principal.user_id
            ]
        ctx.record(access, KIND, patient_id=ctx.principal.patient_id, reason_code="status")
        return MessagingStatus(
            open_now=is_open(settings, now, practice.timezone),
            next_open_at=next_opening(settings, now, practice.timezone),
            expected_response_hours=settings.expected_response_hours,
            auto_reply_text=settings.auto_reply_text,
            recipients=[Recipient(u.id, u.display_name, u.credentials) for u in users],
        )

    # ---- helpers ------------------------------------------------------------------------

    def _author(self) -> Author:
        p = self.ctx.principal
        kind = AuthorKind.PATIENT if p.is_patient else AuthorKind.STAFF
        return Author(p.user_id, kind, p.display_name)

    def _care_team(self, patient_id: str) -> list[User]:
        team = self.ctx.relationships.care_team(patient_id)
        users = [self.ctx.users.get(uid) for uid in team]
        return [u for u in users if u is not None and self.access.may_take_part(u)]

    def _participants(self, new: NewThread, patient_id: str) -> tuple[str | None, tuple[str, ...]]:
        """(the patient's portal account, the staff in the thread)."""
        ctx = self.ctx
        try:
            if ctx.principal.is_patient:
                team = [u.id for u in self._care_team(patient_id)]
                if not team:
                    raise MessagingRuleError([("recipient_ids", "no_care_team")])
                chosen = check_recipients(new.recipient_ids or team, team)
                return ctx.principal.user_id, chosen
            colleagues = [
                uid
                for uid in new.recipient_ids
                if uid != ctx.principal.user_id and self.access.may_take_part(ctx.users.get(uid))
            ]
            chosen = check_recipients(
                [u for u in new.recipient_ids if u != ctx.principal.user_id], colleagues
            )
            if new.kind is ThreadKind.STAFF:
                if not chosen:
                    raise MessagingRuleError([("recipient_ids", "missing")])
                return None, (ctx.principal.user_id, *chosen)
            link = PatientRepository(ctx.store, ctx.runtime.cipher).portal_link(patient_id)
            if link is None:
                raise MessagingRuleError([("patient_id", "no_portal_account")])
            return str(link["user_id"]), (ctx.principal.user_id, *chosen)
        except MessagingRuleError as exc:
            raise rule_error(exc) from exc

    def _draft(
        self, draft_id: str | None, *, thread_id: str | None, patient_id: str
    ) -> Draft | None:
        if draft_id is None:
            return None
        draft = self.repo.get_draft(draft_id)
        if draft is None or draft.owner_id != self.ctx.principal.user_id:
            raise ValidationFailed(fields=[{"path": "body.draft_id", "type": "unknown_draft"}])
        if draft.thread_id != thread_id or draft.patient_id != patient_id:
            raise DraftMismatch()
        return draft

    def _rate_limit(self) -> None:
        ctx = self.ctx
        enforce(
            ctx.store,
            ctx.runtime.clock,
            "message-send",
            ctx.principal.user_id,
            SEND_LIMIT,
            SEND_WINDOW,
        )
