"""Consents: e-signature with evidence, the signed PDF, revocation and its effects.

Signing needs a verified identity (the intake's identity step). The evidence kept: the
portal account and patient, when identity was verified, when it was signed, the source
address and user agent, the consent document (template id, version and the hash of the
exact definition shown — the portal sends back the hash it displayed, and a mismatch is
refused), what was filled in and its hash, the typed name. The signed PDF is a patient
document (envelope-encrypted file; S3 SSE-KMS in AWS), shared with the patient.

Revocable consents (SMS, telehealth, release of information, 42 CFR Part 2) record the
revocation and apply its effect in the same transaction: SMS revoked → the patient's SMS
reminders stop at once (their opt-out stamp, which the reminder sweep checks at send time).
"""

from __future__ import annotations

from datetime import date, timedelta

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.domain.documents import Document
from tpm.domain.intake import (
    PART2_TITLE,
    Consent,
    ConsentItem,
    ConsentStatus,
    Effect,
    Intake,
    Part2Item,
    document_hash,
    part2_document,
)
from tpm.domain.notes import content_hash
from tpm.domain.part2 import Part2Consent
from tpm.errors import Conflict, NotFound, VersionConflict
from tpm.ids import new_id
from tpm.repositories.documents import DocumentRepository
from tpm.repositories.intake import IntakeRepository
from tpm.repositories.part2 import Part2Repository
from tpm.repositories.patients import PatientRepository
from tpm.services.consent_pdf import render_consent_pdf, render_part2_pdf
from tpm.services.context import ServiceContext
from tpm.services.intake_forms import check_content
from tpm.services.part2 import part2_today, revoke_part2
from tpm.services.templates import TemplateCatalog

KIND = "consent"
PART2_DOCUMENT = "part2_consent"  # the "template id" of an intake's Part 2 consent evidence

EFFECTS = {
    Effect.SMS_REMINDERS: "sms_reminders_stopped",
    Effect.TELEHEALTH: "telehealth_needs_new_consent",
    Effect.RELEASE: "no_further_disclosure",
    Effect.PART2: "no_further_disclosure_part2",
    Effect.NONE: "recorded",
}


class DocumentChanged(Conflict):
    code = "document_changed"
    message = "The consent document changed since it was shown; reload it and sign again."


class NotRevocable(Conflict):
    code = "not_revocable"
    message = "This consent cannot be revoked here; contact the practice."


class ConsentService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.intakes = IntakeRepository(ctx.store, ctx.runtime.cipher)
        self.patients = PatientRepository(ctx.store, ctx.runtime.cipher)

    def sign_ops(
        self,
        intake: Intake,
        item: ConsentItem,
        content: dict[str, object],
        signer_name: str,
        shown: str,
    ) -> tuple[Consent, list[Operation]]:
        ctx = self.ctx
        template = TemplateCatalog(ctx.store).resolve(item.template_id, item.template_version)
        doc_hash = document_hash(template.definition())
        if shown != doc_hash:
            raise DocumentChanged()
        check_content(template, dict(content), final=True)
        if intake.identity_verified_at is None:
            raise Conflict("Verify your identity before signing.")
        patient = self.patients.get(intake.patient_id)
        if patient is None:
            raise NotFound()
        now = ctx.now()
        p = ctx.principal
        consent = Consent(
            id=new_id("cns"),
            patient_id=intake.patient_id,
            intake_id=intake.id,
            key=item.key,
            template_id=template.id,
            template_version=template.version,
            title=template.title,
            document_hash=doc_hash,
            content_hash=content_hash(template.id, template.version, content),
            content=dict(content),
            signer_user_id=p.user_id,
            signer_name=signer_name,
            identity_verified_at=intake.identity_verified_at,
            signed_at=now,
            source_ip=p.source_ip,
            user_agent=p.user_agent[:512],
            revocable=item.revocable,
            effect=item.effect,
        )
        pdf = render_consent_pdf(
            consent,
            template,
            f"{patient.legal_first_name} {patient.legal_last_name}",
            patient.date_of_birth,
        )
        document_op, document_id = self._signed_pdf(patient.id, template.title, template.id, pdf)
        consent = consent.model_copy(update={"document_id": document_id})
        ops: list[Operation] = [self.intakes.consent_op(consent), document_op]
        if item.effect == Effect.SMS_REMINDERS and patient.phone:
            # Signing the SMS consent turns SMS reminders on (and ends an earlier opt-out).
            communication = patient.communication.model_copy(
                update={"sms_reminders": True, "sms_opted_out_at": None}
            )
            ops += self.patients.update_ops(patient, patient.bump(communication=communication))
        return consent, ops

    def _signed_pdf(
        self, patient_id: str, title: str, name: str, pdf: bytes
    ) -> tuple[Operation, str]:
        """The signed PDF as a patient document shared in the portal: the file is written
        (envelope-encrypted; S3 SSE-KMS in AWS), the record's operation returned."""
        ctx = self.ctx
        now = ctx.now()
        user = ctx.principal.user_id
        document = Document(
            id=new_id("doc"),
            patient_id=patient_id,
            title=f"Signed: {title}"[:200],
            filename=f"consent-{name}.pdf"[:200],
            content_type="application/pdf",
            size_bytes=len(pdf),
            shared_with_patient=True,
            shared_at=now,
            shared_by=user,
            uploaded_by=user,
            created_at=now,
            updated_at=now,
        )
        ctx.runtime.files.put(ctx.practice_id, document.id, pdf, guard=ctx.outbound)
        return DocumentRepository(ctx.store, ctx.runtime.cipher).create_op(document), document.id

    def part2_document(
        self, intake: Intake, item: Part2Item
    ) -> tuple[dict[str, object], str, date | None]:
        """The Part 2 consent as it is shown today (document, its hash, expiry date)."""
        patient = self.patients.get(intake.patient_id)
        if patient is None:
            raise NotFound()
        today = part2_today(self.ctx.runtime, self.ctx.practice_id)
        expires = (
            today + timedelta(days=item.expires_after_days) if item.expires_after_days else None
        )
        name = f"{patient.legal_first_name} {patient.legal_last_name}"
        shown = part2_document(item, name, today, expires)
        return shown, document_hash(shown), expires

    def part2_sign_ops(
        self, intake: Intake, item: Part2Item, template_version: int, signer_name: str, shown: str
    ) -> tuple[Consent, list[Operation]]:
        """The patient signs the intake's 42 CFR Part 2 consent: the compliance module's
        `Part2Consent` (every element of 42 CFR 2.31; what disclosure checks read), and the
        e-signature evidence with its signed PDF, linked to it (revoking one revokes both)."""
        ctx = self.ctx
        if intake.identity_verified_at is None:
            raise Conflict("Verify your identity before signing.")
        document, doc_hash, expires = self.part2_document(intake, item)
        if shown != doc_hash:
            raise DocumentChanged()
        patient = self.patients.get(intake.patient_id)
        if patient is None:
            raise NotFound()
        now = ctx.now()
        p = ctx.principal
        part2 = Part2Consent(
            id=new_id("p2c"),
            patient_id=patient.id,
            patient_name=str(document["patient_name"]),
            disclosing_program=item.disclosing_program,
            information=item.information,
            recipients=item.recipients,
            purposes=item.purposes,
            purpose_description=item.purpose_description,
            expires_on=expires,
            expiration_event=item.expiration_event,
            signed_by=signer_name,
            signer_relationship="self",
            signed_on=date.fromisoformat(str(document["signed_on"])),
            revocation_statement_given=True,
            redisclosure_statement_given=True,
            not_conditioned_statement_given=True,
            recorded_by=p.user_id,
            recorded_at=now,
        )
        consent = Consent(
            id=new_id("cns"),
            patient_id=patient.id,
            intake_id=intake.id,
            key=item.key,
            template_id=PART2_DOCUMENT,
            template_version=template_version,
            title=PART2_TITLE,
            document_hash=doc_hash,
            content_hash=content_hash(PART2_DOCUMENT, template_version, document),
            content=dict(document),
            signer_user_id=p.user_id,
            signer_name=signer_name,
            identity_verified_at=intake.identity_verified_at,
            signed_at=now,
            source_ip=p.source_ip,
            user_agent=p.user_agent[:512],
            revocable=True,
            effect=Effect.PART2,
            part2_consent_id=part2.id,
        )
        pdf = render_part2_pdf(consent, patient.date_of_birth)
        document_op, document_id = self._signed_pdf(patient.id, PART2_TITLE, "42cfr-part2", pdf)
        consent = consent.model_copy(update={"document_id": document_id})
        repo = Part2Repository(ctx.store, ctx.runtime.cipher)
        return consent, [repo.consent_op(part2), self.intakes.consent_op(consent), document_op]

    # ---- reads ----------------------------------------------------------------------------

    def for_patient(self, patient_id: str) -> list[Consent]:
        ctx = self.ctx
        access = ctx.authorize(
            "consent.read", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        if self.patients.get(patient_id) is None:
            raise NotFound()
        found = self.intakes.consents_for(patient_id)
        ctx.record(access, KIND, patient_id=patient_id, reason_code=f"count_{len(found)}")
        return found

    def mine(self) -> list[Consent]:
        patient_id = self.ctx.principal.patient_id
        if patient_id is None:
            self.ctx.authorize_list("consent.read", resource_kind=KIND)
            raise NotFound()
        return self.for_patient(patient_id)

    # ---- revoke ---------------------------------------------------------------------------

    def revoke(self, consent_id: str) -> Consent:
        ctx = self.ctx
        ctx.authorize_list("consent.revoke", resource_kind=KIND)
        consent = self.intakes.consent(consent_id)
        if consent is None:
            raise NotFound()
        access = ctx.authorize(
            "consent.revoke",
            resource_kind=KIND,
            resource_id=consent_id,
            patient_id=consent.patient_id,
        )
        if not consent.revocable:
            raise NotRevocable()
        if consent.status == ConsentStatus.REVOKED:
            return consent
        now = ctx.now()
        effect = EFFECTS[consent.effect]
        changed = consent.model_copy(
            update={
                "status": ConsentStatus.REVOKED,
                "revoked_at": now,
                "revoked_by": ctx.principal.user_id,
                "revocation_effect": effect,
                "version": consent.version + 1,
            }
        )
        ops: list[Operation] = [self.intakes.consent_op(changed)]
        if consent.part2_consent_id is not None:
            # The compliance record it made stops covering disclosures in the same commit.
            repo = Part2Repository(ctx.store, ctx.runtime.cipher)
            part2 = repo.consent(consent.patient_id, consent.part2_consent_id)
            if part2 is not None and part2.revoked_at is None:
                ops.append(repo.consent_op(revoke_part2(part2, now, ctx.principal.user_id)))
        if consent.effect == Effect.SMS_REMINDERS:
            patient = self.patients.get(consent.patient_id)
            if patient is not None:
                ops += self.patients.update_ops(patient, patient.opt_out("sms", now))
        try:
            ctx.write(
                access,
                lambda: list(ops),
                KIND,
                consent.id,
                patient_id=consent.patient_id,
                reason_code=effect,
            )
        except ConditionFailed as exc:
            raise VersionConflict() from exc
        return changed
