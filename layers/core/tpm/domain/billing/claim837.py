"""Professional claims as 005010X222A1 837P: the claim as data, and the interchange text.
Pure: the caller supplies every fact (identities, payer, patient, lines) and the control
numbers; nothing here reads a clock or a store.

One interchange (ISA/IEA) holds one functional group (GS/GE) holding one transaction
(ST/SE) with every claim of a batch, grouped by billing provider and subscriber. Our ids
travel in it so acknowledgements and remittances come back to us:
  ISA13 interchange control number   (TA1)
  GS06 group control number          (999 AK1-02)
  ST02 transaction control number    (999 AK2-02)
  CLM01 our claim control number     (277CA TRN02, 835 CLP01)
  REF*6R our line control number     (835 REF*6R per SVC)
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tpm.domain.billing.codes import icd10_undotted
from tpm.domain.billing.x12 import Writer, amount, clean

IMPLEMENTATION = "005010X222A1"
CLAIM_ID_PATTERN = r"^[A-Z0-9]{1,20}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PostalAddress(_Frozen):
    line1: str = Field(min_length=1, max_length=55)
    line2: str | None = Field(default=None, max_length=55)
    city: str = Field(min_length=1, max_length=30)
    state: str = Field(pattern=r"^[A-Z]{2}$")
    postal_code: str = Field(pattern=r"^\d{5}(-?\d{4})?$")


class Party(_Frozen):
    """A person (last, first) or an organisation (last = its name)."""

    kind: Literal["person", "organisation"]
    last_name: str = Field(min_length=1, max_length=60)
    first_name: str | None = Field(default=None, max_length=35)


class BillingProvider(_Frozen):
    party: Party
    npi: str
    ein: str
    taxonomy: str
    address: PostalAddress  # physical service address with ZIP+4


class RenderingProvider(_Frozen):
    party: Party
    npi: str
    taxonomy: str


class Insured(_Frozen):
    """A person on the claim: the subscriber, or the patient when not the subscriber."""

    last_name: str = Field(min_length=1, max_length=60)
    first_name: str = Field(min_length=1, max_length=35)
    date_of_birth: date
    sex: Literal["F", "M", "U"] = "U"
    address: PostalAddress | None = None


class Payer(_Frozen):
    name: str = Field(min_length=1, max_length=60)
    payer_id: str = Field(min_length=2, max_length=80)
    filing_indicator: str = Field(pattern=r"^[0-9A-Z]{2}$")  # SBR09: CI, MB, MC, BL, HM, ...


class ClaimLine(_Frozen):
    control_number: str = Field(min_length=1, max_length=50)  # REF*6R
    procedure: str
    modifiers: tuple[str, ...] = Field(default=(), max_length=4)
    charge: Decimal = Field(ge=0)
    units: int = Field(default=1, ge=1)
    service_date: date
    pointers: tuple[int, ...] = Field(min_length=1, max_length=4)


class Claim(_Frozen):
    claim_id: str = Field(pattern=CLAIM_ID_PATTERN)  # CLM01
    frequency: str = "1"  # CLM05-3; 1 original, 7 replacement, 8 void
    payer_claim_number: str | None = None  # REF*F8, for 7 and 8
    prior_authorization: str | None = None  # REF*G1
    place_of_service: str
    billing: BillingProvider
    rendering: RenderingProvider | None = None
    payer: Payer
    subscriber: Insured
    member_id: str = Field(min_length=1, max_length=80)
    group_number: str | None = None
    payer_responsibility: Literal["P", "S", "T"] = "P"
    patient: Insured | None = None  # None: the subscriber is the patient
    relationship: str = "18"  # patient to subscriber: 18 self, 01 spouse, 19 child, G8 other
    release_of_information: Literal["Y", "I"] = "Y"
    note: str | None = Field(default=None, max_length=80)  # NTE*ADD (e.g. the 42 CFR 2.32 notice)
    diagnoses: tuple[str, ...] = Field(min_length=1, max_length=12)
    lines: tuple[ClaimLine, ...] = Field(min_length=1, max_length=50)

    @property
    def total(self) -> Decimal:
        return sum((line.charge for line in self.lines), Decimal(0))


class Envelope(_Frozen):
    """Who sends to whom, with our control numbers for this file."""

    sender_id: str = Field(min_length=1, max_length=15)  # ISA06 / GS02
    receiver_id: str = Field(min_length=1, max_length=15)  # ISA08 / GS03
    submitter: Party
    submitter_id: str = Field(min_length=1, max_length=80)  # NM1*41 NM109
    contact_name: str = Field(min_length=1, max_length=60)
    contact_phone: str = Field(pattern=r"^\d{10}$")
    receiver_name: str = Field(min_length=1, max_length=60)
    interchange_control: int = Field(ge=1, le=999_999_999)  # ISA13 = IEA02
    group_control: int = Field(ge=1, le=999_999_999)  # GS06 = GE02
    transaction_control: str = Field(pattern=r"^\d{4,9}$")  # ST02 = SE02
    batch_reference: str = Field(min_length=1, max_length=30)  # BHT03
    created_at: datetime
    usage: Literal["T", "P"] = "T"


def _nm1(w: Writer, code: str, party: Party, qualifier: str = "", ident: str = "") -> None:
    w.add(
        "NM1",
        code,
        "1" if party.kind == "person" else "2",
        clean(party.last_name, 60),
        clean(party.first_name or "", 35) if party.kind == "person" else "",
        "",
        "",
        "",
        qualifier,
        ident,
    )


def _address(w: Writer, address: PostalAddress) -> None:
    w.add("N3", clean(address.line1, 55), clean(address.line2 or "", 55))
    w.add("N4", clean(address.city, 30), address.state, address.postal_code.replace("-", ""))


def _insured(w: Writer, code: str, person: Insured, qualifier: str = "", ident: str = "") -> None:
    w.add(
        "NM1",
        code,
        "1",
        clean(person.last_name, 60),
        clean(person.first_name, 35),
        "",
        "",
        "",
        qualifier,
        ident,
    )
    if person.address is not None:
        _address(w, person.address)
    w.add("DMG", "D8", person.date_of_birth.strftime("%Y%m%d"), person.sex)


def render_837p(envelope: Envelope, claims: list[Claim]) -> str:
    """The interchange text, one segment a line."""
    e = envelope
    w = Writer()
    at = e.created_at
    w.add(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        e.sender_id.ljust(15),
        "ZZ",
        e.receiver_id.ljust(15),
        at.strftime("%y%m%d"),
        at.strftime("%H%M"),
        "^",
        "00501",
        f"{e.interchange_control:09d}",
        "1",
        e.usage,
        ":",
    )
    w.add(
        "GS",
        "HC",
        e.sender_id,
        e.receiver_id,
        at.strftime("%Y%m%d"),
        at.strftime("%H%M"),
        str(e.group_control),
        "X",
        IMPLEMENTATION,
    )
    w.add("ST", "837", e.transaction_control, IMPLEMENTATION)
    w.add(
        "BHT",
        "0019",
        "00",
        clean(e.batch_reference, 30),
        at.strftime("%Y%m%d"),
        at.strftime("%H%M"),
        "CH",
    )
    _nm1(w, "41", e.submitter, "46", e.submitter_id)
    w.add("PER", "IC", clean(e.contact_name, 60), "TE", e.contact_phone)
    w.add("NM1", "40", "2", clean(e.receiver_name, 60), "", "", "", "", "46", e.receiver_id)
    hl = 0
    # One 2000A per billing provider, one 2000B per subscriber (+ payer), 2000C per patient.
    by_billing: dict[str, list[Claim]] = {}
    for claim in claims:
        by_billing.setdefault(claim.billing.model_dump_json(), []).append(claim)
    for group in by_billing.values():
        hl += 1
        provider_hl = hl
        billing = group[0].billing
        w.add("HL", str(provider_hl), "", "20", "1")
        w.add("PRV", "BI", "PXC", billing.taxonomy)
        _nm1(w, "85", billing.party, "XX", billing.npi)
        _address(w, billing.address)
        w.add("REF", "EI", billing.ein.replace("-", ""))
        for claim in group:
            hl += 1
            subscriber_hl = hl
            dependent = claim.patient is not None
            w.add("HL", str(subscriber_hl), str(provider_hl), "22", "1" if dependent else "0")
            w.add(
                "SBR",
                claim.payer_responsibility,
                "" if dependent else "18",
                clean(claim.group_number or "", 50),
                "",
                "",
                "",
                "",
                "",
                claim.payer.filing_indicator,
            )
            _insured(w, "IL", claim.subscriber, "MI", clean(claim.member_id, 80))
            w.add(
                "NM1",
                "PR",
                "2",
                clean(claim.payer.name, 60),
                "",
                "",
                "",
                "",
                "PI",
                claim.payer.payer_id,
            )
            if claim.patient is not None:
                hl += 1
                w.add("HL", str(hl), str(subscriber_hl), "23", "0")
                w.add("PAT", claim.relationship)
                _insured(w, "QC", claim.patient)
            _claim(w, claim)
    w.add("SE", str(w.st_count()), e.transaction_control)
    w.add("GE", "1", str(e.group_control))
    w.add("IEA", "1", f"{e.interchange_control:09d}")
    return w.text()


def _claim(w: Writer, claim: Claim) -> None:
    w.add(
        "CLM",
        claim.claim_id,
        amount(claim.total),
        "",
        "",
        f"{claim.place_of_service}:B:{claim.frequency}",
        "Y",
        "A",
        "Y",
        claim.release_of_information,
    )
    if claim.payer_claim_number:
        w.add("REF", "F8", clean(claim.payer_claim_number, 50))
    if claim.prior_authorization:
        w.add("REF", "G1", clean(claim.prior_authorization, 50))
    if claim.note:
        w.add("NTE", "ADD", clean(claim.note, 80))
    codes = [icd10_undotted(c) for c in claim.diagnoses]
    w.add("HI", *[("ABK" if i == 0 else "ABF") + ":" + c for i, c in enumerate(codes)])
    if claim.rendering is not None and claim.rendering.npi != claim.billing.npi:
        _nm1(w, "82", claim.rendering.party, "XX", claim.rendering.npi)
        w.add("PRV", "PE", "PXC", claim.rendering.taxonomy)
    for n, line in enumerate(claim.lines, start=1):
        w.add("LX", str(n))
        w.add(
            "SV1",
            ":".join(["HC", line.procedure, *line.modifiers]),
            amount(line.charge),
            "UN",
            str(line.units),
            "",
            "",
            ":".join(str(p) for p in line.pointers),
        )
        w.add("DTP", "472", "D8", line.service_date.strftime("%Y%m%d"))
        w.add("REF", "6R", line.control_number)
