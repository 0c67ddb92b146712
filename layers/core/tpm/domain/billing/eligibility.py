"""Eligibility: the 270 inquiry (005010X279A1) and what a 271 answer holds for the
mental-health service types. Informational only: nothing is billed from it. Pure: no I/O.

Service types asked: 30 (health benefit plan coverage, always), MH (mental health), A4
(psychiatric), A6 (psychotherapy), A8 (psychiatric outpatient), AI (substance use).
271 EB rows: EB01 1 active / 6 inactive, A coinsurance (EB08 percent), B copay (EB07
amount), C deductible, G out-of-pocket (EB07 amount, EB06 period), F limitations; EB11
authorisation required, EB12 in network. AAA rejects (72 invalid member id, 75 not
found, 42 try later). A behavioural-health carve-out answers "see other payer" with an
LS/LE loop naming that payer (NM1*PR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from tpm.domain.billing.x12 import Segment, Writer, clean

SERVICE_TYPES = ("30", "MH", "A4", "A6", "A8", "AI")
IMPLEMENTATION = "005010X279A1"
AAA_REASONS = {
    "42": "payer unable to respond now: try later",
    "72": "invalid member id",
    "73": "invalid name",
    "75": "subscriber not found",
    "76": "duplicate subscriber",
    "58": "invalid date of birth",
}


@dataclass(frozen=True)
class Inquiry:
    trace: str  # TRN02: ours, echoed in the 271
    payer_name: str
    payer_id: str
    provider_name: str
    provider_npi: str
    last_name: str
    first_name: str
    date_of_birth: date
    member_id: str
    on: date
    at: datetime
    control: int
    sender: str
    receiver: str


def render_270(q: Inquiry) -> str:
    w = Writer()
    at = q.at
    w.add(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        q.sender.ljust(15),
        "ZZ",
        q.receiver.ljust(15),
        at.strftime("%y%m%d"),
        at.strftime("%H%M"),
        "^",
        "00501",
        f"{q.control:09d}",
        "0",
        "T",
        ":",
    )
    w.add(
        "GS",
        "HS",
        q.sender,
        q.receiver,
        at.strftime("%Y%m%d"),
        at.strftime("%H%M"),
        str(q.control),
        "X",
        IMPLEMENTATION,
    )
    w.add("ST", "270", "0001", IMPLEMENTATION)
    w.add("BHT", "0022", "13", clean(q.trace, 50), at.strftime("%Y%m%d"), at.strftime("%H%M"))
    w.add("HL", "1", "", "20", "1")
    w.add("NM1", "PR", "2", clean(q.payer_name, 60), "", "", "", "", "PI", q.payer_id)
    w.add("HL", "2", "1", "21", "1")
    w.add("NM1", "1P", "2", clean(q.provider_name, 60), "", "", "", "", "XX", q.provider_npi)
    w.add("HL", "3", "2", "22", "0")
    w.add("TRN", "1", clean(q.trace, 50), "9" + q.provider_npi[:9])
    w.add(
        "NM1",
        "IL",
        "1",
        clean(q.last_name, 60),
        clean(q.first_name, 35),
        "",
        "",
        "",
        "MI",
        clean(q.member_id, 80),
    )
    w.add("DMG", "D8", q.date_of_birth.strftime("%Y%m%d"))
    w.add("DTP", "291", "D8", q.on.strftime("%Y%m%d"))
    for code in SERVICE_TYPES:
        w.add("EQ", code)
    w.add("SE", str(w.st_count()), "0001")
    w.add("GE", "1", str(q.control))
    w.add("IEA", "1", f"{q.control:09d}")
    return w.text()


@dataclass
class Benefit:
    service_types: list[str]
    kind: str  # active, inactive, coinsurance, copay, deductible, out_of_pocket, limitation, other
    coverage_level: str = ""
    period: str = ""
    amount: Decimal | None = None
    percent: Decimal | None = None
    authorization_required: bool | None = None
    in_network: bool | None = None
    message: str = ""


@dataclass
class Eligibility:
    trace: str = ""
    active: bool | None = None
    benefits: list[Benefit] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)  # AAA reasons
    other_payer: str | None = None  # a carve-out: "see other payer"


_KINDS = {
    "1": "active",
    "6": "inactive",
    "A": "coinsurance",
    "B": "copay",
    "C": "deductible",
    "G": "out_of_pocket",
    "F": "limitation",
    "R": "other_payer",
}
_YN = {"Y": True, "N": False}


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def read_271(segments: list[Segment]) -> Eligibility:
    out = Eligibility()
    in_ls = False
    last: Benefit | None = None
    for seg in segments:
        if seg.id == "TRN" and seg.get(1) == "2":
            out.trace = seg.get(2)
        elif seg.id == "AAA" and seg.get(1) == "N":
            reason = seg.get(3)
            out.rejections.append(f"{reason}: {AAA_REASONS.get(reason, 'rejected')}")
        elif seg.id == "EB":
            kind = _KINDS.get(seg.get(1), "other")
            types = [t for t in seg.get(3).split(seg.separators.repetition) if t] or ["30"]
            last = Benefit(
                service_types=types,
                kind=kind,
                coverage_level=seg.get(2),
                period=seg.get(6),
                amount=_decimal(seg.get(7)),
                percent=_decimal(seg.get(8)),
                authorization_required=_YN.get(seg.get(11)),
                in_network=_YN.get(seg.get(12)),
                message=seg.get(5),
            )
            out.benefits.append(last)
            if kind == "active":
                out.active = True
            elif kind == "inactive" and out.active is None:
                out.active = False
        elif seg.id == "MSG" and last is not None:
            last.message = (last.message + " " + seg.get(1)).strip()
        elif seg.id == "LS":
            in_ls = True
        elif seg.id == "LE":
            in_ls = False
        elif seg.id == "NM1" and in_ls and seg.get(1) == "PR":
            out.other_payer = seg.get(3) or seg.get(9)
    return out


def simulated_271(inquiry_text: str, segments: list[Segment], copay: Decimal = Decimal(25)) -> str:
    """A 271 answering a 270: active coverage, mental-health copay, 20 % coinsurance out
    of network, deductible and out-of-pocket — for the local clearinghouse and tests."""
    trn = next(s for s in segments if s.id == "TRN")
    isa = next(s for s in segments if s.id == "ISA")
    gs = next(s for s in segments if s.id == "GS")
    member = next(s for s in segments if s.id == "NM1" and s.get(1) == "IL")
    at = datetime.strptime(gs.get(4) + gs.get(5), "%Y%m%d%H%M")
    control = int(isa.get(13)) % 900_000_000 + 1
    w = Writer()
    w.add(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        gs.get(3).ljust(15),
        "ZZ",
        gs.get(2).ljust(15),
        at.strftime("%y%m%d"),
        at.strftime("%H%M"),
        "^",
        "00501",
        f"{control:09d}",
        "0",
        "T",
        ":",
    )
    w.add(
        "GS",
        "HB",
        gs.get(3),
        gs.get(2),
        at.strftime("%Y%m%d"),
        at.strftime("%H%M"),
        str(control),
        "X",
        IMPLEMENTATION,
    )
    w.add("ST", "271", "0001", IMPLEMENTATION)
    w.add("BHT", "0022", "11", trn.get(2), at.strftime("%Y%m%d"), at.strftime("%H%M"))
    w.add("HL", "1", "", "20", "1")
    w.add("NM1", "PR", "2", "SYNTHETIC HEALTH PLAN", "", "", "", "", "PI", "SYNPY1")
    w.add("HL", "2", "1", "21", "1")
    w.add("NM1", "1P", "2", "PROVIDER", "", "", "", "", "XX", "1245319599")
    w.add("HL", "3", "2", "22", "0")
    w.add("TRN", "2", trn.get(2), trn.get(3))
    w.add(*member.elements)
    w.add("EB", "1", "IND", "30", "", "SYNTHETIC PPO")
    w.add("EB", "B", "IND", "MH^A6", "", "", "27", str(copay), "", "", "", "N", "Y")
    w.add("EB", "A", "IND", "MH^A6", "", "", "", "", "0.2", "", "", "N", "N")
    w.add("EB", "C", "IND", "30", "", "", "23", "500", "", "", "", "", "Y")
    w.add("EB", "G", "IND", "30", "", "", "23", "3000", "", "", "", "", "Y")
    w.add("SE", str(w.st_count()), "0001")
    w.add("GE", "1", str(control))
    w.add("IEA", "1", f"{control:09d}")
    return w.text()
