"""Stored shape of patients. PHI fields are sealed; search goes through blind indexes.

PATIENT#<id>                  PROFILE          the patient (gsi1: PATIENTS / <id>)
PATIENT#<id>                  CARETEAM#<uid>   see repositories/relationships.py
PATIENT#<id>                  PORTAL_USER      the patient's portal account {user_id, invite}
PATIENT_IDX#<kind>#<token>    <patient id>     search index row; kind name | dob | phone,
                                               token = blind_index(practice, "patient-<kind>",
                                               normalised value); written and removed in the
                                               same transaction as the profile

Scalar PHI fields are sealed one by one; nested objects (address, emergency contact,
guardian, insurance, communication) are sealed as the JSON of the whole object. Items
written before a field existed read back with its default, so old rows stay valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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
from tpm.domain.patients import PHI_FIELDS, PHI_OBJECTS, Patient, search_terms
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

KIND = "patient"
INDEX_PREFIX = "PATIENT_IDX#"
SEARCH_KINDS = ("name", "dob", "phone")
MAX_MATCHES = 500  # per index token; a search narrower than this is the norm


class PatientRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    # ---- reads --------------------------------------------------------------------------

    def get(self, patient_id: str) -> Patient | None:
        item = self.store.get(f"PATIENT#{patient_id}", "PROFILE")
        return None if item is None else self.from_item(item)

    def page(self, limit: int, cursor: str | None) -> tuple[list[Patient], str | None]:
        page = self.store.query("PATIENTS", index="gsi1", limit=limit, cursor=cursor)
        return [self.from_item(i) for i in page.items], page.next_cursor

    def matching(self, kind: str, normalised: str) -> list[str]:
        """Ids of patients indexed under (kind, normalised value): one index partition read,
        nothing decrypted."""
        page = self.store.query(self._index_pk(kind, normalised), limit=MAX_MATCHES)
        return [str(i["patient_id"]) for i in page.items]

    def portal_link(self, patient_id: str) -> Item | None:
        return self.store.get(f"PATIENT#{patient_id}", "PORTAL_USER")

    # ---- writes (operations for one transaction) ---------------------------------------

    def create_ops(self, patient: Patient) -> list[Operation]:
        """The profile and its search index rows."""
        return [self.create_op(patient), *self._index_ops(set(), self._tokens(patient))]

    def update_ops(self, before: Patient, after: Patient) -> list[Operation]:
        """`after` carries the next version; index rows follow the changed values."""
        return [
            self.update_op(after),
            *self._index_ops(self._tokens(before), self._tokens(after)),
        ]

    def create_op(self, patient: Patient) -> Put:
        """The profile alone (no search index rows): prefer `create_ops`."""
        return Put(self.to_item(patient), Absent())

    def update_op(self, patient: Patient) -> Put:
        return Put(self.to_item(patient), VersionIs(patient.version - 1))

    @staticmethod
    def portal_link_op(patient_id: str, user_id: str, invite_hash: str, version: int) -> Put:
        """Links the patient to their portal account; `invite_hash` names the one live
        invitation so a re-issue can revoke it. Versioned: concurrent re-issues conflict."""
        item = {
            "pk": f"PATIENT#{patient_id}",
            "sk": "PORTAL_USER",
            "user_id": user_id,
            "invite_hash": invite_hash,
            "version": version,
        }
        return Put(item, Absent() if version == 1 else VersionIs(version - 1))

    @staticmethod
    def revoke_invitation_op(invite_hash: str) -> Delete:
        # Same key as tpm.services.users.invitation_op writes.
        return Delete(f"INVITE#{invite_hash}", "INVITE")

    # ---- search index -------------------------------------------------------------------

    def _index_pk(self, kind: str, normalised: str) -> str:
        if kind not in SEARCH_KINDS:
            raise ValueError(f"unknown search kind {kind!r}")
        token = self.cipher.blind_index(self.store.practice_id, f"patient-{kind}", normalised)
        return f"{INDEX_PREFIX}{kind}#{token}"

    def _tokens(self, patient: Patient) -> set[tuple[str, str]]:
        return {(self._index_pk(kind, value), patient.id) for kind, value in search_terms(patient)}

    @staticmethod
    def _index_ops(old: set[tuple[str, str]], new: set[tuple[str, str]]) -> Iterable[Operation]:
        for pk, sk in sorted(old - new):
            yield Delete(pk, sk)
        for pk, sk in sorted(new - old):
            yield Put({"pk": pk, "sk": sk, "patient_id": sk})

    # ---- mapping ------------------------------------------------------------------------

    def to_item(self, patient: Patient) -> Item:
        sealer = Sealer(self.cipher, self.store.practice_id, KIND, patient.id)
        data: dict[str, Any] = patient.model_dump(mode="json")
        for name in PHI_FIELDS:
            value = data.get(name)
            data[name] = sealer.seal(name, None if value is None else str(value))
        for name in PHI_OBJECTS:
            value = data.get(name)
            data[name] = sealer.seal(
                name, None if value is None else json.dumps(value, sort_keys=True)
            )
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
        for name in PHI_OBJECTS:
            opened = sealer.open(name, item.get(name))
            if opened is None:
                fields.pop(name, None)  # absent in older rows: the model's default
            else:
                fields[name] = json.loads(opened)
        return Patient.model_validate(fields)
