"""Secure messaging: threads between a patient and their care team (or among staff about a
patient), messages with attachments, drafts, read receipts and the rules around them.
Pure: models and functions, no I/O.

A thread always concerns one patient. Its `kind` says who may be in it:
  patient  the patient's portal account and staff (the care team, delegates, the queue)
  staff    staff only; the patient never sees it, in the portal or anywhere else

Subjects, bodies, names and attachment file names are PHI: the repository seals them.
Messages are part of the record: there is no edit and no delete. A message flagged as an
inappropriate disclosure is restricted (its body and attachments are withheld from every
reader) but kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from tpm.domain.documents import FILENAME, ContentType

MAX_SUBJECT = 150
MAX_BODY = 20_000
MAX_ATTACHMENTS = 3
# All of a message's attachments together: they travel base64-encoded in one JSON request,
# which must stay under API Gateway and Lambda's 6 MB (see tpm.domain.documents).
MAX_ATTACHMENT_TOTAL = 4 * 1024 * 1024
MAX_STAFF = 20  # staff in one thread: every message rewrites each participant's inbox row
AUTO_REPLY_EVERY = timedelta(hours=12)  # at most one auto-reply per thread in this time


class ThreadKind(StrEnum):
    PATIENT = "patient"
    STAFF = "staff"


class AuthorKind(StrEnum):
    PATIENT = "patient"
    STAFF = "staff"
    SYSTEM = "system"  # the practice's auto-reply, away notices
    PROXY = "proxy"  # a guardian writing for the patient (staff see "written by X for Y")


# Authors on the patient's side of a thread: their messages start the response clock and
# may get the auto-reply; a staff answer stops it.
PATIENT_SIDE = frozenset({AuthorKind.PATIENT, AuthorKind.PROXY})


class Via(StrEnum):
    """How a staff member came to be in a thread (shown in their inbox)."""

    PARTICIPANT = "participant"
    DELEGATE = "delegate"  # covering for a participant who is out of office
    QUEUE = "queue"  # answered it from the practice queue


class FlagReason(StrEnum):
    WRONG_RECIPIENT = "wrong_recipient"
    THIRD_PARTY_PHI = "third_party_phi"
    OTHER = "other"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Attachment(_Model):
    id: str = Field(pattern=r"^att_[0-9a-z]{26}$")
    filename: str = Field(pattern=FILENAME)
    content_type: ContentType
    size_bytes: int = Field(ge=1)


class Restriction(_Model):
    """A message withheld pending privacy review (flagged as an inappropriate disclosure)."""

    flag_id: str
    by: str
    at: datetime
    reason: FlagReason


class Message(_Model):
    id: str = Field(pattern=r"^msg_[0-9a-z]{26}$")
    thread_id: str
    patient_id: str
    author_id: str  # a user id, or "system"
    author_kind: AuthorKind
    author_name: str = Field(max_length=200)
    body: str = Field(min_length=1, max_length=MAX_BODY)
    attachments: tuple[Attachment, ...] = ()
    sent_at: datetime
    restriction: Restriction | None = None
    version: int = 1

    @property
    def restricted(self) -> bool:
        return self.restriction is not None


class LegalHold(_Model):
    """While set, nothing in the thread may be disposed of, whatever the retention."""

    set_by: str
    set_at: datetime
    reason: str = Field(min_length=1, max_length=500)


class Thread(_Model):
    id: str = Field(pattern=r"^thr_[0-9a-z]{26}$")
    kind: ThreadKind
    patient_id: str
    patient_user_id: str | None = None  # the portal account (patient threads only)
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    patient_name: str = Field(min_length=1, max_length=200)  # as at creation, for staff lists
    staff_ids: tuple[str, ...] = ()
    delegates: dict[str, str] = Field(default_factory=dict)  # delegate -> covered user
    created_by: str
    created_at: datetime
    last_message_at: datetime
    last_author_kind: AuthorKind
    last_author_name: str = ""  # staff display name, "" for patients (their name is PHI)
    message_count: int = 0
    # The oldest patient message no staff member has answered yet.
    awaiting_since: datetime | None = None
    escalation_due: datetime | None = None
    escalated_at: datetime | None = None
    auto_replied_at: datetime | None = None
    away_notices: dict[str, datetime] = Field(default_factory=dict)  # user -> back at
    legal_hold: LegalHold | None = None
    filed_document_ids: tuple[str, ...] = ()
    # Proxy access: whether the patient's proxies (guardians) reach this thread, and the
    # proxy accounts that wrote in it (they get inbox rows and content-free notices).
    proxy_visible: bool = False
    proxy_user_ids: tuple[str, ...] = ()
    version: int = 1

    @property
    def participant_ids(self) -> tuple[str, ...]:
        side = (self.patient_user_id,) if self.patient_user_id else ()
        return (*side, *self.proxy_user_ids, *self.staff_ids)

    @property
    def on_queue(self) -> bool:
        return self.escalated_at is not None


class Draft(_Model):
    """A message someone is still writing: theirs alone, never sent, never notified.
    `thread_id` for a reply; otherwise a new thread about `patient_id`."""

    id: str = Field(pattern=r"^drf_[0-9a-z]{26}$")
    owner_id: str
    patient_id: str
    thread_id: str | None = None
    kind: ThreadKind = ThreadKind.PATIENT
    subject: str = Field(default="", max_length=MAX_SUBJECT)
    body: str = Field(default="", max_length=MAX_BODY)
    updated_at: datetime
    version: int = 1


class InboxEntry(_Model):
    """One user's row for one thread: everything the inbox list shows, so a page of the
    inbox is one query (see docs/data-model.md, Messaging)."""

    user_id: str
    thread_id: str
    kind: ThreadKind
    patient_id: str
    subject: str
    patient_name: str
    last_message_at: datetime
    last_author_kind: AuthorKind
    last_author_name: str
    unread: int = 0
    awaiting_reply: bool = False
    escalated: bool = False
    via: Via = Via.PARTICIPANT
    version: int = 1


class ReadMark(_Model):
    user_id: str
    thread_id: str
    message_id: str
    read_at: datetime


class OutOfOffice(_Model):
    """A clinician's absence: messages to their threads reach the delegate meanwhile."""

    user_id: str
    start: datetime
    end: datetime
    delegate_id: str
    version: int = 1

    def active(self, at: datetime) -> bool:
        return self.start <= at < self.end


class MessageFlag(_Model):
    """Who flagged which message as an inappropriate disclosure, when and why. The note is
    sealed; `incident_id` links the privacy officer's incident record when one exists."""

    id: str = Field(pattern=r"^mfl_[0-9a-z]{26}$")
    message_id: str
    thread_id: str
    patient_id: str
    reason: FlagReason
    note: str | None = Field(default=None, max_length=2000)
    flagged_by: str
    flagged_at: datetime
    incident_id: str | None = None


# ---- rules --------------------------------------------------------------------------------


class MessagingRuleError(ValueError):
    """A change the rules refuse; `fields` holds (path, machine-readable type) pairs."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(f"{p}: {t}" for p, t in fields))
        self.fields = fields


def check_attachment_sizes(sizes: Iterable[int]) -> None:
    listed = list(sizes)
    if len(listed) > MAX_ATTACHMENTS:
        raise MessagingRuleError([("attachments", "too_many")])
    if sum(listed) > MAX_ATTACHMENT_TOTAL:
        raise MessagingRuleError([("attachments", "too_large")])


def check_recipients(
    chosen: Iterable[str], allowed: Iterable[str], path: str = "recipient_ids"
) -> tuple[str, ...]:
    """The chosen recipients, each of whom must be in `allowed` (a patient writes only to
    their care team); duplicates dropped, order kept."""
    allowed_set = set(allowed)
    out: list[str] = []
    for index, user_id in enumerate(chosen):
        if user_id not in allowed_set:
            raise MessagingRuleError([(f"{path}.{index}", "not_allowed_recipient")])
        if user_id not in out:
            out.append(user_id)
    if len(out) > MAX_STAFF:
        raise MessagingRuleError([(path, "too_many")])
    return tuple(out)


def sender_may_write(thread: Thread, kind: AuthorKind) -> bool:
    """Who may add a message to a thread they reach: staff to any; a patient only to a
    patient thread (never a staff one); a proxy only to a patient thread marked visible
    to proxies (the patient's own threads are not, unless staff mark them)."""
    if kind is AuthorKind.PROXY:
        return thread.kind is ThreadKind.PATIENT and thread.proxy_visible
    if kind is AuthorKind.PATIENT:
        return thread.kind is ThreadKind.PATIENT
    return True


def auto_reply_due(thread: Thread, now: datetime, office_open: bool) -> bool:
    """A patient writing while the office is closed gets the practice's auto-reply, at most
    once per thread in AUTO_REPLY_EVERY."""
    if office_open or thread.kind is not ThreadKind.PATIENT:
        return False
    return thread.auto_replied_at is None or now - thread.auto_replied_at >= AUTO_REPLY_EVERY


def retain_until(last_activity: datetime, retention_years: int) -> datetime:
    """The earliest moment a thread may be disposed of (its last activity + retention);
    a legal hold keeps it beyond that."""
    try:
        return last_activity.replace(year=last_activity.year + retention_years)
    except ValueError:  # 29 February in a year that has none
        return last_activity.replace(year=last_activity.year + retention_years, day=28)


def unread_after(entry_unread: int, is_author: bool) -> int:
    """A participant's unread count once a message is added: the author has read it."""
    return 0 if is_author else entry_unread + 1
