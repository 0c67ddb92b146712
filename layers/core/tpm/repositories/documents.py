"""Stored shape of documents (metadata; the bytes live in the file store, tpm.adapters.files).

DOCUMENT#<id>   PROFILE   the document's metadata, title and file name sealed
                          gsi1: PATIENT_DOCS#<patient id> / <doc id>      every document
                          gsi2: PATIENT_SHARED_DOCS#<patient id> / <doc id>  only while
                                shared with the patient (a sparse index: the portal's list
                                reads shared documents only, with exact pages)

Document ids are ULIDs, so both indexes list oldest to newest; reads ask newest first.
"""

from __future__ import annotations

from typing import Any

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, VersionIs
from tpm.domain.documents import PHI_FIELDS, Document
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

KIND = "document"


class DocumentRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def get(self, document_id: str) -> Document | None:
        item = self.store.get(f"DOCUMENT#{document_id}", "PROFILE")
        return None if item is None else self.from_item(item)

    def for_patient(
        self, patient_id: str, *, shared_only: bool, limit: int, cursor: str | None
    ) -> tuple[list[Document], str | None]:
        if shared_only:
            page = self.store.query(
                f"PATIENT_SHARED_DOCS#{patient_id}",
                index="gsi2",
                limit=limit,
                cursor=cursor,
                descending=True,
            )
        else:
            page = self.store.query(
                f"PATIENT_DOCS#{patient_id}",
                index="gsi1",
                limit=limit,
                cursor=cursor,
                descending=True,
            )
        return [self.from_item(i) for i in page.items], page.next_cursor

    def create_op(self, document: Document) -> Put:
        return Put(self.to_item(document), Absent())

    def update_op(self, document: Document) -> Put:
        """`document` carries the next version."""
        return Put(self.to_item(document), VersionIs(document.version - 1))

    def to_item(self, document: Document) -> Item:
        sealer = Sealer(self.cipher, self.store.practice_id, KIND, document.id)
        data: dict[str, Any] = document.model_dump(mode="json")
        for name in PHI_FIELDS:
            data[name] = sealer.seal(name, data[name])
        item: Item = {
            "pk": f"DOCUMENT#{document.id}",
            "sk": "PROFILE",
            "gsi1pk": f"PATIENT_DOCS#{document.patient_id}",
            "gsi1sk": document.id,
            **data,
        }
        if document.shared_with_patient:
            item |= {"gsi2pk": f"PATIENT_SHARED_DOCS#{document.patient_id}", "gsi2sk": document.id}
        return item

    def from_item(self, item: Item) -> Document:
        sealer = Sealer(self.cipher, self.store.practice_id, KIND, str(item["id"]))
        fields = {k: v for k, v in item.items() if k in Document.model_fields}
        for name in PHI_FIELDS:
            fields[name] = sealer.open(name, item.get(name))
        return Document.model_validate(fields)
