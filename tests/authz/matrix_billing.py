"""Authorization matrix rows for integrated billing (see matrix.py for the format).

Billing records belong to practice A (set up once per world: identities, payer, fees);
"own"/"other"/"foreign" name the patient the record is for. Billers and owners reach
every patient of their practice; front desk reads ledgers and takes payments; a patient
reads only their own ledger."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from matrix import OW, PATIENT_VARIANTS, PX, STAFF, A, B, Case, F, P, Target, every, patient
from support.billing_setup import BillingFixture
from support.outbound import RecordingGuard
from world import World

from tpm.adapters.store.base import Put
from tpm.domain.billing.gfe import GoodFaithEstimate
from tpm.domain.billing.ledger import AdjustmentRequest
from tpm.ids import new_id
from tpm.repositories.billing import (
    BatchRepository,
    BillingSetupRepository,
    LedgerRepository,
    RemittanceRepository,
)
from tpm.repositories.patients import PatientRepository
from tpm.security.principal import Role

X12 = Path(__file__).resolve().parents[1] / "fixtures" / "x12"


def fixture(world: World, practice_id: str) -> BillingFixture:
    store = world.runtime.store.practice(practice_id)
    practice = world.a if practice_id == world.a.id else world.b
    fx = BillingFixture(
        store,
        world.runtime.cipher,
        lambda ops: world.system_write(practice_id, ops),
        world.runtime.clock.now(),
    )
    return fx.set_up(practice.users[Role.CLINICIAN].id)


def practice_of(world: World, variant: str) -> str:
    return world.b.id if variant == "foreign" else world.a.id


def insure(world: World, practice_id: str, pid: str, fx: BillingFixture) -> None:
    """Give the variant's patient an address and insurance (a claim needs both)."""
    repo = PatientRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    current = repo.get(pid)
    assert current is not None
    if current.insurance is None:
        insured = fx.insured_patient([])
        changed = current.bump(insurance=insured.insurance, address=insured.address)
        world.system_write(practice_id, [repo.update_op(changed)])


def charge_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = patient(world, role, variant)
    practice_id = practice_of(world, variant)
    fx = fixture(world, practice_id)
    insure(world, practice_id, pid, fx)
    clinician = (world.b if variant == "foreign" else world.a).users[Role.CLINICIAN].id
    charge = fx.charge(pid, clinician)
    return {"patientId": pid}, {"charge_ids": [charge.id]}


def claim_target(
    status: str = "validated",
    payer_claim_number: str | None = None,
    body: Callable[[], Any] | None = None,
) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        practice_id = practice_of(world, variant)
        fx = fixture(world, practice_id)
        pid = patient(world, role, variant)
        insure(world, practice_id, pid, fx)
        claim = fx.claim(pid, status, payer_claim_number)
        return {"claimId": claim.id, "patientId": pid}, body() if body else None

    return make


def batch_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    fx = fixture(world, world.a.id)
    insured = fx.insured_patient()
    claim = fx.claim(insured.id)
    return {}, {"claim_ids": [claim.id]}


def settings_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    fixture(world, world.a.id)
    version = BillingSetupRepository(world.runtime.store.practice(world.a.id)).settings().version
    return {}, {"version": version, "contact_name": "Billing Desk"}


def payer_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    fx = fixture(world, world.a.id)
    assert fx.payer is not None
    repo = BillingSetupRepository(world.runtime.store.practice(world.a.id))
    current = repo.payer(fx.payer.id)
    assert current is not None
    return {"payerId": current.id}, {"version": current.version, "name": "Synthetic Health Plan"}


def request_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = world.new_patient(world.a.id)
    request = AdjustmentRequest(
        id=new_id("adj"),
        patient_id=pid,
        kind="write_off",
        amount=500,
        reason="hardship",  # type: ignore[arg-type]
        requested_by=new_id("usr"),
        requested_at=world.runtime.clock.now(),
    )
    world.system_write(world.a.id, [LedgerRepository.request_op(request)])
    return {"requestId": request.id, "patientId": pid}, {"approve": True}


def exception_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    exc = {
        "id": new_id("bex"),
        "at": world.runtime.clock.now().isoformat(),
        "status": "open",
        "kind": "unmatched_claim",
        "remit_id": new_id("rmt"),
        "claim_ref": "CUNKNOWN",
        "amount": "50.00",
        "message": "No claim CUNKNOWN.",
        "version": 1,
    }
    world.system_write(world.a.id, [RemittanceRepository.exception_op(exc)])
    return {"exceptionId": str(exc["id"])}, {"version": 1, "resolution": "not_ours"}


def patient_body(body: Any) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        return {"patientId": patient(world, role, variant)}, body

    return make


def identity_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    return {}, {
        "kind": "person",
        "name": "Clinician",
        "first_name": "Sam",
        "npi": _fresh_npi(),
        "taxonomy": "101YP2500X",
    }


def _fresh_npi() -> str:
    import secrets

    from tpm.domain.billing.codes import luhn_ok

    while True:
        base = "1" + "".join(secrets.choice("0123456789") for _ in range(8))
        for check in "0123456789":
            if luhn_ok("80840" + base + check):
                return base + check


def payer_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    return {}, {
        "name": "Another Plan",
        "payer_id": "P" + new_id("x")[-10:].upper(),
        "filing_indicator": "CI",
    }


def fee_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    fx = fixture(world, world.a.id)
    payer = (
        BillingSetupRepository(world.runtime.store.practice(world.a.id)).payer(fx.payer.id)
        if fx.payer
        else None
    )
    assert payer is not None
    new_payer = payer.model_copy(
        update={"id": new_id("pyr"), "payer_id": "F" + new_id("x")[-10:].upper(), "version": 1}
    )
    world.system_write(
        world.a.id,
        [BillingSetupRepository(world.runtime.store.practice(world.a.id)).payer_op(new_payer)],
    )
    return {}, {"name": "Plan fees", "payer_id": new_payer.id, "fees": {"90837": "180.00"}}


def inbound_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    return {}, {"content": (X12 / "277ca_mixed.x12").read_text()}


def batch_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    fixture(world, world.a.id)  # the set-up registers the clearinghouse's agreement
    batch_id = new_id("bat")
    text = (X12 / "837p_two_claims.x12").read_text()
    world.runtime.files.put(world.a.id, batch_id, text.encode(), guard=RecordingGuard())
    batch = {
        "id": batch_id,
        "group_control": "1",
        "interchange_control": 1,
        "claim_ids": [],
        "claim_count": 0,
        "total": "0.00",
        "status": "batched",
        "created_at": world.runtime.clock.now().isoformat(),
        "created_by": "test-harness",
        "version": 1,
    }
    store = world.runtime.store.practice(world.a.id)
    world.system_write(world.a.id, [BatchRepository(store).create_op(batch)])
    return {"batchId": batch_id}, None


def estimate_fields(world: World, practice_id: str) -> dict[str, Any]:
    fx = fixture(world, practice_id)
    assert fx.rendering is not None
    return {
        "provider_identity_id": fx.rendering.id,
        "items": [
            {
                "procedure": "90837",
                "description": "Psychotherapy 53+ min",
                "fee": "200.00",
                "quantity_min": 10,
                "quantity_max": 52,
            }
        ],
        "period_start": "2026-12-01",
        "period_end": "2027-11-30",
    }


def estimate_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = patient(world, role, variant)
    return {"patientId": pid}, estimate_fields(world, world.a.id)


def estimate_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = patient(world, role, variant)
    practice_id = practice_of(world, variant)
    fields = estimate_fields(world, practice_id)
    gfe = GoodFaithEstimate.model_validate(
        {
            **fields,
            "id": new_id("gfe"),
            "patient_id": pid,
            "asked_on": "2026-11-20",
            "due_by": None,
            "created_at": world.runtime.clock.now(),
            "created_by": "test-harness",
        }
    )
    item = {
        "pk": f"PATIENT#{pid}",
        "sk": f"GFE#{gfe.created_at.isoformat()}#{gfe.id}",
        **gfe.model_dump(mode="json"),
    }
    world.system_write(practice_id, [Put(item)])
    return {"patientId": pid, "estimateId": gfe.id}, None


def insured_patient_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = patient(world, role, variant)
    practice_id = practice_of(world, variant)
    insure(world, practice_id, pid, fixture(world, practice_id))
    return {"patientId": pid}, None


def charge_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = patient(world, role, variant)
    practice_id = practice_of(world, variant)
    fx = fixture(world, practice_id)
    clinician = (world.b if variant == "foreign" else world.a).users[Role.CLINICIAN].id
    charge = fx.charge(pid, clinician)
    return {"chargeId": charge.id, "patientId": pid}, None


SETUP_READ = {OW: 200, A: 200, B: 200, F: 200}  # front desk: fees and clinicians for GFEs
SETUP_MANAGE = {OW: 200, A: 200, B: 200}
SETUP_WRITE_201 = {OW: 201, A: 201, B: 201}
BILLING_PATIENT = (200, 200, 404)
BILLERS_201 = {OW: (201, 201, 404), B: (201, 201, 404)}

CASES: list[Case] = [
    Case("GET", "/v1/billing/settings", SETUP_READ, audit=("billing.setup.read",)),
    Case(
        "PUT",
        "/v1/billing/settings",
        SETUP_MANAGE,
        target=settings_body,
        audit=("billing.setup.manage",),
    ),
    Case("GET", "/v1/billing/payers", SETUP_READ, audit=("billing.setup.read",)),
    Case(
        "POST",
        "/v1/billing/payers",
        SETUP_WRITE_201,
        target=payer_body,
        audit=("billing.setup.manage",),
    ),
    Case(
        "PATCH",
        "/v1/billing/payers/{payerId}",
        SETUP_MANAGE,
        target=payer_target,
        audit=("billing.setup.manage",),
    ),
    Case("GET", "/v1/billing/identities", SETUP_READ, audit=("billing.setup.read",)),
    Case(
        "POST",
        "/v1/billing/identities",
        SETUP_WRITE_201,
        target=identity_body,
        audit=("billing.setup.manage",),
    ),
    Case("GET", "/v1/billing/fee-schedules", SETUP_READ, audit=("billing.setup.read",)),
    Case(
        "POST",
        "/v1/billing/fee-schedules",
        SETUP_WRITE_201,
        target=fee_body,
        audit=("billing.setup.manage",),
    ),
    Case(
        "PUT",
        "/v1/patients/{patientId}/sliding-scale",
        {OW: BILLING_PATIENT, B: BILLING_PATIENT},
        variants=PATIENT_VARIANTS,
        target=patient_body({"percent": "40", "reason": "income"}),
        audit=("billing.sliding_scale.manage",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/claims",
        BILLERS_201,
        variants=PATIENT_VARIANTS,
        target=charge_body,
        audit=("claim.create",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/claims", {OW: 200, B: 200}, audit=("claim.read",)),
    Case(
        "GET",
        "/v1/claims/{claimId}",
        {OW: BILLING_PATIENT, B: BILLING_PATIENT},
        variants=PATIENT_VARIANTS,
        target=claim_target(),
        audit=("claim.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/claims/{claimId}/corrections",
        BILLERS_201,
        variants=PATIENT_VARIANTS,
        target=claim_target("denied", "PAYERICN9", body=lambda: {"frequency": "7"}),
        audit=("claim.correct",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/claims/{claimId}/resubmit",
        {OW: BILLING_PATIENT, B: BILLING_PATIENT},
        variants=PATIENT_VARIANTS,
        target=claim_target("rejected", body=lambda: {"version": 1}),
        audit=("claim.correct",),
        patient_scoped=True,
    ),
    Case(
        "POST", "/v1/claim-batches", {OW: 201, B: 201}, target=batch_body, audit=("claim.submit",)
    ),
    Case(
        "POST",
        "/v1/billing/inbound",
        {OW: 201, B: 201},
        target=inbound_body,
        audit=("remittance.post",),
    ),
    Case("GET", "/v1/billing/exceptions", {OW: 200, B: 200}, audit=("billing.exception.read",)),
    Case(
        "POST",
        "/v1/billing/exceptions/{exceptionId}/resolve",
        {OW: 200, B: 200},
        target=exception_target,
        audit=("billing.exception.resolve",),
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/ledger",
        {OW: BILLING_PATIENT, B: BILLING_PATIENT, F: BILLING_PATIENT, P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_body(None),
        audit=("ledger.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/payments",
        {OW: (201, 201, 404), B: (201, 201, 404), F: (201, 201, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_body({"amount": "20.00", "method": "check", "reference": "1042"}),
        audit=("ledger.payment.create",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/adjustments",
        BILLERS_201,
        variants=PATIENT_VARIANTS,
        target=patient_body({"kind": "write_off", "amount": "10.00", "reason": "small balance"}),
        audit=("ledger.adjustment.create",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/adjustment-requests", {OW: 200, B: 200}, audit=("ledger.adjustment.approve",)),
    Case(
        "POST",
        "/v1/adjustment-requests/{requestId}/decision",
        {OW: 200, B: 200},
        target=request_target,
        audit=("ledger.adjustment.approve",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/claim-batches/{batchId}/submit",
        {OW: 200, B: 200},
        target=batch_target,
        audit=("claim.submit",),
    ),
    Case(
        "POST", "/v1/billing/clearinghouse/collect", {OW: 200, B: 200}, audit=("remittance.post",)
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/statement",
        {OW: BILLING_PATIENT, B: BILLING_PATIENT, F: BILLING_PATIENT, P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_body(None),
        audit=("ledger.read",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/me/statement", {**every(404, [*STAFF, PX]), P: 200}, audit=("ledger.read",)),
    Case(
        "POST",
        "/v1/patients/{patientId}/card-checkout",
        {OW: (201, 201, 404), B: (201, 201, 404), F: (201, 201, 404), P: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_body({"amount": "40.00"}),
        audit=("ledger.payment.card",),
        patient_scoped=True,
    ),
    Case("POST", "/v1/payments/webhook", {}, public=True, anonymous=401),
    Case(
        "POST",
        "/v1/reconciliation/bank-statements",
        {OW: 200, B: 200},
        target=lambda w, r, v: (
            {},
            {"format": "csv", "content": "Date,Amount,Description\n2026-03-20,10.00,X\n"},
        ),
        audit=("reconciliation.run",),
    ),
    Case(
        "GET",
        "/v1/reconciliation/ar",
        {OW: 200, B: 200},
        query=[("month", "2026-03")],
        audit=("reconciliation.run",),
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/good-faith-estimates",
        {OW: (201, 201, 404), B: (201, 201, 404), F: (201, 201, 404)},
        variants=PATIENT_VARIANTS,
        target=estimate_body,
        audit=("gfe.create",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/good-faith-estimates",
        {OW: BILLING_PATIENT, B: BILLING_PATIENT, F: BILLING_PATIENT, P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_body(None),
        audit=("gfe.read",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/good-faith-estimates/{estimateId}/pdf",
        {OW: BILLING_PATIENT, B: BILLING_PATIENT, F: BILLING_PATIENT, P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=estimate_target,
        audit=("gfe.read",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/superbill",
        {OW: BILLING_PATIENT, B: BILLING_PATIENT, F: BILLING_PATIENT, P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_body(None),
        audit=("ledger.read",),
        patient_scoped=True,
        query=[("from", "2026-01-01"), ("to", "2026-12-31")],
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/eligibility",
        {OW: BILLING_PATIENT, B: BILLING_PATIENT, F: BILLING_PATIENT},
        variants=PATIENT_VARIANTS,
        target=insured_patient_target,
        audit=("eligibility.check",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/charges/{chargeId}/self-pay",
        {OW: BILLING_PATIENT, B: BILLING_PATIENT},
        variants=PATIENT_VARIANTS,
        target=charge_target,
        audit=("claim.create",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/claims/{claimId}/cms1500",
        {OW: BILLING_PATIENT, B: BILLING_PATIENT},
        variants=PATIENT_VARIANTS,
        target=claim_target(),
        audit=("claim.read",),
        patient_scoped=True,
    ),
]
