"""Secure messaging's main path on the emulated AWS stack: the messaging functions with the
template's own environment (DynamoDB, KMS field envelopes, attachments in the documents
bucket, SES, the audit trail on AWS adapters) behind the local gateway, and the scheduled
sweep and retention functions invoked as EventBridge would.

What it proves on the deployed handlers: a patient writes outside office hours with a
file and gets the practice's auto-reply; the clinician's inbox lists it, the file comes
back byte for byte, the answer reaches the patient; front desk cannot open the thread;
the sweep's emails (through SES) say only that a message waits; nothing readable is at
rest in DynamoDB or S3; a flagged message is withheld from the patient at once and opens
the privacy officer's incident; every step is in the audit trail."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from typing import Any

import httpx

from emulated.stack import EmulatedStack
from tpm.runtime import get_runtime
from tpm.security.audit import read_events, read_head
from tpm.services.practices import practice_id_for_slug

SLUG = "securemsg"
PATIENT = "robin.synthetic@securemsg.example"
PATIENT_PASSWORD = "Heron-Quarry-Violet-52"
SUBJECT = "Nightmares again"
BODY = "The nightmares came back after the move."
REPLY = "Thank you for telling me; we will look at this on Monday."
FILE = b"sleep diary: woke 3am, 4am (synthetic marker q7x-sleep-diary-marker)\n"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: {response.text}"
    )
    return response.json() if response.content else None


def audit_actions() -> list[str]:
    runtime = get_runtime()
    practice_id = practice_id_for_slug(runtime.store, SLUG)
    assert practice_id is not None
    store = runtime.store.practice(practice_id)
    head = read_head(store)
    assert head is not None
    return [e.action for e in read_events(store, 1, head.seq)]


def test_secure_messaging_on_aws_adapters(emulated: EmulatedStack) -> None:
    # GIVEN a practice whose office is closed, a clinician on a portal patient's care team,
    # front desk, and the agreement with AWS (no PHI leaves for AWS without it)
    owner = emulated.owner(SLUG)
    clinician = emulated.staff(owner, SLUG, "clinician", "casey@securemsg.example")
    desk = emulated.staff(owner, SLUG, "front_desk", "frankie@securemsg.example")
    clinician_id = ok(clinician.get("/v1/me"))["id"]
    agreement = {
        "status": "executed",
        "executed_on": (date.today() - timedelta(days=30)).isoformat(),
    }
    aws = {"key": "aws", "name": "Amazon Web Services", "role": "hosting", "receives_phi": True}
    ok(owner.post("/v1/vendors", json={**aws, "agreement": agreement}), 201)
    practice = ok(owner.get("/v1/practice"))
    closed = {"version": practice["version"], "settings": {"messaging": {"business_hours": []}}}
    auto_reply = ok(owner.patch("/v1/practice/settings", json=closed))["settings"]["messaging"][
        "auto_reply_text"
    ]
    patient = ok(
        desk.post(
            "/v1/patients",
            json={
                "legal_first_name": "Robin",
                "legal_last_name": "Synthetic",
                "date_of_birth": "1988-08-08",
                "email": PATIENT,
            },
        ),
        201,
    )
    ok(desk.post(f"/v1/patients/{patient['id']}/care-team", json={"user_id": clinician_id}), 204)
    invitation = ok(desk.post(f"/v1/patients/{patient['id']}/portal-invitation", json={}), 201)
    emulated.accept(SLUG, invitation["invitation_token"], PATIENT_PASSWORD)
    me = emulated.client(emulated.sign_in(SLUG, PATIENT, PATIENT_PASSWORD))

    # WHEN the patient writes to their care team with a file, after hours
    status = ok(me.get("/v1/me/messaging"))
    assert status["open_now"] is False
    assert [r["id"] for r in status["recipients"]] == [clinician_id]
    attachment = {
        "filename": "sleep-diary.txt",
        "content_type": "text/plain",
        "content_base64": base64.b64encode(FILE).decode(),
    }
    sent = ok(
        me.post(
            "/v1/threads", json={"subject": SUBJECT, "body": BODY, "attachments": [attachment]}
        ),
        201,
    )
    thread_id = sent["thread_id"]
    # THEN the practice's auto-reply is in the thread at once
    assert [m["body"] for m in sent["automatic"]] == [auto_reply]

    # AND the clinician's inbox lists it; the file comes back byte for byte; they answer
    [entry] = ok(clinician.get("/v1/me/inbox"))["items"]
    assert (entry["thread_id"], entry["subject"], entry["unread"] > 0) == (thread_id, SUBJECT, True)
    thread = ok(clinician.get(f"/v1/threads/{thread_id}"))
    file_id = thread["messages"][0]["attachments"][0]["id"]
    content = ok(clinician.get(f"/v1/message-attachments/{file_id}/content"))
    assert base64.b64decode(content["content_base64"]) == FILE
    last = thread["messages"][-1]["id"]
    ok(clinician.post(f"/v1/threads/{thread_id}/read", json={"message_id": last}), 204)
    ok(clinician.post(f"/v1/threads/{thread_id}/messages", json={"body": REPLY}), 201)
    mine = ok(me.get(f"/v1/threads/{thread_id}"))
    assert [m["body"] for m in mine["messages"]] == [BODY, auto_reply, REPLY]
    assert any(r["user_id"] == clinician_id for r in mine["read_receipts"])

    # AND front desk cannot open the thread
    assert desk.get(f"/v1/threads/{thread_id}").status_code == 403

    # WHEN the scheduled sweep runs (EventBridge's event, the deployed handler)
    report = emulated.run_schedule("MessagingSweepFunction")
    assert report["sent"] >= 2, report
    # THEN SES carried only "a message is waiting", to the clinician and the patient
    emails = [e for e in emulated.sent_emails() if "secure message" in (e.subject + e.body)]
    assert {to for e in emails for to in e.to} >= {PATIENT, "casey@securemsg.example"}
    for email in emails:
        text = email.subject + email.body
        for secret in (SUBJECT, BODY, REPLY, "nightmare", "Robin", "sleep"):
            assert secret not in text

    # AND nothing readable is at rest: not in DynamoDB, not in the documents bucket
    items = str(emulated.aws("dynamodb").scan(TableName=emulated.physical["Table"])["Items"])
    for secret in (SUBJECT, BODY, REPLY, "q7x-sleep-diary-marker"):
        assert secret not in items
    s3 = emulated.aws("s3")
    bucket = emulated.physical["DocumentsBucket"]
    objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert objects, "the attachment is stored in the documents bucket"
    for obj in objects:
        stored = s3.get_object(Bucket=bucket, Key=obj["Key"])
        assert b"q7x-sleep-diary-marker" not in stored["Body"].read()
        assert stored.get("ServerSideEncryption") == "aws:kms"

    # WHEN the clinician flags the patient's message as an inappropriate disclosure
    flag = ok(
        clinician.post(
            f"/v1/threads/{thread_id}/messages/{thread['messages'][0]['id']}/flag",
            json={"reason": "third_party_phi", "note": "Names a sibling's diagnosis."},
        ),
        201,
    )
    # THEN it opened the privacy officer's incident, and the patient no longer sees it
    assert flag["incident_id"]
    withheld = ok(me.get(f"/v1/threads/{thread_id}"))["messages"][0]
    assert (withheld["restricted"], withheld["body"], withheld["attachments"]) == (True, None, [])

    # AND the daily retention job runs on the stack (nothing is past retention yet)
    assert emulated.run_schedule("MessagingRetentionFunction")["listed_for_review"] == 0

    # AND every step is in the practice's audit trail
    actions = audit_actions()
    for action in (
        "message.thread.create",
        "message.read",
        "message.attachment.read",
        "message.send",
        "message.notify",
        "message.flag",
        "incident.open",
    ):
        assert action in actions, action
