"""Stored shape of psychotherapy notes (45 CFR 164.501): a separate record kind with its
own partition and index, so no path that lists or exports a patient's record (which reads
PATIENT_NOTES#, PATIENT_DOCS#, …) can reach one.

PSYNOTE#<id>   PSYNOTE      the note, text sealed (gsi1: AUTHOR_PSYNOTES#<author> / <id>)
PSYNOTE#<id>   GRANT#<uid>  the author let this user read it
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put
from tpm.clock import to_rfc3339
from tpm.domain.notes import PsychotherapyNote
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

KIND = "psychotherapy-note"
_LAYOUT = frozenset({"pk", "sk", "gsi1pk", "gsi1sk"})


class PsychotherapyNoteRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def get(self, note_id: str) -> PsychotherapyNote | None:
        item = self.store.get(f"PSYNOTE#{note_id}", "PSYNOTE")
        return None if item is None else self.from_item(item)

    def granted(self, note_id: str, user_id: str) -> bool:
        return self.store.get(f"PSYNOTE#{note_id}", f"GRANT#{user_id}") is not None

    def by_author(
        self, author_id: str, limit: int, cursor: str | None
    ) -> tuple[list[PsychotherapyNote], str | None]:
        page = self.store.query(
            f"AUTHOR_PSYNOTES#{author_id}",
            index="gsi1",
            limit=limit,
            cursor=cursor,
            descending=True,
        )
        return [self.from_item(i) for i in page.items], page.next_cursor

    def create_op(self, note: PsychotherapyNote) -> Put:
        sealer = Sealer(self.cipher, self.store.practice_id, KIND, note.id)
        data: dict[str, Any] = note.model_dump(mode="json", exclude={"text"})
        data["text"] = sealer.seal("text", note.text)
        return Put(
            {
                "pk": f"PSYNOTE#{note.id}",
                "sk": "PSYNOTE",
                "gsi1pk": f"AUTHOR_PSYNOTES#{note.author_id}",
                "gsi1sk": note.id,
                **data,
            },
            Absent(),
        )

    @staticmethod
    def grant_op(note_id: str, user_id: str, by: str, at: datetime) -> Put:
        return Put(
            {
                "pk": f"PSYNOTE#{note_id}",
                "sk": f"GRANT#{user_id}",
                "user_id": user_id,
                "granted_by": by,
                "granted_at": to_rfc3339(at),
            },
            Absent(),
        )

    def from_item(self, item: Item) -> PsychotherapyNote:
        sealer = Sealer(self.cipher, self.store.practice_id, KIND, str(item["id"]))
        fields = {k: v for k, v in item.items() if k not in _LAYOUT}
        fields["text"] = sealer.open("text", item.get("text"))
        return PsychotherapyNote.model_validate(fields)
