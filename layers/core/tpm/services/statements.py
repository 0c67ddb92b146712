"""Patient statements as PDF: what the patient owes now, line by line.

A statement lists, per service (claim or desk charge), the date, the procedure codes,
what was charged, what insurance paid and adjusted, what the patient paid and what is
left for the patient; then the patient balance and aging. It is delivered through the
portal (an authenticated, audited call), never by plain email. Built with fpdf2's core
fonts, like note PDFs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from tpm.domain.billing.ledger import LedgerEntry, aging, balance_of
from tpm.errors import NotFound
from tpm.repositories.billing import LedgerRepository
from tpm.repositories.patients import PatientRepository
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice

if TYPE_CHECKING:
    from fpdf import FPDF

ZERO = Decimal(0)
_ENCODING = "latin-1"


@dataclass(frozen=True)
class StatementLine:
    service_date: date | None
    description: str  # procedure codes or the entry kind
    charged: Decimal
    insurance_paid: Decimal
    adjusted: Decimal
    patient_paid: Decimal
    patient_owes: Decimal


def statement_lines(entries: list[LedgerEntry]) -> list[StatementLine]:
    """One line per claim (or per desk entry without a claim), oldest first."""
    groups: dict[str, list[LedgerEntry]] = defaultdict(list)
    for e in entries:
        groups[e.claim_id or e.id].append(e)
    out: list[StatementLine] = []
    for group in groups.values():
        charged = sum((e.amount for e in group if e.kind == "charge"), ZERO)
        codes = sorted({e.reason for e in group if e.kind == "charge" and e.reason})
        insurance_paid = -sum((e.amount for e in group if e.kind == "insurance_payment"), ZERO)
        adjusted = -sum(
            (
                e.amount
                for e in group
                if e.kind in ("contractual_adjustment", "other_adjustment", "write_off")
            ),
            ZERO,
        )
        patient_paid = -sum(
            (e.amount for e in group if e.kind in ("patient_payment", "refund")), ZERO
        )
        owes = sum((e.amount for e in group if e.bucket == "patient"), ZERO)
        when = min((e.service_date for e in group if e.service_date), default=None)
        first = group[0]
        description = ", ".join(codes) if codes else first.kind.replace("_", " ")
        out.append(
            StatementLine(
                when or first.at.date(),
                description,
                charged,
                insurance_paid,
                adjusted,
                patient_paid,
                owes,
            )
        )
    return sorted(out, key=lambda line: line.service_date or date.min)


def _text(value: str) -> str:
    return value.encode(_ENCODING, "replace").decode(_ENCODING)


def render_statement(
    practice_name: str,
    patient_name: str,
    date_of_birth: date,
    today: date,
    lines: list[StatementLine],
    balance: Decimal,
    ages: dict[str, Decimal],
) -> bytes:
    from fpdf import FPDF  # ~150 ms to import: PDFs only

    pdf: FPDF = FPDF(format="Letter")
    pdf.set_title("Statement")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _text(practice_name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(
        0,
        7,
        _text(f"Statement for {patient_name} (born {date_of_birth.isoformat()})"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.cell(0, 7, f"Statement date {today.isoformat()}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (26, 44, 24, 26, 24, 24, 24)
    heads = ("Date", "Service", "Charged", "Insurance", "Adjusted", "You paid", "You owe")
    pdf.set_font("Helvetica", "B", 9)
    for w, h in zip(widths, heads, strict=True):
        pdf.cell(w, 7, h, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for line in lines:
        cells = (
            line.service_date.isoformat() if line.service_date else "",
            line.description[:28],
            f"{line.charged:.2f}",
            f"{line.insurance_paid:.2f}",
            f"{line.adjusted:.2f}",
            f"{line.patient_paid:.2f}",
            f"{line.patient_owes:.2f}",
        )
        for w, c in zip(widths, cells, strict=True):
            pdf.cell(w, 7, _text(c), border=1)
        pdf.ln()
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, f"Amount due: ${balance:.2f}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    aging_text = ", ".join(f"{k} days ${v:.2f}" for k, v in ages.items())
    pdf.cell(0, 6, _text(f"By age of service: {aging_text}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.multi_cell(
        0,
        5,
        "Pay online in your patient portal. Questions about this statement: contact the"
        " practice's billing office.",
    )
    return bytes(pdf.output())


class StatementService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def my_patient_id(self) -> str:
        """The caller's own patient record (portal); staff have none: 404."""
        patient_id = self.ctx.principal.patient_id
        if patient_id is None:
            raise NotFound()
        return patient_id

    def pdf(self, patient_id: str) -> tuple[bytes, Decimal]:
        ctx = self.ctx
        access = ctx.authorize(
            "ledger.read", resource_kind="statement", resource_id=patient_id, patient_id=patient_id
        )
        patient = PatientRepository(ctx.store, ctx.runtime.cipher).get(patient_id)
        if patient is None:
            raise NotFound()
        entries = LedgerRepository(ctx.store).for_patient(patient_id)
        today = ctx.now().date()
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        balance = balance_of(entries).patient
        data = render_statement(
            practice.name,
            f"{patient.legal_first_name} {patient.legal_last_name}",
            patient.date_of_birth,
            today,
            statement_lines(entries),
            balance,
            aging(entries, today)["patient"],
        )
        ctx.record(access, "statement", patient_id, patient_id=patient_id)
        return data, balance
