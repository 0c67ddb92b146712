"""Stored shape of clinical notes, their versions, addenda and the co-signature queue.

NOTE#<id>              NOTE         the note's current state; content and return comments
                                    sealed (gsi1: PATIENT_NOTES#<patient id> / <note id>)
NOTE#<id>              VER#<n:06d>  one immutable version (content sealed, hashes plain),
                                    written with Absent and never updated
NOTE#<id>              ADD#<n:04d>  one signed addendum (text sealed), written with Absent
COSIGN_QUEUE#<sup id>  <note id>    a note waiting for this supervisor's co-signature
COSIGN_REQUIRED        <user id>    this clinician's signed notes need co-signature

Psychotherapy notes are NOT here: they live in their own partition and index
(tpm.repositories.psychotherapy_notes), so no list, export or portal path that reads
PATIENT_NOTES# can ever reach one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tpm.adapters.store.base import (
    Absent,
    Delete,
    Item,
    Operation,
    PracticeStore,
    Put,
    VersionIs,
)
from tpm.clock import to_rfc3339
from tpm.domain.notes import Addendum, Note, NoteVersion
from tpm.errors import IntegrityError
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

NOTE_KIND, VERSION_KIND, ADDENDUM_KIND = "note", "note-version", "note-addendum"
_LAYOUT = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"})


@dataclass(frozen=True)
class StoredVersion:
    """A version row as stored: its time text (exactly what was hashed) and the version,
    or None when the row no longer opens (its sealed content was altered)."""

    n: int
    at_text: str
    version: NoteVersion | None


def version_sk(n: int) -> str:
    return f"VER#{n:06d}"


class NoteRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def _sealer(self, kind: str, record_id: str) -> Sealer:
        return Sealer(self.cipher, self.store.practice_id, kind, record_id)

    # ---- reads ------------------------------------------------------------------------

    def get(self, note_id: str) -> Note | None:
        item = self.store.get(f"NOTE#{note_id}", "NOTE")
        return None if item is None else self.from_item(item)

    def for_patient(
        self, patient_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Note], str | None]:
        page = self.store.query(
            f"PATIENT_NOTES#{patient_id}", index="gsi1", limit=limit, cursor=cursor, descending=True
        )
        return [self.from_item(i) for i in page.items], page.next_cursor

    def versions(self, note_id: str) -> list[StoredVersion]:
        page = self.store.query(f"NOTE#{note_id}", sk_prefix="VER#", limit=1000)
        return [self._stored_version(i) for i in page.items]

    def version(self, note_id: str, n: int) -> NoteVersion | None:
        item = self.store.get(f"NOTE#{note_id}", version_sk(n))
        if item is None:
            return None
        stored = self._stored_version(item)
        if stored.version is None:
            raise IntegrityError()
        return stored.version

    def addenda(self, note_id: str) -> list[Addendum]:
        page = self.store.query(f"NOTE#{note_id}", sk_prefix="ADD#", limit=1000)
        return [self._addendum(i) for i in page.items]

    def queue(
        self, supervisor_id: str, limit: int, cursor: str | None
    ) -> tuple[list[str], str | None]:
        page = self.store.query(f"COSIGN_QUEUE#{supervisor_id}", limit=limit, cursor=cursor)
        return [str(i["note_id"]) for i in page.items], page.next_cursor

    def cosign_required(self, user_id: str) -> bool:
        return self.store.get("COSIGN_REQUIRED", user_id) is not None

    # ---- writes (operations for one transaction) ------------------------------------

    def create_ops(self, note: Note, version: NoteVersion) -> list[Operation]:
        return [Put(self.to_item(note), Absent()), self.version_op(version)]

    def update_ops(self, note: Note, version: NoteVersion | None = None) -> list[Operation]:
        """`note` carries the next version; the stored one must be exactly one behind."""
        ops: list[Operation] = [Put(self.to_item(note), VersionIs(note.version - 1))]
        if version is not None:
            ops.append(self.version_op(version))
        return ops

    def version_op(self, version: NoteVersion) -> Put:
        record = f"{version.note_id}#{version.n}"
        sealed = self._sealer(VERSION_KIND, record).seal("content", _json(version.content))
        data = version.model_dump(mode="json", exclude={"content", "at"})
        return Put(
            {
                "pk": f"NOTE#{version.note_id}",
                "sk": version_sk(version.n),
                **data,
                "at": to_rfc3339(version.at),
                "content": sealed,
            },
            Absent(),
        )

    def addendum_op(self, addendum: Addendum) -> Put:
        record = f"{addendum.note_id}#{addendum.n}"
        data = addendum.model_dump(mode="json", exclude={"text"})
        data["text"] = self._sealer(ADDENDUM_KIND, record).seal("text", addendum.text)
        return Put(
            {"pk": f"NOTE#{addendum.note_id}", "sk": f"ADD#{addendum.n:04d}", **data}, Absent()
        )

    @staticmethod
    def queue_ops(supervisor_ids: list[str], note: Note, at: datetime) -> list[Operation]:
        return [
            Put(
                {
                    "pk": f"COSIGN_QUEUE#{sup}",
                    "sk": note.id,
                    "note_id": note.id,
                    "patient_id": note.patient_id,
                    "author_id": note.author_id,
                    "queued_at": to_rfc3339(at),
                }
            )
            for sup in supervisor_ids
        ]

    @staticmethod
    def unqueue_ops(supervisor_ids: list[str], note_id: str) -> list[Operation]:
        return [Delete(f"COSIGN_QUEUE#{sup}", note_id) for sup in supervisor_ids]

    @staticmethod
    def cosign_requirement_op(user_id: str, required: bool, by: str, at: datetime) -> Operation:
        if not required:
            return Delete("COSIGN_REQUIRED", user_id)
        return Put(
            {
                "pk": "COSIGN_REQUIRED",
                "sk": user_id,
                "user_id": user_id,
                "set_by": by,
                "set_at": to_rfc3339(at),
            }
        )

    # ---- mapping ----------------------------------------------------------------------

    def to_item(self, note: Note) -> Item:
        sealer = self._sealer(NOTE_KIND, note.id)
        data: dict[str, Any] = note.model_dump(mode="json", exclude={"content", "return_comments"})
        data["content"] = sealer.seal("content", _json(note.content))
        data["return_comments"] = sealer.seal("return_comments", note.return_comments)
        return {
            "pk": f"NOTE#{note.id}",
            "sk": "NOTE",
            "gsi1pk": f"PATIENT_NOTES#{note.patient_id}",
            "gsi1sk": note.id,
            **data,
        }

    def from_item(self, item: Item) -> Note:
        sealer = self._sealer(NOTE_KIND, str(item["id"]))
        fields = {k: v for k, v in item.items() if k in Note.model_fields}
        fields["content"] = json.loads(sealer.open("content", item.get("content")) or "{}")
        fields["return_comments"] = sealer.open("return_comments", item.get("return_comments"))
        return Note.model_validate(fields)

    def _stored_version(self, item: Item) -> StoredVersion:
        n, at_text = int(item["n"]), str(item["at"])
        sealer = self._sealer(VERSION_KIND, f"{item['note_id']}#{n}")
        try:
            content = json.loads(sealer.open("content", item.get("content")) or "{}")
        except IntegrityError:
            return StoredVersion(n, at_text, None)
        fields = {k: v for k, v in item.items() if k not in _LAYOUT}
        return StoredVersion(n, at_text, NoteVersion.model_validate({**fields, "content": content}))

    def _addendum(self, item: Item) -> Addendum:
        record = f"{item['note_id']}#{int(item['n'])}"
        fields = {k: v for k, v in item.items() if k not in _LAYOUT}
        fields["text"] = self._sealer(ADDENDUM_KIND, record).open("text", item.get("text"))
        return Addendum.model_validate(fields)


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
