"""Stored shape of intakes, their templates, form responses, consents and insurance cards.

INTAKE_TEMPLATE#<itp>  VER#<n:06d>   one intake template version (configuration, no PHI)
INTAKE_TEMPLATE#<itp>  LATEST        the newest version number
                                     gsi1: INTAKE_TEMPLATES / <itp>   (the practice's list)
INTAKE#<int>           INTAKE        the intake; review_comment sealed
                                     gsi1: PATIENT_INTAKES#<pat> / <int>
                                     gsi2: INTAKE_QUEUE / <0 stalled|1 other>#<updated>#<int>
                                           while open (sparse: the staff queue)
INTAKE#<int>           TOKEN#<step>  the workflow's callback token for a step (sealed)
INTAKE#<int>           VERIFY        identity verification: attempts, code hash, times
INTAKE#<int>           FORM#<key>    a form response, current (content, score sealed)
INTAKE#<int>           FORMVER#<key>#<n:06d>  one version, immutable (content sealed)
INTAKE#<int>           DONE#<key>    a workflow task's effect happened (idempotency)
CONSENT#<cns>          CONSENT       a signed consent with its evidence; content and
                                     signer_name sealed
                                     gsi1: PATIENT_CONSENTS#<pat> / <cns>
INSURANCE_CARD#<pat>   <front|back>  the card image's document id (the bytes are a
                                     patient document, tpm.repositories.documents)
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tpm.adapters.store.base import (
    Absent,
    Item,
    Operation,
    PracticeStore,
    Put,
    VersionIs,
)
from tpm.clock import to_rfc3339
from tpm.domain.intake import (
    OPEN_STATUSES,
    Consent,
    FormResponse,
    Intake,
    IntakeStatus,
    IntakeTemplate,
    Verification,
)
from tpm.domain.notes import NoteVersion
from tpm.errors import IntegrityError
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

INTAKE_KIND, TOKEN_KIND, FORM_KIND = "intake", "intake-token", "intake-form"
FORM_VERSION_KIND, CONSENT_KIND = "intake-form-version", "consent"
_LAYOUT = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"})


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _fields(item: Item) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _LAYOUT}


class IntakeRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def _sealer(self, kind: str, record_id: str) -> Sealer:
        return Sealer(self.cipher, self.store.practice_id, kind, record_id)

    # ---- templates --------------------------------------------------------------------

    def template(self, template_id: str, version: int | None = None) -> IntakeTemplate | None:
        if version is None:
            latest = self.store.get(f"INTAKE_TEMPLATE#{template_id}", "LATEST")
            if latest is None:
                return None
            version = int(latest["version_number"])
        item = self.store.get(f"INTAKE_TEMPLATE#{template_id}", f"VER#{version:06d}")
        return None if item is None else IntakeTemplate.model_validate(_fields(item))

    def templates(self) -> list[IntakeTemplate]:
        page = self.store.query("INTAKE_TEMPLATES", index="gsi1", limit=200)
        found = [self.template(str(i["template_id"]), int(i["version_number"])) for i in page.items]
        return [t for t in found if t is not None]

    def template_ops(self, template: IntakeTemplate) -> list[Operation]:
        data = template.model_dump(mode="json")
        latest: Item = {
            "pk": f"INTAKE_TEMPLATE#{template.id}",
            "sk": "LATEST",
            "template_id": template.id,
            "version_number": template.version,
            "gsi1pk": "INTAKE_TEMPLATES",
            "gsi1sk": template.id,
            "version": template.version,
        }
        return [
            Put(
                {
                    "pk": f"INTAKE_TEMPLATE#{template.id}",
                    "sk": f"VER#{template.version:06d}",
                    **data,
                },
                Absent(),
            ),
            Put(latest, Absent() if template.version == 1 else VersionIs(template.version - 1)),
        ]

    # ---- intakes ----------------------------------------------------------------------

    def get(self, intake_id: str) -> Intake | None:
        item = self.store.get(f"INTAKE#{intake_id}", "INTAKE")
        return None if item is None else self._intake(item)

    def for_patient(self, patient_id: str) -> list[Intake]:
        page = self.store.query(
            f"PATIENT_INTAKES#{patient_id}", index="gsi1", limit=100, descending=True
        )
        return [self._intake(i) for i in page.items]

    def queue(self, limit: int, cursor: str | None) -> tuple[list[Intake], str | None]:
        page = self.store.query("INTAKE_QUEUE", index="gsi2", limit=limit, cursor=cursor)
        return [self._intake(i) for i in page.items], page.next_cursor

    def put_op(self, intake: Intake) -> Put:
        condition = Absent() if intake.version == 1 else VersionIs(intake.version - 1)
        return Put(self._item(intake), condition)

    def _item(self, intake: Intake) -> Item:
        data: dict[str, Any] = intake.model_dump(mode="json", exclude={"review_comment"})
        data["review_comment"] = self._sealer(INTAKE_KIND, intake.id).seal(
            "review_comment", intake.review_comment
        )
        item: Item = {
            "pk": f"INTAKE#{intake.id}",
            "sk": "INTAKE",
            "gsi1pk": f"PATIENT_INTAKES#{intake.patient_id}",
            "gsi1sk": intake.id,
            **data,
        }
        if intake.status in OPEN_STATUSES:
            rank = 0 if intake.status == IntakeStatus.STALLED else 1
            item["gsi2pk"] = "INTAKE_QUEUE"
            item["gsi2sk"] = f"{rank}#{to_rfc3339(intake.updated_at)}#{intake.id}"
        return item

    def _intake(self, item: Item) -> Intake:
        fields = _fields(item)
        fields["review_comment"] = self._sealer(INTAKE_KIND, str(item["id"])).open(
            "review_comment", item.get("review_comment")
        )
        return Intake.model_validate(fields)

    # ---- workflow tokens ----------------------------------------------------------------

    def token(self, intake_id: str, step: str) -> tuple[str, int] | None:
        item = self.store.get(f"INTAKE#{intake_id}", f"TOKEN#{step}")
        if item is None:
            return None
        token = self._sealer(TOKEN_KIND, intake_id).open("token", item.get("token"))
        return (token, int(item["run"])) if token else None

    def token_op(self, intake_id: str, step: str, token: str, run: int, at: datetime) -> Put:
        sealed = self._sealer(TOKEN_KIND, intake_id).seal("token", token)
        return Put(
            {
                "pk": f"INTAKE#{intake_id}",
                "sk": f"TOKEN#{step}",
                "token": sealed,
                "run": run,
                "stored_at": to_rfc3339(at),
            }
        )

    # ---- task idempotency -------------------------------------------------------------

    def done(self, intake_id: str, key: str) -> Item | None:
        return self.store.get(f"INTAKE#{intake_id}", f"DONE#{key}")

    @staticmethod
    def done_op(intake_id: str, key: str, result: dict[str, Any]) -> Put:
        return Put(
            {"pk": f"INTAKE#{intake_id}", "sk": f"DONE#{key}", "result": _json(result)}, Absent()
        )

    # ---- identity verification ----------------------------------------------------------

    def verification(self, intake_id: str) -> Verification | None:
        item = self.store.get(f"INTAKE#{intake_id}", "VERIFY")
        return None if item is None else Verification.model_validate(_fields(item))

    @staticmethod
    def verification_op(v: Verification) -> Put:
        condition = Absent() if v.version == 1 else VersionIs(v.version - 1)
        return Put(
            {"pk": f"INTAKE#{v.intake_id}", "sk": "VERIFY", **v.model_dump(mode="json")},
            condition,
        )

    # ---- form responses -----------------------------------------------------------------

    def form(self, intake_id: str, key: str) -> FormResponse | None:
        item = self.store.get(f"INTAKE#{intake_id}", f"FORM#{key}")
        return None if item is None else self._form(item)

    def forms(self, intake_id: str) -> dict[str, FormResponse]:
        page = self.store.query(f"INTAKE#{intake_id}", sk_prefix="FORM#", limit=100)
        return {str(i["key"]): self._form(i) for i in page.items}

    def form_ops(self, form: FormResponse, version: NoteVersion) -> list[Operation]:
        sealer = self._sealer(FORM_KIND, form.record_id)
        data: dict[str, Any] = form.model_dump(mode="json", exclude={"content", "score"})
        data["content"] = sealer.seal("content", _json(form.content))
        data["score"] = sealer.seal("score", None if form.score is None else _json(form.score))
        condition = Absent() if form.version == 1 else VersionIs(form.version - 1)
        row = {"pk": f"INTAKE#{form.intake_id}", "sk": f"FORM#{form.key}", **data}
        return [Put(row, condition), self._version_op(form, version)]

    def _version_op(self, form: FormResponse, version: NoteVersion) -> Put:
        record = f"{version.note_id}#{version.n}"
        sealed = self._sealer(FORM_VERSION_KIND, record).seal("content", _json(version.content))
        data = version.model_dump(mode="json", exclude={"content", "at"})
        return Put(
            {
                "pk": f"INTAKE#{form.intake_id}",
                "sk": f"FORMVER#{form.key}#{version.n:06d}",
                **data,
                "at": to_rfc3339(version.at),
                "content": sealed,
            },
            Absent(),
        )

    def form_versions(self, intake_id: str, key: str) -> list[tuple[str, NoteVersion | None]]:
        """Each version as (its stored time text, the version or None if it no longer
        opens)."""
        page = self.store.query(f"INTAKE#{intake_id}", sk_prefix=f"FORMVER#{key}#", limit=1000)
        out: list[tuple[str, NoteVersion | None]] = []
        for item in page.items:
            at_text, n = str(item["at"]), int(item["n"])
            sealer = self._sealer(FORM_VERSION_KIND, f"{item['note_id']}#{n}")
            try:
                content = json.loads(sealer.open("content", item.get("content")) or "{}")
            except IntegrityError:
                out.append((at_text, None))
                continue
            out.append((at_text, NoteVersion.model_validate({**_fields(item), "content": content})))
        return out

    def _form(self, item: Item) -> FormResponse:
        fields = _fields(item)
        sealer = self._sealer(FORM_KIND, f"{item['intake_id']}.{item['key']}")
        fields["content"] = json.loads(sealer.open("content", item.get("content")) or "{}")
        score = sealer.open("score", item.get("score"))
        fields["score"] = None if score is None else json.loads(score)
        return FormResponse.model_validate(fields)

    # ---- consents -----------------------------------------------------------------------

    def consent(self, consent_id: str) -> Consent | None:
        item = self.store.get(f"CONSENT#{consent_id}", "CONSENT")
        return None if item is None else self._consent(item)

    def consents_for(self, patient_id: str) -> list[Consent]:
        page = self.store.query(
            f"PATIENT_CONSENTS#{patient_id}", index="gsi1", limit=200, descending=True
        )
        return [self._consent(i) for i in page.items]

    def consent_op(self, consent: Consent) -> Put:
        sealer = self._sealer(CONSENT_KIND, consent.id)
        data: dict[str, Any] = consent.model_dump(mode="json", exclude={"content", "signer_name"})
        data["content"] = sealer.seal("content", _json(consent.content))
        data["signer_name"] = sealer.seal("signer_name", consent.signer_name)
        condition = Absent() if consent.version == 1 else VersionIs(consent.version - 1)
        return Put(
            {
                "pk": f"CONSENT#{consent.id}",
                "sk": "CONSENT",
                "gsi1pk": f"PATIENT_CONSENTS#{consent.patient_id}",
                "gsi1sk": consent.id,
                **data,
            },
            condition,
        )

    def _consent(self, item: Item) -> Consent:
        fields = _fields(item)
        sealer = self._sealer(CONSENT_KIND, str(item["id"]))
        fields["content"] = json.loads(sealer.open("content", item.get("content")) or "{}")
        fields["signer_name"] = sealer.open("signer_name", item.get("signer_name"))
        return Consent.model_validate(fields)

    # ---- insurance cards ----------------------------------------------------------------

    def cards(self, patient_id: str) -> dict[str, Item]:
        page = self.store.query(f"INSURANCE_CARD#{patient_id}", limit=10)
        return {str(i["sk"]): _fields(i) for i in page.items}

    @staticmethod
    def card_op(patient_id: str, side: str, document_id: str, at: datetime, by: str) -> Put:
        return Put(
            {
                "pk": f"INSURANCE_CARD#{patient_id}",
                "sk": side,
                "side": side,
                "document_id": document_id,
                "captured_at": to_rfc3339(at),
                "captured_by": by,
            }
        )
