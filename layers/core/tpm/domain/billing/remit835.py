"""835 remittance (005010X221A1): read it, balance it, and plan where each amount posts.
Pure: no I/O. Reading never raises on content: what cannot be read is reported as a
problem, and the three balancing checks are results, never exceptions.

Balancing (every file, every time):
  line   SVC02 - sum(line CAS) = SVC03
  claim  CLP03 - sum(claim and line CAS) = CLP04
  file   sum(CLP04) - sum(PLB) = BPR02     (a positive PLB reduces the payment)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from tpm.domain.billing.x12 import Segment

ZERO = Decimal(0)
CLAIM_STATUS = {
    "1": "processed as primary",
    "2": "processed as secondary",
    "3": "processed as tertiary",
    "4": "denied",
    "19": "processed as primary, forwarded",
    "20": "processed as secondary, forwarded",
    "21": "processed as tertiary, forwarded",
    "22": "reversal of previous payment",
    "23": "not our claim, forwarded",
}
PATIENT_REASONS = {"1": "deductible", "2": "coinsurance", "3": "copay"}
GROUPS = {
    "CO": "contractual",
    "PR": "patient responsibility",
    "OA": "other",
    "PI": "payer initiated",
    "CR": "correction",
}


@dataclass(frozen=True)
class Adjustment:
    group: str  # CO, PR, OA, PI (CR tolerated)
    reason: str  # CARC
    amount: Decimal
    quantity: str = ""


@dataclass
class ServiceLine:
    procedure: str
    modifiers: tuple[str, ...]
    charge: Decimal
    paid: Decimal
    units: str = ""
    service_date: date | None = None
    control_number: str | None = None  # REF*6R (ours, echoed)
    allowed: Decimal | None = None  # AMT*B6
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)  # LQ*HE RARC

    @property
    def balanced(self) -> bool:
        return self.charge - sum((a.amount for a in self.adjustments), ZERO) == self.paid


@dataclass
class ClaimPayment:
    claim_id: str  # CLP01 = our CLM01
    status: str  # CLP02
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    filing_indicator: str
    payer_claim_number: str  # CLP07
    member_id: str = ""
    patient_last_name: str = ""
    statement_from: date | None = None
    adjustments: list[Adjustment] = field(default_factory=list)  # claim-level CAS
    lines: list[ServiceLine] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    @property
    def all_adjustments(self) -> list[Adjustment]:
        return [*self.adjustments, *(a for line in self.lines for a in line.adjustments)]

    @property
    def balanced(self) -> bool:
        total = sum((a.amount for a in self.all_adjustments), ZERO)
        return self.charge - total == self.paid

    @property
    def denied(self) -> bool:
        return self.status == "4" or (
            self.status in ("1", "2", "3")
            and self.paid == ZERO
            and bool(self.all_adjustments)
            and not any(a.group == "PR" for a in self.all_adjustments)
        )

    @property
    def reversal(self) -> bool:
        return self.status == "22"


@dataclass(frozen=True)
class ProviderAdjustment:
    provider_id: str
    fiscal_date: str
    reason: str  # PLB03-1 (L6 interest, WO overpayment recovery, FB forward balance, ...)
    reference: str
    amount: Decimal  # positive reduces the payment


@dataclass
class Remittance:
    handling: str = ""  # BPR01 (I remittance and payment, H notification only, ...)
    total: Decimal = ZERO  # BPR02
    credit_debit: str = ""  # BPR03
    method: str = ""  # BPR04 (ACH, CHK, NON, BOP, FWT)
    payment_date: date | None = None  # BPR16
    trace: str = ""  # TRN02 check or EFT trace number
    payer_tin: str = ""  # TRN03
    payer_name: str = ""
    payer_id: str = ""
    payee_name: str = ""
    payee_npi: str = ""
    claims: list[ClaimPayment] = field(default_factory=list)
    provider_adjustments: list[ProviderAdjustment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def plb_total(self) -> Decimal:
        return sum((p.amount for p in self.provider_adjustments), ZERO)

    @property
    def paid_total(self) -> Decimal:
        return sum((c.paid for c in self.claims), ZERO)

    @property
    def balanced(self) -> bool:
        return self.paid_total - self.plb_total == self.total

    @property
    def dedupe_key(self) -> str:
        """Same payer, trace, amount and date = the same remittance (TRN03, TRN02,
        BPR02, BPR16)."""
        when = self.payment_date.isoformat() if self.payment_date else ""
        return f"{self.payer_tin}|{self.trace}|{self.total}|{when}"


def _money(value: str, problems: list[str], what: str) -> Decimal:
    if not value:
        return ZERO
    try:
        return Decimal(value)
    except InvalidOperation:
        problems.append(f"{what}: {value!r} is not an amount")
        return ZERO


def _date(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None


def read_835(segments: list[Segment]) -> Remittance:
    r = Remittance()
    p = r.problems
    claim: ClaimPayment | None = None
    line: ServiceLine | None = None
    n1 = ""
    for seg in segments:
        sid = seg.id
        if sid == "BPR":
            r.handling, r.credit_debit, r.method = seg.get(1), seg.get(3), seg.get(4)
            r.total = _money(seg.get(2), p, "BPR02")
            r.payment_date = _date(seg.get(16))
        elif sid == "TRN" and seg.get(1) == "1":
            r.trace, r.payer_tin = seg.get(2), seg.get(3)
        elif sid == "N1":
            n1 = seg.get(1)
            if n1 == "PR":
                r.payer_name = seg.get(2)
            elif n1 == "PE":
                r.payee_name = seg.get(2)
                if seg.get(3) == "XX":
                    r.payee_npi = seg.get(4)
        elif sid == "REF" and n1 == "PR" and claim is None and seg.get(1) == "2U":
            r.payer_id = seg.get(2)
        elif sid == "CLP":
            line = None
            claim = ClaimPayment(
                claim_id=seg.get(1),
                status=seg.get(2),
                charge=_money(seg.get(3), p, f"CLP03 of {seg.get(1)}"),
                paid=_money(seg.get(4), p, f"CLP04 of {seg.get(1)}"),
                patient_responsibility=_money(seg.get(5), p, f"CLP05 of {seg.get(1)}"),
                filing_indicator=seg.get(6),
                payer_claim_number=seg.get(7),
            )
            if claim.status not in CLAIM_STATUS:
                p.append(f"claim {claim.claim_id}: unknown claim status {claim.status!r}")
            r.claims.append(claim)
        elif sid == "CAS" and claim is not None:
            target = line.adjustments if line is not None else claim.adjustments
            target.extend(_cas(seg, p))
        elif sid == "NM1" and claim is not None and line is None:
            if seg.get(1) == "QC":
                claim.patient_last_name = seg.get(3)
                if not claim.member_id and seg.get(8) == "MI":
                    claim.member_id = seg.get(9)
            elif seg.get(1) == "IL" and seg.get(8) == "MI":
                claim.member_id = seg.get(9)
        elif sid == "DTM" and claim is not None:
            when = _date(seg.get(2))
            if line is not None and seg.get(1) in ("472", "150"):
                line.service_date = when
            elif line is None and seg.get(1) == "232":
                claim.statement_from = when
        elif sid == "MOA" or sid == "MIA":
            if claim is not None:
                claim.remarks.extend(e for e in seg.elements[1:] if e and not _is_number(e))
        elif sid == "SVC" and claim is not None:
            parts = [*seg.components(1), "", ""]
            line = ServiceLine(
                procedure=parts[1],
                modifiers=tuple(m for m in parts[2:6] if m),
                charge=_money(seg.get(2), p, f"SVC02 of {claim.claim_id}"),
                paid=_money(seg.get(3), p, f"SVC03 of {claim.claim_id}"),
                units=seg.get(5),
            )
            claim.lines.append(line)
        elif sid == "REF" and line is not None and seg.get(1) == "6R":
            line.control_number = seg.get(2) or None
        elif sid == "AMT" and line is not None and seg.get(1) == "B6":
            line.allowed = _money(seg.get(2), p, "AMT02")
        elif sid == "LQ" and line is not None and seg.get(1) == "HE":
            line.remarks.append(seg.get(2))
        elif sid == "PLB":
            claim, line = None, None
            r.provider_adjustments.extend(_plb(seg, p))
        elif sid in ("SE", "GE", "IEA"):
            claim, line = None, None
    return r


def _is_number(value: str) -> bool:
    return value.replace(".", "", 1).isdigit()


def _cas(seg: Segment, problems: list[str]) -> list[Adjustment]:
    group = seg.get(1)
    if group not in GROUPS:
        problems.append(f"CAS group {group!r} is not CO, PR, OA, PI or CR")
    out: list[Adjustment] = []
    for i in range(2, 20, 3):
        reason = seg.get(i)
        if not reason:
            continue
        out.append(
            Adjustment(group, reason, _money(seg.get(i + 1), problems, "CAS"), seg.get(i + 2))
        )
    return out


def _plb(seg: Segment, problems: list[str]) -> list[ProviderAdjustment]:
    out: list[ProviderAdjustment] = []
    for i in range(3, 15, 2):
        parts = seg.components(i)
        if not parts:
            continue
        out.append(
            ProviderAdjustment(
                provider_id=seg.get(1),
                fiscal_date=seg.get(2),
                reason=parts[0],
                reference=parts[1] if len(parts) > 1 else "",
                amount=_money(seg.get(i + 1), problems, "PLB"),
            )
        )
    return out


# ---- balancing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceResult:
    level: str  # "line", "claim", "file"
    subject: str  # claim id (+ line) or "file"
    expected: Decimal
    actual: Decimal

    @property
    def ok(self) -> bool:
        return self.expected == self.actual

    def text(self) -> str:
        verdict = "balanced" if self.ok else f"OUT OF BALANCE by {self.expected - self.actual}"
        return (
            f"{self.level} {self.subject}: expected {self.expected}, paid {self.actual}: {verdict}"
        )


def balance(r: Remittance) -> list[BalanceResult]:
    """Every line, every claim and the file, in that order."""
    out: list[BalanceResult] = []
    for claim in r.claims:
        for k, line in enumerate(claim.lines, start=1):
            expected = line.charge - sum((a.amount for a in line.adjustments), ZERO)
            subject = f"{claim.claim_id} line {k} ({line.control_number or line.procedure})"
            out.append(BalanceResult("line", subject, expected, line.paid))
        expected = claim.charge - sum((a.amount for a in claim.all_adjustments), ZERO)
        out.append(BalanceResult("claim", claim.claim_id, expected, claim.paid))
    out.append(BalanceResult("file", "file", r.paid_total - r.plb_total, r.total))
    return out


# ---- what would post where ------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedEntry:
    """One ledger effect of a remittance (before matching to stored claims)."""

    claim_id: str  # "" for provider-level
    line_control: str | None
    kind: str  # insurance_payment, contractual_adjustment, other_adjustment,
    #            patient_responsibility, denial, reversal, provider_adjustment
    amount: Decimal
    reason: str = ""  # group-CARC, PLB reason, RARC list


def plan_postings(r: Remittance) -> list[PlannedEntry]:
    """The ledger entries a balanced remittance would produce. A reversal (CLP02 22)
    carries negative amounts: posting it undoes the earlier payment."""
    out: list[PlannedEntry] = []
    for claim in r.claims:
        if claim.denied:
            carcs = ",".join(f"{a.group}-{a.reason}" for a in claim.all_adjustments)
            rarcs = ",".join([*claim.remarks, *(m for ln in claim.lines for m in ln.remarks)])
            out.append(
                PlannedEntry(
                    claim.claim_id, None, "denial", claim.charge, f"{carcs} {rarcs}".strip()
                )
            )
            continue
        if claim.reversal:
            out.append(PlannedEntry(claim.claim_id, None, "reversal", claim.paid))
            continue
        claim_level: list[tuple[str | None, Adjustment]] = [(None, a) for a in claim.adjustments]
        for line in claim.lines:
            out.append(
                PlannedEntry(claim.claim_id, line.control_number, "insurance_payment", line.paid)
            )
            claim_level += [(line.control_number, a) for a in line.adjustments]
        if not claim.lines:
            out.append(PlannedEntry(claim.claim_id, None, "insurance_payment", claim.paid))
        for control, adj in claim_level:
            kind = {"CO": "contractual_adjustment", "PR": "patient_responsibility"}.get(
                adj.group, "other_adjustment"
            )
            reason = f"{adj.group}-{adj.reason}"
            if adj.group == "PR" and adj.reason in PATIENT_REASONS:
                reason += f" {PATIENT_REASONS[adj.reason]}"
            out.append(PlannedEntry(claim.claim_id, control, kind, adj.amount, reason))
    for plb in r.provider_adjustments:
        out.append(
            PlannedEntry(
                "", None, "provider_adjustment", plb.amount, f"{plb.reason} {plb.reference}".strip()
            )
        )
    return out
