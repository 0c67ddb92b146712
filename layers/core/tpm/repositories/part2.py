"""Stored shape of 42 CFR Part 2 labels and consents.

PART2#<pat>   LABEL          whether the patient's records are Part 2 (versioned)
PART2#<pat>   CONSENT#<p2c>  one signed consent. Plain: ids, purposes, dates, the
                             statement flags, revocation. Sealed as one JSON field
                             (AAD = practice + `part2-consent` + id + `body`): the patient's
                             name, the disclosing program, the information described, the
                             recipients, the purpose described, the expiration event, the
                             signer.
"""

from __future__ import annotations

import json
from typing import Any

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, VersionIs
from tpm.domain.part2 import Part2Consent, Part2Label
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

KIND = "part2-consent"
SEALED = (
    "patient_name",
    "disclosing_program",
    "information",
    "recipients",
    "purpose_description",
    "expiration_event",
    "signed_by",
)
_LAYOUT = frozenset({"pk", "sk"})


class Part2Repository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def label(self, patient_id: str) -> Part2Label | None:
        item = self.store.get(f"PART2#{patient_id}", "LABEL")
        if item is None:
            return None
        return Part2Label.model_validate({k: v for k, v in item.items() if k not in _LAYOUT})

    def consents(self, patient_id: str) -> list[Part2Consent]:
        page = self.store.query(f"PART2#{patient_id}", sk_prefix="CONSENT#", limit=1000)
        return [self._consent(i) for i in page.items]

    def consent(self, patient_id: str, consent_id: str) -> Part2Consent | None:
        item = self.store.get(f"PART2#{patient_id}", f"CONSENT#{consent_id}")
        return None if item is None else self._consent(item)

    @staticmethod
    def label_op(label: Part2Label) -> Put:
        condition = VersionIs(label.version - 1) if label.version > 1 else Absent()
        return Put(
            {"pk": f"PART2#{label.patient_id}", "sk": "LABEL", **label.model_dump(mode="json")},
            condition,
        )

    def consent_op(self, consent: Part2Consent) -> Put:
        sealer = Sealer(self.cipher, self.store.practice_id, KIND, consent.id)
        data: dict[str, Any] = consent.model_dump(mode="json")
        body = {name: data.pop(name) for name in SEALED}
        condition = VersionIs(consent.version - 1) if consent.version > 1 else Absent()
        return Put(
            {
                "pk": f"PART2#{consent.patient_id}",
                "sk": f"CONSENT#{consent.id}",
                **data,
                "body": sealer.seal("body", json.dumps(body, sort_keys=True)),
            },
            condition,
        )

    def _consent(self, item: Item) -> Part2Consent:
        sealer = Sealer(self.cipher, self.store.practice_id, KIND, str(item["id"]))
        fields = {k: v for k, v in item.items() if k not in _LAYOUT and k != "body"}
        fields |= json.loads(sealer.open("body", item["body"]) or "{}")
        return Part2Consent.model_validate(fields)
