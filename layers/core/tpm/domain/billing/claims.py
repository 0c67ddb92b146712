"""Claims as we keep them: built from charges, validated, corrected, with their history.
Pure: no I/O.

Lifecycle: draft -> validated (or invalid) -> batched -> submitted -> accepted (999 and
277CA; the payer's claim number kept) / rejected -> paid / partial / denied -> closed.
A rejection means the payer never received the claim: fix and resend as an original
(frequency 1). A denial is corrected with a replacement (7) or voided (8), which must
carry the payer's claim number (REF*F8) and links to the claim it corrects.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from tpm.domain.billing import claim837 as x
from tpm.domain.billing.check837 import combination_problems
from tpm.domain.billing.codes import icd10_dotted, icd10_problem
from tpm.domain.billing.setup import BillingIdentity, Payer

ClaimStatus = Literal[
    "invalid",
    "validated",
    "batched",
    "submitted",
    "rejected",
    "accepted",
    "paid",
    "partial",
    "denied",
    "closed",
    "void",
]
OPEN_FOR_CORRECTION = frozenset({"denied", "paid", "partial", "accepted"})
RESUBMITTABLE = frozenset({"invalid", "rejected"})
RELATIONSHIP_CODES = {"self": "18", "spouse": "01", "child": "19", "parent": "G8", "other": "G8"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClaimLine(_Frozen):
    control_number: str
    procedure: str
    modifiers: tuple[str, ...] = ()
    charge: Decimal
    units: int = 1
    service_date: date
    pointers: tuple[int, ...] = (1,)
    charge_id: str | None = None

    @field_validator("charge")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"))


class ClaimEvent(_Frozen):
    at: datetime
    by: str  # user id or system actor
    event: str  # created, validated, invalid, batched, submitted, accepted, rejected, ...
    detail: str = ""  # codes and ids only (no PHI)


class ClaimRecord(_Frozen):
    id: str
    pcn: str  # CLM01: our claim control number (20 chars max)
    patient_id: str
    payer_ref: str  # our payer record (pyr_...)
    billing_identity_id: str
    rendering_identity_id: str | None = None
    charge_ids: tuple[str, ...] = ()
    place_of_service: str
    frequency: Literal["1", "7", "8"] = "1"
    corrects: str | None = None  # the claim id this one replaces or voids
    payer_claim_number: str | None = None  # REF*1K on the 277CA / CLP07 on the 835
    prior_authorization: str | None = None
    # 42 CFR Part 2: the consent a Part 2 patient's claim relies on, and the redisclosure
    # notice it carries (NTE*ADD on the 837P, box 19 on the CMS-1500).
    part2_consent_id: str | None = None
    part2_notice: str | None = None
    diagnoses: tuple[str, ...]
    lines: tuple[ClaimLine, ...]
    status: ClaimStatus = "validated"
    problems: tuple[dict[str, Any], ...] = ()
    batch_id: str | None = None
    paid: Decimal = Decimal(0)
    patient_responsibility: Decimal = Decimal(0)
    history: tuple[ClaimEvent, ...] = ()
    created_at: datetime
    version: int = 1

    @field_validator("paid", "patient_responsibility")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"))

    @property
    def total(self) -> Decimal:
        return sum((line.charge for line in self.lines), Decimal(0))

    @property
    def service_date(self) -> date:
        return min(line.service_date for line in self.lines)

    def moved(self, status: ClaimStatus, event: ClaimEvent, **changes: Any) -> ClaimRecord:
        return self.model_copy(
            update={
                "status": status,
                "history": (*self.history, event),
                "version": self.version + 1,
                **changes,
            }
        )


class ClaimRuleError(ValueError):
    """A claim that cannot be built: `fields` are (path, type) pairs for a 422."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(t for _, t in fields))
        self.fields = fields


def check_diagnoses(codes: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not codes:
        out.append(("body.diagnoses", "diagnosis_required"))
    if len(codes) > 12:
        out.append(("body.diagnoses", "too_many_diagnoses"))
    for i, code in enumerate(codes):
        problem = icd10_problem(code)
        if problem:
            kind = "icd10_header_code" if "header" in problem else "icd10_unknown_code"
            out.append((f"body.diagnoses.{i}", kind))
    return out


def check_lines(codes: list[str]) -> list[tuple[str, str]]:
    return [("body.charge_ids", "code_combination") for _ in combination_problems(codes)]


def correction_problem(original: ClaimRecord, frequency: str) -> tuple[str, str] | None:
    """Why `original` cannot be replaced/voided now, or None."""
    if frequency not in ("7", "8"):
        return ("body.frequency", "frequency_not_correction")
    if not original.payer_claim_number:
        return ("body.payer_claim_number", "payer_claim_number_required")
    if original.status not in OPEN_FOR_CORRECTION:
        return ("status", "not_correctable")
    return None


def split_name(name: str) -> tuple[str, str]:
    """'Jordan A Testperson' -> ('Testperson', 'Jordan A'): subscriber names are stored
    as one string; the claim needs last and first."""
    parts = name.split()
    if len(parts) == 1:
        return parts[0], parts[0]
    return parts[-1], " ".join(parts[:-1])


def to_postal(address: Any) -> x.PostalAddress | None:
    """A patient address (line1, city, region, postal_code) as a claim address, or None
    when it is not a US address with a state."""
    if address is None or getattr(address, "country", "US") != "US" or not address.region:
        return None
    try:
        return x.PostalAddress(
            line1=address.line1,
            line2=address.line2,
            city=address.city,
            state=address.region.upper()[:2],
            postal_code=address.postal_code,
        )
    except ValueError:
        return None


def identity_party(identity: BillingIdentity) -> x.Party:
    return x.Party(kind=identity.kind, last_name=identity.name, first_name=identity.first_name)


def to_837(
    claim: ClaimRecord,
    *,
    payer: Payer,
    billing: BillingIdentity,
    rendering: BillingIdentity | None,
    patient: Any,  # tpm.domain.patients.Patient (decrypted)
) -> x.Claim:
    """The X12 claim for a stored claim: billing facts from the record, people from the
    patient record and its insurance."""
    insurance = patient.insurance
    if billing.address is None or billing.ein is None:
        raise ClaimRuleError([("billing_identity", "billing_identity_incomplete")])
    if insurance is None:
        raise ClaimRuleError([("patient.insurance", "insurance_required")])
    patient_person = x.Insured(
        last_name=patient.legal_last_name,
        first_name=patient.legal_first_name,
        date_of_birth=patient.date_of_birth,
        address=to_postal(patient.address),
    )
    subscriber_info = insurance.subscriber
    relationship = (subscriber_info.relationship if subscriber_info else "self").lower()
    if relationship == "self" or subscriber_info is None:
        subscriber, dependant, code = patient_person, None, "18"
    else:
        last, first = split_name(subscriber_info.name)
        subscriber = x.Insured(
            last_name=last,
            first_name=first,
            date_of_birth=subscriber_info.date_of_birth,
            address=to_postal(patient.address),
        )
        dependant, code = patient_person, RELATIONSHIP_CODES.get(relationship, "G8")
    render = None
    if rendering is not None:
        render = x.RenderingProvider(
            party=identity_party(rendering), npi=rendering.npi, taxonomy=rendering.taxonomy
        )
    return x.Claim(
        claim_id=claim.pcn,
        frequency=claim.frequency,
        payer_claim_number=claim.payer_claim_number if claim.frequency != "1" else None,
        prior_authorization=claim.prior_authorization,
        note=claim.part2_notice,
        place_of_service=claim.place_of_service,
        billing=x.BillingProvider(
            party=identity_party(billing),
            npi=billing.npi,
            ein=billing.ein,
            taxonomy=billing.taxonomy,
            address=billing.address,
        ),
        rendering=render,
        payer=x.Payer(
            name=payer.name, payer_id=payer.payer_id, filing_indicator=payer.filing_indicator
        ),
        subscriber=subscriber,
        member_id=insurance.member_id,
        group_number=insurance.group_number,
        patient=dependant,
        relationship=code,
        diagnoses=tuple(icd10_dotted(d) for d in claim.diagnoses),
        lines=tuple(
            x.ClaimLine(
                control_number=line.control_number,
                procedure=line.procedure,
                modifiers=line.modifiers,
                charge=line.charge,
                units=line.units,
                service_date=line.service_date,
                pointers=line.pointers,
            )
            for line in claim.lines
        ),
    )
