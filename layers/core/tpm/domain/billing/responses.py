"""Writing the files a clearinghouse and a payer send back: 999, 277CA and 835. Used by the
local clearinghouse (`tpm dev` answers a submitted 837P with these), by tests and
benchmarks, and to regenerate the synthetic fixtures. Pure: no I/O."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from tpm.domain.billing.acks import ClaimStatus
from tpm.domain.billing.remit835 import ClaimPayment, ProviderAdjustment
from tpm.domain.billing.x12 import Writer, amount


def _envelope(
    w: Writer, sender: str, receiver: str, at: datetime, control: int, fic: str, version: str
) -> None:
    w.add(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        sender.ljust(15),
        "ZZ",
        receiver.ljust(15),
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
        fic,
        sender,
        receiver,
        at.strftime("%Y%m%d"),
        at.strftime("%H%M"),
        str(control),
        "X",
        version,
    )


def _close(w: Writer, st_control: str, control: int) -> str:
    w.add("SE", str(w.st_count()), st_control)
    w.add("GE", "1", str(control))
    w.add("IEA", "1", f"{control:09d}")
    return w.text()


def render_999(
    *,
    sender: str,
    receiver: str,
    at: datetime,
    control: int,
    group_control: str,
    transaction_control: str,
    accepted: bool,
    error_segment: tuple[str, int, str] | None = None,
) -> str:
    """A 999 for one 837 transaction: accepted (A) or rejected (R) with one IK3."""
    w = Writer()
    _envelope(w, sender, receiver, at, control, "FA", "005010X231A1")
    w.add("ST", "999", "0001", "005010X231A1")
    w.add("AK1", "HC", group_control, "005010X222A1")
    w.add("AK2", "837", transaction_control, "005010X222A1")
    if not accepted and error_segment is not None:
        seg_id, position, code = error_segment
        w.add("IK3", seg_id, str(position), "", code)
    w.add("IK5", "A" if accepted else "R", *([] if accepted else ["5"]))
    w.add("AK9", "A" if accepted else "R", "1", "1", "1" if accepted else "0")
    return _close(w, "0001", control)


def render_277ca(
    *,
    sender: str,
    receiver: str,
    at: datetime,
    control: int,
    statuses: list[ClaimStatus],
    billing_npi: str,
    service_date: date,
) -> str:
    w = Writer()
    _envelope(w, sender, receiver, at, control, "HN", "005010X214")
    w.add("ST", "277", "0001", "005010X214")
    w.add("BHT", "0085", "08", f"ACK{control}", at.strftime("%Y%m%d"), at.strftime("%H%M"), "TH")
    w.add("HL", "1", "", "20", "1")
    w.add("NM1", "PR", "2", "SYNTHETIC CLEARINGHOUSE", "", "", "", "", "46", sender)
    w.add("TRN", "1", f"T{control}")
    w.add("DTP", "050", "D8", at.strftime("%Y%m%d"))
    w.add("DTP", "009", "D8", at.strftime("%Y%m%d"))
    w.add("HL", "2", "1", "21", "1")
    w.add("NM1", "41", "2", "SUBMITTER", "", "", "", "", "46", receiver)
    w.add("TRN", "2", f"B{control}")
    total = sum((s.amount or Decimal(0) for s in statuses), Decimal(0))
    w.add("STC", "A1:19:PR", at.strftime("%Y%m%d"), "WQ", amount(total))
    w.add("HL", "3", "2", "19", "1")
    w.add("NM1", "85", "2", "BILLING PROVIDER", "", "", "", "", "XX", billing_npi)
    w.add("TRN", "1", "0")
    w.add("STC", "A1:19:PR", "", "WQ", amount(total))
    hl = 3
    for s in statuses:
        hl += 1
        w.add("HL", str(hl), "3", "PT")
        w.add("NM1", "QC", "1", "PATIENT", "SYNTHETIC", "", "", "", "MI", "MEMBER")
        w.add("TRN", "2", s.claim_id)
        w.add(
            "STC",
            f"{s.category}:{s.status_code}" + (f":{s.entity}" if s.entity else ""),
            at.strftime("%Y%m%d"),
            "WQ" if s.accepted else "U",
            amount(s.amount or Decimal(0)),
        )
        if s.payer_claim_number:
            w.add("REF", "1K", s.payer_claim_number)
        w.add("DTP", "472", "D8", service_date.strftime("%Y%m%d"))
    return _close(w, "0001", control)


def render_835(
    *,
    sender: str,
    receiver: str,
    at: datetime,
    control: int,
    payer_name: str,
    payer_tin: str,
    payee_name: str,
    payee_npi: str,
    trace: str,
    payment_date: date,
    claims: list[ClaimPayment],
    provider_adjustments: list[ProviderAdjustment] = (),  # type: ignore[assignment]
    total: Decimal | None = None,
) -> str:
    """An 835 (no ST03, as payers send it). `total` defaults to the balanced BPR02."""
    paid = sum((c.paid for c in claims), Decimal(0))
    plb = sum((p.amount for p in provider_adjustments), Decimal(0))
    bpr02 = paid - plb if total is None else total
    w = Writer()
    _envelope(w, sender, receiver, at, control, "HP", "005010X221A1")
    w.add("ST", "835", "0001")
    w.add(
        "BPR",
        "I",
        amount(bpr02),
        "C",
        "ACH",
        "CCP",
        "01",
        "999999999",
        "DA",
        "123456",
        "1" + payer_tin[-9:],
        "",
        "01",
        "888888888",
        "DA",
        "654321",
        payment_date.strftime("%Y%m%d"),
    )
    w.add("TRN", "1", trace, "1" + payer_tin[-9:])
    w.add("DTM", "405", payment_date.strftime("%Y%m%d"))
    w.add("N1", "PR", payer_name)
    w.add("N3", "1 PAYER WAY")
    w.add("N4", "SPRINGFIELD", "IL", "62701")
    w.add("PER", "BL", "PROVIDER SERVICES", "TE", "5555550199")
    w.add("N1", "PE", payee_name, "XX", payee_npi)
    w.add("LX", "1")
    for c in claims:
        w.add(
            "CLP",
            c.claim_id,
            c.status,
            amount(c.charge),
            amount(c.paid),
            amount(c.patient_responsibility) if c.patient_responsibility else "",
            c.filing_indicator or "12",
            c.payer_claim_number,
        )
        for group in _groups(c.adjustments):
            w.add("CAS", *group)
        w.add(
            "NM1",
            "QC",
            "1",
            c.patient_last_name or "PATIENT",
            "SYNTHETIC",
            "",
            "",
            "",
            "MI",
            c.member_id or "MEMBER",
        )
        if c.statement_from:
            w.add("DTM", "232", c.statement_from.strftime("%Y%m%d"))
        for line in c.lines:
            w.add(
                "SVC",
                ":".join(["HC", line.procedure, *line.modifiers]),
                amount(line.charge),
                amount(line.paid),
                "",
                line.units or "1",
            )
            if line.service_date:
                w.add("DTM", "472", line.service_date.strftime("%Y%m%d"))
            for group in _groups(line.adjustments):
                w.add("CAS", *group)
            if line.control_number:
                w.add("REF", "6R", line.control_number)
            if line.allowed is not None:
                w.add("AMT", "B6", amount(line.allowed))
            for remark in line.remarks:
                w.add("LQ", "HE", remark)
    if provider_adjustments:
        plb_parts: list[str] = []
        for p in provider_adjustments:
            plb_parts += [
                f"{p.reason}:{p.reference}" if p.reference else p.reason,
                amount(p.amount),
            ]
        first = provider_adjustments[0]
        w.add("PLB", first.provider_id, first.fiscal_date, *plb_parts)
    return _close(w, "0001", control)


def _groups(adjustments: list) -> list[list[str]]:  # type: ignore[type-arg]
    by_group: dict[str, list[str]] = {}
    for a in adjustments:
        by_group.setdefault(a.group, []).extend([a.reason, amount(a.amount), a.quantity])
    return [[g, *vals] for g, vals in by_group.items()]
