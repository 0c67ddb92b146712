"""A signed note as a PDF, for release to the patient or another provider: the content
laid out by the template's layout, the template id and version, the signature and
co-signature blocks with their content hashes, and every addendum with its signature.

Built with fpdf2 and its core fonts (no font files to ship); text those fonts cannot
encode is replaced by "?" rather than failing the render.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from tpm.clock import to_rfc3339
from tpm.domain.notes import Addendum, Note, Signature
from tpm.domain.template_models import Template
from tpm.domain.template_validation import schema_at

if TYPE_CHECKING:
    from fpdf import FPDF

WIDTH = 0  # full line width
_ENCODING = "latin-1"


def render_note_pdf(
    note: Note,
    template: Template,
    addenda: list[Addendum],
    patient_name: str,
    date_of_birth: date,
    *,
    compress: bool = True,
) -> bytes:
    # fpdf2 (with fontTools and Pillow) costs ~150 ms to import: load it for PDFs only.
    from fpdf import FPDF

    pdf = FPDF(format="Letter")
    pdf.set_compression(compress)
    pdf.set_title(_text(template.title))
    pdf.set_author("tpm")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    _heading(pdf, template.title, 15)
    _line(pdf, f"Template: {template.id} version {template.version}")
    _line(pdf, f"Patient: {patient_name} (date of birth {date_of_birth.isoformat()})")
    _line(pdf, f"Patient id: {note.patient_id}   Note id: {note.id}")
    if note.service_date:
        _line(pdf, f"Date of service: {note.service_date.isoformat()}")
    if note.late_entry:
        _line(pdf, "LATE ENTRY: signed after the practice's documentation window.")
    pdf.ln(3)
    for section in template.layout:
        _heading(pdf, section.section, 12)
        for path in section.fields:
            value = _at(note.content, path)
            if value is None:
                continue
            subschema = schema_at(template.content_schema, path) or {}
            _value(pdf, template, path, str(subschema.get("title") or path), value, 0)
        pdf.ln(2)
    _signature(pdf, "Signed", note.signature)
    _signature(pdf, "Co-signed by supervisor", note.cosignature)
    for addendum in addenda:
        _heading(pdf, f"Addendum {addendum.n}", 12)
        pdf.multi_cell(WIDTH, 5, _text(addendum.text), new_x="LMARGIN", new_y="NEXT")
        _signature(pdf, f"Addendum {addendum.n} signed", addendum.signature)
    return bytes(pdf.output())


def _value(pdf: FPDF, template: Template, path: str, label: str, value: Any, depth: int) -> None:
    indent = " " * (4 * depth)
    if isinstance(value, Mapping):
        _line(pdf, f"{indent}{label}:", bold=True)
        for key, child in value.items():
            sub = f"{path}/{key}"
            title = (schema_at(template.content_schema, sub) or {}).get("title") or key
            _value(pdf, template, sub, str(title), child, depth + 1)
        return
    if isinstance(value, list):
        if all(not isinstance(v, Mapping | list) for v in value):
            _line(pdf, f"{indent}{label}: {', '.join(_scalar(v) for v in value)}")
            return
        _line(pdf, f"{indent}{label}:", bold=True)
        for i, item in enumerate(value, start=1):
            _value(pdf, template, f"{path}/*", f"{i}.", item, depth + 1)
        return
    _line(pdf, f"{indent}{label}: {_scalar(value)}")


def _signature(pdf: FPDF, title: str, signature: Signature | None) -> None:
    if signature is None:
        return
    pdf.ln(2)
    credentials = f", {signature.credentials}" if signature.credentials else ""
    _line(pdf, f"{title}: {signature.display_name}{credentials}", bold=True)
    _line(pdf, f"At {to_rfc3339(signature.signed_at)} (version {signature.version})")
    _line(pdf, f"Content hash (SHA-256): {signature.content_hash}")
    _line(pdf, f"Attestation: {signature.attestation}")


def _heading(pdf: FPDF, text: str, size: int) -> None:
    pdf.set_font("Helvetica", "B", size)
    pdf.multi_cell(WIDTH, size * 0.5, _text(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)


def _line(pdf: FPDF, text: str, *, bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", 10)
    pdf.multi_cell(WIDTH, 5, _text(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _text(text: str) -> str:
    return text.encode(_ENCODING, "replace").decode(_ENCODING)


def _at(content: Mapping[str, Any], path: str) -> Any:
    node: Any = content
    for part in path.split("/")[1:]:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
