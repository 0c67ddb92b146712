"""Stored shape of patients. PHI fields are sealed; search goes through blind indexes.

PATIENT#<id>   PROFILE                     the patient (gsi1: PATIENTS / <id>)
PATIENT#<id>   CARETEAM#<uid>              see repositories/relationships.py
"""

from __future__ import annotations

from typing import Any

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, VersionIs
from tpm.domain.patients import PHI_FIELDS, Patient
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

KIND = "patient"


class PatientRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def get(self, patient_id: str) -> Patient | None:
        item = self.store.get(f"PATIENT#{patient_id}", "PROFILE")
        return None if item is None else self.from_item(item)

    def page(self, limit: int, cursor: str | None) -> tuple[list[Patient], str | None]:
        page = self.store.query("PATIENTS", index="gsi1", limit=limit, cursor=cursor)
        return [self.from_item(i) for i in page.items], page.next_cursor

    def create_op(self, patient: Patient) -> Put:
        return Put(self.to_item(patient), Absent())

    def update_op(self, patient: Patient) -> Put:
        return Put(self.to_item(patient), VersionIs(patient.version - 1))

    def to_item(self, patient: Patient) -> Item:
        sealer = Sealer(self.cipher, self.store.practice_id, KIND, patient.id)
        data: dict[str, Any] = patient.model_dump(mode="json")
        for name in PHI_FIELDS:
            value = data.get(name)
            data[name] = sealer.seal(name, None if value is None else str(value))
        return {
            "pk": f"PATIENT#{patient.id}",
            "sk": "PROFILE",
            "gsi1pk": "PATIENTS",
            "gsi1sk": patient.id,
            **data,
        }

    def from_item(self, item: Item) -> Patient:
        sealer = Sealer(self.cipher, self.store.practice_id, KIND, str(item["id"]))
        fields = {k: v for k, v in item.items() if k in Patient.model_fields}
        for name in PHI_FIELDS:
            fields[name] = sealer.open(name, item.get(name))
        return Patient.model_validate(fields)
