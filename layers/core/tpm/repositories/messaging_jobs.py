"""Stored shape of what messaging's scheduled jobs and reviews work from: pending
notifications, escalation deadlines, the practice queue, disclosure flags, out-of-office.

MESSAGE_NOTIFY        <thr>#<usr>            a "message waiting" notice to send (one per
                                             thread and recipient: new messages coalesce)
MESSAGE_ESCALATION    <due UTC>#<thr>        when an unanswered patient message escalates
MESSAGE_QUEUE         <escalated UTC>#<thr>  the practice queue (oldest first)
MESSAGE_FLAG#<mfl>    FLAG                   a disclosure flag (note sealed)
                                             gsi1: MESSAGE_FLAGS / <mfl>
USER#<usr>            OUT_OF_OFFICE          an absence and its delegate (version)
RETENTION_REVIEW      <thr>                  a thread past retention, not on hold: for the
                                             compliance officer to review (never deleted
                                             automatically)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from tpm.adapters.store.base import Absent, Delete, Item, PracticeStore, Put, VersionIs
from tpm.clock import to_rfc3339
from tpm.domain.messaging import MessageFlag, OutOfOffice, Thread
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

NOTIFY_PK, ESCALATION_PK, QUEUE_PK, REVIEW_PK = (
    "MESSAGE_NOTIFY",
    "MESSAGE_ESCALATION",
    "MESSAGE_QUEUE",
    "RETENTION_REVIEW",
)
FLAG_KIND = "message-flag"
NoticeKind = Literal["message", "escalation"]


def _stamp(moment: datetime) -> str:
    return to_rfc3339(moment)


def _when(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


# ---- notifications -------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    thread_id: str
    user_id: str
    kind: NoticeKind
    patient_id: str
    queued_at: datetime
    attempts: int = 0
    version: int = 1

    @property
    def sk(self) -> str:
        return f"{self.thread_id}#{self.user_id}"


def notice_op(notice: Notice) -> Put:
    """Unconditional: a second message before the sweep replaces the pending notice (one
    email for a burst of messages)."""
    return Put(
        {
            "pk": NOTIFY_PK,
            "sk": notice.sk,
            "thread_id": notice.thread_id,
            "user_id": notice.user_id,
            "kind": notice.kind,
            "patient_id": notice.patient_id,
            "queued_at": _stamp(notice.queued_at),
            "attempts": notice.attempts,
            "version": notice.version,
        }
    )


def notice_from_item(item: Item) -> Notice:
    return Notice(
        thread_id=str(item["thread_id"]),
        user_id=str(item["user_id"]),
        kind="escalation" if item.get("kind") == "escalation" else "message",
        patient_id=str(item["patient_id"]),
        queued_at=_when(item["queued_at"]),
        attempts=int(item.get("attempts") or 0),
        version=int(item["version"]),
    )


def claim_notice_op(notice: Notice) -> Delete:
    """Claiming is removing: of two sweeps, one deletes it and sends; at most once."""
    return Delete(NOTIFY_PK, notice.sk, VersionIs(notice.version))


def pending_notices(
    store: PracticeStore, limit: int, cursor: str | None
) -> tuple[list[Notice], str | None]:
    page = store.query(NOTIFY_PK, limit=limit, cursor=cursor)
    return [notice_from_item(i) for i in page.items], page.next_cursor


# ---- escalation and the practice queue -----------------------------------------------------


def escalation_sk(due: datetime, thread_id: str) -> str:
    return f"{_stamp(due)}#{thread_id}"


def escalation_op(due: datetime, thread: Thread) -> Put:
    return Put(
        {
            "pk": ESCALATION_PK,
            "sk": escalation_sk(due, thread.id),
            "thread_id": thread.id,
            "patient_id": thread.patient_id,
            "due": _stamp(due),
        }
    )


def escalation_delete_op(due: datetime, thread_id: str) -> Delete:
    return Delete(ESCALATION_PK, escalation_sk(due, thread_id))


def due_escalations(
    store: PracticeStore, now: datetime, limit: int, cursor: str | None
) -> tuple[list[tuple[datetime, str]], str | None]:
    """(due, thread id) of every escalation due by `now`, oldest first."""
    page = store.query(
        ESCALATION_PK, sk_between=("0", f"{_stamp(now)}#~"), limit=limit, cursor=cursor
    )
    return [(_when(i["due"]), str(i["thread_id"])) for i in page.items], page.next_cursor


def queue_sk(at: datetime, thread_id: str) -> str:
    return f"{_stamp(at)}#{thread_id}"


def queue_op(at: datetime, thread: Thread) -> Put:
    return Put(
        {
            "pk": QUEUE_PK,
            "sk": queue_sk(at, thread.id),
            "thread_id": thread.id,
            "patient_id": thread.patient_id,
            "escalated_at": _stamp(at),
        },
        Absent(),
    )


def queue_delete_op(at: datetime, thread_id: str) -> Delete:
    return Delete(QUEUE_PK, queue_sk(at, thread_id))


def queue_page(
    store: PracticeStore, limit: int, cursor: str | None
) -> tuple[list[str], str | None]:
    """Thread ids on the practice queue, longest waiting first."""
    page = store.query(QUEUE_PK, limit=limit, cursor=cursor)
    return [str(i["thread_id"]) for i in page.items], page.next_cursor


# ---- retention review --------------------------------------------------------------------


def review_op(thread: Thread, retain_until: datetime, at: datetime) -> Put:
    return Put(
        {
            "pk": REVIEW_PK,
            "sk": thread.id,
            "thread_id": thread.id,
            "patient_id": thread.patient_id,
            "retain_until": _stamp(retain_until),
            "listed_at": _stamp(at),
        }
    )


def review_page(
    store: PracticeStore, limit: int, cursor: str | None
) -> tuple[list[Item], str | None]:
    page = store.query(REVIEW_PK, limit=limit, cursor=cursor)
    return page.items, page.next_cursor


# ---- flags -------------------------------------------------------------------------------


class FlagRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def _sealer(self, flag_id: str) -> Sealer:
        return Sealer(self.cipher, self.store.practice_id, FLAG_KIND, flag_id)

    def get(self, flag_id: str) -> MessageFlag | None:
        item = self.store.get(f"MESSAGE_FLAG#{flag_id}", "FLAG")
        return None if item is None else self.from_item(item)

    def page(self, limit: int, cursor: str | None) -> tuple[list[MessageFlag], str | None]:
        page = self.store.query(
            "MESSAGE_FLAGS", index="gsi1", limit=limit, cursor=cursor, descending=True
        )
        return [self.from_item(i) for i in page.items], page.next_cursor

    def create_op(self, flag: MessageFlag) -> Put:
        data: dict[str, Any] = flag.model_dump(mode="json", exclude={"note"})
        data["note"] = self._sealer(flag.id).seal("note", flag.note)
        return Put(
            {
                "pk": f"MESSAGE_FLAG#{flag.id}",
                "sk": "FLAG",
                "gsi1pk": "MESSAGE_FLAGS",
                "gsi1sk": flag.id,
                **data,
            },
            Absent(),
        )

    def from_item(self, item: Item) -> MessageFlag:
        fields = {k: v for k, v in item.items() if k in MessageFlag.model_fields}
        fields["note"] = self._sealer(str(item["id"])).open("note", item.get("note"))
        return MessageFlag.model_validate(fields)


# ---- out of office -----------------------------------------------------------------------


class OutOfOfficeRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    def get(self, user_id: str) -> OutOfOffice | None:
        item = self.store.get(f"USER#{user_id}", "OUT_OF_OFFICE")
        if item is None:
            return None
        return OutOfOffice.model_validate(
            {k: v for k, v in item.items() if k in OutOfOffice.model_fields}
        )

    @staticmethod
    def put_op(absence: OutOfOffice) -> Put:
        """`absence` carries its new version (1 = the first one this user set)."""
        item = {
            "pk": f"USER#{absence.user_id}",
            "sk": "OUT_OF_OFFICE",
            **absence.model_dump(mode="json"),
        }
        return Put(item, Absent() if absence.version == 1 else VersionIs(absence.version - 1))

    @staticmethod
    def clear_op(absence: OutOfOffice) -> Delete:
        return Delete(f"USER#{absence.user_id}", "OUT_OF_OFFICE", VersionIs(absence.version))
