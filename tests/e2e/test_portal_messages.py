"""Secure messaging end to end: in the portal the patient writes to their care team with an
attachment outside office hours and gets the practice's auto-reply; in the staff app the
clinician reads it, downloads the file and answers with a file of their own; the patient
sees the answer and the read receipt; the email notifications in the outbox say only that
a message waits; front desk cannot open the thread (API and staff app); an unanswered
message escalates to the practice queue, where the owner finds it in the staff app."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import DevServer, PageProblems, PortalPatient
from playwright.sync_api import Browser, Locator, Page, expect
from portal_api import (
    ok,
    run_messaging_sweep,
    screenshot,
    serious_violations,
    sign_in_portal,
    staff,
)
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/"
    "uiIkKQAAAABJRU5ErkJggg=="
)
SUBJECT = "Sleep since the new dose"
BODY = "I have been waking at 3am every night this week."
REPLY = "Thanks for telling me. Let us talk about it on Tuesday."
SLEEP_TIPS = b"Keep the same wake time every day.\n"


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


@contextmanager
def staff_app(browser: Browser, base: str, role: Role, path: str = "/staff/") -> Iterator[Page]:
    """A browser context of its own for a staff member (the patient stays signed in in
    the other one); CSP violations and uncaught errors fail the test like `page`'s."""
    context = browser.new_context(
        base_url=base,
        viewport={"width": 1100, "height": 900},
        locale="en-US",
        accept_downloads=True,
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    problems = PageProblems()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_error)
    try:
        sign_in_staff(page, role, path)
        yield page
    finally:
        context.close()
    assert problems.csp == [], "Content Security Policy violations"
    assert problems.uncaught == [], "uncaught page errors"


def test_patient_writes_clinician_answers_nothing_leaks_and_silence_escalates(
    page: Page,
    browser: Browser,
    dev_server: DevServer,
    new_patient: PortalPatient,
    tmp_path: Path,
) -> None:
    # (Few sign-ins: the server throttles them per source address, and every test signs
    # in from 127.0.0.1.)
    manager = staff(dev_server.base, Role.ADMIN)
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

    # AND the clinician finds it in their inbox in the staff app, downloads the file and
    # answers with a file of their own
    tips = tmp_path / "sleep-tips.txt"
    tips.write_bytes(SLEEP_TIPS)
    with staff_app(browser, dev_server.base, Role.CLINICIAN) as team_page:
        team_page.get_by_role("navigation", name=NAV).get_by_role("link", name="Messages").click()
        expect(team_page.get_by_role("heading", name="Messages", exact=True)).to_be_focused()
        inbox = team_page.get_by_role("table", name="Your conversations, most recent first")
        row = inbox.locator("tbody tr").filter(has_text=SUBJECT)
        expect(row).to_contain_text("new")
        check_axe(team_page)
        shoot(team_page, "staff-messages-inbox")
        row.get_by_role("link", name=SUBJECT).click()
        expect(team_page.get_by_role("heading", name=SUBJECT)).to_be_focused()
        thread_id = team_page.url.rsplit("/", 1)[1]
        said = team_page.get_by_role("list", name="Messages, oldest first").get_by_role("listitem")
        expect(said).to_have_count(2)
        expect(said.first).to_contain_text(BODY)
        expect(said.nth(1)).to_contain_text("(automatic)")
        with team_page.expect_download() as got:
            said.first.get_by_role("button", name="Download attachment sleep-log.png").click()
        assert Path(got.value.path()).read_bytes() == PNG
        reply = team_page.locator("#reply-form")
        reply.get_by_label("Message", exact=True).fill(REPLY)
        reply.get_by_label("Attach a file (optional)").set_input_files(str(tips))
        reply.get_by_role("button", name="Send reply").click()
        expect(said).to_have_count(3)
        expect(said.nth(2)).to_contain_text(REPLY)
        expect(
            said.nth(2).get_by_role("button", name="Download attachment sleep-tips.txt")
        ).to_be_visible()
        check_axe(team_page)
        shoot(team_page, "staff-messages-conversation")

    # AND front desk cannot open the thread: not through the API, not in the staff app
    assert desk.get(f"/v1/threads/{thread_id}").status_code == 403
    with staff_app(
        browser, dev_server.base, Role.FRONT_DESK, f"/staff/#/messages/threads/{thread_id}"
    ) as front:
        expect(front.get_by_role("heading", name="You do not have access to this")).to_be_visible()
        nav = front.get_by_role("navigation", name=NAV)
        expect(nav.get_by_role("link", name="Messages")).to_have_count(0)

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
    with staff_app(browser, dev_server.base, Role.OWNER) as owner:
        owner.get_by_role("navigation", name=NAV).get_by_role("link", name="Message queue").click()
        queue = owner.get_by_role(
            "table", name="Unanswered patient messages, longest waiting first"
        )
        expect(queue.get_by_role("link", name="Refill?")).to_be_visible()
        check_axe(owner)
        shoot(owner, "staff-message-queue")


def conversation_named(page: Page, subject: str) -> Locator:
    return page.get_by_role("region", name="Messages").get_by_role("list", name=subject)
