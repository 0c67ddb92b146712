"""An intake on the emulated AWS stack (tests/emulated/stack.py): the intake and intake-task
functions with the template's environment on the AWS adapters — DynamoDB for the intake,
its form versions, consents and the workflow's executions; KMS envelopes; the signed
consent PDF and the card photos in S3 with SSE-KMS; the invitation-free identity code
through SES — and the intake state machine on tpm's local ASL runner (moto's Step
Functions runs Lambda tasks only in Docker). The patient verifies, answers a PHQ-2, signs
a consent, uploads both card sides; the clinician sends the form back once, then approves;
the intake completes and every step is in the audit trail."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import httpx
from PIL import Image

from emulated.stack import EmulatedStack
from tpm.local.workflow_runner import WorkflowRunner, template_runner
from tpm.runtime import get_runtime
from tpm.security.audit import read_events, read_head
from tpm.services.practices import practice_id_for_slug

SLUG = "intakeaws"
PATIENT = "robin.intake@example.test"
PATIENT_PASSWORD = "Quartz-Meadow-Harbour-73"


ACKNOWLEDGEMENTS = (
    "nature_of_services",
    "confidentiality_limits",
    "records_and_access",
    "emergency_procedures",
    "right_to_withdraw",
    "questions_answered",
)


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, (response.request.url, response.status_code, response.text)
    return response.json() if response.content else None


def card(colour: tuple[int, int, int]) -> str:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), colour).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def code_from_ses(emulated: EmulatedStack) -> str:
    for mail in reversed(emulated.sent_emails()):
        found = re.search(r"one-time (?:portal )?code is (\d{6})", mail.body)
        if found and PATIENT in mail.to:
            return found.group(1)
    raise AssertionError("no code reached SES")


def current_step(me: httpx.Client, runner: WorkflowRunner) -> str | None:
    runner.run_until_idle()
    answer = me.get("/v1/me/intake")
    return str(answer.json()["current_step"]) if answer.status_code == 200 else None


def test_an_intake_on_aws_adapters(emulated: EmulatedStack) -> None:
    # GIVEN a practice with a clinician, a front desk, the AWS agreement recorded, and a
    # patient with a portal account
    owner = emulated.owner(SLUG)
    clinician = emulated.staff(owner, SLUG, "clinician", "casey@intakeaws.example")
    desk = emulated.staff(owner, SLUG, "front_desk", "frankie@intakeaws.example")
    vendor = {
        "key": "aws",
        "name": "Amazon Web Services",
        "role": "hosting",
        "receives_phi": True,
        "agreement": {"status": "executed", "executed_on": "2026-01-05"},
    }
    ok(owner.post("/v1/vendors", json=vendor))
    patient = ok(
        desk.post(
            "/v1/patients",
            json={
                "legal_first_name": "Robin",
                "legal_last_name": "Synthetic",
                "date_of_birth": "1985-05-05",
                "email": PATIENT,
            },
        )
    )
    invitation = ok(desk.post(f"/v1/patients/{patient['id']}/portal-invitation", json={}))
    emulated.accept(SLUG, invitation["invitation_token"], PATIENT_PASSWORD)
    me = emulated.client(emulated.sign_in(SLUG, PATIENT, PATIENT_PASSWORD))
    clinician_id = ok(clinician.get("/v1/me"))["id"]
    ok(desk.post(f"/v1/patients/{patient['id']}/care-team", json={"user_id": clinician_id}))
    template = ok(
        owner.post(
            "/v1/intake-templates",
            json={
                "version": 0,
                "name": "Emulated intake",
                "forms": [{"key": "phq", "template_id": "phq2"}],
                "consents": [{"key": "treatment", "template_id": "informed_consent_treatment"}],
                "insurance_card": True,
                "appointment": False,
            },
        )
    )
    runtime = get_runtime()
    runner = template_runner(runtime.workflows, runtime.store, emulated.gateway.locked_handler)

    # WHEN the clinician starts the intake and the workflow opens the identity step
    intake = ok(
        clinician.post(
            f"/v1/patients/{patient['id']}/intakes", json={"template_id": template["id"]}
        )
    )
    assert current_step(me, runner) == "identity"
    # AND the patient confirms who they are with the code SES delivered
    ok(me.post("/v1/me/intake/identity", json={"date_of_birth": "1985-05-05"}))
    ok(me.post("/v1/me/intake/identity/code", json={"code": code_from_ses(emulated)}))
    assert current_step(me, runner) == "forms"
    # AND answers the PHQ-2, signs the consent and uploads the card
    phq = {"administered_on": "2026-12-06", "answers": {"item_1": 1, "item_2": 0}}
    ok(me.put("/v1/me/intake/forms/phq", json={"version": 0, "content": phq, "submit": True}))
    assert current_step(me, runner) == "consents"
    shown = ok(me.get("/v1/me/intake/forms/treatment"))
    signature = {"signer_name": "Robin Synthetic", "relationship": "self"}
    content = {
        "acknowledgements": dict.fromkeys(ACKNOWLEDGEMENTS, True),
        "policy_version": "2026-01",
        "signature": {**signature, "signed_on": "2026-12-06"},
    }
    consent = ok(
        me.post(
            "/v1/me/intake/consents/treatment/sign",
            json={
                "content": content,
                "signer_name": "Robin Synthetic",
                "document_hash": shown["document_hash"],
                "agree": True,
            },
        )
    )
    assert current_step(me, runner) == "insurance"
    for side, colour in (("front", (10, 80, 160)), ("back", (160, 80, 10))):
        ok(me.post(f"/v1/me/intake/insurance-card/{side}", json={"content_base64": card(colour)}))
    assert current_step(me, runner) == "review"

    # THEN the clinician sends the form back once, the patient amends it, and it is approved
    path = f"/v1/intakes/{intake['id']}"
    detail = ok(clinician.get(path))
    back = {
        "version": detail["intake"]["version"],
        "decision": "request_changes",
        "step": "forms",
        "comment": "Please check the second answer.",
    }
    ok(clinician.post(f"{path}/review", json=back))
    assert current_step(me, runner) == "forms"
    amended = {**phq, "answers": {"item_1": 1, "item_2": 1}}
    ok(me.put("/v1/me/intake/forms/phq", json={"version": 1, "content": amended, "submit": True}))
    assert current_step(me, runner) == "review"
    detail = ok(clinician.get(path))
    approve = {"version": detail["intake"]["version"], "decision": "approve"}
    ok(clinician.post(f"{path}/review", json=approve))
    runner.run_until_idle()
    final = ok(clinician.get(path))
    assert final["intake"]["status"] == "completed"
    versions = ok(clinician.get(f"{path}/forms/phq/versions"))["items"]
    assert [v["event"] for v in versions] == ["submitted", "amended"]

    # AND the signed PDF and the card photos are S3 objects encrypted with the PHI key
    s3 = emulated.aws("s3")
    bucket = emulated.physical["DocumentsBucket"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    documents = [consent["document_id"], *(c["document_id"] for c in final["insurance_cards"])]
    for document_id in documents:
        (key,) = [k for k in keys if document_id in k]
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == emulated.physical["PhiKey.Arn"]
    # (the photo the clinician downloads is the re-encoded JPEG, not what was uploaded)
    front = next(c for c in final["insurance_cards"] if c["side"] == "front")
    photo = ok(clinician.get(f"/v1/documents/{front['document_id']}/content"))
    assert base64.b64decode(photo["content_base64"])[:3] == b"\xff\xd8\xff"
    # AND the intake, its executions and every step are in DynamoDB and the audit trail
    practice_id = practice_id_for_slug(runtime.store, SLUG)
    assert practice_id is not None
    store = runtime.store.practice(practice_id)
    head_event = read_head(store)
    assert head_event is not None
    events = list(read_events(store, 1, head_event.seq))
    actions = {(e.action, e.reason_code) for e in events}
    assert "intake.start" in {e.action for e in events}
    for expected in (
        ("intake.self.verify", "verified"),
        ("intake.self.submit", "form_submitted"),
        ("intake.self.submit", "consent_signed"),
        ("intake.review", "changes_requested"),
        ("intake.review", "approved"),
    ):
        assert expected in actions, expected
    assert any(a == "intake.step.open" for a, _ in actions)  # the workflow's own actions
