"""The ledger: append-only money movements per patient, in two buckets (what insurance
owes, what the patient owes). Pure: no I/O.

Sign: `amount` is the change in what is owed. A charge is positive; payments and
adjustments are negative; a refund is positive (money handed back re-opens the credit);
patient responsibility moves an amount from the insurance bucket to the patient bucket
(two entries). Nothing is edited or deleted: a correction is a reversing entry that
names the entry it reverses.

Separation of duties: a write-off or refund above the practice's threshold is a request
until a different user approves it; nobody approves their own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EntryKind = Literal[
    "charge",
    "insurance_payment",
    "patient_payment",
    "contractual_adjustment",
    "other_adjustment",
    "patient_responsibility",
    "write_off",
    "refund",
    "reversal",
]
Bucket = Literal["insurance", "patient"]
ZERO = Decimal(0)
AGING_BUCKETS = ("0-30", "31-60", "61-90", "90+")


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    patient_id: str
    at: datetime
    kind: EntryKind
    bucket: Bucket
    amount: Decimal
    service_date: date | None = None
    claim_id: str | None = None
    line_control: str | None = None
    payer_ref: str | None = None
    reason: str = Field(default="", max_length=200)  # codes (CO-45, PR-3), never free PHI
    reverses: str | None = None
    source: str | None = None  # remittance, payment or approval id
    created_by: str
    approved_by: str | None = None

    @field_validator("amount")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        return cents(value)


class AdjustmentRequest(BaseModel):
    """A write-off or refund waiting for a second person (above the threshold)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    patient_id: str
    kind: Literal["write_off", "refund"]
    amount: Decimal = Field(gt=0)
    reason: str = Field(min_length=1, max_length=200)
    requested_by: str
    requested_at: datetime
    status: Literal["pending", "approved", "rejected"] = "pending"
    decided_by: str | None = None
    decided_at: datetime | None = None
    entry_id: str | None = None
    version: int = 1


def cents(value: Decimal) -> Decimal:
    """Money to the cent (what every API body shows: "150.00")."""
    return value.quantize(Decimal("0.01"))


def needs_approval(amount: Decimal, threshold: Decimal) -> bool:
    return amount > threshold


def can_decide(request: AdjustmentRequest, user_id: str) -> bool:
    return request.status == "pending" and request.requested_by != user_id


def signed_amount(kind: str, amount: Decimal) -> Decimal:
    """An adjustment request's effect on the patient balance."""
    return -amount if kind == "write_off" else amount


def reversal_of(
    entry: LedgerEntry, entry_id: str, at: datetime, by: str, reason: str
) -> LedgerEntry:
    return LedgerEntry(
        id=entry_id,
        patient_id=entry.patient_id,
        at=at,
        kind="reversal",
        bucket=entry.bucket,
        amount=-entry.amount,
        service_date=entry.service_date,
        claim_id=entry.claim_id,
        line_control=entry.line_control,
        payer_ref=entry.payer_ref,
        reason=reason,
        reverses=entry.id,
        created_by=by,
    )


@dataclass(frozen=True)
class Balance:
    insurance: Decimal
    patient: Decimal

    @property
    def total(self) -> Decimal:
        return self.insurance + self.patient


def balance_of(entries: list[LedgerEntry]) -> Balance:
    ins = sum((e.amount for e in entries if e.bucket == "insurance"), ZERO)
    pat = sum((e.amount for e in entries if e.bucket == "patient"), ZERO)
    return Balance(ins, pat)


def by_payer(entries: list[LedgerEntry]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for e in entries:
        if e.bucket == "insurance" and e.payer_ref:
            out[e.payer_ref] += e.amount
    return dict(out)


def aging_bucket(service_date: date, today: date) -> str:
    days = (today - service_date).days
    if days <= 30:
        return "0-30"
    if days <= 60:
        return "31-60"
    if days <= 90:
        return "61-90"
    return "90+"


def aging(entries: list[LedgerEntry], today: date) -> dict[str, dict[str, Decimal]]:
    """Open balance per bucket (insurance / patient) by age of the service: entries are
    grouped by claim (or service date) and each group's remainder is aged by its service
    date."""
    groups: dict[tuple[Bucket, str], Decimal] = defaultdict(lambda: ZERO)
    dates: dict[tuple[Bucket, str], date] = {}
    for e in entries:
        key: tuple[Bucket, str] = (
            e.bucket,
            e.claim_id or (e.service_date.isoformat() if e.service_date else ""),
        )
        groups[key] += e.amount
        if e.service_date is not None:
            dates[key] = min(dates.get(key, e.service_date), e.service_date)
    out = {b: dict.fromkeys(AGING_BUCKETS, ZERO) for b in ("insurance", "patient")}
    for key, amount in groups.items():
        if amount == ZERO:
            continue
        when = dates.get(key, today)
        out[key[0]][aging_bucket(when, today)] += amount
    return out
