"""Claims: built from charge-capture events, priced from the fee schedules, given POS and
modifiers by the payer's telehealth rules, validated with pyx12 and our rules before they
may be batched; corrections (frequency 7/8) and batches (837P files).

A claim's creation is one transaction: the claim, its control-number index, the charges
marked claimed, a `charge` ledger entry per line (the receivable, in the insurance
bucket) and the audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.adapters.x12_validator import shown, validate_837p
from tpm.domain.billing import claim837 as x
from tpm.domain.billing.check837 import Problem, combination_problems
from tpm.domain.billing.claims import (
    RESUBMITTABLE,
    ClaimEvent,
    ClaimLine,
    ClaimRecord,
    ClaimRuleError,
    check_diagnoses,
    correction_problem,
    to_837,
)
from tpm.domain.billing.codes import icd10_undotted
from tpm.domain.billing.ledger import LedgerEntry
from tpm.domain.billing.setup import BillingIdentity, BillingSettings, Payer, fee_for
from tpm.domain.notes import ChargeEvent
from tpm.domain.part2 import Decision, Purpose, RecipientKind
from tpm.errors import Conflict, NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.billing import (
    BatchRepository,
    BillingSetupRepository,
    ClaimRepository,
    LedgerRepository,
)
from tpm.repositories.charges import ChargeRepository
from tpm.repositories.patients import PatientRepository
from tpm.services import claim_workflow
from tpm.services.context import ServiceContext
from tpm.services.part2 import require_part2_consent

KIND = "claim"


class ChargeAlreadyClaimed(Conflict):
    code = "charge_already_claimed"
    message = "A charge is already on a claim."


class ClaimNotBatchable(Conflict):
    code = "claim_not_batchable"
    message = "Only validated claims can be batched."


class ClaimNotResubmittable(Conflict):
    code = "claim_not_resubmittable"
    message = "Only a claim with problems or a rejected one (999 or 277CA) is resubmitted."


class InvalidClaimFile(ValidationFailed):
    code = "invalid_claim_file"
    message = "The claim file failed validation; nothing was submitted."


def deferred(ops: list[Operation]) -> Callable[[], list[Operation]]:
    return lambda: list(ops)


def rule_error(exc: ClaimRuleError | list[tuple[str, str]]) -> ValidationFailed:
    fields = exc.fields if isinstance(exc, ClaimRuleError) else exc
    return ValidationFailed(fields=[{"path": p, "type": t} for p, t in fields])


def pcn_for(claim_id: str) -> str:
    """Our claim control number (CLM01, at most 20 characters): the random part of the
    claim id, upper case."""
    return "C" + claim_id[-16:].upper()


@dataclass(frozen=True)
class ClaimContext:
    """Set-up a claim is built against."""

    settings: BillingSettings
    payer: Payer
    billing: BillingIdentity
    rendering: BillingIdentity | None


def envelope_for(
    settings: BillingSettings, billing: BillingIdentity, at: Any, control: int
) -> x.Envelope:
    return x.Envelope(
        sender_id=settings.submitter_id,
        receiver_id=settings.receiver_id,
        submitter=x.Party(kind=billing.kind, last_name=billing.name, first_name=billing.first_name),
        submitter_id=settings.submitter_id,
        contact_name=settings.contact_name,
        contact_phone=settings.contact_phone,
        receiver_name=settings.receiver_name,
        interchange_control=control,
        group_control=control,
        transaction_control=f"{control % 10**9:09d}"[-9:],
        batch_reference=f"B{control}",
        created_at=at,
        usage=settings.usage,
    )


class ClaimService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.claims = ClaimRepository(ctx.store)
        self.setup = BillingSetupRepository(ctx.store)
        self.charges = ChargeRepository(ctx.store)
        self.patients = PatientRepository(ctx.store, ctx.runtime.cipher)

    # ---- reading --------------------------------------------------------------------------

    def get(self, claim_id: str) -> ClaimRecord:
        self.ctx.authorize_list("claim.read", resource_kind=KIND)
        claim = self.claims.get(claim_id)
        if claim is None:
            raise NotFound()
        access = self.ctx.authorize(
            "claim.read", resource_kind=KIND, resource_id=claim_id, patient_id=claim.patient_id
        )
        self.ctx.record(access, KIND, claim_id, patient_id=claim.patient_id)
        return claim

    def by_status(
        self, status: str, limit: int, cursor: str | None
    ) -> tuple[list[ClaimRecord], str | None]:
        self.ctx.authorize_list("claim.read", resource_kind=KIND)
        found, next_cursor = self.claims.with_status(status, limit, cursor)
        access = self.ctx.authorize("claim.read", resource_kind=KIND)
        self.ctx.record(access, KIND, reason_code=f"count_{len(found)}")
        return found, next_cursor

    # ---- building ---------------------------------------------------------------------------

    def context_for(self, patient: Any, clinician_id: str | None) -> ClaimContext:
        settings = self.setup.settings()
        billing = (
            self.setup.identity(settings.billing_identity_id)
            if settings.billing_identity_id
            else None
        )
        if billing is None:
            raise rule_error(
                ClaimRuleError(
                    [("billing_settings.billing_identity_id", "billing_setup_incomplete")]
                )
            )
        insurance = patient.insurance
        if insurance is None or not insurance.payer_id:
            raise rule_error(ClaimRuleError([("patient.insurance", "insurance_required")]))
        payer = next(
            (p for p in self.setup.payers() if p.payer_id == insurance.payer_id and p.active), None
        )
        if payer is None:
            raise rule_error(ClaimRuleError([("patient.insurance.payer_id", "unknown_payer")]))
        rendering = next(
            (i for i in self.setup.identities() if clinician_id and i.user_id == clinician_id), None
        )
        return ClaimContext(settings, payer, billing, rendering)

    def part2_clearance(self, patient_id: str, payer: Payer) -> Decision:
        """42 CFR Part 2: a Part 2 patient's claim goes to a payer only under a consent
        covering it for payment (Part2ConsentRequired, 409, otherwise) and carries the
        redisclosure notice."""
        return require_part2_consent(
            self.ctx.runtime,
            self.ctx.store,
            self.ctx.principal,
            patient_id,
            kind=RecipientKind.PAYER,
            key=payer.payer_id,
            purpose=Purpose.PAYMENT,
        )

    def create(
        self,
        charge_ids: list[str],
        diagnoses: list[str] | None = None,
        prior_authorization: str | None = None,
    ) -> ClaimRecord:
        ctx = self.ctx
        ctx.authorize_list("claim.create", resource_kind=KIND)
        charges: list[ChargeEvent | None] = [self.charges.get(c) for c in dict.fromkeys(charge_ids)]
        if any(c is None for c in charges) or not charges:
            raise NotFound()
        found = [c for c in charges if c is not None]
        patient_id = found[0].patient_id
        access = ctx.authorize("claim.create", resource_kind=KIND, patient_id=patient_id)
        if any(
            c.patient_id != patient_id or c.clinician_id != found[0].clinician_id for c in found
        ):
            raise rule_error(
                ClaimRuleError([("body.charge_ids", "one_patient_and_clinician_per_claim")])
            )
        if any(c.status != "pending" for c in found):
            raise ChargeAlreadyClaimed()
        patient = self.patients.get(patient_id)
        if patient is None:
            raise NotFound()
        setup = self.context_for(patient, found[0].clinician_id)
        clearance = self.part2_clearance(patient_id, setup.payer)
        codes = list(diagnoses or dict.fromkeys(d for c in found for d in c.diagnoses))
        problems = check_diagnoses(codes)
        if problems:
            raise rule_error(problems)
        claim_id = new_id("clm")
        record = self._record(claim_id, found, codes, setup, prior_authorization)
        record = record.model_copy(
            update={"part2_consent_id": clearance.consent_id, "part2_notice": clearance.notice}
        )
        record = self.validated(record, setup, patient)
        now = ctx.now()
        ops: list[Operation] = [*self.claims.create_ops(record)]
        ops += [
            ChargeRepository.update_op(
                c.model_copy(
                    update={"status": "claimed", "claim_id": claim_id, "version": c.version + 1}
                )
            )
            for c in found
        ]
        ops += [
            LedgerRepository.entry_op(
                LedgerEntry(
                    id=new_id("led"),
                    patient_id=patient_id,
                    at=now,
                    kind="charge",
                    bucket="insurance",
                    amount=line.charge,
                    service_date=line.service_date,
                    claim_id=claim_id,
                    line_control=line.control_number,
                    payer_ref=setup.payer.id,
                    reason=line.procedure,
                    created_by=ctx.principal.user_id,
                )
            )
            for line in record.lines
        ]
        try:
            ctx.write(
                access,
                lambda: list(ops),
                KIND,
                claim_id,
                patient_id=patient_id,
                reason_code=record.status,
            )
        except ConditionFailed as exc:
            raise ChargeAlreadyClaimed() from exc
        claim_workflow.start(ctx.runtime, ctx.practice_id, claim_id)
        return record

    def _record(
        self,
        claim_id: str,
        charges: list[ChargeEvent],
        diagnoses: list[str],
        setup: ClaimContext,
        prior_authorization: str | None,
    ) -> ClaimRecord:
        schedules = self.setup.fee_schedules()
        pcn = pcn_for(claim_id)
        pointers = tuple(range(1, min(4, len(diagnoses)) + 1))
        lines: list[ClaimLine] = []
        places: set[str] = set()
        missing: list[tuple[str, str]] = []
        for charge in charges:
            mode = charge.mode or (
                "video" if charge.place_of_service in ("02", "10") else "in_person"
            )
            location = charge.patient_location or (
                "home" if charge.place_of_service == "10" else "other"
            )
            office = setup.settings.office_place_of_service
            if (
                mode == "in_person"
                and charge.place_of_service
                and charge.place_of_service not in ("02", "10")
            ):
                office = charge.place_of_service
            pos, modifiers = setup.payer.place_and_modifiers(mode, location, office)
            places.add(pos)
            for line in charge.lines:
                fee = fee_for(line.cpt_code, schedules, setup.payer.id)
                if fee is None:
                    missing.append((f"fee_schedule.{line.cpt_code}", "no_fee"))
                    continue
                lines.append(
                    ClaimLine(
                        control_number=f"{pcn}-{len(lines) + 1}",
                        procedure=line.cpt_code,
                        modifiers=modifiers,
                        charge=fee * line.units,
                        units=line.units,
                        service_date=charge.service_date,
                        pointers=pointers,
                        charge_id=charge.id,
                    )
                )
        if missing:
            raise rule_error(missing)
        by_day: dict[date, list[str]] = {}
        for claim_line in lines:
            by_day.setdefault(claim_line.service_date, []).append(claim_line.procedure)
        if any(combination_problems(codes) for codes in by_day.values()):
            raise rule_error(ClaimRuleError([("body.charge_ids", "code_combination")]))
        if len(places) > 1:
            raise rule_error(
                ClaimRuleError([("body.charge_ids", "one_place_of_service_per_claim")])
            )
        return ClaimRecord(
            id=claim_id,
            pcn=pcn,
            patient_id=charges[0].patient_id,
            payer_ref=setup.payer.id,
            billing_identity_id=setup.billing.id,
            rendering_identity_id=setup.rendering.id if setup.rendering else None,
            charge_ids=tuple(c.id for c in charges),
            place_of_service=places.pop(),
            prior_authorization=prior_authorization,
            diagnoses=tuple(icd10_undotted(d) for d in diagnoses),
            lines=tuple(lines),
            created_at=self.ctx.now(),
            history=(
                ClaimEvent(at=self.ctx.now(), by=self.ctx.principal.user_id, event="created"),
            ),
        )

    def validated(self, record: ClaimRecord, setup: ClaimContext, patient: Any) -> ClaimRecord:
        """The claim checked on its own as an 837P (pyx12 + our rules): validated, or
        invalid with the problems."""
        try:
            claim = to_837(
                record,
                payer=setup.payer,
                billing=setup.billing,
                rendering=setup.rendering,
                patient=patient,
            )
        except ClaimRuleError as exc:
            raise rule_error(exc.fields) from None
        except ValueError:
            raise rule_error(ClaimRuleError([("patient", "claim_data_invalid")])) from None
        envelope = envelope_for(setup.settings, setup.billing, self.ctx.now(), 1)
        problems = validate_837p(x.render_837p(envelope, [claim]))
        status = "invalid" if problems else "validated"
        event = ClaimEvent(
            at=self.ctx.now(),
            by=self.ctx.principal.user_id,
            event=status,
            detail=f"{len(problems)} problem(s)" if problems else "",
        )
        return record.model_copy(
            update={
                "status": status,
                "problems": tuple(_problem_view(p) for p in problems),
                "history": (*record.history, event),
            }
        )

    # ---- self-pay -----------------------------------------------------------------------------

    def bill_self_pay(self, charge_id: str) -> list[LedgerEntry]:
        """A charge the patient pays themselves: priced from the practice's default fee
        schedule into the patient bucket, less their sliding-scale discount (a separate
        adjustment entry naming the percentage), in one transaction with the charge
        marked claimed."""
        ctx = self.ctx
        ctx.authorize_list("claim.create", resource_kind=KIND)
        charge = self.charges.get(charge_id)
        if charge is None:
            raise NotFound()
        access = ctx.authorize(
            "claim.create",
            resource_kind="charge",
            resource_id=charge_id,
            patient_id=charge.patient_id,
        )
        if charge.status != "pending":
            raise ChargeAlreadyClaimed()
        schedules = self.setup.fee_schedules()
        scale = self.setup.sliding_scale(charge.patient_id)
        now = ctx.now()
        me = ctx.principal.user_id
        entries: list[LedgerEntry] = []
        for line in charge.lines:
            fee = fee_for(line.cpt_code, schedules, None)
            if fee is None:
                raise rule_error(ClaimRuleError([("fee_schedule", "no_fee")]))
            amount = fee * line.units
            entries.append(
                LedgerEntry(
                    id=new_id("led"),
                    patient_id=charge.patient_id,
                    at=now,
                    kind="charge",
                    bucket="patient",
                    amount=amount,
                    service_date=charge.service_date,
                    reason=line.cpt_code,
                    source=charge.id,
                    created_by=me,
                )
            )
            if scale is not None and scale.percent > 0:
                discount = (amount * scale.percent / 100).quantize(Decimal("0.01"))
                entries.append(
                    LedgerEntry(
                        id=new_id("led"),
                        patient_id=charge.patient_id,
                        at=now,
                        kind="other_adjustment",
                        bucket="patient",
                        amount=-discount,
                        service_date=charge.service_date,
                        reason=f"sliding scale {format(scale.percent.normalize(), 'f')}%",
                        source=charge.id,
                        created_by=me,
                    )
                )
        claimed = charge.model_copy(update={"status": "claimed", "version": charge.version + 1})
        ops: list[Operation] = [ChargeRepository.update_op(claimed)]
        ops += [LedgerRepository.entry_op(e) for e in entries]
        try:
            ctx.write(
                access,
                deferred(ops),
                "charge",
                charge.id,
                patient_id=charge.patient_id,
                reason_code="self_pay",
            )
        except ConditionFailed as exc:
            raise ChargeAlreadyClaimed() from exc
        return entries

    # ---- corrections ------------------------------------------------------------------------

    def correct(
        self, claim_id: str, frequency: Literal["7", "8"], diagnoses: list[str] | None
    ) -> ClaimRecord:
        """A replacement (7) or void (8) of a claim the payer adjudicated: it carries the
        payer's claim number (REF*F8) and links to the original. Refused without it."""
        ctx = self.ctx
        ctx.authorize_list("claim.correct", resource_kind=KIND)
        original = self.claims.get(claim_id)
        if original is None:
            raise NotFound()
        access = ctx.authorize(
            "claim.correct",
            resource_kind=KIND,
            resource_id=claim_id,
            patient_id=original.patient_id,
        )
        problem = correction_problem(original, frequency)
        if problem is not None:
            raise ValidationFailed(
                "A correction needs the payer's claim number from the 277CA or 835."
                if problem[1] == "payer_claim_number_required"
                else None,
                fields=[{"path": problem[0], "type": problem[1]}],
            )
        codes = [icd10_undotted(d) for d in diagnoses] if diagnoses else list(original.diagnoses)
        problems = check_diagnoses(codes)
        if problems:
            raise rule_error(problems)
        patient = self.patients.get(original.patient_id)
        if patient is None:
            raise NotFound()
        setup = self._setup_of(original)
        clearance = self.part2_clearance(original.patient_id, setup.payer)
        new_claim_id = new_id("clm")
        pcn = pcn_for(new_claim_id)
        now = ctx.now()
        lines = tuple(
            line.model_copy(update={"control_number": f"{pcn}-{n}"})
            for n, line in enumerate(original.lines, start=1)
        )
        record = ClaimRecord(
            id=new_claim_id,
            pcn=pcn,
            patient_id=original.patient_id,
            payer_ref=original.payer_ref,
            billing_identity_id=original.billing_identity_id,
            rendering_identity_id=original.rendering_identity_id,
            charge_ids=original.charge_ids,
            place_of_service=original.place_of_service,
            frequency=frequency,
            corrects=original.id,
            part2_consent_id=clearance.consent_id,
            part2_notice=clearance.notice,
            payer_claim_number=original.payer_claim_number,
            prior_authorization=original.prior_authorization,
            diagnoses=tuple(codes),
            lines=lines,
            created_at=now,
            history=(
                ClaimEvent(
                    at=now,
                    by=ctx.principal.user_id,
                    event="created",
                    detail=f"corrects {original.id} (frequency {frequency})",
                ),
            ),
        )
        record = self.validated(record, setup, patient)
        marked = original.moved(
            original.status,
            ClaimEvent(
                at=now,
                by=ctx.principal.user_id,
                event="corrected",
                detail=f"by {new_claim_id} (frequency {frequency})",
            ),
        )
        ops: list[Operation] = [*self.claims.create_ops(record), self.claims.update_op(marked)]
        try:
            ctx.write(
                access,
                lambda: list(ops),
                KIND,
                new_claim_id,
                patient_id=original.patient_id,
                reason_code=f"frequency_{frequency}",
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=original.version) from exc
        claim_workflow.start(ctx.runtime, ctx.practice_id, new_claim_id)
        claim_workflow.advance(ctx.runtime, ctx.practice_id, [original.id])
        return record

    def resubmit(self, claim_id: str, version: int) -> ClaimRecord:
        """A claim with problems, or one a 999/277CA rejected (the payer never received
        it), validated again as an original (frequency 1) with today's set-up and patient
        details (fix those first): validated goes back to the batch queue, invalid keeps
        its problems. Same claim id and CLM01: nothing was adjudicated under it."""
        ctx = self.ctx
        ctx.authorize_list("claim.correct", resource_kind=KIND)
        original = self.claims.get(claim_id)
        if original is None:
            raise NotFound()
        access = ctx.authorize(
            "claim.correct",
            resource_kind=KIND,
            resource_id=claim_id,
            patient_id=original.patient_id,
        )
        if original.version != version:
            raise VersionConflict(current_version=original.version)
        if not self.resubmittable(original):
            raise ClaimNotResubmittable(current_status=original.status)
        patient = self.patients.get(original.patient_id)
        if patient is None:
            raise NotFound()
        setup = self._setup_of(original)
        event = ClaimEvent(
            at=ctx.now(),
            by=ctx.principal.user_id,
            event="resubmitted",
            detail=f"was {original.status}; as an original (frequency 1)",
        )
        again = original.moved(original.status, event, frequency="1", batch_id=None, problems=())
        record = self.validated(again, setup, patient)
        try:
            ctx.write(
                access,
                lambda: [self.claims.update_op(record)],
                KIND,
                claim_id,
                patient_id=original.patient_id,
                reason_code=record.status,
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=original.version) from exc
        claim_workflow.advance(ctx.runtime, ctx.practice_id, [claim_id])
        return record

    def _setup_of(self, claim: ClaimRecord) -> ClaimContext:
        settings = self.setup.settings()
        payer = self.setup.payer(claim.payer_ref)
        billing = self.setup.identity(claim.billing_identity_id)
        rendering = (
            self.setup.identity(claim.rendering_identity_id)
            if claim.rendering_identity_id
            else None
        )
        if payer is None or billing is None:
            raise rule_error(ClaimRuleError([("billing_settings", "billing_setup_incomplete")]))
        return ClaimContext(settings, payer, billing, rendering)

    # ---- batches ------------------------------------------------------------------------------

    def batch(self, claim_ids: list[str]) -> dict[str, Any]:
        """An 837P file with these validated claims; the whole file is validated (pyx12 and
        our rules) and stored sealed in the file store. Problems block it (422 with one
        field per problem)."""
        ctx = self.ctx
        access = ctx.authorize("claim.submit", resource_kind="claim_batch")
        claims: list[ClaimRecord | None] = [self.claims.get(c) for c in dict.fromkeys(claim_ids)]
        if any(c is None for c in claims) or not claims:
            raise NotFound()
        records = [c for c in claims if c is not None]
        if any(c.status != "validated" for c in records):
            raise ClaimNotBatchable()
        text, control = self.render_batch(records)
        problems = validate_837p(text)
        if problems:
            raise InvalidClaimFile(
                fields=[
                    {
                        "path": f"{p.loop}.{p.segment}#{p.position}.{p.element}",
                        "type": "x12_problem",
                        "message": shown(p),
                    }
                    for p in problems
                ]
            )
        batch_id = new_id("bat")
        ctx.runtime.files.put(ctx.practice_id, batch_id, text.encode("utf-8"), guard=ctx.outbound)
        now = ctx.now()
        batch: dict[str, Any] = {
            "id": batch_id,
            "group_control": str(control),
            "interchange_control": control,
            "claim_ids": [c.id for c in records],
            "claim_count": len(records),
            "total": str(sum((c.total for c in records), Decimal(0)).quantize(Decimal("0.01"))),
            "status": "batched",
            "created_at": now.isoformat(),
            "created_by": ctx.principal.user_id,
            "version": 1,
        }
        ops: list[Operation] = [BatchRepository(ctx.store).create_op(batch)]
        _, v_counter = self.setup.counter("interchange")
        ops.append(self.setup.counter_op("interchange", control, v_counter))
        for c in records:
            event = ClaimEvent(at=now, by=ctx.principal.user_id, event="batched", detail=batch_id)
            ops.append(self.claims.update_op(c.moved("batched", event, batch_id=batch_id)))
        for chunk_start in range(0, len(ops), 95):
            chunk = ops[chunk_start : chunk_start + 95]
            try:
                ctx.write(
                    access,
                    deferred(chunk),
                    "claim_batch",
                    batch_id,
                    reason_code=f"count_{len(records)}",
                )
            except ConditionFailed as exc:
                raise VersionConflict(current_version=None) from exc
        claim_workflow.advance(ctx.runtime, ctx.practice_id, [c.id for c in records])
        return batch

    def render_batch(self, records: list[ClaimRecord]) -> tuple[str, int]:
        value, _ = self.setup.counter("interchange")
        control = value + 1
        setups: dict[str, ClaimContext] = {}
        claims: list[x.Claim] = []
        for record in records:
            key = f"{record.payer_ref}|{record.rendering_identity_id}"
            if key not in setups:
                setups[key] = self._setup_of(record)
            patient = self.patients.get(record.patient_id)
            if patient is None:
                raise NotFound()
            s = setups[key]
            claims.append(
                to_837(
                    record, payer=s.payer, billing=s.billing, rendering=s.rendering, patient=patient
                )
            )
        first = next(iter(setups.values()))
        envelope = envelope_for(first.settings, first.billing, self.ctx.now(), control)
        return x.render_837p(envelope, claims), control

    def resubmittable(self, claim: ClaimRecord) -> bool:
        return claim.status in RESUBMITTABLE


def _problem_view(p: Problem) -> dict[str, Any]:
    return {
        "loop": p.loop,
        "segment": p.segment,
        "position": p.position,
        "element": p.element,
        "message": shown(p),
        "source": p.source,
    }
