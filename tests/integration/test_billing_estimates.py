"""Good Faith Estimates through the API: due dates in business days, the 12-month limit,
billed-to-date with the $400 dispute warning, and the PDF with its disclaimers."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from scheduling_world import SchedulingWorld, build
from test_billing import set_up

from tpm.domain.billing.ledger import LedgerEntry
from tpm.ids import new_id
from tpm.repositories.billing import LedgerRepository
from tpm.runtime import set_runtime


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[SchedulingWorld]:
    w = build(tmp_path, project_root)
    yield w
    set_runtime(None)


def test_estimate_deadline_warning_and_pdf(world: SchedulingWorld) -> None:
    setup = set_up(world)
    pid = world.patients["ben"]
    body = {
        "provider_identity_id": setup["group"]["id"],
        "items": [
            {
                "procedure": "90791",
                "description": "Diagnostic evaluation",
                "fee": "250.00",
                "quantity_min": 1,
                "quantity_max": 1,
            },
            {
                "procedure": "90837",
                "description": "Psychotherapy 53+ min",
                "fee": "200.00",
                "quantity_min": 1,
                "quantity_max": 2,
            },
        ],
        "diagnoses": ["F41.1"],
        "period_start": "2026-03-01",
        "period_end": "2027-02-28",
        "service_date": "2026-03-20",
    }
    # the world's clock says 2026-03-02 (a Monday); the session is 14 business days away
    made = world.ok("POST", f"/v1/patients/{pid}/good-faith-estimates", "desk", body)
    assert (made["asked_on"], made["due_by"]) == ("2026-03-02", "2026-03-05")
    assert (made["total_min"], made["total_max"], made["dispute_threshold"]) == (
        "450.00",
        "650.00",
        "1050.00",
    )
    too_long = world.call(
        "POST",
        f"/v1/patients/{pid}/good-faith-estimates",
        "desk",
        body | {"period_end": "2027-03-02"},
    )
    assert too_long.status == 422
    # billed charges in the period reach the upper total + $400: the list warns
    store = world.runtime.store.practice(world.practice_id)
    entries = [
        LedgerEntry(
            id=new_id("led"),
            patient_id=pid,
            at=world.clock.now(),
            kind="charge",
            bucket="patient",
            amount=Decimal(amount),
            service_date=world.clock.now().date(),
            created_by="test",
            reason="90837",
        )
        for amount in ("600.00", "450.00")
    ]
    world.system_write([LedgerRepository.entry_op(e) for e in entries])
    [listed] = world.ok("GET", f"/v1/patients/{pid}/good-faith-estimates", "biller")
    assert (listed["billed"], listed["dispute_warning"]) == ("1050.00", True)
    mine = world.ok("GET", f"/v1/patients/{pid}/good-faith-estimates", "ben_login")
    assert [e["id"] for e in mine] == [made["id"]]
    pdf = world.ok("GET", f"/v1/patients/{pid}/good-faith-estimates/{made['id']}/pdf", "ben_login")
    data = base64.b64decode(pdf["content_base64"])
    assert data.startswith(b"%PDF")
    text = b"".join(zlib.decompress(chunk) for chunk in _streams(data))
    assert b"dispute" in text
    assert b"not a contract" in text
    assert store.get(f"PATIENT#{pid}", "PROFILE") is not None


def _streams(pdf: bytes) -> list[bytes]:
    out, start = [], 0
    while (i := pdf.find(b"stream\n", start)) != -1:
        j = pdf.find(b"endstream", i)
        out.append(pdf[i + 7 : j].rstrip(b"\r\n"))
        start = j + 9
    return out


def test_superbill_lists_the_services(world: SchedulingWorld) -> None:
    from test_billing import insure, signed_note_charge

    set_up(world)
    pid = insure(world, "ada")
    signed_note_charge(world)
    bill = world.ok(
        "GET",
        f"/v1/patients/{pid}/superbill",
        "ada_login",
        query={"from": "2026-03-01", "to": "2026-03-31"},
    )
    data = base64.b64decode(bill["content_base64"])
    text = b"".join(zlib.decompress(chunk) for chunk in _streams(data))
    assert b"90837" in text
    assert b"F33.1" in text
    assert b"1245319599" in text
    reversed_range = world.call(
        "GET",
        f"/v1/patients/{pid}/superbill",
        "biller",
        query={"from": "2026-03-31", "to": "2026-03-01"},
    )
    assert reversed_range.status == 422


def test_eligibility_for_mental_health_services(world: SchedulingWorld) -> None:
    from test_billing import insure

    set_up(world)
    pid = insure(world, "ada")
    result = world.ok("POST", f"/v1/patients/{pid}/eligibility", "desk")
    assert result["active"] is True
    copay = next(b for b in result["benefits"] if b["kind"] == "copay")
    assert (
        copay["service_types"],
        copay["amount"],
        copay["in_network"],
        copay["authorization_required"],
    ) == (["MH", "A6"], "25", True, False)
    deductible = next(b for b in result["benefits"] if b["kind"] == "deductible")
    assert (deductible["amount"], deductible["period"]) == ("500", "23")
    uninsured = world.call("POST", f"/v1/patients/{world.patients['ben']}/eligibility", "desk")
    assert uninsured.status == 422


def test_self_pay_charge_with_sliding_scale(world: SchedulingWorld) -> None:
    from test_billing import signed_note_charge

    set_up(world)
    pid = world.patients["ada"]
    world.ok(
        "PUT", f"/v1/patients/{pid}/sliding-scale", "biller", {"percent": "40", "reason": "income"}
    )
    charge = signed_note_charge(world)
    billed = world.ok("POST", f"/v1/charges/{charge['id']}/self-pay", "biller")
    assert [(e["kind"], e["bucket"], e["amount"]) for e in billed["entries"]] == [
        ("charge", "patient", "200.00"),
        ("other_adjustment", "patient", "-80.00"),
    ]
    assert billed["entries"][1]["reason"] == "sliding scale 40%"
    assert world.ok("GET", f"/v1/patients/{pid}/ledger", "biller")["patient_balance"] == "120.00"
    again = world.call("POST", f"/v1/charges/{charge['id']}/self-pay", "biller")
    assert (again.status, again.body["error"]["code"]) == (409, "charge_already_claimed")
    claim = world.call("POST", "/v1/claims", "biller", {"charge_ids": [charge["id"]]})
    assert claim.status == 409


def test_cms1500_for_a_paper_payer(world: SchedulingWorld) -> None:
    from test_billing import insure, signed_note_charge

    set_up(world)
    insure(world, "ada")
    claim = world.ok(
        "POST", "/v1/claims", "biller", {"charge_ids": [signed_note_charge(world)["id"]]}
    )
    form = world.ok("GET", f"/v1/claims/{claim['id']}/cms1500", "biller")
    text = b"".join(
        zlib.decompress(chunk) for chunk in _streams(base64.b64decode(form["content_base64"]))
    )
    for expected in (
        b"1a Insured's ID: MEM123456",
        b"A. F33.1",
        b"90837 95",
        b"33a NPI: 1245319599",
        claim["pcn"].encode(),
    ):
        assert expected in text, expected
