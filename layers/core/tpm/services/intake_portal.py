"""Intake, the patient's side (the portal checklist): verify identity, fill the forms,
sign the consents, photograph the insurance card, book the first visit. Each finished step
answers the workflow's wait (tpm.services.intake.answer) after its own transaction.

Identity verification: the date of birth on file, then a one-time code sent to the contact
on file (email; SMS when the patient chose SMS). Five wrong dates of birth or five wrong
codes lock verification and put the intake in the staff queue; every attempt is audited.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.domain.availability import Slot
from tpm.domain.card_images import CardImageRuleError, clean_card_image
from tpm.domain.documents import Document
from tpm.domain.intake import (
    CODE_TTL_SECONDS,
    MAX_CODE_ATTEMPTS,
    MAX_DOB_ATTEMPTS,
    OPEN_STATUSES,
    Consent,
    ConsentItem,
    FormItem,
    FormResponse,
    Intake,
    IntakeRuleError,
    IntakeStatus,
    IntakeTemplate,
    Part2Item,
    Step,
    StepStatus,
    Verification,
    code_hash,
    next_form_step_done,
    part2_applies,
    require_open_step,
)
from tpm.domain.patients import Patient
from tpm.domain.template_models import Template
from tpm.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
    VersionConflict,
)
from tpm.ids import new_id
from tpm.repositories.documents import DocumentRepository
from tpm.repositories.intake import IntakeRepository
from tpm.repositories.part2 import Part2Repository
from tpm.repositories.patients import PatientRepository
from tpm.security.policy import Access
from tpm.services.consents import ConsentService
from tpm.services.context import ServiceContext
from tpm.services.intake import KIND, answer
from tpm.services.intake_appointment import FirstVisit, Offer
from tpm.services.intake_forms import save_form
from tpm.services.intake_messages import CODE_BODY, CODE_SMS, CODE_SUBJECT, fill, first_name, send
from tpm.services.practices import get_practice
from tpm.services.templates import TemplateCatalog

SIDES = ("front", "back")


class VerificationLocked(Conflict):
    code = "verification_locked"
    message = "Too many attempts. The practice has been asked to help you continue."


class IdentityNotConfirmed(ValidationFailed):
    code = "identity_not_confirmed"
    message = "Those details do not match what the practice has on file."


class IntakeNotOpen(Conflict):
    code = "intake_step_not_open"
    message = "That step of the intake is not open."


def rule_conflict(exc: IntakeRuleError) -> Conflict:
    return IntakeNotOpen(reason=exc.code)


@dataclass(frozen=True)
class Checklist:
    intake: Intake
    template: IntakeTemplate
    forms: dict[str, FormResponse]
    signed: set[str]
    cards: set[str]
    part2_applies: bool  # the template's Part 2 consent is asked of this patient


@dataclass(frozen=True)
class FormView:
    item: FormItem | ConsentItem
    template: Template
    response: FormResponse | None
    document_hash: str | None  # consents: what the signer must confirm they were shown


class PatientIntake:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.intakes = IntakeRepository(ctx.store, ctx.runtime.cipher)
        self.patients = PatientRepository(ctx.store, ctx.runtime.cipher)
        self.catalog = TemplateCatalog(ctx.store)

    # ---- loading ------------------------------------------------------------------------

    def _mine(self, action: str) -> tuple[Access, Intake, IntakeTemplate]:
        ctx = self.ctx
        patient_id = ctx.principal.patient_id
        if patient_id is None:
            ctx.authorize_list(action, resource_kind=KIND)  # staff: 403 and audited
            raise NotFound()
        access = ctx.authorize(
            action, resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        intake = next(
            (i for i in self.intakes.for_patient(patient_id) if i.status in OPEN_STATUSES), None
        )
        if intake is None:
            raise NotFound()
        template = self.intakes.template(intake.template_id, intake.template_version)
        if template is None:
            raise NotFound()
        return access, intake, template

    def _patient(self, patient_id: str) -> Patient:
        patient = self.patients.get(patient_id)
        if patient is None:
            raise NotFound()
        return patient

    def _open(self, intake: Intake, step: Step) -> None:
        try:
            require_open_step(intake, step)
        except IntakeRuleError as exc:
            raise rule_conflict(exc) from exc

    def _write(self, access: Access, intake: Intake, ops: list[Operation], reason: str) -> None:
        try:
            self.ctx.write(
                access,
                lambda: list(ops),
                KIND,
                intake.id,
                patient_id=intake.patient_id,
                reason_code=reason,
            )
        except ConditionFailed as exc:
            raise VersionConflict() from exc

    def _complete_step(self, intake: Intake, step: Step) -> tuple[Intake, list[Operation]]:
        now = self.ctx.now()
        changed = intake.bump(now, steps=intake.with_step(step, StepStatus.DONE, now))
        if (
            all(
                s.status == StepStatus.DONE
                for s in changed.steps
                if s.step in (Step.FORMS, Step.CONSENTS, Step.INSURANCE)
            )
            and changed.status == IntakeStatus.CHANGES_REQUESTED
        ):
            changed = changed.model_copy(update={"status": IntakeStatus.IN_PROGRESS})
        return changed, [self.intakes.put_op(changed)]

    # ---- the checklist ------------------------------------------------------------------

    def checklist(self) -> Checklist:
        access, intake, template = self._mine("intake.self.read")
        forms = self.intakes.forms(intake.id)
        signed = {
            c.key
            for c in self.intakes.consents_for(intake.patient_id)
            if c.intake_id == intake.id and c.status.value == "signed"
        }
        cards = set(self.intakes.cards(intake.patient_id))
        applies = intake.part2_decision is not None or self.part2_pending(intake, template)
        self.ctx.record(
            access, KIND, intake.id, patient_id=intake.patient_id, reason_code="checklist"
        )
        return Checklist(intake, template, forms, signed, cards, applies)

    # ---- identity -------------------------------------------------------------------------

    def verify_dob(self, given: date) -> str:
        """Checks the date of birth; on a match sends a code and returns the channel."""
        ctx = self.ctx
        access, intake, _ = self._mine("intake.self.verify")
        v = self.intakes.verification(intake.id) or Verification(intake_id=intake.id, version=0)
        if v.locked_at is not None:
            raise VerificationLocked()
        self._open(intake, Step.IDENTITY)
        patient = self._patient(intake.patient_id)
        now = ctx.now()
        if given != patient.date_of_birth:
            attempts = v.dob_attempts + 1
            locked = attempts >= MAX_DOB_ATTEMPTS
            nv = v.model_copy(
                update={
                    "dob_attempts": attempts,
                    "locked_at": now if locked else None,
                    "version": v.version + 1,
                }
            )
            ops: list[Operation] = [self.intakes.verification_op(nv)]
            if locked:
                ops.append(
                    self.intakes.put_op(
                        intake.bump(now, status=IntakeStatus.STALLED, stalled_at=now)
                    )
                )
            self._write(access, intake, ops, "dob_locked" if locked else "dob_mismatch")
            if locked:
                raise VerificationLocked()
            raise IdentityNotConfirmed(attempts_left=MAX_DOB_ATTEMPTS - attempts)
        code = f"{secrets.randbelow(1_000_000):06d}"
        channel = "sms" if patient.communication.allows("sms") and patient.phone else "email"
        if channel == "email" and not patient.email:
            raise Conflict("There is no contact on file to send a code to; call the practice.")
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        values = {"practice_name": practice.name, "first_name": first_name(patient), "code": code}
        message = send(
            ctx.runtime,
            ctx.store,
            patient,
            channel=channel,
            subject=fill(CODE_SUBJECT, **values) if channel == "email" else None,
            text=fill(CODE_BODY if channel == "email" else CODE_SMS, **values),
            intake_id=intake.id,
            guard=ctx.outbound,
        )
        nv = v.model_copy(
            update={
                "code_hash": code_hash(intake.id, code),
                "code_sent_at": now,
                "code_attempts": 0,
                "channel": channel,
                "version": v.version + 1,
            }
        )
        self._write(access, intake, [self.intakes.verification_op(nv), message], "code_sent")
        return channel

    def verify_code(self, code: str) -> Intake:
        ctx = self.ctx
        access, intake, _ = self._mine("intake.self.verify")
        v = self.intakes.verification(intake.id)
        if v is not None and v.locked_at is not None:
            raise VerificationLocked()
        self._open(intake, Step.IDENTITY)
        if v is None or v.code_hash is None or v.code_sent_at is None:
            raise IntakeNotOpen(reason="no_code_sent")
        now = ctx.now()
        expired = now - v.code_sent_at > timedelta(seconds=CODE_TTL_SECONDS)
        good = not expired and hmac.compare_digest(v.code_hash, code_hash(intake.id, code))
        if not good:
            attempts = v.code_attempts + 1
            locked = attempts >= MAX_CODE_ATTEMPTS
            nv = v.model_copy(
                update={
                    "code_attempts": attempts,
                    "locked_at": now if locked else None,
                    "version": v.version + 1,
                }
            )
            ops: list[Operation] = [self.intakes.verification_op(nv)]
            if locked:
                ops.append(
                    self.intakes.put_op(
                        intake.bump(now, status=IntakeStatus.STALLED, stalled_at=now)
                    )
                )
            self._write(
                access,
                intake,
                ops,
                "code_expired" if expired else "code_locked" if locked else "code_mismatch",
            )
            if locked:
                raise VerificationLocked()
            raise IdentityNotConfirmed(attempts_left=MAX_CODE_ATTEMPTS - attempts, expired=expired)
        nv = v.model_copy(update={"verified_at": now, "code_hash": None, "version": v.version + 1})
        changed, ops = self._complete_step(
            intake.model_copy(update={"identity_verified_at": now}), Step.IDENTITY
        )
        changed = changed.model_copy(update={"status": IntakeStatus.IN_PROGRESS})
        ops = [self.intakes.verification_op(nv), self.intakes.put_op(changed)]
        self._write(access, intake, ops, "verified")
        answer(ctx, intake.id, Step.IDENTITY.value, {"verified": True})
        return changed

    # ---- forms and consents -------------------------------------------------------------

    def form(self, key: str) -> FormView:
        access, intake, template = self._mine("intake.self.read")
        item = template.form(key)
        if item is None:
            raise NotFound()
        definition = self.catalog.resolve(item.template_id, item.template_version)
        response = self.intakes.form(intake.id, key)
        doc_hash = None
        if isinstance(item, ConsentItem):
            from tpm.domain.intake import document_hash

            doc_hash = document_hash(definition.definition())
        self.ctx.record(access, KIND, intake.id, patient_id=intake.patient_id, reason_code="form")
        return FormView(item, definition, response, doc_hash)

    def save_form(
        self, key: str, content: dict[str, Any], submit: bool, version: int
    ) -> FormResponse:
        ctx = self.ctx
        access, intake, template = self._mine("intake.self.submit")
        item = template.form(key)
        if item is None or not isinstance(item, FormItem):
            raise NotFound()
        self._open(intake, Step.FORMS)
        current = self.intakes.form(intake.id, key)
        if (current.version if current else 0) != version:
            raise VersionConflict(current_version=current.version if current else 0)
        definition = self.catalog.resolve(item.template_id, item.template_version)
        form, ver = save_form(
            ctx,
            self.intakes,
            current,
            intake_id=intake.id,
            key=key,
            patient_id=intake.patient_id,
            template=definition,
            content=content,
            submit=submit,
        )
        ops = self.intakes.form_ops(form, ver)
        forms = {**self.intakes.forms(intake.id), key: form}
        done = next_form_step_done(template, forms, set())[Step.FORMS]
        finished = False
        if done and submit:
            _, step_ops = self._complete_step(intake, Step.FORMS)
            ops += step_ops
            finished = True
        self._write(access, intake, ops, "form_submitted" if submit else "form_saved")
        if finished:
            answer(ctx, intake.id, Step.FORMS.value, {"done": True})
        return form

    def sign(self, key: str, content: dict[str, Any], signer_name: str, shown_hash: str) -> Any:
        ctx = self.ctx
        access, intake, template = self._mine("intake.self.submit")
        item = template.form(key)
        if item is None or not isinstance(item, ConsentItem):
            raise NotFound()
        self._open(intake, Step.CONSENTS)
        consent, ops = ConsentService(ctx).sign_ops(intake, item, content, signer_name, shown_hash)
        signed = {
            c.key
            for c in self.intakes.consents_for(intake.patient_id)
            if c.intake_id == intake.id and c.status.value == "signed"
        } | {key}
        finished = next_form_step_done(template, {}, signed, self.part2_pending(intake, template))[
            Step.CONSENTS
        ]
        if finished:
            _, step_ops = self._complete_step(intake, Step.CONSENTS)
            ops += step_ops
        self._write(access, intake, ops, "consent_signed")
        if finished:
            answer(ctx, intake.id, Step.CONSENTS.value, {"done": True})
        return consent

    # ---- 42 CFR Part 2 ---------------------------------------------------------------------

    def part2_pending(self, intake: Intake, template: IntakeTemplate) -> bool:
        """The template's Part 2 consent applies to this patient, who has not decided."""
        if template.part2 is None or intake.part2_decision is not None:
            return False
        label = Part2Repository(self.ctx.store, self.ctx.runtime.cipher).label(intake.patient_id)
        return part2_applies(template, label is not None and label.part2)

    def part2(self) -> tuple[Intake, Part2Item, dict[str, object], str, bool]:
        """The Part 2 consent as it is shown now: (intake, item, document, hash, applies)."""
        access, intake, template = self._mine("intake.self.read")
        if template.part2 is None:
            raise NotFound()
        shown, doc_hash, _ = ConsentService(self.ctx).part2_document(intake, template.part2)
        label = Part2Repository(self.ctx.store, self.ctx.runtime.cipher).label(intake.patient_id)
        applies = part2_applies(template, label is not None and label.part2)
        self.ctx.record(access, KIND, intake.id, patient_id=intake.patient_id, reason_code="part2")
        return intake, template.part2, shown, doc_hash, applies

    def part2_decide(
        self, sign: bool, signer_name: str | None, shown_hash: str | None
    ) -> tuple[Intake, Consent | None]:
        """Sign the Part 2 consent, or decline it (voluntary: treatment is not conditioned
        on it). Either completes the consents step once the other consents are signed."""
        ctx = self.ctx
        access, intake, template = self._mine("intake.self.submit")
        if template.part2 is None:
            raise NotFound()
        self._open(intake, Step.CONSENTS)
        if intake.part2_decision == "signed":
            raise Conflict("The Part 2 consent is already signed; revoke it to withdraw.")
        now = ctx.now()
        consent = None
        ops: list[Operation] = []
        if sign:
            if not signer_name or not shown_hash:
                raise ValidationFailed(fields=[{"path": "body.signer_name", "type": "missing"}])
            consent, ops = ConsentService(ctx).part2_sign_ops(
                intake, template.part2, template.version, signer_name, shown_hash
            )
        decided = intake.model_copy(update={"part2_decision": "signed" if sign else "declined"})
        signed = {
            c.key
            for c in self.intakes.consents_for(intake.patient_id)
            if c.intake_id == intake.id and c.status.value == "signed"
        }
        finished = next_form_step_done(template, {}, signed)[Step.CONSENTS]
        if finished:
            decided, _ = self._complete_step(decided, Step.CONSENTS)
        else:
            decided = decided.bump(now)
        ops.append(self.intakes.put_op(decided))
        self._write(access, intake, ops, "part2_signed" if sign else "part2_declined")
        if finished:
            answer(ctx, intake.id, Step.CONSENTS.value, {"done": True})
        return decided, consent

    # ---- insurance card -------------------------------------------------------------------

    def upload_card(self, side: str, content_base64: str) -> Document:
        ctx = self.ctx
        access, intake, template = self._mine("intake.self.submit")
        if side not in SIDES or not template.insurance_card:
            raise NotFound()
        self._open(intake, Step.INSURANCE)
        try:
            raw = base64.b64decode(content_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationFailed(
                fields=[{"path": "body.content_base64", "type": "not_base64"}]
            ) from exc
        try:
            image = clean_card_image(raw)
        except CardImageRuleError as exc:
            if exc.code == "too_large":
                raise PayloadTooLarge(limit_bytes=4 * 1024 * 1024) from exc
            raise ValidationFailed(
                fields=[{"path": "body.content_base64", "type": exc.code}]
            ) from exc
        now = ctx.now()
        document = Document(
            id=new_id("doc"),
            patient_id=intake.patient_id,
            title=f"Insurance card ({side})",
            filename=f"insurance-card-{side}.jpg",
            content_type="image/jpeg",
            size_bytes=len(image.data),
            uploaded_by=ctx.principal.user_id,
            created_at=now,
            updated_at=now,
        )
        ctx.runtime.files.put(ctx.practice_id, document.id, image.data, guard=ctx.outbound)
        ops: list[Operation] = [
            DocumentRepository(ctx.store, ctx.runtime.cipher).create_op(document),
            self.intakes.card_op(intake.patient_id, side, document.id, now, ctx.principal.user_id),
        ]
        have = set(self.intakes.cards(intake.patient_id)) | {side}
        finished = set(SIDES) <= have
        if finished:
            _, step_ops = self._complete_step(intake, Step.INSURANCE)
            ops += step_ops
        self._write(access, intake, ops, f"card_{side}")
        if finished:
            answer(ctx, intake.id, Step.INSURANCE.value, {"done": True})
        return document

    # ---- first appointment ----------------------------------------------------------------

    def first_visit(self) -> tuple[Intake, Offer]:
        """What the appointment step offers: the first-visit service, the clinicians, the
        patient's upcoming booked visits (tpm.services.intake_appointment)."""
        access, intake, template = self._mine("intake.self.read")
        offer = FirstVisit(self.ctx).offer(intake, template)
        self.ctx.record(
            access, KIND, intake.id, patient_id=intake.patient_id, reason_code="first_visit"
        )
        return intake, offer

    def first_visit_slots(self, clinician_id: str, first: date, last: date) -> list[Slot]:
        access, intake, template = self._mine("intake.self.read")
        self._open(intake, Step.APPOINTMENT)
        found = FirstVisit(self.ctx).slots(intake, template, clinician_id, first, last)
        self.ctx.record(access, KIND, intake.id, patient_id=intake.patient_id, reason_code="slots")
        return found

    def appointment(
        self,
        appointment_id: str | None = None,
        booking: tuple[str, str, datetime] | None = None,
    ) -> Intake:
        """Book one of the offered times (`booking`: clinician, location, start) or confirm
        a visit already booked (`appointment_id`); either links it to the intake."""
        ctx = self.ctx
        access, intake, template = self._mine("intake.self.submit")
        self._open(intake, Step.APPOINTMENT)
        visits = FirstVisit(ctx)
        if booking is not None:
            clinician_id, location_id, start = booking
            _, changed = visits.book_offered(intake, template, clinician_id, location_id, start)
            return changed
        assert appointment_id is not None
        visits.check_linkable(intake, appointment_id, "body.appointment_id")
        changed, _ = self._complete_step(intake, Step.APPOINTMENT)
        changed = changed.model_copy(update={"appointment_id": appointment_id})
        self._write(access, intake, [self.intakes.put_op(changed)], "appointment")
        answer(ctx, intake.id, Step.APPOINTMENT.value, {"done": True})
        return changed
