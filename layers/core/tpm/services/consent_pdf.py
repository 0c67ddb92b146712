"""A signed consent as a PDF: the consent document (its template, id, version and hash),
what the patient filled in, and the e-signature evidence — who (verified identity), when,
from which address and browser, and the content hash. Laid out with the note PDF's helpers
(tpm.services.note_pdf), so consents and notes read alike."""

from __future__ import annotations

from datetime import date

from tpm.clock import to_rfc3339
from tpm.domain.intake import Consent
from tpm.domain.template_models import Template
from tpm.domain.template_validation import schema_at
from tpm.services.note_pdf import _at, _heading, _line, _text, _value


def render_consent_pdf(
    consent: Consent, template: Template, patient_name: str, date_of_birth: date
) -> bytes:
    from fpdf import FPDF  # first use only (see note_pdf)

    pdf = FPDF(format="Letter")
    pdf.set_title(_text(template.title))
    pdf.set_author("tpm")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    _heading(pdf, template.title, 15)
    if template.description:
        pdf.multi_cell(0, 5, _text(template.description), new_x="LMARGIN", new_y="NEXT")
    _line(pdf, f"Document: {template.id} version {template.version}")
    _line(pdf, f"Document hash (SHA-256): {consent.document_hash}")
    _line(pdf, f"Patient: {patient_name} (date of birth {date_of_birth.isoformat()})")
    _line(pdf, f"Patient id: {consent.patient_id}   Consent id: {consent.id}")
    pdf.ln(3)
    for section in template.layout:
        _heading(pdf, section.section, 12)
        for path in section.fields:
            value = _at(consent.content, path)
            if value is None:
                continue
            subschema = schema_at(template.content_schema, path) or {}
            _value(pdf, template, path, str(subschema.get("title") or path), value, 0)
        pdf.ln(2)
    _heading(pdf, "Electronic signature", 12)
    _line(pdf, f"Signed by: {consent.signer_name} (portal account {consent.signer_user_id})")
    _line(pdf, f"Identity verified: {to_rfc3339(consent.identity_verified_at)}")
    _line(pdf, f"Signed at: {to_rfc3339(consent.signed_at)}")
    _line(pdf, f"From address: {consent.source_ip or 'unknown'}")
    _line(pdf, f"Browser: {consent.user_agent or 'unknown'}")
    _line(pdf, f"Content hash (SHA-256): {consent.content_hash}")
    if consent.revocable:
        _line(
            pdf, "This consent can be revoked at any time in the portal or by asking the practice."
        )
    return bytes(pdf.output())


PURPOSES = {
    "treatment": "Treatment",
    "payment": "Payment",
    "health_care_operations": "Health care operations",
    "other": "Other",
}


def render_part2_pdf(consent: Consent, date_of_birth: date) -> bytes:
    """An intake's 42 CFR Part 2 consent: every element of 42 CFR 2.31 as shown (the
    consent's content is the document whose hash was signed), the three statements, and
    the same e-signature evidence block."""
    from fpdf import FPDF

    shown = consent.content
    pdf = FPDF(format="Letter")
    pdf.set_title(_text(consent.title))
    pdf.set_author("tpm")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    _heading(pdf, consent.title, 14)
    _line(pdf, f"Document hash (SHA-256): {consent.document_hash}")
    _line(pdf, f"Patient: {shown.get('patient_name', '')} (date of birth {date_of_birth})")
    _line(pdf, f"Patient id: {consent.patient_id}   Consent id: {consent.id}")
    pdf.ln(3)
    recipients = "; ".join(str(r.get("name", "")) for r in shown.get("recipients", []))
    purposes = ", ".join(PURPOSES.get(str(p), str(p)) for p in shown.get("purposes", []))
    expiry = shown.get("expires_on") or ""
    if shown.get("expiration_event"):
        expiry = f"{expiry} or {shown['expiration_event']}" if expiry else shown["expiration_event"]
    for label, value in (
        ("Who may disclose", shown.get("disclosing_program", "")),
        ("What may be disclosed", shown.get("information", "")),
        ("To whom", recipients),
        ("For what purpose", f"{purposes}. {shown.get('purpose_description', '')}"),
        ("This consent ends", expiry),
        ("Your right to revoke", shown.get("revocation_statement", "")),
        ("Redisclosure", shown.get("redisclosure_statement", "")),
        ("Not a condition of treatment", shown.get("not_conditioned_statement", "")),
    ):
        _heading(pdf, label, 11)
        pdf.multi_cell(0, 5, _text(str(value)), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    _heading(pdf, "Electronic signature", 12)
    _line(pdf, f"Signed by: {consent.signer_name} (portal account {consent.signer_user_id})")
    _line(pdf, f"Signed on: {shown.get('signed_on', '')}")
    _line(pdf, f"Identity verified: {to_rfc3339(consent.identity_verified_at)}")
    _line(pdf, f"Signed at: {to_rfc3339(consent.signed_at)}")
    _line(pdf, f"From address: {consent.source_ip or 'unknown'}")
    _line(pdf, f"Browser: {consent.user_agent or 'unknown'}")
    _line(pdf, f"Content hash (SHA-256): {consent.content_hash}")
    return bytes(pdf.output())
