"""Reconciliation: bank deposits (an imported statement, CSV or OFX) matched to what should
have arrived — 835 EFTs (TRN02 trace, BPR02 amount, BPR16 date) and card-processor payouts
(amount, arrival date) — and the month-end AR roll-forward.

Report rows: matched (same amount), differing (found by trace, amounts differ), deposit
without a source ("deposit without 835"), and sources without a deposit ("835 without
deposit", "payout without deposit"). Money is Decimal throughout.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from tpm.adapters.store.base import iterate
from tpm.domain.billing.ledger import cents
from tpm.errors import ValidationFailed
from tpm.repositories.billing import LedgerRepository
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice

ZERO = Decimal(0)
REMIT_WINDOW = timedelta(days=5)
PAYOUT_WINDOW = timedelta(days=2)


@dataclass(frozen=True)
class Deposit:
    posted: date
    amount: Decimal
    description: str
    ref: str = ""


@dataclass
class Report:
    matched: list[dict[str, Any]] = field(default_factory=list)
    differing: list[dict[str, Any]] = field(default_factory=list)
    deposits_without_source: list[dict[str, Any]] = field(default_factory=list)
    remittances_without_deposit: list[dict[str, Any]] = field(default_factory=list)
    payouts_without_deposit: list[dict[str, Any]] = field(default_factory=list)


def _amount(text: str) -> Decimal:
    return Decimal(text.replace(",", "").replace("$", "").strip())


def read_csv(content: str) -> list[Deposit]:
    """Columns (any order, case-insensitive): date, amount, description (or memo/name),
    optional reference. Dates YYYY-MM-DD or MM/DD/YYYY."""
    rows = list(csv.DictReader(io.StringIO(content.lstrip("\ufeff"))))
    out: list[Deposit] = []
    for n, row in enumerate(rows, start=2):
        norm = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        try:
            raw = norm.get("date", "")
            posted = (
                datetime.strptime(raw, "%m/%d/%Y").date() if "/" in raw else date.fromisoformat(raw)
            )
            amount = _amount(norm.get("amount", ""))
        except (ValueError, InvalidOperation):
            raise ValidationFailed(
                fields=[{"path": f"body.content.line{n}", "type": "unreadable_row"}]
            ) from None
        desc = norm.get("description") or norm.get("memo") or norm.get("name") or ""
        out.append(Deposit(posted, amount, desc, norm.get("reference", "")))
    return out


_TRN = re.compile(r"<STMTTRN>(.*?)(?:</STMTTRN>|(?=<STMTTRN>)|</BANKTRANLIST>)", re.S | re.I)


def _tag(block: str, name: str) -> str:
    m = re.search(rf"<{name}>([^<\r\n]*)", block, re.I)
    return m.group(1).strip() if m else ""


def read_ofx(content: str) -> list[Deposit]:
    """STMTTRN records of an OFX 1.x (SGML, unclosed tags) or 2.x (XML) statement:
    DTPOSTED, TRNAMT, FITID, NAME and MEMO."""
    out: list[Deposit] = []
    for block in _TRN.findall(content):
        try:
            posted = datetime.strptime(_tag(block, "DTPOSTED")[:8], "%Y%m%d").date()
            amount = _amount(_tag(block, "TRNAMT"))
        except (ValueError, InvalidOperation):
            raise ValidationFailed(
                fields=[{"path": "body.content", "type": "unreadable_row"}]
            ) from None
        text = " ".join(x for x in (_tag(block, "NAME"), _tag(block, "MEMO")) if x)
        out.append(Deposit(posted, amount, text, _tag(block, "FITID")))
    return out


def match(
    deposits: list[Deposit], remits: list[dict[str, Any]], payouts: list[dict[str, Any]]
) -> Report:
    report = Report()
    open_remits = list(remits)
    open_payouts = list(payouts)
    for d in (d for d in deposits if d.amount > ZERO):
        view = {
            "date": d.posted.isoformat(),
            "amount": str(cents(d.amount)),
            "description": d.description[:80],
        }
        by_trace = next(
            (r for r in open_remits if r["trace"] and r["trace"] in f"{d.description} {d.ref}"),
            None,
        )
        if by_trace is not None:
            open_remits.remove(by_trace)
            row = {
                **view,
                "source": "835",
                "remit_id": by_trace["id"],
                "trace": by_trace["trace"],
                "expected": by_trace["total"],
            }
            (report.matched if Decimal(by_trace["total"]) == d.amount else report.differing).append(
                row
            )
            continue
        by_amount = next(
            (
                r
                for r in open_remits
                if Decimal(r["total"]) == d.amount
                and r["payment_date"]
                and abs(date.fromisoformat(r["payment_date"]) - d.posted) <= REMIT_WINDOW
            ),
            None,
        )
        if by_amount is not None:
            open_remits.remove(by_amount)
            report.matched.append(
                {
                    **view,
                    "source": "835",
                    "remit_id": by_amount["id"],
                    "trace": by_amount["trace"],
                    "expected": by_amount["total"],
                }
            )
            continue
        payout = next(
            (
                p
                for p in open_payouts
                if Decimal(p["amount"]) == d.amount
                and abs(date.fromisoformat(p["arrival_date"]) - d.posted) <= PAYOUT_WINDOW
            ),
            None,
        )
        if payout is not None:
            open_payouts.remove(payout)
            report.matched.append(
                {
                    **view,
                    "source": "payout",
                    "payout_id": payout["payout_id"],
                    "expected": payout["amount"],
                }
            )
            continue
        report.deposits_without_source.append(view)
    report.remittances_without_deposit = [
        {
            "remit_id": r["id"],
            "trace": r["trace"],
            "amount": r["total"],
            "payment_date": r["payment_date"],
        }
        for r in open_remits
    ]
    report.payouts_without_deposit = [
        {"payout_id": p["payout_id"], "amount": p["amount"], "arrival_date": p["arrival_date"]}
        for p in open_payouts
    ]
    return report


INCREASES = ("charge", "refund")
PAYMENTS = ("insurance_payment", "patient_payment")
ADJUSTMENTS = ("contractual_adjustment", "other_adjustment", "write_off")


def _months(first: date, last: date) -> list[str]:
    out = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


class ReconciliationService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def bank_statement(
        self, kind: str, content: str, start: date | None, end: date | None
    ) -> Report:
        ctx = self.ctx
        access = ctx.authorize("reconciliation.run", resource_kind="reconciliation")
        deposits = read_ofx(content) if kind == "ofx" else read_csv(content)
        lo = start or min((d.posted for d in deposits), default=ctx.now().date())
        hi = end or max((d.posted for d in deposits), default=ctx.now().date())
        remits = [
            {
                "id": r["id"],
                "trace": str(r.get("trace") or ""),
                "total": str(r.get("total") or "0"),
                "payment_date": r.get("payment_date"),
            }
            for r in iterate(ctx.store, "REMITS", index="gsi1")
            if r.get("kind") == "835"
            and r.get("payment_date")
            and lo - REMIT_WINDOW <= date.fromisoformat(str(r["payment_date"])) <= hi
        ]
        payouts = [
            {
                "payout_id": str(p["payout_id"]),
                "amount": str(p["amount"]),
                "arrival_date": str(p["arrival_date"]),
            }
            for p in iterate(
                ctx.store,
                "PAYOUTS",
                sk_between=(
                    (lo - PAYOUT_WINDOW).isoformat(),
                    (hi + PAYOUT_WINDOW).isoformat() + "~",
                ),
            )
        ]
        report = match(deposits, remits, payouts)
        ctx.record(access, "reconciliation", reason_code=f"deposits_{len(deposits)}")
        return report

    def roll_forward(self, month: str) -> dict[str, Decimal]:
        """begin AR + charges - payments - adjustments + refunds (+ reversals) = end AR."""
        ctx = self.ctx
        access = ctx.authorize("reconciliation.run", resource_kind="reconciliation")
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise ValidationFailed(fields=[{"path": "query.month", "type": "invalid_month"}])
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        first = practice.created_at.date().replace(day=1)
        target = date.fromisoformat(f"{month}-01")
        ledger = LedgerRepository(ctx.store)
        begin = ZERO
        for m in _months(first, target - timedelta(days=1)) if target > first else []:
            begin += sum((e.amount for e in ledger.for_month(m)), ZERO)
        entries = ledger.for_month(month)
        charges = sum((e.amount for e in entries if e.kind == "charge"), ZERO)
        payments = -sum((e.amount for e in entries if e.kind in PAYMENTS), ZERO)
        adjustments = -sum((e.amount for e in entries if e.kind in ADJUSTMENTS), ZERO)
        refunds = sum((e.amount for e in entries if e.kind == "refund"), ZERO)
        reversals = sum((e.amount for e in entries if e.kind == "reversal"), ZERO)
        end = begin + charges - payments - adjustments + refunds + reversals
        check = begin + sum((e.amount for e in entries), ZERO)
        ctx.record(access, "reconciliation", reason_code="ar_roll_forward")
        return {
            "begin_ar": cents(begin),
            "charges": cents(charges),
            "payments": cents(payments),
            "adjustments": cents(adjustments),
            "refunds": cents(refunds),
            "reversals": cents(reversals),
            "end_ar": cents(end),
            "ledger_end_ar": cents(check),
        }
