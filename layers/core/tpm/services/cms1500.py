"""A claim on the CMS-1500 (02/12) for payers that take paper: the same facts as the 837P,
laid out box by box (box 22 = frequency + the payer's claim number, 24E pointers as
letters, six lines to a page). It is a data print on plain paper with each box labelled,
not an overlay for the red-ink form.
"""

from __future__ import annotations

from typing import Any

from tpm.domain.billing.claims import ClaimRecord, to_837
from tpm.domain.billing.codes import icd10_dotted
from tpm.errors import NotFound
from tpm.repositories.billing import BillingSetupRepository, ClaimRepository
from tpm.repositories.patients import PatientRepository
from tpm.services.context import ServiceContext

LINES_PER_PAGE = 6
LETTERS = "ABCDEFGHIJKL"
INSURANCE_TYPE = {"MB": "Medicare", "MC": "Medicaid", "CH": "TRICARE", "VA": "CHAMPVA"}


def _t(value: str) -> str:
    return value.encode("latin-1", "replace").decode("latin-1")


def render_cms1500(claim: Any, record: ClaimRecord) -> bytes:
    """`claim` is the X12 claim built for the record (tpm.domain.billing.claim837.Claim)."""
    from fpdf import FPDF  # PDFs only (import cost)

    pdf = FPDF(format="Letter")
    pdf.set_title("CMS-1500")
    pages = [
        claim.lines[i : i + LINES_PER_PAGE] for i in range(0, len(claim.lines), LINES_PER_PAGE)
    ]
    patient = claim.patient or claim.subscriber
    for number, lines in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 13)
        pdf.cell(
            0,
            8,
            f"HEALTH INSURANCE CLAIM FORM (CMS-1500 02/12)  page {number} of {len(pages)}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_font("Helvetica", "", 8)

        def box(label: str, value: str, width: float = 95, newline: bool = False) -> None:
            pdf.cell(
                width,
                9,
                _t(f"{label}: {value}")[:110],
                border=1,
                new_x="LMARGIN" if newline else "RIGHT",
                new_y="NEXT" if newline else "TOP",
            )

        box("Payer", f"{claim.payer.name} ({claim.payer.payer_id})", 190, True)
        box(
            "1 Insurance type",
            INSURANCE_TYPE.get(claim.payer.filing_indicator, "Group health plan / other"),
        )
        box("1a Insured's ID", claim.member_id, newline=True)
        box("2 Patient's name", f"{patient.last_name}, {patient.first_name}")
        box(
            "3 Birth date / sex",
            f"{patient.date_of_birth.strftime('%m/%d/%Y')} {patient.sex}",
            newline=True,
        )
        box("4 Insured's name", f"{claim.subscriber.last_name}, {claim.subscriber.first_name}")
        box(
            "6 Relationship to insured",
            {"18": "self", "01": "spouse", "19": "child"}.get(claim.relationship, "other"),
            newline=True,
        )
        a = patient.address
        box("5 Patient's address", f"{a.line1}, {a.city}, {a.state} {a.postal_code}" if a else "")
        box("11 Insured's group number", claim.group_number or "", newline=True)
        box("12/13 Signatures", "Signature on file (SOF)")
        box("23 Prior authorization", claim.prior_authorization or "", newline=True)
        box("19 Additional claim information", claim.note or "", 190, True)
        dx = "  ".join(
            f"{LETTERS[i]}. {icd10_dotted(code)}" for i, code in enumerate(claim.diagnoses)
        )
        box("21 Diagnoses (ICD ind. 0)", dx, 190, True)
        resubmission = (
            ""
            if claim.frequency == "1"
            else f"{claim.frequency}  original ref. {claim.payer_claim_number or ''}"
        )
        box("22 Resubmission code", resubmission, 190, True)
        pdf.set_font("Helvetica", "B", 7)
        widths = (34, 10, 40, 16, 24, 12, 54)
        heads = (
            "24A Dates of service",
            "24B POS",
            "24D Procedure / modifiers",
            "24E Pointer",
            "24F Charges",
            "24G Units",
            "24J Rendering NPI",
        )
        for w, h in zip(widths, heads, strict=True):
            pdf.cell(w, 7, h, border=1)
        pdf.ln()
        pdf.set_font("Helvetica", "", 8)
        rendering = claim.rendering.npi if claim.rendering else claim.billing.npi
        for line in lines:
            when = line.service_date.strftime("%m/%d/%Y")
            cells = (
                f"{when} - {when}",
                claim.place_of_service,
                " ".join([line.procedure, *line.modifiers]),
                "".join(LETTERS[p - 1] for p in line.pointers),
                f"{line.charge:.2f}",
                str(line.units),
                rendering,
            )
            for w, c in zip(widths, cells, strict=True):
                pdf.cell(w, 8, _t(c), border=1)
            pdf.ln()
        total = sum((line.charge for line in lines), 0)
        box("25 Federal tax ID (EIN)", claim.billing.ein)
        box("26 Patient's account no.", record.pcn, newline=True)
        box("27 Accept assignment", "Yes")
        box("28 Total charge", f"{total:.2f}", newline=True)
        b = claim.billing
        box("31 Signature of physician or supplier", "Signature on file", 190, True)
        box(
            "33 Billing provider",
            f"{b.party.last_name}, {b.address.line1}, {b.address.city},"
            f" {b.address.state} {b.address.postal_code}",
            190,
            True,
        )
        box("33a NPI", b.npi)
        box("33b Taxonomy (ZZ)", b.taxonomy, newline=True)
    return bytes(pdf.output())


class Cms1500Service:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def pdf(self, claim_id: str) -> bytes:
        ctx = self.ctx
        ctx.authorize_list("claim.read", resource_kind="claim")
        record = ClaimRepository(ctx.store).get(claim_id)
        if record is None:
            raise NotFound()
        access = ctx.authorize(
            "claim.read", resource_kind="claim", resource_id=claim_id, patient_id=record.patient_id
        )
        setup = BillingSetupRepository(ctx.store)
        payer = setup.payer(record.payer_ref)
        billing = setup.identity(record.billing_identity_id)
        rendering = (
            setup.identity(record.rendering_identity_id) if record.rendering_identity_id else None
        )
        patient = PatientRepository(ctx.store, ctx.runtime.cipher).get(record.patient_id)
        if payer is None or billing is None or patient is None:
            raise NotFound()
        claim = to_837(record, payer=payer, billing=billing, rendering=rendering, patient=patient)
        data = render_cms1500(claim, record)
        ctx.record(access, "claim", claim_id, patient_id=record.patient_id, reason_code="cms1500")
        return data
