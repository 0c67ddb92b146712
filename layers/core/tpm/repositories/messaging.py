"""Stored shape of secure messaging: threads, messages, attachments, inbox rows, read
marks and drafts. Keys and sealed fields only (see docs/data-model.md, Messaging).

THREAD#<thr>       THREAD      the thread (subject, patient name, hold reason sealed)
                               gsi1: PATIENT_THREADS#<pat> / <last message at>#<thr>
                               gsi2: THREAD_ACTIVITY / <last message at>#<thr>  (retention)
THREAD#<thr>       MSG#<msg>   one message (body, author name, attachments sealed); Absent
THREAD#<thr>       READ#<usr>  how far a participant has read (the read receipt)
ATTACHMENT#<att>   META        which thread and message a file belongs to (ids only)
INBOX#<usr>        <thr>       one user's inbox row for a thread (copies of the thread's
                               sealed subject and patient name, counts, flags)
                               gsi1: INBOX#<usr> / <last message at>#<thr>  (the inbox page)
                               gsi2: UNREAD#<usr> / <thr>, only while unread (sparse)
DRAFT#<drf>        DRAFT       a draft (subject, body sealed); gsi1: DRAFTS#<usr> / <drf>

Message and attachment ids are ULIDs, so a thread's messages sort by time.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tpm.adapters.store.base import (
    Absent,
    Delete,
    Item,
    PracticeStore,
    Put,
    VersionIs,
)
from tpm.clock import to_rfc3339
from tpm.domain.messaging import (
    Attachment,
    AuthorKind,
    Draft,
    InboxEntry,
    LegalHold,
    Message,
    ReadMark,
    Thread,
)
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

THREAD_KIND, MESSAGE_KIND, DRAFT_KIND = "message-thread", "message", "message-draft"
MAX_UNREAD_COUNT = 100  # the unread badge counts threads up to this, then says "100+"


def _stamp(moment: datetime) -> str:
    return to_rfc3339(moment)


def _when(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def activity_sk(at: datetime, thread_id: str) -> str:
    return f"{_stamp(at)}#{thread_id}"


def _versioned(item: Item, version: int) -> Put:
    """Create at version 1 (Absent), otherwise replace exactly version-1."""
    return Put(item, Absent() if version == 1 else VersionIs(version - 1))


class MessagingRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def _sealer(self, kind: str, record_id: str) -> Sealer:
        return Sealer(self.cipher, self.store.practice_id, kind, record_id)

    # ---- threads ----------------------------------------------------------------------

    def get_thread(self, thread_id: str) -> Thread | None:
        item = self.store.get(f"THREAD#{thread_id}", "THREAD")
        return None if item is None else self.thread_from_item(item)

    def for_patient(
        self, patient_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Thread], str | None]:
        page = self.store.query(
            f"PATIENT_THREADS#{patient_id}",
            index="gsi1",
            limit=limit,
            cursor=cursor,
            descending=True,
        )
        return [self.thread_from_item(i) for i in page.items], page.next_cursor

    def inactive_since(
        self, before: datetime, limit: int, cursor: str | None
    ) -> tuple[list[Thread], str | None]:
        """Threads whose last message is older than `before`, oldest first (retention)."""
        page = self.store.query(
            "THREAD_ACTIVITY",
            index="gsi2",
            sk_between=("0", f"{_stamp(before)}#"),
            limit=limit,
            cursor=cursor,
        )
        return [self.thread_from_item(i) for i in page.items], page.next_cursor

    def thread_op(self, thread: Thread) -> Put:
        """`thread` carries its new version (1 = create)."""
        return _versioned(self.thread_item(thread), thread.version)

    def thread_item(self, thread: Thread) -> Item:
        sealer = self._sealer(THREAD_KIND, thread.id)
        data: dict[str, Any] = thread.model_dump(
            mode="json", exclude={"subject", "patient_name", "legal_hold"}
        )
        data["subject"] = sealer.seal("subject", thread.subject)
        data["patient_name"] = sealer.seal("patient_name", thread.patient_name)
        hold = thread.legal_hold
        data["legal_hold"] = (
            None
            if hold is None
            else {
                "set_by": hold.set_by,
                "set_at": _stamp(hold.set_at),
                "reason": sealer.seal("legal_hold_reason", hold.reason),
            }
        )
        last = activity_sk(thread.last_message_at, thread.id)
        return {
            "pk": f"THREAD#{thread.id}",
            "sk": "THREAD",
            "gsi1pk": f"PATIENT_THREADS#{thread.patient_id}",
            "gsi1sk": last,
            "gsi2pk": "THREAD_ACTIVITY",
            "gsi2sk": last,
            **data,
        }

    def thread_from_item(self, item: Item) -> Thread:
        sealer = self._sealer(THREAD_KIND, str(item["id"]))
        fields = {k: v for k, v in item.items() if k in Thread.model_fields}
        fields["subject"] = sealer.open("subject", item.get("subject"))
        fields["patient_name"] = sealer.open("patient_name", item.get("patient_name"))
        hold = item.get("legal_hold")
        fields["legal_hold"] = (
            None
            if not hold
            else LegalHold(
                set_by=str(hold["set_by"]),
                set_at=_when(hold["set_at"]),
                reason=sealer.open("legal_hold_reason", hold.get("reason")) or "",
            )
        )
        return Thread.model_validate(fields)

    # ---- messages ---------------------------------------------------------------------

    def messages(
        self, thread_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Message], str | None]:
        """Newest first; the cursor leads to older messages."""
        page = self.store.query(
            f"THREAD#{thread_id}", sk_prefix="MSG#", limit=limit, cursor=cursor, descending=True
        )
        return [self.message_from_item(i) for i in page.items], page.next_cursor

    def all_messages(self, thread_id: str) -> list[Message]:
        """Oldest first, every message (filing a thread to the chart; at most 1000)."""
        page = self.store.query(f"THREAD#{thread_id}", sk_prefix="MSG#", limit=1000)
        return [self.message_from_item(i) for i in page.items]

    def get_message(self, thread_id: str, message_id: str) -> Message | None:
        item = self.store.get(f"THREAD#{thread_id}", f"MSG#{message_id}")
        return None if item is None else self.message_from_item(item)

    def message_op(self, message: Message) -> Put:
        return _versioned(self.message_item(message), message.version)

    def message_item(self, message: Message) -> Item:
        sealer = self._sealer(MESSAGE_KIND, message.id)
        data: dict[str, Any] = message.model_dump(
            mode="json", exclude={"body", "author_name", "attachments"}
        )
        data["body"] = sealer.seal("body", message.body)
        data["author_name"] = sealer.seal("author_name", message.author_name)
        files = [a.model_dump(mode="json") for a in message.attachments]
        data["attachments"] = sealer.seal("attachments", json.dumps(files)) if files else None
        data["attachment_count"] = len(files)
        return {"pk": f"THREAD#{message.thread_id}", "sk": f"MSG#{message.id}", **data}

    def message_from_item(self, item: Item) -> Message:
        sealer = self._sealer(MESSAGE_KIND, str(item["id"]))
        fields = {k: v for k, v in item.items() if k in Message.model_fields}
        fields["body"] = sealer.open("body", item.get("body"))
        fields["author_name"] = sealer.open("author_name", item.get("author_name")) or ""
        raw = sealer.open("attachments", item.get("attachments"))
        fields["attachments"] = tuple(
            Attachment.model_validate(a) for a in (json.loads(raw) if raw else [])
        )
        return Message.model_validate(fields)

    # ---- attachments ------------------------------------------------------------------

    @staticmethod
    def attachment_op(attachment_id: str, message: Message) -> Put:
        return Put(
            {
                "pk": f"ATTACHMENT#{attachment_id}",
                "sk": "META",
                "attachment_id": attachment_id,
                "thread_id": message.thread_id,
                "message_id": message.id,
                "patient_id": message.patient_id,
            },
            Absent(),
        )

    def attachment_owner(self, attachment_id: str) -> tuple[str, str] | None:
        """(thread id, message id) of an attachment."""
        item = self.store.get(f"ATTACHMENT#{attachment_id}", "META")
        return None if item is None else (str(item["thread_id"]), str(item["message_id"]))

    # ---- inbox rows -------------------------------------------------------------------

    def inbox(
        self, user_id: str, limit: int, cursor: str | None
    ) -> tuple[list[InboxEntry], str | None]:
        """One query: the user's threads, most recent activity first."""
        page = self.store.query(
            f"INBOX#{user_id}", index="gsi1", limit=limit, cursor=cursor, descending=True
        )
        return [self.inbox_from_item(i) for i in page.items], page.next_cursor

    def inbox_entry(self, user_id: str, thread_id: str) -> InboxEntry | None:
        item = self.store.get(f"INBOX#{user_id}", thread_id)
        return None if item is None else self.inbox_from_item(item)

    def unread_threads(self, user_id: str) -> int:
        """How many of the user's threads have unread messages (up to MAX_UNREAD_COUNT)."""
        page = self.store.query(f"UNREAD#{user_id}", index="gsi2", limit=MAX_UNREAD_COUNT)
        return len(page.items)

    @staticmethod
    def labels(thread_put: Put) -> dict[str, Any]:
        """The sealed subject and patient name of a thread write, for its inbox rows."""
        return {k: thread_put.item[k] for k in ("subject", "patient_name")}

    def inbox_op(self, entry: InboxEntry, labels: dict[str, Any]) -> Put:
        """`entry` carries its new version. The sealed subject and patient name are the
        thread's own ciphertexts (same record, same AAD: `labels`), copied, not re-sealed."""
        data: dict[str, Any] = entry.model_dump(mode="json", exclude={"subject", "patient_name"})
        item: Item = {
            "pk": f"INBOX#{entry.user_id}",
            "sk": entry.thread_id,
            "gsi1pk": f"INBOX#{entry.user_id}",
            "gsi1sk": activity_sk(entry.last_message_at, entry.thread_id),
            **data,
            **labels,
        }
        if entry.unread > 0:
            item |= {"gsi2pk": f"UNREAD#{entry.user_id}", "gsi2sk": entry.thread_id}
        return _versioned(item, entry.version)

    def inbox_from_item(self, item: Item) -> InboxEntry:
        sealer = self._sealer(THREAD_KIND, str(item["thread_id"]))
        fields = {k: v for k, v in item.items() if k in InboxEntry.model_fields}
        fields["subject"] = sealer.open("subject", item.get("subject"))
        fields["patient_name"] = sealer.open("patient_name", item.get("patient_name"))
        return InboxEntry.model_validate(fields)

    # ---- read marks -------------------------------------------------------------------

    def read_marks(self, thread_id: str) -> list[ReadMark]:
        page = self.store.query(f"THREAD#{thread_id}", sk_prefix="READ#", limit=100)
        return [ReadMark.model_validate(_fields(i, ReadMark)) for i in page.items]

    @staticmethod
    def read_op(mark: ReadMark) -> Put:
        return Put(
            {
                "pk": f"THREAD#{mark.thread_id}",
                "sk": f"READ#{mark.user_id}",
                **mark.model_dump(mode="json"),
            }
        )

    # ---- drafts -----------------------------------------------------------------------

    def get_draft(self, draft_id: str) -> Draft | None:
        item = self.store.get(f"DRAFT#{draft_id}", "DRAFT")
        return None if item is None else self.draft_from_item(item)

    def drafts_of(
        self, user_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Draft], str | None]:
        page = self.store.query(
            f"DRAFTS#{user_id}", index="gsi1", limit=limit, cursor=cursor, descending=True
        )
        return [self.draft_from_item(i) for i in page.items], page.next_cursor

    def draft_op(self, draft: Draft) -> Put:
        sealer = self._sealer(DRAFT_KIND, draft.id)
        data: dict[str, Any] = draft.model_dump(mode="json", exclude={"subject", "body"})
        data["subject"] = sealer.seal("subject", draft.subject)
        data["body"] = sealer.seal("body", draft.body)
        item: Item = {
            "pk": f"DRAFT#{draft.id}",
            "sk": "DRAFT",
            "gsi1pk": f"DRAFTS#{draft.owner_id}",
            "gsi1sk": draft.id,
            **data,
        }
        return _versioned(item, draft.version)

    @staticmethod
    def draft_delete_op(draft: Draft) -> Delete:
        """A draft is the author's working copy, never part of the record: sending or
        discarding it removes it (only the version they last saw)."""
        return Delete(f"DRAFT#{draft.id}", "DRAFT", VersionIs(draft.version))

    def draft_from_item(self, item: Item) -> Draft:
        sealer = self._sealer(DRAFT_KIND, str(item["id"]))
        fields = {k: v for k, v in item.items() if k in Draft.model_fields}
        fields["subject"] = sealer.open("subject", item.get("subject")) or ""
        fields["body"] = sealer.open("body", item.get("body")) or ""
        return Draft.model_validate(fields)


def _fields(item: Item, model: type[Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in model.model_fields}


def author_label(kind: AuthorKind, name: str) -> str:
    """What an inbox row may say about the last author in the clear: staff names are not
    PHI, a patient's is (the row holds the sealed patient name instead)."""
    return name if kind is AuthorKind.STAFF else ""
