"""42 CFR Part 2: labels, consents, and the check every disclosure path calls.

For billing, exports and releases (documented in docs/compliance.md):

    from tpm.domain.part2 import Purpose, RecipientKind
    from tpm.services.part2 import require_part2_consent

    clearance = require_part2_consent(
        runtime, store, actor, patient_id,
        kind=RecipientKind.PAYER, key=payer_id, purpose=Purpose.PAYMENT,
    )
    # raises Part2ConsentRequired (409 part2_consent_required) when the patient's records
    # are Part 2 and no active consent covers this recipient and purpose: send nothing.
    # Otherwise clearance.notice is the redisclosure notice to attach (None when the
    # records are not Part 2) and clearance.consent_id the consent relied on.

A refusal is audited (`part2.disclosure_refused`, the patient, reason `no_consent`). The
caller audits its own disclosure as usual, naming the consent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from tpm.adapters.store.base import ConditionFailed, Operation, PracticeStore
from tpm.domain.intake import ConsentStatus
from tpm.domain.part2 import (
    Decision,
    Part2Consent,
    Part2ConsentRequired,
    Part2Label,
    Purpose,
    Recipient,
    RecipientKind,
    part2_decision,
)
from tpm.domain.patients import Patient
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.intake import IntakeRepository
from tpm.repositories.part2 import Part2Repository
from tpm.repositories.patients import PatientRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent, Outcome
from tpm.security.principal import Principal, SystemActor
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice

KIND = "part2"
REFUSED = "part2.disclosure_refused"


def part2_today(runtime: Runtime, practice_id: str) -> date:
    zone = get_practice(runtime.store, practice_id).zone
    return runtime.clock.now().astimezone(zone).date()


def check_part2(
    runtime: Runtime,
    store: PracticeStore,
    patient_id: str,
    *,
    kind: RecipientKind,
    key: str | None,
    purpose: Purpose,
) -> Decision:
    """The decision without raising or recording (screens, previews)."""
    repo = Part2Repository(store, runtime.cipher)
    label = repo.label(patient_id)
    consents = repo.consents(patient_id) if label is not None and label.part2 else []
    return part2_decision(
        label,
        consents,
        part2_today(runtime, store.practice_id),
        kind=kind,
        key=key,
        purpose=purpose,
    )


def require_part2_consent(
    runtime: Runtime,
    store: PracticeStore,
    actor: Principal | SystemActor,
    patient_id: str,
    *,
    kind: RecipientKind,
    key: str | None,
    purpose: Purpose,
) -> Decision:
    """Returns the decision when the disclosure may go; raises Part2ConsentRequired (and
    records the refusal) when it may not. See the module docstring."""
    decision = check_part2(runtime, store, patient_id, kind=kind, key=key, purpose=purpose)
    if decision.allowed:
        return decision
    fields = {
        "action": REFUSED,
        "resource_kind": "patient",
        "resource_id": patient_id,
        "patient_id": patient_id,
        "outcome": Outcome.DENIED,
        "reason_code": decision.reason,
    }
    event = (
        AuditEvent.for_principal(actor, **fields)
        if isinstance(actor, Principal)
        else AuditEvent.for_system(actor, **fields)
    )
    runtime.audit.record(store, event)
    raise Part2ConsentRequired(reason=decision.reason, purpose=purpose.value, recipient=kind.value)


def revoke_part2(consent: Part2Consent, at: datetime, by: str) -> Part2Consent:
    return consent.model_copy(
        update={"revoked_at": at, "revoked_by": by, "version": consent.version + 1}
    )


class Part2Service:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = Part2Repository(ctx.store, ctx.runtime.cipher)

    def read(self, patient_id: str) -> tuple[Part2Label | None, list[Part2Consent]]:
        ctx = self.ctx
        access = ctx.authorize(
            "part2.read", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        self._patient(patient_id)
        label = self.repo.label(patient_id)
        consents = self.repo.consents(patient_id)
        ctx.record(access, KIND, patient_id, patient_id=patient_id)
        return label, consents

    def set_label(
        self, patient_id: str, part2: bool, program: str, version: int | None
    ) -> Part2Label:
        ctx = self.ctx
        access = ctx.authorize(
            "part2.label", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        self._patient(patient_id)
        current = self.repo.label(patient_id)
        if (current.version if current else None) != version:
            raise VersionConflict(current_version=current.version if current else None)
        if part2 and not program.strip():
            raise ValidationFailed(fields=[{"path": "body.program", "type": "missing"}])
        label = Part2Label(
            patient_id=patient_id,
            part2=part2,
            program=program,
            labelled_by=ctx.principal.user_id,
            labelled_at=ctx.now(),
            version=(current.version + 1) if current else 1,
        )
        op = self.repo.label_op(label)
        try:
            ctx.write(
                access,
                lambda: [op],
                KIND,
                patient_id,
                patient_id=patient_id,
                reason_code="labelled" if part2 else "unlabelled",
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return label

    def record_consent(
        self,
        patient_id: str,
        *,
        disclosing_program: str,
        information: str,
        recipients: Sequence[Recipient],
        purposes: Sequence[Purpose],
        purpose_description: str,
        expires_on: date | None,
        expiration_event: str,
        signed_by: str,
        signer_relationship: str,
        signed_on: date,
        statements_given: bool,
    ) -> Part2Consent:
        ctx = self.ctx
        access = ctx.authorize(
            "part2.consent.record",
            resource_kind=KIND,
            resource_id=patient_id,
            patient_id=patient_id,
        )
        patient = self._patient(patient_id)
        if signed_on > part2_today(ctx.runtime, ctx.practice_id):
            raise ValidationFailed(fields=[{"path": "body.signed_on", "type": "in_future"}])
        try:
            consent = Part2Consent(
                id=new_id("p2c"),
                patient_id=patient_id,
                patient_name=f"{patient.legal_first_name} {patient.legal_last_name}",
                disclosing_program=disclosing_program,
                information=information,
                recipients=tuple(recipients),
                purposes=tuple(dict.fromkeys(purposes)),
                purpose_description=purpose_description,
                expires_on=expires_on,
                expiration_event=expiration_event,
                signed_by=signed_by,
                signer_relationship=signer_relationship,
                signed_on=signed_on,
                revocation_statement_given=statements_given,
                redisclosure_statement_given=statements_given,
                not_conditioned_statement_given=statements_given,
                recorded_by=ctx.principal.user_id,
                recorded_at=ctx.now(),
            )
        except ValueError as exc:
            raise ValidationFailed(
                fields=[{"path": "body", "type": "consent_elements_missing"}]
            ) from exc
        op = self.repo.consent_op(consent)
        ctx.write(
            access,
            lambda: [op],
            KIND,
            consent.id,
            patient_id=patient_id,
            reason_code="consent_recorded",
        )
        return consent

    def revoke(self, patient_id: str, consent_id: str, version: int) -> Part2Consent:
        ctx = self.ctx
        access = ctx.authorize(
            "part2.consent.revoke",
            resource_kind=KIND,
            resource_id=patient_id,
            patient_id=patient_id,
        )
        self._patient(patient_id)
        consent = self.repo.consent(patient_id, consent_id)
        if consent is None:
            raise NotFound()
        if consent.version != version:
            raise VersionConflict(current_version=consent.version)
        if consent.revoked_at is not None:
            return consent
        revoked = revoke_part2(consent, ctx.now(), ctx.principal.user_id)
        ops = [self.repo.consent_op(revoked), *self._evidence_revoked(revoked)]
        try:
            ctx.write(
                access,
                lambda: list(ops),
                KIND,
                consent.id,
                patient_id=patient_id,
                reason_code="consent_revoked",
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return revoked

    def _evidence_revoked(self, revoked: Part2Consent) -> list[Operation]:
        """A consent signed in an intake (tpm.services.consents) has its e-signature record
        too: it shows revoked in the chart and the portal from the same commit."""
        intakes = IntakeRepository(self.ctx.store, self.ctx.runtime.cipher)
        return [
            intakes.consent_op(
                c.model_copy(
                    update={
                        "status": ConsentStatus.REVOKED,
                        "revoked_at": revoked.revoked_at,
                        "revoked_by": revoked.revoked_by,
                        "revocation_effect": "no_further_disclosure_part2",
                        "version": c.version + 1,
                    }
                )
            )
            for c in intakes.consents_for(revoked.patient_id)
            if c.part2_consent_id == revoked.id and c.status is ConsentStatus.SIGNED
        ]

    def _patient(self, patient_id: str) -> Patient:
        patient = PatientRepository(self.ctx.store, self.ctx.runtime.cipher).get(patient_id)
        if patient is None:
            raise NotFound()
        return patient
