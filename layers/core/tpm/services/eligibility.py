"""Eligibility checks (270/271) through the clearinghouse adapter, for the mental-health
service types: coverage, copay, coinsurance, deductible, out-of-pocket, authorisation
and network flags. Informational: the answer is kept with the patient and shown; nothing
is billed from it.

PATIENT#<pat> / ELIGIBILITY#<at>   one answer (trace, active, benefits, rejections)
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from tpm.adapters.store.base import Absent, Put
from tpm.domain.billing.eligibility import Eligibility, Inquiry, read_271, render_270
from tpm.domain.billing.x12 import X12SyntaxError, parse
from tpm.errors import DependencyUnavailable, NotFound, ValidationFailed
from tpm.ids import new_id
from tpm.repositories.billing import BillingSetupRepository
from tpm.repositories.patients import PatientRepository
from tpm.services.context import ServiceContext
from tpm.services.submission import clearinghouse_of

KIND = "eligibility"


class EligibilityService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def check(self, patient_id: str) -> tuple[str, Eligibility]:
        ctx = self.ctx
        access = ctx.authorize(
            "eligibility.check", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        patient = PatientRepository(ctx.store, ctx.runtime.cipher).get(patient_id)
        if patient is None:
            raise NotFound()
        insurance = patient.insurance
        if insurance is None or not insurance.payer_id:
            raise ValidationFailed(
                fields=[{"path": "patient.insurance", "type": "insurance_required"}]
            )
        setup = BillingSetupRepository(ctx.store)
        payer = next((p for p in setup.payers() if p.payer_id == insurance.payer_id), None)
        settings = setup.settings()
        provider = (
            setup.identity(settings.billing_identity_id) if settings.billing_identity_id else None
        )
        if payer is None or provider is None:
            raise ValidationFailed(
                fields=[{"path": "billing_settings", "type": "billing_setup_incomplete"}]
            )
        check_id = new_id("elg")
        counter, _ = setup.counter("interchange")
        inquiry = Inquiry(
            trace=check_id[-20:].upper(),
            payer_name=payer.name,
            payer_id=payer.payer_id,
            provider_name=provider.name,
            provider_npi=provider.npi,
            last_name=patient.legal_last_name,
            first_name=patient.legal_first_name,
            date_of_birth=patient.date_of_birth,
            member_id=insurance.member_id,
            on=ctx.now().date(),
            at=ctx.now(),
            control=500_000_000 + counter,
            sender=settings.submitter_id,
            receiver=settings.receiver_id,
        )
        answer = clearinghouse_of(ctx).inquire(
            ctx.practice_id, render_270(inquiry), guard=ctx.outbound
        )
        try:
            result = read_271(parse(answer))
        except X12SyntaxError:
            raise DependencyUnavailable(
                "The clearinghouse's eligibility answer could not be read."
            ) from None
        item: dict[str, Any] = {
            "pk": f"PATIENT#{patient_id}",
            "sk": f"ELIGIBILITY#{ctx.now().isoformat()}#{check_id}",
            "id": check_id,
            "payer_ref": payer.id,
            "checked_at": ctx.now().isoformat(),
            "active": result.active,
            "benefits": [
                {
                    k: (str(v) if v is not None and not isinstance(v, bool | list | str) else v)
                    for k, v in asdict(b).items()
                }
                for b in result.benefits
            ],
            "rejections": result.rejections,
            "other_payer": result.other_payer,
        }
        ctx.write(access, lambda: [Put(item, Absent())], KIND, check_id, patient_id=patient_id)
        return check_id, result
