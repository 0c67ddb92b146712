"""The billing path end to end on the local stack: a signed note's charge becomes a claim
that pyx12 and our rules accept, goes to the (local, simulated) clearinghouse, whose 999
and 277CA are collected; the payer's 835 is posted; the patient balance shows on a
statement PDF; the patient pays it by card through the local processor (signed webhook,
idempotent); and the bank statement reconciles the 835 EFT and the card payout. Then the
month-end AR roll-forward adds up."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from scheduling_world import SchedulingWorld, build
from test_billing import insure, set_up, signed_note_charge

from tpm.domain.billing.remit835 import Adjustment, ClaimPayment, ServiceLine
from tpm.domain.billing.responses import render_835
from tpm.local.gateway import HttpRequest
from tpm.runtime import set_runtime
from tpm.services.payments import processor_of


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[SchedulingWorld]:
    w = build(tmp_path, project_root)
    yield w
    set_runtime(None)


def webhook(world: SchedulingWorld, body: bytes, signature: str) -> tuple[int, dict[str, str]]:
    request = HttpRequest(
        "POST",
        "/v1/payments/webhook",
        [
            ("content-type", "application/json"),
            ("webhook-signature", signature),
            ("user-agent", "processor"),
        ],
        [],
        body,
        "127.0.0.1",
    )
    response = world.gateway.dispatch(request)
    return response.status, json.loads(response.body)


def test_signed_note_to_reconciled_deposit(world: SchedulingWorld) -> None:
    # GIVEN a practice set up to bill, an insured patient and a signed note
    set_up(world)
    pid = insure(world, "ada")
    charge = signed_note_charge(world)
    # WHEN the biller builds, batches and submits the claim
    claim = world.ok("POST", "/v1/claims", "biller", {"charge_ids": [charge["id"]]})
    assert (claim["status"], claim["problems"]) == ("validated", [])
    batch = world.ok("POST", "/v1/claim-batches", "biller", {"claim_ids": [claim["id"]]})
    world.ok("POST", f"/v1/claim-batches/{batch['id']}/submit", "biller")
    # AND collects the clearinghouse's 999 and 277CA
    collected = world.ok("POST", "/v1/billing/clearinghouse/collect", "biller")["items"]
    assert [(c["kind"], c["claims_updated"]) for c in collected] == [("999", 1), ("277CA", 1)]
    accepted = world.ok("GET", f"/v1/claims/{claim['id']}", "biller")
    assert accepted["status"] == "accepted"
    # AND the payer's 835 pays 120 of 200 (CO-45 40, copay PR-3 40) by EFT
    line = claim["lines"][0]
    payment = ClaimPayment(
        claim_id=claim["pcn"],
        status="1",
        charge=Decimal(200),
        paid=Decimal(120),
        patient_responsibility=Decimal(40),
        filing_indicator="12",
        payer_claim_number=accepted["payer_claim_number"],
        lines=[
            ServiceLine(
                "90837",
                ("95",),
                Decimal(200),
                Decimal(120),
                "1",
                date(2026, 3, 2),
                line["control_number"],
                None,
                [Adjustment("CO", "45", Decimal(40)), Adjustment("PR", "3", Decimal(40))],
            )
        ],
    )
    remit = render_835(
        sender="SYNPY1",
        receiver="TPMSYNTH",
        at=world.clock.now(),
        control=77,
        payer_name="SYNTHETIC HEALTH PLAN",
        payer_tin="1999999999",
        payee_name="GROUP",
        payee_npi="1245319599",
        trace="EFT20260320",
        payment_date=date(2026, 3, 20),
        claims=[payment],
    )
    posted = world.ok("POST", "/v1/billing/inbound", "biller", {"content": remit})
    assert (posted["claims_posted"], posted["exceptions"]) == (1, 0)
    # THEN the patient owes the copay, and their statement says so
    statement = world.ok("GET", "/v1/me/statement", "ada_login")
    assert statement["patient_balance"] == "40.00"
    assert base64.b64decode(statement["content_base64"]).startswith(b"%PDF")
    # WHEN the patient pays it by card through the local processor
    checkout = world.ok(
        "POST", f"/v1/patients/{pid}/card-checkout", "ada_login", {"amount": "40.00"}
    )
    processor = processor_of(world.runtime)
    body, signature = processor.pay(
        checkout["checkout_id"], 4000, _reference(world, checkout["checkout_id"]), world.practice_id
    )  # type: ignore[attr-defined]
    # (nothing about the patient went to the processor: amount and opaque ids only)
    assert b"robin" not in body.lower()
    assert pid.encode() not in body
    assert webhook(world, body, signature) == (200, {"received": "payment_posted"})
    assert webhook(world, body, signature) == (200, {"received": "duplicate"})
    assert webhook(world, body, signature.replace("v1=", "v1=0"))[0] == 401
    assert world.ok("GET", f"/v1/patients/{pid}/ledger", "biller")["patient_balance"] == "0.00"
    # AND the processor pays out; the bank statement shows both deposits
    payout_body, payout_sig = processor.payout(4000, date(2026, 3, 23), world.practice_id)  # type: ignore[attr-defined]
    assert webhook(world, payout_body, payout_sig) == (200, {"received": "payout_recorded"})
    csv_text = "Date,Amount,Description\n2026-03-20,120.00,HCCLAIMPMT SYNTHETIC PLAN TRN*1*EFT20260320\n2026-03-23,40.00,CARD PAYOUT\n2026-03-24,15.00,UNKNOWN\n"
    report = world.ok(
        "POST",
        "/v1/reconciliation/bank-statements",
        "biller",
        {"format": "csv", "content": csv_text},
    )
    assert [(m["source"], m["amount"]) for m in report["matched"]] == [
        ("835", "120.00"),
        ("payout", "40.00"),
    ]
    assert [d["amount"] for d in report["deposits_without_source"]] == ["15.00"]
    assert report["remittances_without_deposit"] == []
    assert report["payouts_without_deposit"] == []
    # AND the month's AR rolls forward: charges 200 - payments 160 - adjustments 40 = 0
    ar = world.ok("GET", "/v1/reconciliation/ar", "biller", query={"month": "2026-03"})
    assert (ar["begin_ar"], ar["charges"], ar["payments"], ar["adjustments"], ar["end_ar"]) == (
        "0.00",
        "200.00",
        "160.00",
        "40.00",
        "0.00",
    )
    assert ar["end_ar"] == ar["ledger_end_ar"]


def _reference(world: SchedulingWorld, checkout_id: str) -> str:
    item = world.runtime.store.practice(world.practice_id).get(
        f"CHECKOUT#{checkout_id}", "CHECKOUT"
    )
    assert item is not None
    return str(item["reference"])


def test_ofx_statement_with_a_differing_eft(world: SchedulingWorld) -> None:
    from tpm.services.reconciliation import Deposit, match, read_ofx

    ofx = (
        "OFXHEADER:100\nDATA:OFXSGML\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><BANKTRANLIST>\n"
        "<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20260320120000<TRNAMT>119.00<FITID>A1<NAME>HCCLAIMPMT<MEMO>TRN EFT1\n"
        "<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20260321<TRNAMT>50.00<FITID>A2<NAME>OTHER\n"
        "</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"
    )
    deposits = read_ofx(ofx)
    assert deposits == [
        Deposit(date(2026, 3, 20), Decimal("119.00"), "HCCLAIMPMT TRN EFT1", "A1"),
        Deposit(date(2026, 3, 21), Decimal("50.00"), "OTHER", "A2"),
    ]
    remits = [
        {"id": "rmt_1", "trace": "EFT1", "total": "120.00", "payment_date": "2026-03-20"},
        {"id": "rmt_2", "trace": "EFT9", "total": "80.00", "payment_date": "2026-03-19"},
    ]
    report = match(deposits, remits, [])
    assert [d["remit_id"] for d in report.differing] == ["rmt_1"]
    assert [r["remit_id"] for r in report.remittances_without_deposit] == ["rmt_2"]
    assert [d["amount"] for d in report.deposits_without_source] == ["50.00"]
