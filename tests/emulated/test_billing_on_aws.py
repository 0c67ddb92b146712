"""Billing's main path on the emulated AWS stack: the billing and notes functions with the
template's own environment (DynamoDB, KMS field envelopes, S3 for the sealed X12 files,
the audit trail on AWS adapters) behind the local gateway, the claim workflow on the local
ASL runner over the same adapters.

What it proves on AWS adapters: the set-up validates (NPI check digit, taxonomy, ZIP+4);
a signed note's charge becomes a claim that pyx12 and our rules accept inside the
deployed function's code; a batch's 837P is stored sealed in S3 (no patient name in the
object); an 835 is stored the same way and auto-posted (payment, contractual adjustment,
copay to the patient), the line for a claim we never sent lands in the exception queue
and is resolved; the patient's ledger and statement PDF follow; the claim's execution
waits in the right stage; and each step is in the practice's audit trail."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from emulated.stack import EmulatedStack
from tpm.adapters.workflows.local import LocalWorkflows
from tpm.domain.billing.remit835 import Adjustment, ClaimPayment, ServiceLine
from tpm.domain.billing.responses import render_835
from tpm.local.workflow_runner import template_runner
from tpm.repositories.billing import ClaimWorkflowRepository
from tpm.runtime import get_runtime
from tpm.security.audit import read_events, read_head
from tpm.services.practices import practice_id_for_slug

SLUG = "billing"
EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "template_examples"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: {response.text}"
    )
    return response.json() if response.content else None


def test_a_claim_from_a_signed_note_to_a_posted_835_on_aws_adapters(
    emulated: EmulatedStack,
) -> None:
    # GIVEN a practice with a clinician, a biller, a front desk and an insured patient
    owner = emulated.owner(SLUG)
    clinician = emulated.staff(owner, SLUG, "clinician", "casey@billing.example")
    biller = emulated.staff(owner, SLUG, "biller", "billie@billing.example")
    desk = emulated.staff(owner, SLUG, "front_desk", "frankie@billing.example")
    clinician_id = ok(clinician.get("/v1/me"))["id"]
    # (the business associate agreement with AWS: without it no PHI leaves for AWS)
    agreement = {
        "status": "executed",
        "executed_on": (date.today() - timedelta(days=30)).isoformat(),
    }
    aws = {"key": "aws", "name": "Amazon Web Services", "role": "hosting", "receives_phi": True}
    ok(owner.post("/v1/vendors", json={**aws, "agreement": agreement}), 201)
    patient = ok(
        desk.post(
            "/v1/patients",
            json={
                "legal_first_name": "Robin",
                "legal_last_name": "Synthetic",
                "date_of_birth": "1988-08-08",
                "address": {
                    "line1": "1 Elm St",
                    "city": "Springfield",
                    "region": "IL",
                    "postal_code": "62702",
                },
                "insurance": {
                    "payer_name": "Synthetic Health Plan",
                    "payer_id": "SYNPY1",
                    "member_id": "MEM123456",
                },
            },
        ),
        201,
    )
    pid = patient["id"]
    ok(desk.post(f"/v1/patients/{pid}/care-team", json={"user_id": clinician_id}), 204)
    # AND billing set up: a wrong NPI check digit is refused with the field named
    group = {
        "kind": "organisation",
        "name": "Synthetic Counseling Group",
        "npi": "1234567890",
        "ein": "12-3456789",
        "taxonomy": "261QM0801X",
        "address": {
            "line1": "100 Main St",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701-1234",
        },
    }
    refused = biller.post("/v1/billing/identities", json=group)
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["fields"][0]["path"] == "body.npi"
    group_id = ok(biller.post("/v1/billing/identities", json=group | {"npi": "1245319599"}), 201)[
        "id"
    ]
    rendering = {
        "kind": "person",
        "name": "Clinician",
        "first_name": "Casey",
        "npi": "1679576722",
        "taxonomy": "1041C0700X",
        "user_id": clinician_id,
    }
    ok(biller.post("/v1/billing/identities", json=rendering), 201)
    settings = ok(biller.get("/v1/billing/settings"))
    ok(
        owner.put(
            "/v1/billing/settings",
            json={
                "version": settings["version"],
                "billing_identity_id": group_id,
                "submitter_id": "TPMSYNTH",
            },
        )
    )
    ok(
        biller.post(
            "/v1/billing/payers",
            json={"name": "Synthetic Health Plan", "payer_id": "SYNPY1", "filing_indicator": "CI"},
        ),
        201,
    )
    ok(
        biller.post(
            "/v1/billing/fee-schedules", json={"name": "Default", "fees": {"90837": "200.00"}}
        ),
        201,
    )

    # WHEN the clinician signs a note: its charge waits to be billed
    content = json.loads((EXAMPLES / "progress_note_soap.json").read_text("utf-8"))
    content["session"] |= {"date": (date.today() - timedelta(days=3)).isoformat()}
    note = ok(
        clinician.post(
            "/v1/notes",
            json={"patient_id": pid, "template_id": "progress_note_soap", "content": content},
        ),
        201,
    )
    ok(
        clinician.post(
            f"/v1/notes/{note['id']}/sign", json={"version": note["version"], "attestation": True}
        )
    )
    charge = next(c for c in ok(biller.get("/v1/charges"))["items"] if c["note_id"] == note["id"])
    # AND the biller builds the claim: validated as an 837P in the deployed code
    claim = ok(biller.post("/v1/claims", json={"charge_ids": [charge["id"]]}), 201)
    assert (claim["status"], claim["problems"]) == ("validated", [])
    # AND batches it: the 837P is stored sealed in S3 (the patient's name is not readable)
    batch = ok(biller.post("/v1/claim-batches", json={"claim_ids": [claim["id"]]}), 201)
    s3 = emulated.aws("s3")
    bucket = emulated.physical["DocumentsBucket"]
    stored = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    [key] = [k for k in stored if batch["id"] in k]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert b"SYNTHETIC" not in body.upper()
    assert b"ISA*" not in body

    # WHEN the payer's 835 pays it (CO-45 40, copay PR-3 40) and pays a claim not ours
    line = claim["lines"][0]
    paid = ClaimPayment(
        claim_id=claim["pcn"],
        status="1",
        charge=Decimal(200),
        paid=Decimal(120),
        patient_responsibility=Decimal(40),
        filing_indicator="12",
        payer_claim_number="PAYER1",
        lines=[
            ServiceLine(
                "90837",
                tuple(line["modifiers"]),
                Decimal(200),
                Decimal(120),
                "1",
                date.fromisoformat(line["service_date"]),
                line["control_number"],
                None,
                [Adjustment("CO", "45", Decimal(40)), Adjustment("PR", "3", Decimal(40))],
            )
        ],
    )
    stray = ClaimPayment(
        claim_id="CNOTOURS",
        status="1",
        charge=Decimal(50),
        paid=Decimal(50),
        patient_responsibility=Decimal(0),
        filing_indicator="12",
        payer_claim_number="PAYER2",
    )
    remit = render_835(
        sender="SYNPY1",
        receiver="TPMSYNTH",
        at=datetime.now(UTC),
        control=77,
        payer_name="SYNTHETIC HEALTH PLAN",
        payer_tin="1999999999",
        payee_name="GROUP",
        payee_npi="1245319599",
        trace="EFTAWS1",
        payment_date=date.today(),
        claims=[paid, stray],
    )
    posted = ok(biller.post("/v1/billing/inbound", json={"content": remit}), 201)
    # THEN the claim posts, the stranger waits in the exception queue
    assert (posted["claims_posted"], posted["exceptions"]) == (1, 1)
    assert ok(biller.get(f"/v1/claims/{claim['id']}"))["status"] == "paid"
    ledger = ok(desk.get(f"/v1/patients/{pid}/ledger"))
    assert (ledger["patient_balance"], ledger["insurance_balance"]) == ("40.00", "0.00")
    [exception] = ok(biller.get("/v1/billing/exceptions"))["items"]
    assert (exception["kind"], exception["claim_ref"]) == ("unmatched_claim", "CNOTOURS")
    resolved = ok(
        biller.post(
            f"/v1/billing/exceptions/{exception['id']}/resolve",
            json={"version": exception["version"], "resolution": "not_ours"},
        )
    )
    assert resolved["status"] == "resolved"
    # AND the statement is a PDF for the patient's balance
    statement = ok(desk.get(f"/v1/patients/{pid}/statement"))
    assert statement["patient_balance"] == "40.00"

    # AND the claim's execution, run on the local ASL runner over the AWS adapters, has
    # followed it to the end (paid: the execution finished)
    runtime = get_runtime()
    practice_id = practice_id_for_slug(runtime.store, SLUG)
    assert practice_id is not None
    workflows = runtime.workflows
    assert isinstance(workflows, LocalWorkflows)
    template_runner(workflows, runtime.store).run_until_idle()
    [execution] = workflows.executions(practice_id, "billing")
    assert workflows.describe(practice_id, execution.id).status == "SUCCEEDED"
    tokens = ClaimWorkflowRepository(runtime.store.practice(practice_id), runtime.cipher)
    assert tokens.token(claim["id"]) is None  # it never had to wait: paid before it ran

    # AND every step is in the practice's audit trail
    store = runtime.store.practice(practice_id)
    head = read_head(store)
    assert head is not None
    actions = {e.action for e in read_events(store, 1, head.seq)}
    for action in (
        "billing.setup.manage",
        "claim.create",
        "claim.submit",
        "remittance.post",
        "billing.exception.resolve",
        "ledger.read",
    ):
        assert action in actions, action
