"""Good Faith Estimates: written for self-pay patients, kept (never deleted), listed with
what has been billed in their period and a warning when billed charges reach the upper
total + $400, and rendered as a PDF with the four required disclaimers.

PATIENT#<pat> / GFE#<created>#<gfe>   the estimate (billing facts; the PDF is rendered on
                                      demand from it and the patient and provider records)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from tpm.adapters.store.base import Absent, Put, iterate
from tpm.domain.billing.gfe import DISCLAIMERS, GoodFaithEstimate, dispute_warning, due_date
from tpm.errors import NotFound, ValidationFailed
from tpm.ids import new_id
from tpm.repositories.billing import BillingSetupRepository, LedgerRepository
from tpm.repositories.patients import PatientRepository
from tpm.services.billing_setup import invalid
from tpm.services.context import ServiceContext

KIND = "good_faith_estimate"
_LAYOUT = frozenset({"pk", "sk"})


@dataclass(frozen=True)
class EstimateRead:
    estimate: GoodFaithEstimate
    billed: Decimal
    warning: bool


class GoodFaithService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _patient(self, action: str, patient_id: str) -> Any:
        access = self.ctx.authorize(
            action, resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        patient = PatientRepository(self.ctx.store, self.ctx.runtime.cipher).get(patient_id)
        if patient is None:
            raise NotFound()
        return access, patient

    def create(
        self, patient_id: str, fields: dict[str, Any], service_date: date | None
    ) -> GoodFaithEstimate:
        ctx = self.ctx
        access, _ = self._patient("gfe.create", patient_id)
        if (
            BillingSetupRepository(ctx.store).identity(str(fields.get("provider_identity_id")))
            is None
        ):
            raise ValidationFailed(
                fields=[{"path": "body.provider_identity_id", "type": "unknown_identity"}]
            )
        today = ctx.now().date()
        try:
            estimate = GoodFaithEstimate.model_validate(
                {
                    **fields,
                    "id": new_id("gfe"),
                    "patient_id": patient_id,
                    "asked_on": today,
                    "due_by": due_date(today, service_date),
                    "created_at": ctx.now(),
                    "created_by": ctx.principal.user_id,
                }
            )
        except ValidationError as exc:
            raise invalid(exc) from None
        item = {
            "pk": f"PATIENT#{patient_id}",
            "sk": f"GFE#{estimate.created_at.isoformat()}#{estimate.id}",
            **estimate.model_dump(mode="json"),
        }
        ctx.write(access, lambda: [Put(item, Absent())], KIND, estimate.id, patient_id=patient_id)
        return estimate

    def _all(self, patient_id: str) -> list[GoodFaithEstimate]:
        rows = iterate(self.ctx.store, f"PATIENT#{patient_id}", sk_prefix="GFE#")
        return [
            GoodFaithEstimate.model_validate({k: v for k, v in r.items() if k not in _LAYOUT})
            for r in rows
        ]

    def for_patient(self, patient_id: str) -> list[EstimateRead]:
        access, _ = self._patient("gfe.read", patient_id)
        entries = LedgerRepository(self.ctx.store).for_patient(patient_id)
        out = []
        for estimate in self._all(patient_id):
            billed = sum(
                (
                    e.amount
                    for e in entries
                    if e.kind == "charge"
                    and e.service_date is not None
                    and estimate.period_start <= e.service_date <= estimate.period_end
                ),
                Decimal(0),
            )
            out.append(EstimateRead(estimate, billed, dispute_warning(estimate, billed)))
        self.ctx.record(
            access, KIND, patient_id, patient_id=patient_id, reason_code=f"count_{len(out)}"
        )
        return out

    def pdf(self, patient_id: str, estimate_id: str) -> bytes:
        access, patient = self._patient("gfe.read", patient_id)
        estimate = next((e for e in self._all(patient_id) if e.id == estimate_id), None)
        if estimate is None:
            raise NotFound()
        provider = BillingSetupRepository(self.ctx.store).identity(estimate.provider_identity_id)
        data = render_estimate(estimate, patient, provider)
        self.ctx.record(access, KIND, estimate_id, patient_id=patient_id)
        return data


def _t(value: str) -> str:
    return value.encode("latin-1", "replace").decode("latin-1")


def render_estimate(estimate: GoodFaithEstimate, patient: Any, provider: Any) -> bytes:
    from fpdf import FPDF  # PDFs only (import cost)

    pdf = FPDF(format="Letter")
    pdf.set_title("Good Faith Estimate")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Good Faith Estimate", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    name = f"{patient.legal_first_name} {patient.legal_last_name}"
    pdf.cell(
        0,
        6,
        _t(f"Patient: {name}, born {patient.date_of_birth.isoformat()}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    if provider is not None:
        who = f"{provider.first_name + ' ' if provider.first_name else ''}{provider.name}"
        pdf.cell(
            0,
            6,
            _t(f"Provider: {who}, NPI {provider.npi}, TIN {provider.ein or '-'}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        if provider.address is not None:
            a = provider.address
            pdf.cell(
                0,
                6,
                _t(f"Location: {a.line1}, {a.city}, {a.state} {a.postal_code}"),
                new_x="LMARGIN",
                new_y="NEXT",
            )
    pdf.cell(
        0,
        6,
        f"Period: {estimate.period_start.isoformat()} to {estimate.period_end.isoformat()}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    if estimate.diagnoses:
        pdf.cell(
            0,
            6,
            _t(f"Diagnosis codes: {', '.join(estimate.diagnoses)}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    for w, h in (
        (22, "Code"),
        (70, "Service"),
        (25, "Fee"),
        (30, "Sessions"),
        (40, "Estimated cost"),
    ):
        pdf.cell(w, 7, h, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for item in estimate.items:
        qty = (
            f"{item.quantity_min}-{item.quantity_max}"
            if item.quantity_min != item.quantity_max
            else str(item.quantity_max)
        )
        low, high = item.fee * item.quantity_min, item.fee * item.quantity_max
        cost = f"${low:.2f}-${high:.2f}" if low != high else f"${high:.2f}"
        for w, c in (
            (22, item.procedure),
            (70, item.description),
            (25, f"${item.fee:.2f}"),
            (30, qty),
            (40, cost),
        ):
            pdf.cell(w, 7, _t(c), border=1)
        pdf.ln()
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(
        0,
        7,
        f"Total estimated cost: ${estimate.total_min:.2f} to ${estimate.total_max:.2f}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 9)
    for text in DISCLAIMERS:
        pdf.ln(1)
        pdf.multi_cell(0, 5, _t(text))
    pdf.ln(1)
    pdf.multi_cell(
        0, 5, "Keep a copy of this estimate. The practice keeps it for at least six years."
    )
    return bytes(pdf.output())
