"""Acknowledgements: the 999 (did the file parse; per ST accepted / rejected) and the
277CA (did the payer front end accept each claim; its claim number). Pure: no I/O.

999: AK1 names our GS (GS01, GS06), AK2 our ST (ST01, ST02); IK3/IK4 point at a segment
and element; IK5 is the verdict per transaction (A accepted, E accepted with errors,
R rejected); AK9 the verdict for the group (A, E, P partially, R).
277CA (005010X214): per claim, TRN02 is our CLM01, STC01-1 the category (A1/A2 accepted;
A3/A4/A6/A7/A8 rejected), REF*1K the payer's claim number, REF*D9 the clearinghouse trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from tpm.domain.billing.x12 import Segment

ACCEPTED_277 = frozenset({"A1", "A2"})
REJECTED_277 = frozenset({"A3", "A4", "A6", "A7", "A8"})


@dataclass
class SegmentError:
    segment: str
    position: str
    loop: str
    code: str
    element: str = ""
    element_code: str = ""


@dataclass
class TransactionAck:
    transaction_set: str  # AK201 (837)
    control_number: str  # AK202 = our ST02
    status: str = ""  # IK501 A / E / R
    codes: list[str] = field(default_factory=list)  # IK502..
    errors: list[SegmentError] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")


@dataclass
class Ack999:
    functional_id: str = ""  # AK101 (HC)
    group_control: str = ""  # AK102 = our GS06
    transactions: list[TransactionAck] = field(default_factory=list)
    group_status: str = ""  # AK901
    included: int = 0
    received: int = 0
    accepted_count: int = 0

    @property
    def accepted(self) -> bool:
        return self.group_status in ("A", "E", "P")


def read_999(segments: list[Segment]) -> Ack999:
    ack = Ack999()
    current: TransactionAck | None = None
    last_error: SegmentError | None = None
    for seg in segments:
        if seg.id == "AK1":
            ack.functional_id, ack.group_control = seg.get(1), seg.get(2)
        elif seg.id == "AK2":
            current = TransactionAck(seg.get(1), seg.get(2))
            ack.transactions.append(current)
        elif seg.id == "IK3" and current is not None:
            last_error = SegmentError(seg.get(1), seg.get(2), seg.get(3), seg.get(4))
            current.errors.append(last_error)
        elif seg.id == "IK4" and last_error is not None:
            last_error.element = seg.components(1)[0] if seg.get(1) else ""
            last_error.element_code = seg.get(3)
        elif seg.id == "IK5" and current is not None:
            current.status = seg.get(1)
            current.codes = [c for c in seg.elements[2:] if c]
            current = None
        elif seg.id == "AK9":
            ack.group_status = seg.get(1)
            ack.included = _int(seg.get(2))
            ack.received = _int(seg.get(3))
            ack.accepted_count = _int(seg.get(4))
    return ack


@dataclass
class ClaimStatus:
    claim_id: str  # TRN02 = our CLM01
    category: str  # STC01-1
    status_code: str  # STC01-2
    entity: str  # STC01-3
    payer_claim_number: str | None = None  # REF*1K
    clearinghouse_trace: str | None = None  # REF*D9
    amount: Decimal | None = None  # STC04
    messages: list[str] = field(default_factory=list)  # further STC categories

    @property
    def accepted(self) -> bool:
        return self.category in ACCEPTED_277

    @property
    def rejected(self) -> bool:
        return self.category in REJECTED_277


@dataclass
class Ack277:
    claims: list[ClaimStatus] = field(default_factory=list)
    reference: str = ""  # BHT03


def read_277ca(segments: list[Segment]) -> Ack277:
    out = Ack277()
    current: ClaimStatus | None = None
    pending_trn: str | None = None
    level = ""
    for seg in segments:
        if seg.id == "BHT":
            out.reference = seg.get(3)
        elif seg.id == "HL":
            current, pending_trn, level = None, None, seg.get(3)
        elif seg.id == "TRN" and seg.get(1) == "2" and level == "PT":
            pending_trn = seg.get(2)
        elif seg.id == "STC" and pending_trn is not None:
            parts = [*seg.components(1), "", "", ""]
            if current is None:
                current = ClaimStatus(pending_trn, parts[0], parts[1], parts[2])
                current.amount = _decimal(seg.get(4))
                out.claims.append(current)
            else:
                current.messages.append(":".join(p for p in parts if p))
        elif seg.id == "REF" and current is not None:
            if seg.get(1) == "1K":
                current.payer_claim_number = seg.get(2) or None
            elif seg.get(1) == "D9":
                current.clearinghouse_trace = seg.get(2) or None
    return out


def _int(value: str) -> int:
    return int(value) if value.isdigit() else 0


def _decimal(value: str) -> Decimal | None:
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None
