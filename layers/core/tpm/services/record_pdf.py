"""The patient's designated record set as a readable PDF, beside the FHIR bundle (45 CFR
164.524: the form and format the patient asks for, readable without special software).
The same facts as the bundle (`tpm.domain.record_export.RecordSet`); documents filed for
the patient are listed by title (their bytes travel in the bundle). Built with fpdf2's core
fonts, like note PDFs; text those fonts cannot encode is replaced by "?"."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tpm.domain.record_export import RecordSet

if TYPE_CHECKING:
    from fpdf import FPDF

_ENCODING = "latin-1"


def _text(text: str) -> str:
    return text.encode(_ENCODING, "replace").decode(_ENCODING)


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 13)
    pdf.multi_cell(0, 7, _text(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)


def _line(pdf: FPDF, text: str, *, bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", 10)
    pdf.multi_cell(0, 5, _text(text), new_x="LMARGIN", new_y="NEXT")


def render_record_pdf(record: RecordSet, *, compress: bool = True) -> bytes:
    # fpdf2 costs ~150 ms to import: load it for PDFs only.
    from fpdf import FPDF

    pdf = FPDF(format="Letter")
    pdf.set_compression(compress)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    p = record.patient
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, _text("Your health record"), new_x="LMARGIN", new_y="NEXT")
    _line(pdf, f"{record.practice_name}")
    _line(pdf, f"{p.first_name} {p.last_name}, born {p.date_of_birth.isoformat()}")
    _line(pdf, f"Prepared {_when(record.generated_at)}")
    _line(
        pdf,
        "Psychotherapy notes are kept apart from the record and are not part of this copy"
        " (45 CFR 164.524(a)(1)(i)).",
    )

    _heading(pdf, f"Appointments ({len(record.visits)})")
    for v in record.visits:
        mode = "video" if v.telehealth else "in person"
        _line(pdf, f"{_when(v.start)}  {v.service} with {v.clinician}, {mode}: {v.status}")
    _heading(pdf, f"Progress notes ({len(record.notes)})")
    for n in record.notes:
        _line(pdf, f"{n.title}, signed {_when(n.signed_at)} by {n.author}", bold=True)
        _line(pdf, n.text)
        pdf.ln(2)
    _heading(pdf, f"Questionnaires ({len(record.measures)})")
    for m in record.measures:
        _line(pdf, f"{_when(m.completed_at)}  {m.title}: total {m.total} ({m.band})")
    _heading(pdf, f"Documents ({len(record.documents)})")
    for d in record.documents:
        _line(pdf, f"{d.title} ({d.filename}), filed {_when(d.created_at)}")
    _heading(pdf, f"Consents ({len(record.consents)})")
    for c in record.consents:
        state = "in effect" if c.active else "no longer in effect"
        _line(pdf, f"{c.title}, signed {_when(c.signed_at)}: {state}")
    return bytes(pdf.output())
