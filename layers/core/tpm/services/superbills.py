"""Superbills: the itemised receipt a self-pay patient sends their insurer for
out-of-network reimbursement, as a PDF through the portal (never plain email).

Contents: the practice (billing identity: name, address, NPI, EIN); for each service in
the period the date, place of service, procedure code with modifiers, units, ICD-10-CM
codes with pointers and the fee; the rendering clinician with credentials and NPI; the
patient's name and date of birth; what was paid and the balance. Services come from the
patient's charge-capture events, priced from the practice's default fee schedule.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from tpm.domain.billing.codes import icd10_dotted
from tpm.domain.billing.ledger import balance_of
from tpm.domain.billing.setup import fee_for
from tpm.errors import NotFound, ValidationFailed
from tpm.repositories.billing import BillingSetupRepository, LedgerRepository
from tpm.repositories.charges import ChargeRepository
from tpm.repositories.patients import PatientRepository
from tpm.services.context import ServiceContext

ZERO = Decimal(0)


def _t(value: str) -> str:
    return value.encode("latin-1", "replace").decode("latin-1")


def clinician_label(clinician: Any, rendering: Any) -> str:
    """Display name, credentials (e.g. LCSW) and the clinician's own NPI when known."""
    parts = [clinician.display_name if clinician else ""]
    if clinician is not None and clinician.credentials:
        parts.append(f", {clinician.credentials}")
    if rendering is not None:
        parts.append(f" NPI {rendering.npi}")
    return "".join(parts)


class SuperbillService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def pdf(self, patient_id: str, start: date, end: date) -> bytes:
        ctx = self.ctx
        access = ctx.authorize(
            "ledger.read", resource_kind="superbill", resource_id=patient_id, patient_id=patient_id
        )
        if end < start:
            raise ValidationFailed(fields=[{"path": "query.to", "type": "range_reversed"}])
        patient = PatientRepository(ctx.store, ctx.runtime.cipher).get(patient_id)
        if patient is None:
            raise NotFound()
        setup = BillingSetupRepository(ctx.store)
        settings = setup.settings()
        practice = (
            setup.identity(settings.billing_identity_id) if settings.billing_identity_id else None
        )
        schedules = setup.fee_schedules()
        identities = {i.user_id: i for i in setup.identities() if i.user_id}
        charges = []
        cursor: str | None = None
        while True:
            page, cursor = ChargeRepository(ctx.store).for_patient(patient_id, 100, cursor)
            charges += [c for c in page if start <= c.service_date <= end and c.status != "void"]
            if cursor is None:
                break
        rows: list[dict[str, Any]] = []
        for charge in sorted(charges, key=lambda c: c.service_date):
            clinician = ctx.users.get(charge.clinician_id)
            rendering = identities.get(charge.clinician_id)
            for line in charge.lines:
                fee = fee_for(line.cpt_code, schedules, None) or ZERO
                rows.append(
                    {
                        "date": charge.service_date.isoformat(),
                        "pos": charge.place_of_service or "",
                        "code": "-".join([line.cpt_code, *charge.modifiers]),
                        "units": str(line.units),
                        "dx": ", ".join(icd10_dotted(d) for d in charge.diagnoses[:4]),
                        "fee": fee * line.units,
                        "clinician": clinician_label(clinician, rendering),
                    }
                )
        entries = LedgerRepository(ctx.store).for_patient(patient_id)
        paid = -sum((e.amount for e in entries if e.kind == "patient_payment"), ZERO)
        data = self._render(practice, patient, start, end, rows, paid, balance_of(entries).patient)
        ctx.record(access, "superbill", patient_id, patient_id=patient_id)
        return data

    @staticmethod
    def _render(
        practice: Any,
        patient: Any,
        start: date,
        end: date,
        rows: list[dict[str, Any]],
        paid: Decimal,
        balance: Decimal,
    ) -> bytes:
        from fpdf import FPDF  # PDFs only (import cost)

        pdf = FPDF(format="Letter")
        pdf.set_title("Superbill")
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, "Superbill (itemised statement of services)", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        if practice is not None:
            pdf.cell(
                0,
                6,
                _t(f"{practice.name}  NPI {practice.npi}  EIN {practice.ein or '-'}"),
                new_x="LMARGIN",
                new_y="NEXT",
            )
            if practice.address is not None:
                a = practice.address
                pdf.cell(
                    0,
                    6,
                    _t(f"{a.line1}, {a.city}, {a.state} {a.postal_code}"),
                    new_x="LMARGIN",
                    new_y="NEXT",
                )
        pdf.cell(
            0,
            6,
            _t(
                f"Patient: {patient.legal_first_name} {patient.legal_last_name},"
                f" born {patient.date_of_birth.isoformat()}"
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.cell(
            0,
            6,
            f"Services from {start.isoformat()} to {end.isoformat()}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(3)
        widths = (22, 10, 24, 10, 40, 20, 64)
        pdf.set_font("Helvetica", "B", 8)
        for w, h in zip(
            widths,
            ("Date", "POS", "Code", "Units", "Diagnoses (ICD-10-CM)", "Fee", "Clinician"),
            strict=True,
        ):
            pdf.cell(w, 7, h, border=1)
        pdf.ln()
        pdf.set_font("Helvetica", "", 8)
        total = ZERO
        for r in rows:
            total += r["fee"]
            cells = (
                r["date"],
                r["pos"],
                r["code"],
                r["units"],
                r["dx"],
                f"${r['fee']:.2f}",
                r["clinician"][:40],
            )
            for w, c in zip(widths, cells, strict=True):
                pdf.cell(w, 7, _t(c), border=1)
            pdf.ln()
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(
            0,
            6,
            f"Total charges ${total:.2f}   Paid ${paid:.2f}   Balance ${balance:.2f}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        return bytes(pdf.output())
