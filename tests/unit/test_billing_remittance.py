"""999, 277CA and 835 reading; the three 835 balancing checks; what would post where."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tpm.domain.billing.acks import read_277ca, read_999
from tpm.domain.billing.remit835 import balance, plan_postings, read_835
from tpm.domain.billing.x12 import parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x12"


def load(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_999_accepted() -> None:
    ack = read_999(parse(load("999_accepted.x12")))
    assert ack.group_control == "1"
    assert ack.accepted
    assert [(t.control_number, t.status) for t in ack.transactions] == [("0001", "A")]


def test_999_rejected_points_at_the_segment() -> None:
    text = load("999_accepted.x12").replace("IK5*A~", "IK3*CLM*21**8~\nIK4*5:1*1331*7~\nIK5*R*5~")
    text = text.replace("AK9*A*1*1*1~", "AK9*R*1*1*0~").replace("SE*6*", "SE*8*")
    ack = read_999(parse(text))
    assert not ack.accepted
    t = ack.transactions[0]
    assert t.status == "R"
    assert t.codes == ["5"]
    assert (t.errors[0].segment, t.errors[0].position, t.errors[0].element) == ("CLM", "21", "5")


def test_277ca_accepts_and_rejects_per_claim_with_payer_claim_number() -> None:
    status = read_277ca(parse(load("277ca_mixed.x12")))
    assert [(c.claim_id, c.accepted, c.rejected, c.payer_claim_number) for c in status.claims] == [
        ("PCN0001", True, False, "PAYERICN0001"),
        ("PCN0002", False, True, None),
    ]


def test_835_reads_claims_lines_adjustments_and_plb() -> None:
    r = read_835(parse(load("835_paid_and_denied.x12")))
    assert (r.total, r.method, r.trace) == (Decimal("146.5"), "ACH", "EFT0000001")
    paid, denied = r.claims
    assert (paid.claim_id, paid.paid, paid.patient_responsibility, paid.payer_claim_number) == (
        "PCN0001",
        Decimal(145),
        Decimal(40),
        "PAYERICN0001",
    )
    assert [ln.control_number for ln in paid.lines] == ["PCN0001-1", "PCN0001-2"]
    assert denied.denied
    assert denied.lines[0].remarks == ["N54"]
    assert [(p.reason, p.amount) for p in r.provider_adjustments] == [("L6", Decimal("-1.5"))]
    assert r.problems == []


def test_835_balances_at_every_level() -> None:
    results = balance(read_835(parse(load("835_paid_and_denied.x12"))))
    assert [r.level for r in results] == ["line", "line", "claim", "line", "claim", "file"]
    assert all(r.ok for r in results)


def test_unbalanced_835_is_reported_not_raised() -> None:
    r = read_835(parse(load("835_unbalanced.x12")))
    results = balance(r)
    file_result = results[-1]
    assert not file_result.ok
    assert file_result.actual == Decimal("150.00")
    assert "OUT OF BALANCE" in file_result.text()
    line_broken = load("835_paid_and_denied.x12").replace(
        "SVC*HC:90785*45*25**1", "SVC*HC:90785*45*26**1"
    )
    levels = {x.level for x in balance(read_835(parse(line_broken))) if not x.ok}
    assert levels == {"line"}  # the claim total still says 145


def test_what_would_post_where() -> None:
    plan = plan_postings(read_835(parse(load("835_paid_and_denied.x12"))))
    got = [(e.kind, e.claim_id, e.line_control, e.amount) for e in plan]
    assert ("insurance_payment", "PCN0001", "PCN0001-1", Decimal(120)) in got
    assert ("contractual_adjustment", "PCN0001", "PCN0001-1", Decimal(40)) in got
    assert ("patient_responsibility", "PCN0001", "PCN0001-1", Decimal(40)) in got
    assert ("denial", "PCN0003", None, Decimal(200)) in got
    assert ("provider_adjustment", "", None, Decimal("-1.5")) in got
    denial = next(e for e in plan if e.kind == "denial")
    assert "CO-197" in denial.reason
    assert "N54" in denial.reason


def test_reversal_and_old_cr_group_are_tolerated() -> None:
    text = load("835_paid_and_denied.x12").replace(
        "CLP*PCN0001*1*245*145*40", "CLP*PCN0001*22*-245*-145*-40"
    )
    text = text.replace("CAS*CO*197*200", "CAS*CR*197*200")
    r = read_835(parse(text))
    assert r.claims[0].reversal
    assert r.problems == []
    assert [e.kind for e in plan_postings(r) if e.claim_id == "PCN0001"] == ["reversal"]
