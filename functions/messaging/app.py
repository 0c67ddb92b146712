"""Secure messaging: threads between patients and their care team (and among staff about a
patient), attachments, drafts, read receipts, the inbox, the practice queue, disclosure
flags, legal hold, filing into the chart, out-of-office; and the scheduled jobs
(notices, escalation, retention).

Attachments travel base64-encoded in JSON, like documents (functions/documents/app.py):
at most three per message and 4 MiB together, under Lambda's 6 MB request limit.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, Strict, model_validator

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import Instant, RequestModel
from tpm.api.responses import NO_CONTENT_DOC, created, created_doc, no_content
from tpm.api.views import Page
from tpm.domain.documents import FILENAME, ContentType
from tpm.domain.messaging import (
    MAX_ATTACHMENT_TOTAL,
    MAX_ATTACHMENTS,
    MAX_BODY,
    MAX_STAFF,
    MAX_SUBJECT,
    AuthorKind,
    Draft,
    FlagReason,
    InboxEntry,
    Message,
    MessageFlag,
    OutOfOffice,
    Thread,
    ThreadKind,
)
from tpm.errors import PayloadTooLarge, ValidationFailed
from tpm.observability import get_logger
from tpm.runtime import get_runtime
from tpm.services.message_append import Appended, NewAttachment
from tpm.services.message_drafts import DraftService
from tpm.services.message_review import ReviewService
from tpm.services.messaging import MessagingService, NewThread, ThreadPage
from tpm.services.messaging_sweep import MessagingSweep
from tpm.services.out_of_office import OutOfOfficeService

app = create_app("messaging")
log = get_logger("messaging")
TAGS = ["messaging"]
PATIENT_ID = r"^pat_[0-9a-z]{26}$"
USER_ID = r"^usr_[0-9a-z]{26}$"
THREAD_ID = r"^thr_[0-9a-z]{26}$"
MESSAGE_ID = r"^msg_[0-9a-z]{26}$"
DRAFT_ID = r"^drf_[0-9a-z]{26}$"
NOT_BLANK = r"\S"  # somewhere a character that is not white space
MAX_BASE64_CHARS = (MAX_ATTACHMENT_TOTAL + 2) // 3 * 4 + 4096
_JOB_MARGIN_MS = 20_000


# ---- requests ---------------------------------------------------------------------------


class AttachmentIn(RequestModel):
    filename: str = Field(max_length=200, pattern=FILENAME)
    content_type: ContentType
    content_base64: str = Field(min_length=4, description="The file, base64-encoded.")


class ThreadIn(RequestModel):
    """A new conversation and its first message. Patients omit `patient_id` (always
    themselves) and may only choose recipients from their care team."""

    patient_id: str | None = Field(default=None, pattern=PATIENT_ID)
    kind: Annotated[ThreadKind, Strict(False)] = ThreadKind.PATIENT
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT, pattern=NOT_BLANK)
    body: str = Field(min_length=1, max_length=MAX_BODY, pattern=NOT_BLANK)
    recipient_ids: list[Annotated[str, Field(pattern=USER_ID)]] = Field(
        default_factory=list,
        max_length=MAX_STAFF,
        description="Staff to include (a patient: from their care team; default all of it).",
    )
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    draft_id: str | None = Field(default=None, pattern=DRAFT_ID)


class MessageIn(RequestModel):
    body: str = Field(min_length=1, max_length=MAX_BODY, pattern=NOT_BLANK)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    draft_id: str | None = Field(default=None, pattern=DRAFT_ID)


class ReadIn(RequestModel):
    message_id: str = Field(pattern=MESSAGE_ID, description="The newest message you have read.")


class FlagIn(RequestModel):
    reason: Annotated[FlagReason, Strict(False)]
    note: str | None = Field(default=None, max_length=2000)


class LegalHoldIn(RequestModel):
    hold: bool
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    version: int = Field(ge=1, description="The thread's version you loaded (409 if it changed).")

    @model_validator(mode="after")
    def _reason(self) -> LegalHoldIn:
        if self.hold and not self.reason:
            raise ValueError("a legal hold needs a reason")
        return self


class FileIn(RequestModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)


class OutOfOfficeIn(RequestModel):
    start: Instant
    end: Instant
    delegate_id: str = Field(pattern=USER_ID)
    version: int | None = Field(
        default=None, ge=1, description="The version you loaded; omit when none is set."
    )


class DraftIn(RequestModel):
    """A reply draft names its thread; a new-conversation draft its patient (patients
    omit it)."""

    thread_id: str | None = Field(default=None, pattern=THREAD_ID)
    patient_id: str | None = Field(default=None, pattern=PATIENT_ID)
    kind: Annotated[ThreadKind, Strict(False)] = ThreadKind.PATIENT
    subject: str = Field(default="", max_length=MAX_SUBJECT)
    body: str = Field(default="", max_length=MAX_BODY)


class DraftPatchIn(RequestModel):
    subject: str | None = Field(default=None, max_length=MAX_SUBJECT)
    body: str = Field(max_length=MAX_BODY)
    version: int = Field(ge=1)


# ---- views ------------------------------------------------------------------------------


class AttachmentView(BaseModel):
    id: str
    filename: str
    content_type: str
    size_bytes: int


class MessageView(BaseModel):
    """A restricted message (flagged as an inappropriate disclosure) has no body and no
    attachments for anyone: it is withheld pending the privacy officer's review."""

    id: str
    author_id: str
    author_kind: AuthorKind
    author_name: str
    body: str | None
    attachments: list[AttachmentView]
    sent_at: datetime
    restricted: bool
    restricted_at: datetime | None

    @classmethod
    def of(cls, m: Message, *, for_review: bool = False) -> MessageView:
        """`for_review`: the privacy officer assessing a flag sees the withheld content."""
        withheld = m.restriction is not None and not for_review
        return cls(
            id=m.id,
            author_id=m.author_id,
            author_kind=m.author_kind,
            author_name=m.author_name,
            body=None if withheld else m.body,
            attachments=[]
            if withheld
            else [AttachmentView(**a.model_dump()) for a in m.attachments],
            sent_at=m.sent_at,
            restricted=m.restriction is not None,
            restricted_at=m.restriction.at if m.restriction else None,
        )


class ParticipantView(BaseModel):
    id: str
    display_name: str
    side: str  # patient | staff | proxy (a guardian writing for the patient)
    covering_for: str | None = None


class ReadReceiptView(BaseModel):
    user_id: str
    message_id: str
    read_at: datetime


class LegalHoldView(BaseModel):
    set_by: str
    set_at: datetime
    reason: str


class ThreadView(BaseModel):
    """A thread for staff: who is in it, response state, record-keeping, messages."""

    id: str
    kind: ThreadKind
    patient_id: str
    patient_name: str
    subject: str
    participants: list[ParticipantView]
    created_at: datetime
    last_message_at: datetime
    message_count: int
    awaiting_reply_since: datetime | None
    escalated_at: datetime | None
    legal_hold: LegalHoldView | None
    filed_document_ids: list[str]
    proxy_visible: bool = Field(description="The patient's proxies (guardians) reach it.")
    version: int
    messages: list[MessageView] = Field(description="Oldest first.")
    earlier_cursor: str | None = Field(description="Pass as `cursor` for earlier messages.")
    read_receipts: list[ReadReceiptView]


class PatientThreadView(BaseModel):
    """A thread as its patient sees it: the conversation and whether the care team read it."""

    id: str
    subject: str
    participants: list[ParticipantView]
    created_at: datetime
    last_message_at: datetime
    version: int
    messages: list[MessageView]
    earlier_cursor: str | None
    read_receipts: list[ReadReceiptView]


def participants(page: ThreadPage) -> list[ParticipantView]:
    t = page.thread
    people = [
        ParticipantView(
            id=uid,
            display_name=page.names.get(uid, ""),
            side="staff",
            covering_for=t.delegates.get(uid),
        )
        for uid in t.staff_ids
    ]
    people[0:0] = [
        ParticipantView(id=uid, display_name=page.names.get(uid, ""), side="proxy")
        for uid in t.proxy_user_ids
    ]
    if t.patient_user_id:
        people.insert(
            0, ParticipantView(id=t.patient_user_id, display_name=t.patient_name, side="patient")
        )
    return people


def thread_out(page: ThreadPage, for_patient: bool) -> ThreadView | PatientThreadView:
    t = page.thread
    messages = [MessageView.of(m) for m in page.messages]
    receipts = [ReadReceiptView(**r.model_dump(exclude={"thread_id"})) for r in page.read_marks]
    if for_patient:
        staff = set(t.staff_ids)
        return PatientThreadView(
            id=t.id,
            subject=t.subject,
            participants=participants(page),
            created_at=t.created_at,
            last_message_at=t.last_message_at,
            version=t.version,
            messages=messages,
            earlier_cursor=page.earlier_cursor,
            read_receipts=[r for r in receipts if r.user_id in staff],
        )
    hold = t.legal_hold
    return ThreadView(
        id=t.id,
        kind=t.kind,
        patient_id=t.patient_id,
        patient_name=t.patient_name,
        subject=t.subject,
        participants=participants(page),
        created_at=t.created_at,
        last_message_at=t.last_message_at,
        message_count=t.message_count,
        awaiting_reply_since=t.awaiting_since,
        escalated_at=t.escalated_at,
        legal_hold=LegalHoldView(**hold.model_dump()) if hold else None,
        filed_document_ids=list(t.filed_document_ids),
        proxy_visible=t.proxy_visible,
        version=t.version,
        messages=messages,
        earlier_cursor=page.earlier_cursor,
        read_receipts=receipts,
    )


class SentView(BaseModel):
    thread_id: str
    message: MessageView
    automatic: list[MessageView] = Field(
        description="Messages the practice added: its after-hours auto-reply, away notices."
    )

    @classmethod
    def of(cls, done: Appended) -> SentView:
        return cls(
            thread_id=done.thread.id,
            message=MessageView.of(done.message),
            automatic=[MessageView.of(m) for m in done.notices],
        )


class InboxItemView(BaseModel):
    thread_id: str
    kind: ThreadKind
    patient_id: str
    patient_name: str
    subject: str
    last_message_at: datetime
    last_author_kind: AuthorKind
    last_author_name: str
    unread: int
    awaiting_reply: bool
    escalated: bool
    via: str

    @classmethod
    def of(cls, e: InboxEntry) -> InboxItemView:
        return cls.model_validate(e.model_dump(include=set(cls.model_fields)))


class PatientInboxItemView(BaseModel):
    thread_id: str
    subject: str
    last_message_at: datetime
    last_author_kind: AuthorKind
    last_author_name: str
    unread: int

    @classmethod
    def of(cls, e: InboxEntry) -> PatientInboxItemView:
        return cls.model_validate(e.model_dump(include=set(cls.model_fields)))


class UnreadView(BaseModel):
    unread_threads: int = Field(description="Threads with unread messages (counted to 100).")
    more: bool = Field(description="True when there are 100 or more.")


class RecipientView(BaseModel):
    id: str
    display_name: str
    credentials: str


class MessagingStatusView(BaseModel):
    open_now: bool
    next_open_at: datetime | None
    expected_response_hours: int
    auto_reply_text: str
    recipients: list[RecipientView]


class ThreadSummaryView(BaseModel):
    id: str
    kind: ThreadKind
    patient_id: str
    patient_name: str
    subject: str
    created_at: datetime
    last_message_at: datetime
    message_count: int
    awaiting_reply_since: datetime | None
    escalated_at: datetime | None
    legal_hold: bool
    version: int

    @classmethod
    def of(cls, t: Thread) -> ThreadSummaryView:
        return cls(
            id=t.id,
            kind=t.kind,
            patient_id=t.patient_id,
            patient_name=t.patient_name,
            subject=t.subject,
            created_at=t.created_at,
            last_message_at=t.last_message_at,
            message_count=t.message_count,
            awaiting_reply_since=t.awaiting_since,
            escalated_at=t.escalated_at,
            legal_hold=t.legal_hold is not None,
            version=t.version,
        )


class AttachmentContentOut(BaseModel):
    filename: str
    content_type: str
    size_bytes: int
    content_base64: str


class FlagView(BaseModel):
    id: str
    message_id: str
    thread_id: str
    patient_id: str
    reason: Annotated[FlagReason, Strict(False)]
    note: str | None
    flagged_by: str
    flagged_at: datetime
    incident_id: str | None

    @classmethod
    def of(cls, f: MessageFlag) -> FlagView:
        return cls.model_validate(f.model_dump())


class FlaggedThreadView(BaseModel):
    """What the review needs of the flagged message's thread to place or release a legal
    hold on it (`POST /v1/threads/{id}/legal-hold` with this version): no content."""

    id: str
    version: int
    legal_hold: LegalHoldView | None


class FlagDetailView(BaseModel):
    flag: FlagView
    message: MessageView = Field(description="The flagged message itself, for the review.")
    thread: FlaggedThreadView


class FiledView(BaseModel):
    document_id: str
    thread_id: str
    title: str


class RetentionItemView(BaseModel):
    thread_id: str
    patient_id: str
    retain_until: datetime
    listed_at: datetime


class OutOfOfficeView(BaseModel):
    set: bool
    start: datetime | None = None
    end: datetime | None = None
    delegate_id: str | None = None
    version: int | None = None

    @classmethod
    def of(cls, o: OutOfOffice | None) -> OutOfOfficeView:
        if o is None:
            return cls(set=False)
        return cls(set=True, start=o.start, end=o.end, delegate_id=o.delegate_id, version=o.version)


class DraftView(BaseModel):
    id: str
    thread_id: str | None
    patient_id: str
    kind: ThreadKind
    subject: str
    body: str
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, d: Draft) -> DraftView:
        return cls.model_validate(d.model_dump(include=set(cls.model_fields)))


# ---- helpers ----------------------------------------------------------------------------


def decode_files(files: list[AttachmentIn]) -> tuple[NewAttachment, ...]:
    if sum(len(f.content_base64) for f in files) > MAX_BASE64_CHARS:
        raise PayloadTooLarge(limit_bytes=MAX_ATTACHMENT_TOTAL)
    out = []
    for index, f in enumerate(files):
        try:
            data = base64.b64decode("".join(f.content_base64.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationFailed(
                fields=[{"path": f"body.attachments.{index}.content_base64", "type": "base64"}]
            ) from exc
        out.append(NewAttachment(f.filename, f.content_type, data))
    return tuple(out)


# ---- threads and messages ---------------------------------------------------------------


@app.post(
    "/v1/threads",
    summary="Start a secure conversation (with its first message)",
    tags=TAGS,
    responses=created_doc(SentView),
    middlewares=[idempotent],
)
def start_thread(body: ThreadIn) -> Response[str]:
    new = NewThread(
        patient_id=body.patient_id,
        kind=body.kind,
        subject=body.subject,
        body=body.body,
        recipient_ids=tuple(body.recipient_ids),
        attachments=decode_files(body.attachments),
        draft_id=body.draft_id,
    )
    done = MessagingService(service_context(app)).start(new)
    return created(SentView.of(done), f"/v1/threads/{done.thread.id}")


@app.get(
    "/v1/threads/<threadId>",
    summary="A thread and a page of its messages (marks nothing read)",
    tags=TAGS,
)
def get_thread(
    threadId: str,  # noqa: N803
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ThreadView | PatientThreadView:
    ctx = service_context(app)
    page = MessagingService(ctx).thread(threadId, limit, cursor)
    return thread_out(page, ctx.principal.is_patient)


@app.post(
    "/v1/threads/<threadId>/messages",
    summary="Send a message in a thread",
    tags=TAGS,
    responses=created_doc(SentView),
    middlewares=[idempotent],
)
def send_message(threadId: str, body: MessageIn) -> Response[str]:  # noqa: N803
    done = MessagingService(service_context(app)).reply(
        threadId, body.body, decode_files(body.attachments), body.draft_id
    )
    return created(SentView.of(done), f"/v1/threads/{threadId}")


@app.post(
    "/v1/threads/<threadId>/read",
    summary="Mark a thread read (read receipt)",
    tags=TAGS,
    responses=NO_CONTENT_DOC,
)
def mark_read(threadId: str, body: ReadIn) -> Response[str]:  # noqa: N803
    MessagingService(service_context(app)).mark_read(threadId, body.message_id)
    return no_content()


@app.get(
    "/v1/message-attachments/<attachmentId>/content",
    summary="An attachment's bytes, base64-encoded in JSON",
    tags=TAGS,
)
def attachment_content(attachmentId: str) -> AttachmentContentOut:  # noqa: N803
    attachment, data = MessagingService(service_context(app)).attachment(attachmentId)
    return AttachmentContentOut(
        filename=attachment.filename,
        content_type=attachment.content_type,
        size_bytes=attachment.size_bytes,
        content_base64=base64.b64encode(data).decode("ascii"),
    )


@app.get("/v1/me/inbox", summary="My threads, most recent first (one query a page)", tags=TAGS)
def my_inbox(
    limit: Limit = 25, cursor: Cursor = None
) -> Page[InboxItemView] | Page[PatientInboxItemView]:
    ctx = service_context(app)
    entries, next_cursor = MessagingService(ctx).inbox(limit, cursor)
    if ctx.principal.is_patient:
        return Page[PatientInboxItemView](
            items=[PatientInboxItemView.of(e) for e in entries], next_cursor=next_cursor
        )
    return Page[InboxItemView](
        items=[InboxItemView.of(e) for e in entries], next_cursor=next_cursor
    )


@app.get("/v1/me/inbox/unread", summary="How many of my threads have unread messages", tags=TAGS)
def my_unread() -> UnreadView:
    count = MessagingService(service_context(app)).unread_threads()
    return UnreadView(unread_threads=min(count, 99), more=count >= 100)


@app.get(
    "/v1/me/messaging",
    summary="Office hours, auto-reply and who I can write to (for composing)",
    tags=TAGS,
)
def my_messaging() -> MessagingStatusView:
    status = MessagingService(service_context(app)).status()
    return MessagingStatusView(
        open_now=status.open_now,
        next_open_at=status.next_open_at,
        expected_response_hours=status.expected_response_hours,
        auto_reply_text=status.auto_reply_text,
        recipients=[
            RecipientView(id=r.user_id, display_name=r.display_name, credentials=r.credentials)
            for r in status.recipients
        ],
    )


@app.get("/v1/patients/<patientId>/threads", summary="A patient's threads (staff)", tags=TAGS)
def patient_threads(
    patientId: str,  # noqa: N803
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Page[ThreadSummaryView]:
    threads, next_cursor = MessagingService(service_context(app)).for_patient(
        patientId, limit, cursor
    )
    return Page[ThreadSummaryView](
        items=[ThreadSummaryView.of(t) for t in threads], next_cursor=next_cursor
    )


# ---- review and record-keeping ----------------------------------------------------------


@app.get(
    "/v1/message-queue", summary="Unanswered patient messages past the response time", tags=TAGS
)
def message_queue(limit: Limit = 25, cursor: Cursor = None) -> Page[ThreadSummaryView]:
    threads, next_cursor = ReviewService(service_context(app)).queue(limit, cursor)
    return Page[ThreadSummaryView](
        items=[ThreadSummaryView.of(t) for t in threads], next_cursor=next_cursor
    )


@app.post(
    "/v1/threads/<threadId>/messages/<messageId>/flag",
    summary="Flag a message as an inappropriate disclosure (restricts it at once)",
    tags=TAGS,
    responses=created_doc(FlagView),
    middlewares=[idempotent],
)
def flag_message(threadId: str, messageId: str, body: FlagIn) -> Response[str]:  # noqa: N803
    flag = ReviewService(service_context(app)).flag(threadId, messageId, body.reason, body.note)
    return created(FlagView.of(flag), f"/v1/message-flags/{flag.id}")


@app.get("/v1/message-flags", summary="Disclosure flags, newest first (privacy officer)", tags=TAGS)
def list_flags(limit: Limit = 25, cursor: Cursor = None) -> Page[FlagView]:
    flags, next_cursor = ReviewService(service_context(app)).flag_list(limit, cursor)
    return Page[FlagView](items=[FlagView.of(f) for f in flags], next_cursor=next_cursor)


@app.get(
    "/v1/message-flags/<flagId>",
    summary="A disclosure flag with the flagged message (privacy officer)",
    tags=TAGS,
)
def get_flag(flagId: str) -> FlagDetailView:  # noqa: N803
    detail = ReviewService(service_context(app)).flag_detail(flagId)
    # The review needs the withheld text itself: shown here, and only here.
    message = MessageView.of(detail.message, for_review=True)
    t = detail.thread
    hold = LegalHoldView(**t.legal_hold.model_dump()) if t.legal_hold else None
    thread = FlaggedThreadView(id=t.id, version=t.version, legal_hold=hold)
    return FlagDetailView(flag=FlagView.of(detail.flag), message=message, thread=thread)


@app.post("/v1/threads/<threadId>/legal-hold", summary="Place or release a legal hold", tags=TAGS)
def legal_hold(threadId: str, body: LegalHoldIn) -> ThreadSummaryView:  # noqa: N803
    service = ReviewService(service_context(app))
    return ThreadSummaryView.of(service.legal_hold(threadId, body.version, body.hold, body.reason))


@app.post(
    "/v1/threads/<threadId>/file",
    summary="File the thread into the patient's chart as a PDF document",
    tags=TAGS,
    responses=created_doc(FiledView),
    middlewares=[idempotent],
)
def file_thread(threadId: str, body: FileIn) -> Response[str]:  # noqa: N803
    document = ReviewService(service_context(app)).file_to_chart(threadId, body.title)
    view = FiledView(document_id=document.id, thread_id=threadId, title=document.title)
    return created(view, f"/v1/documents/{document.id}")


@app.get(
    "/v1/message-retention-review",
    summary="Threads past retention and not on hold, for review (nothing is auto-deleted)",
    tags=TAGS,
)
def retention_review(limit: Limit = 25, cursor: Cursor = None) -> Page[RetentionItemView]:
    items, next_cursor = ReviewService(service_context(app)).retention_review(limit, cursor)
    keep = set(RetentionItemView.model_fields)
    return Page[RetentionItemView](
        items=[RetentionItemView.model_validate({k: i[k] for k in keep}) for i in items],
        next_cursor=next_cursor,
    )


# ---- out of office ----------------------------------------------------------------------


@app.get("/v1/me/out-of-office", summary="My out-of-office setting", tags=TAGS)
def get_out_of_office() -> OutOfOfficeView:
    return OutOfOfficeView.of(OutOfOfficeService(service_context(app)).get())


@app.put("/v1/me/out-of-office", summary="Set my out-of-office and delegate", tags=TAGS)
def put_out_of_office(body: OutOfOfficeIn) -> OutOfOfficeView:
    service = OutOfOfficeService(service_context(app))
    return OutOfOfficeView.of(service.set(body.start, body.end, body.delegate_id, body.version))


@app.delete(
    "/v1/me/out-of-office", summary="End my out-of-office now", tags=TAGS, responses=NO_CONTENT_DOC
)
def delete_out_of_office() -> Response[str]:
    OutOfOfficeService(service_context(app)).clear()
    return no_content()


# ---- drafts -----------------------------------------------------------------------------


@app.post(
    "/v1/message-drafts",
    summary="Save a draft (only you can see it)",
    tags=TAGS,
    responses=created_doc(DraftView),
    middlewares=[idempotent],
)
def create_draft(body: DraftIn) -> Response[str]:
    draft = DraftService(service_context(app)).create(
        thread_id=body.thread_id,
        patient_id=body.patient_id,
        kind=body.kind,
        subject=body.subject,
        body=body.body,
    )
    return created(DraftView.of(draft), f"/v1/message-drafts/{draft.id}")


@app.get("/v1/me/message-drafts", summary="My drafts, newest first", tags=TAGS)
def my_drafts(limit: Limit = 25, cursor: Cursor = None) -> Page[DraftView]:
    drafts, next_cursor = DraftService(service_context(app)).mine(limit, cursor)
    return Page[DraftView](items=[DraftView.of(d) for d in drafts], next_cursor=next_cursor)


@app.patch("/v1/message-drafts/<draftId>", summary="Autosave a draft", tags=TAGS)
def update_draft(draftId: str, body: DraftPatchIn) -> DraftView:  # noqa: N803
    service = DraftService(service_context(app))
    return DraftView.of(service.update(draftId, body.version, body.subject, body.body))


@app.delete(
    "/v1/message-drafts/<draftId>", summary="Discard a draft", tags=TAGS, responses=NO_CONTENT_DOC
)
def discard_draft(draftId: str) -> Response[str]:  # noqa: N803
    DraftService(service_context(app)).discard(draftId)
    return no_content()


# 4 MiB of attachments is about 5.6 MB of base64 JSON, under Lambda's 6 MB request limit.
lambda_handler = lambda_entry(app, "messaging", max_body_bytes=5_700_000)


# ---- the scheduled jobs -----------------------------------------------------------------


def sweep_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """Every minute (EventBridge in AWS, the local scheduler under tpm dev): escalate
    unanswered patient messages, then send pending "message waiting" notices."""
    sweep = MessagingSweep(get_runtime())
    report = sweep.run(lambda: context.get_remaining_time_in_millis() < _JOB_MARGIN_MS)
    summary = dict(report.__dict__)
    log.info("messaging sweep", extra=summary)
    return summary


def retention_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """Daily: list threads past retention and not on legal hold for review."""
    sweep = MessagingSweep(get_runtime())
    report = sweep.run_retention(lambda: context.get_remaining_time_in_millis() < _JOB_MARGIN_MS)
    summary = dict(report.__dict__)
    log.info("messaging retention", extra=summary)
    return summary
