"""Batches go to the clearinghouse (the local folder drop, answering with a simulated 999
and 277CA), responses are collected and applied; the patient downloads a statement PDF
of what they owe."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from scheduling_world import SchedulingWorld, build
from test_billing import insure, set_up, signed_note_charge

from tpm.runtime import set_runtime


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[SchedulingWorld]:
    w = build(tmp_path, project_root)
    yield w
    set_runtime(None)


def test_submit_and_collect_acknowledgements(world: SchedulingWorld) -> None:
    set_up(world)
    insure(world, "ada")
    claim = world.ok(
        "POST", "/v1/claims", "biller", {"charge_ids": [signed_note_charge(world)["id"]]}
    )
    batch = world.ok("POST", "/v1/claim-batches", "biller", {"claim_ids": [claim["id"]]})
    # WHEN the batch is submitted (the local clearinghouse receives the 837P file)
    sent = world.ok("POST", f"/v1/claim-batches/{batch['id']}/submit", "biller")
    assert sent["status"] == "submitted"
    outbound = world.runtime.settings.data_dir / "clearinghouse" / world.practice_id / "outbound"
    assert [p.name for p in outbound.iterdir()] == [f"{batch['id']}.837"]
    assert world.ok("GET", f"/v1/claims/{claim['id']}", "biller")["status"] == "submitted"
    again = world.call("POST", f"/v1/claim-batches/{batch['id']}/submit", "biller")
    assert (again.status, again.body["error"]["code"]) == (409, "batch_already_submitted")
    # THEN collecting applies its 999 and 277CA: accepted, with the payer's claim number
    collected = world.ok("POST", "/v1/billing/clearinghouse/collect", "biller")
    assert [c["kind"] for c in collected["items"]] == ["999", "277CA"]
    after = world.ok("GET", f"/v1/claims/{claim['id']}", "biller")
    assert (after["status"], after["payer_claim_number"]) == ("accepted", f"SIM{claim['pcn']}")
    assert world.ok("POST", "/v1/billing/clearinghouse/collect", "biller")["items"] == []


def test_statement_pdf_for_the_patient(world: SchedulingWorld) -> None:
    pid = world.patients["ben"]
    world.ok(
        "POST",
        f"/v1/patients/{pid}/adjustments",
        "biller",
        {"kind": "refund", "amount": "30.00", "reason": "overpaid"},
    )
    mine = world.ok("GET", "/v1/me/statement", "ben_login")
    data = base64.b64decode(mine["content_base64"])
    assert data.startswith(b"%PDF")
    assert mine["patient_balance"] == "30.00"
    assert world.call("GET", "/v1/me/statement", "biller").status == 404


def test_no_claim_goes_to_a_clearinghouse_without_an_executed_agreement(
    world: SchedulingWorld,
) -> None:
    set_up(world, clearinghouse_agreement=False)
    insure(world, "ada")
    claim = world.ok(
        "POST", "/v1/claims", "biller", {"charge_ids": [signed_note_charge(world)["id"]]}
    )
    batch = world.ok("POST", "/v1/claim-batches", "biller", {"claim_ids": [claim["id"]]})
    refused = world.call("POST", f"/v1/claim-batches/{batch['id']}/submit", "biller")
    assert refused.status == 409
    assert refused.body["error"]["code"] == "vendor_agreement_required"
    assert refused.body["error"]["details"] == {
        "vendor": "clearinghouse",
        "reason": "agreement_not_executed",
    }
    outbound = world.runtime.settings.data_dir / "clearinghouse" / world.practice_id / "outbound"
    assert not outbound.exists() or list(outbound.iterdir()) == []
    assert world.ok("GET", f"/v1/claims/{claim['id']}", "biller")["status"] == "batched"
    eligibility = world.call("POST", f"/v1/patients/{world.patients['ada']}/eligibility", "desk")
    assert eligibility.status == 409


def test_a_part2_patients_claim_needs_a_consent_and_carries_the_notice(
    world: SchedulingWorld,
) -> None:
    from test_part2 import CONSENT

    from tpm.domain.part2 import REDISCLOSURE_NOTICE

    set_up(world)
    pid = insure(world, "ada")
    world.ok(
        "PUT",
        f"/v1/patients/{pid}/part2",
        "clinician",
        {"part2": True, "program": "Recovery (synthetic)"},
    )
    charge = signed_note_charge(world)
    refused = world.call("POST", "/v1/claims", "biller", {"charge_ids": [charge["id"]]})
    assert (refused.status, refused.body["error"]["code"]) == (409, "part2_consent_required")
    consent = world.ok(
        "POST",
        f"/v1/patients/{pid}/part2/consents",
        "desk",
        CONSENT | {"expires_on": "2027-06-30", "signed_on": "2026-03-01"},
    )
    claim = world.ok("POST", "/v1/claims", "biller", {"charge_ids": [charge["id"]]})
    assert (claim["status"], claim["part2_consent_id"], claim["part2_notice"]) == (
        "validated",
        consent["id"],
        REDISCLOSURE_NOTICE,
    )
    batch = world.ok("POST", "/v1/claim-batches", "biller", {"claim_ids": [claim["id"]]})
    world.ok("POST", f"/v1/claim-batches/{batch['id']}/submit", "biller")
    outbound = world.runtime.settings.data_dir / "clearinghouse" / world.practice_id / "outbound"
    text = (outbound / f"{batch['id']}.837").read_text()
    assert f"NTE*ADD*{REDISCLOSURE_NOTICE.upper()}~" in text
