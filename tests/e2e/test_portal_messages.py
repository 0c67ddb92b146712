"""Secure messaging in the portal: the patient writes to their care team with an
attachment outside office hours and gets the practice's auto-reply; the clinician reads
and answers; the patient sees the answer and the read receipt; the email notification in
the outbox says only that a message waits; front desk cannot open the thread; an
unanswered message escalates to the practice queue."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import DevServer, PortalPatient
from playwright.sync_api import Locator, Page, expect
from portal_api import (
    AdminSession,
    ok,
    run_messaging_sweep,
    screenshot,
    serious_violations,
    sign_in_portal,
    staff,
)

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/"
    "uiIkKQAAAABJRU5ErkJggg=="
)
SUBJECT = "Sleep since the new dose"
BODY = "I have been waking at 3am every night this week."
REPLY = "Thanks for telling me. Let us talk about it on Tuesday."


def office_closed(client: httpx.Client) -> str:
    """No business hours: every message is after hours (the test runs at any time)."""
    practice = ok(client.get("/v1/practice"))
    body = {"version": practice["version"], "settings": {"messaging": {"business_hours": []}}}
    changed = ok(client.patch("/v1/practice/settings", json=body))
    return str(changed["settings"]["messaging"]["auto_reply_text"])


def write(page: Page, subject: str, body: str, attachment: Path | None = None) -> None:
    page.get_by_role("region", name="Messages").get_by_role(
        "button", name="Write a new message"
    ).click()
    form = page.get_by_role("form", name="New message")
    form.get_by_label("Subject").fill(subject)
    form.get_by_label("Message").fill(body)
    if attachment is not None:
        form.get_by_label("Attach a file (optional)").set_input_files(str(attachment))
    form.get_by_role("button", name="Send message").click()


def test_patient_writes_clinician_answers_nothing_leaks_and_silence_escalates(
    page: Page,
    dev_server: DevServer,
    admin: AdminSession,
    new_patient: PortalPatient,
    tmp_path: Path,
) -> None:
    # (Few sign-ins: the server throttles them per source address, and every test signs
    # in from 127.0.0.1.)
    manager = admin.client()
    auto_reply = office_closed(manager)
    desk = staff(dev_server.base, Role.FRONT_DESK)
    clinician = staff(dev_server.base, Role.CLINICIAN)
    clinician_id = ok(clinician.get("/v1/me"))["id"]
    care_team = f"/v1/patients/{new_patient.patient_id}/care-team"
    ok(desk.post(care_team, json={"user_id": clinician_id}))

    # GIVEN the patient in the portal, outside office hours
    sign_in_portal(page, new_patient.email, new_patient.password)
    messages = page.get_by_role("region", name="Messages")
    expect(messages).to_contain_text("The office is closed now.")
    # WHEN they write to their care team with an attachment
    scan = tmp_path / "sleep-log.png"
    scan.write_bytes(PNG)
    write(page, SUBJECT, BODY, scan)
    # THEN the conversation shows their message and the practice's auto-reply
    conversation = messages.get_by_role("list", name=SUBJECT)
    expect(conversation.get_by_role("listitem")).to_have_count(2)
    expect(conversation.get_by_role("listitem").first).to_contain_text(BODY)
    expect(conversation.get_by_role("listitem").nth(1)).to_contain_text(auto_reply)
    expect(page.get_by_role("status")).to_contain_text("automatic reply")
    screenshot(page, "messages-sent-after-hours")
    assert serious_violations(page) == []

    # AND the clinician finds it in their inbox, reads the file and answers
    inbox = ok(clinician.get("/v1/me/inbox"))["items"]
    thread_id = next(i["thread_id"] for i in inbox if i["subject"] == SUBJECT)
    thread = ok(clinician.get(f"/v1/threads/{thread_id}"))
    file_id = thread["messages"][0]["attachments"][0]["id"]
    content = ok(clinician.get(f"/v1/message-attachments/{file_id}/content"))
    assert base64.b64decode(content["content_base64"]) == PNG
    last = thread["messages"][-1]["id"]
    clinician.post(f"/v1/threads/{thread_id}/read", json={"message_id": last}).raise_for_status()
    ok(clinician.post(f"/v1/threads/{thread_id}/messages", json={"body": REPLY}))

    # AND front desk cannot open the thread
    assert desk.get(f"/v1/threads/{thread_id}").status_code == 403

    # THEN the patient sees one new message, the answer, and that the team read theirs
    messages.get_by_role("button", name="Back to conversations").click()
    expect(messages.get_by_role("list", name="Your conversations")).to_contain_text("1 new")
    messages.get_by_role("button", name=f"Open conversation: {SUBJECT}").click()
    expect(conversation.get_by_role("listitem")).to_have_count(3)
    expect(conversation.get_by_role("listitem").nth(2)).to_contain_text(REPLY)
    expect(conversation).to_contain_text("Read by your care team")
    screenshot(page, "messages-answered")

    # AND the email notifications in the outbox hold no content, only that a message waits
    run_messaging_sweep(dev_server.data_dir)
    outbox = ok(manager.get("/v1/outbox", params={"limit": 100}))
    notices = [m for m in outbox["items"] if m.get("thread_id") == thread_id]
    assert {m["channel"] for m in notices} == {"email"}
    assert len(notices) == 2  # the clinician's, then the patient's
    for notice in notices:
        text = (notice["subject"] or "") + notice["text"]
        for secret in (SUBJECT, BODY, REPLY, "sleep", "dose", "Casey", "LCSW"):
            assert secret not in text
        assert "secure message" in text

    # AND a message nobody answers moves to the practice queue once the practice's
    # expected response time (48 hours) has passed
    messages.get_by_role("button", name="Back to conversations").click()
    write(page, "Refill?", "Is my prescription ready?")
    expect(conversation_named(page, "Refill?").get_by_role("listitem")).to_have_count(2)
    waiting = next(
        i["thread_id"]
        for i in ok(clinician.get("/v1/me/inbox"))["items"]
        if i["subject"] == "Refill?"
    )
    run_messaging_sweep(dev_server.data_dir, as_of=datetime.now(UTC) + timedelta(hours=47))
    assert ok(clinician.get(f"/v1/threads/{waiting}"))["escalated_at"] is None
    printed = run_messaging_sweep(
        dev_server.data_dir, as_of=datetime.now(UTC) + timedelta(hours=49)
    )
    assert "escalated 1" in printed
    entry = next(i for i in ok(clinician.get("/v1/me/inbox"))["items"] if i["thread_id"] == waiting)
    assert entry["escalated"] is True
    assert entry["thread_id"] != thread_id


def conversation_named(page: Page, subject: str) -> Locator:
    return page.get_by_role("region", name="Messages").get_by_role("list", name=subject)
