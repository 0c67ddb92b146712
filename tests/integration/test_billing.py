"""Integrated billing through the local API gateway: set-up with validated identities, a
signed note's charge becoming a claim that pyx12 and our rules accept, a batch, 999 and
277CA acknowledgements, an 835 auto-posted into the ledger (payments, contractual
adjustments, patient responsibility), duplicates refused, an unbalanced 835 held in the
exception queue, frequency-7 corrections refused without the payer's claim number, and
write-offs above the threshold approved by a second person only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from scheduling_world import SchedulingWorld, build
from support.billing_setup import clearinghouse_vendor

from tpm.domain.billing.acks import ClaimStatus
from tpm.domain.billing.remit835 import Adjustment, ClaimPayment, ServiceLine
from tpm.domain.billing.responses import render_277ca, render_835, render_999
from tpm.domain.patients import Address, Insurance
from tpm.repositories.patients import PatientRepository
from tpm.repositories.vendors import VendorRepository
from tpm.runtime import set_runtime

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "template_examples"
GROUP = {
    "kind": "organisation",
    "name": "Synthetic Counseling Group",
    "npi": "1245319599",
    "ein": "12-3456789",
    "taxonomy": "261QM0801X",
    "address": {
        "line1": "100 Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701-1234",
    },
}


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[SchedulingWorld]:
    w = build(tmp_path, project_root)
    yield w
    set_runtime(None)


def insure(world: SchedulingWorld, label: str) -> str:
    pid = world.patients[label]
    repo = PatientRepository(world.runtime.store.practice(world.practice_id), world.runtime.cipher)
    patient = repo.get(pid)
    assert patient is not None
    changed = patient.bump(
        address=Address(line1="1 Elm St", city="Springfield", region="IL", postal_code="62702"),
        insurance=Insurance(
            payer_name="Synthetic Health Plan", payer_id="SYNPY1", member_id="MEM123456"
        ),
    )
    world.system_write([repo.update_op(changed)])
    return pid


def set_up(world: SchedulingWorld, *, clearinghouse_agreement: bool = True) -> dict[str, Any]:
    vendor = clearinghouse_vendor(world.clock.now(), executed=clearinghouse_agreement)
    world.system_write(list(VendorRepository.create_ops(vendor)))
    group = world.ok("POST", "/v1/billing/identities", "biller", GROUP)
    clinician = world.users["clinician"].id
    world.ok(
        "POST",
        "/v1/billing/identities",
        "biller",
        {
            "kind": "person",
            "name": "Example",
            "first_name": "Riley",
            "npi": "1679576722",
            "taxonomy": "1041C0700X",
            "user_id": clinician,
        },
    )
    settings = world.ok("GET", "/v1/billing/settings", "biller")
    world.ok(
        "PUT",
        "/v1/billing/settings",
        "owner",
        {
            "version": settings["version"],
            "billing_identity_id": group["id"],
            "submitter_id": "TPMSYNTH",
        },
    )
    payer = world.ok(
        "POST",
        "/v1/billing/payers",
        "biller",
        {"name": "Synthetic Health Plan", "payer_id": "SYNPY1", "filing_indicator": "CI"},
    )
    world.ok(
        "POST",
        "/v1/billing/fee-schedules",
        "biller",
        {"name": "Default", "fees": {"90837": "200.00", "90834": "150.00", "90832": "100.00"}},
    )
    return {"group": group, "payer": payer}


def signed_note_charge(
    world: SchedulingWorld, label: str = "ada", **session: Any
) -> dict[str, Any]:
    content = json.loads((EXAMPLES / "progress_note_soap.json").read_text("utf-8"))
    content["session"] |= {
        "date": "2026-03-02",
        "modality": "telehealth_video",
        "place_of_service": "10",
        **session,
    }
    note = world.ok(
        "POST",
        "/v1/notes",
        "clinician",
        {
            "patient_id": world.patients[label],
            "template_id": "progress_note_soap",
            "content": content,
        },
    )
    world.ok(
        "POST",
        f"/v1/notes/{note['id']}/sign",
        "clinician",
        {"version": note["version"], "attestation": True},
    )
    charges = world.ok("GET", "/v1/charges", "biller")["items"]
    return next(c for c in charges if c["note_id"] == note["id"])


def test_identities_are_validated(world: SchedulingWorld) -> None:
    bad_npi = world.call("POST", "/v1/billing/identities", "biller", GROUP | {"npi": "1234567890"})
    assert bad_npi.status == 422
    assert bad_npi.body["error"]["details"]["fields"][0]["path"] == "body.npi"
    bad_tax = world.call(
        "POST", "/v1/billing/identities", "biller", GROUP | {"taxonomy": "1041C0700Z"}
    )
    assert bad_tax.status == 422
    no_zip4 = world.call(
        "POST",
        "/v1/billing/identities",
        "biller",
        GROUP | {"address": GROUP["address"] | {"postal_code": "62701"}},
    )
    assert no_zip4.status == 422
    assert world.call("POST", "/v1/billing/identities", "clinician", GROUP).status == 403


def test_payer_telehealth_rules_pick_pos_and_modifiers(world: SchedulingWorld) -> None:
    set_up(world)
    pid = insure(world, "ada")
    charge = signed_note_charge(world)
    claim = world.ok("POST", "/v1/claims", "biller", {"charge_ids": [charge["id"]]})
    assert claim["status"] == "validated", claim["problems"]
    assert claim["patient_id"] == pid
    assert claim["place_of_service"] == "10"
    assert [(ln["procedure"], ln["modifiers"], ln["charge"]) for ln in claim["lines"]] == [
        ("90837", ["95"], "200.00")
    ]
    assert claim["diagnoses"] == ["F331"]
    assert world.call("POST", "/v1/claims", "biller", {"charge_ids": [charge["id"]]}).status == 409


def test_signed_note_to_posted_payment(world: SchedulingWorld) -> None:
    # GIVEN a practice set up to bill and a signed note for an insured patient
    set_up(world)
    pid = insure(world, "ada")
    charge = signed_note_charge(world)
    claim = world.ok("POST", "/v1/claims", "biller", {"charge_ids": [charge["id"]]})
    # WHEN the claim is batched into a validated 837P
    batch = world.ok("POST", "/v1/claim-batches", "biller", {"claim_ids": [claim["id"]]})
    assert world.ok("GET", f"/v1/claims/{claim['id']}", "biller")["status"] == "batched"
    now = world.clock.now()
    common = {"sender": "CLEARHOUSE", "receiver": "TPMSYNTH", "at": now}
    # AND the clearinghouse accepts the file (999) and the payer the claim (277CA)
    ack = render_999(
        control=900,
        group_control=batch["group_control"],
        transaction_control="0001",
        accepted=True,
        **common,
    )
    assert world.ok("POST", "/v1/billing/inbound", "biller", {"content": ack})["kind"] == "999"
    status = ClaimStatus(claim["pcn"], "A1", "20", "PR", "PAYER123", amount=Decimal(200))
    ca = render_277ca(
        control=901,
        statuses=[status],
        billing_npi="1245319599",
        service_date=date(2026, 3, 2),
        **common,
    )
    world.ok("POST", "/v1/billing/inbound", "biller", {"content": ca})
    accepted = world.ok("GET", f"/v1/claims/{claim['id']}", "biller")
    assert (accepted["status"], accepted["payer_claim_number"]) == ("accepted", "PAYER123")
    # AND the payer pays 120 of 200: CO-45 40, PR-3 (copay) 40
    line = claim["lines"][0]
    payment = ClaimPayment(
        claim_id=claim["pcn"],
        status="1",
        charge=Decimal(200),
        paid=Decimal(120),
        patient_responsibility=Decimal(40),
        filing_indicator="12",
        payer_claim_number="PAYER123",
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
        control=902,
        payer_name="SYNTHETIC HEALTH PLAN",
        payer_tin="1999999999",
        payee_name="GROUP",
        payee_npi="1245319599",
        trace="EFT1",
        payment_date=date(2026, 3, 20),
        claims=[payment],
        **common,
    )
    posted = world.ok("POST", "/v1/billing/inbound", "biller", {"content": remit})
    # THEN the payment posts, the claim is paid and the patient owes the copay
    assert (
        posted["status"],
        posted["claims_posted"],
        posted["exceptions"],
        posted["balanced"],
    ) == ("posted", 1, 0, True)
    paid = world.ok("GET", f"/v1/claims/{claim['id']}", "biller")
    assert (paid["status"], paid["paid"], paid["patient_responsibility"]) == (
        "paid",
        "120.00",
        "40.00",
    )
    events = [h["event"] for h in paid["history"]]
    assert events == [
        "created",
        "validated",
        "batched",
        "999_accepted",
        "277ca_accepted",
        "835_paid",
    ]
    ledger = world.ok("GET", f"/v1/patients/{pid}/ledger", "biller")
    assert (Decimal(ledger["insurance_balance"]), Decimal(ledger["patient_balance"])) == (0, 40)
    kinds = sorted(e["kind"] for e in ledger["entries"])
    assert kinds == [
        "charge",
        "contractual_adjustment",
        "insurance_payment",
        "patient_responsibility",
        "patient_responsibility",
    ]
    # AND the same 835 again is refused, and nothing posts twice
    dup = world.call("POST", "/v1/billing/inbound", "biller", {"content": remit})
    assert (dup.status, dup.body["error"]["code"]) == (409, "duplicate_remittance")
    # AND the patient sees their own balance; the front desk takes the copay
    mine = world.ok("GET", f"/v1/patients/{pid}/ledger", "ada_login")
    assert Decimal(mine["patient_balance"]) == 40
    world.ok("POST", f"/v1/patients/{pid}/payments", "desk", {"amount": "40.00", "method": "cash"})
    assert Decimal(world.ok("GET", f"/v1/patients/{pid}/ledger", "desk")["patient_balance"]) == 0
    # AND a replacement claim carries the payer's claim number and links the original
    fix = world.ok("POST", f"/v1/claims/{claim['id']}/corrections", "biller", {"frequency": "7"})
    assert (fix["frequency"], fix["corrects"], fix["payer_claim_number"], fix["status"]) == (
        "7",
        claim["id"],
        "PAYER123",
        "validated",
    )


def test_unbalanced_835_goes_to_the_exception_queue(world: SchedulingWorld) -> None:
    set_up(world)
    insure(world, "ada")
    claim = world.ok(
        "POST", "/v1/claims", "biller", {"charge_ids": [signed_note_charge(world)["id"]]}
    )
    payment = ClaimPayment(
        claim_id=claim["pcn"],
        status="1",
        charge=Decimal(200),
        paid=Decimal(160),
        patient_responsibility=Decimal(0),
        filing_indicator="12",
        payer_claim_number="P9",
        adjustments=[Adjustment("CO", "45", Decimal(40))],
    )
    remit = render_835(
        sender="SYNPY1",
        receiver="TPMSYNTH",
        at=world.clock.now(),
        control=7,
        payer_name="PLAN",
        payer_tin="1999999999",
        payee_name="GROUP",
        payee_npi="1245319599",
        trace="EFT-UNBAL",
        payment_date=date(2026, 3, 20),
        claims=[payment],
        total=Decimal("170.00"),
    )
    result = world.ok("POST", "/v1/billing/inbound", "biller", {"content": remit})
    assert (result["status"], result["claims_posted"], result["balanced"]) == (
        "exception",
        0,
        False,
    )
    queue = world.ok("GET", "/v1/billing/exceptions", "biller")["items"]
    assert [(e["kind"], e["amount"]) for e in queue] == [("unbalanced_file", "-10.00")]
    assert world.ok("GET", f"/v1/claims/{claim['id']}", "biller")["status"] == "validated"
    # an 835 line for a claim we never sent is held too, the rest of the file posts
    stranger = ClaimPayment(
        claim_id="CUNKNOWN",
        status="1",
        charge=Decimal(50),
        paid=Decimal(50),
        patient_responsibility=Decimal(0),
        filing_indicator="12",
        payer_claim_number="P10",
    )
    remit2 = render_835(
        sender="SYNPY1",
        receiver="TPMSYNTH",
        at=world.clock.now(),
        control=8,
        payer_name="PLAN",
        payer_tin="1999999999",
        payee_name="GROUP",
        payee_npi="1245319599",
        trace="EFT-2",
        payment_date=date(2026, 3, 21),
        claims=[stranger, payment],
    )
    result2 = world.ok("POST", "/v1/billing/inbound", "biller", {"content": remit2})
    assert (result2["status"], result2["claims_posted"], result2["exceptions"]) == (
        "partially_posted",
        1,
        1,
    )
    kinds = {e["kind"] for e in world.ok("GET", "/v1/billing/exceptions", "biller")["items"]}
    assert kinds == {"unbalanced_file", "unmatched_claim"}
    # WHEN the biller closes the unknown claim's exception, saying how
    stray = next(
        e
        for e in world.ok("GET", "/v1/billing/exceptions", "biller")["items"]
        if e["kind"] == "unmatched_claim"
    )
    path = f"/v1/billing/exceptions/{stray['id']}/resolve"
    bad = world.call("POST", path, "biller", {"version": 1, "resolution": "shrug"})
    assert (bad.status, bad.body["error"]["code"]) == (422, "validation_failed")
    stale = world.call("POST", path, "biller", {"version": 5, "resolution": "not_ours"})
    assert (stale.status, stale.body["error"]["code"]) == (409, "version_conflict")
    done = world.ok(
        "POST", path, "biller", {"version": 1, "resolution": "not_ours", "note": "Trace EFT-2"}
    )
    assert (done["status"], done["resolution"], done["note"], done["version"]) == (
        "resolved",
        "not_ours",
        "Trace EFT-2",
        2,
    )
    assert done["resolved_by"] == world.users["biller"].id
    # THEN it leaves the open queue for the resolved one, and cannot be closed twice
    still_open = world.ok("GET", "/v1/billing/exceptions", "biller")["items"]
    assert [e["kind"] for e in still_open] == ["unbalanced_file"]
    resolved = world.ok("GET", "/v1/billing/exceptions", "biller", query={"status": "resolved"})
    assert [e["id"] for e in resolved["items"]] == [stray["id"]]
    again = world.call("POST", path, "biller", {"version": 2, "resolution": "not_ours"})
    assert (again.status, again.body["error"]["code"]) == (409, "exception_resolved")
    # AND a clinician may not close exceptions at all
    assert (
        world.call("POST", path, "clinician", {"version": 2, "resolution": "other"}).status == 403
    )


def test_frequency_7_without_payer_claim_number_is_refused(world: SchedulingWorld) -> None:
    set_up(world)
    insure(world, "ada")
    claim = world.ok(
        "POST", "/v1/claims", "biller", {"charge_ids": [signed_note_charge(world)["id"]]}
    )
    refused = world.call(
        "POST", f"/v1/claims/{claim['id']}/corrections", "biller", {"frequency": "7"}
    )
    assert refused.status == 422
    assert refused.body["error"]["details"]["fields"] == [
        {"path": "body.payer_claim_number", "type": "payer_claim_number_required"}
    ]
    assert "payer's claim number" in refused.body["error"]["message"]


def test_write_offs_above_the_threshold_need_a_second_person(world: SchedulingWorld) -> None:
    pid = world.patients["ben"]
    small = world.call(
        "POST",
        f"/v1/patients/{pid}/adjustments",
        "biller",
        {"kind": "write_off", "amount": "25.00", "reason": "small balance"},
    )
    assert small.status == 201
    big = world.call(
        "POST",
        f"/v1/patients/{pid}/adjustments",
        "biller",
        {"kind": "write_off", "amount": "150.00", "reason": "hardship"},
    )
    assert big.status == 202
    request_id = big.body["id"]
    assert [r["id"] for r in world.ok("GET", "/v1/adjustment-requests", "owner")["items"]] == [
        request_id
    ]
    own = world.call(
        "POST", f"/v1/adjustment-requests/{request_id}/decision", "biller", {"approve": True}
    )
    assert (own.status, own.body["error"]["code"]) == (403, "own_approval")
    decided = world.ok(
        "POST", f"/v1/adjustment-requests/{request_id}/decision", "owner", {"approve": True}
    )
    assert decided["status"] == "approved"
    again = world.call(
        "POST", f"/v1/adjustment-requests/{request_id}/decision", "owner", {"approve": True}
    )
    assert again.status == 409
    ledger = world.ok("GET", f"/v1/patients/{pid}/ledger", "biller")
    write_offs = [e for e in ledger["entries"] if e["kind"] == "write_off"]
    assert sorted(Decimal(e["amount"]) for e in write_offs) == [Decimal(-150), Decimal(-25)]
    approved = next(e for e in write_offs if e["approved_by"])
    assert approved["approved_by"] == world.users["owner"].id
    assert approved["created_by"] == world.users["biller"].id
    assert world.ok("GET", "/v1/adjustment-requests", "owner")["items"] == []
