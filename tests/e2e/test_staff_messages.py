"""Messaging in the staff app beyond the patient's journey (tests/e2e/test_portal_messages.py):
a clinician writes to a patient from the chart through a saved draft, flags a message as
an inappropriate disclosure (withheld at once) and files the conversation into the chart;
the privacy officer reviews the flag and holds the conversation from the review; the owner
releases the hold and places another; a
clinician sets and ends an out of office; the admin's messaging policy refuses clinical
words in the notice text. axe on each state; CSP violations fail."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import PortalPatient
from playwright.sync_api import Page, expect
from portal_api import ok, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e

SUBJECT = "Forms before Thursday"
BODY = "Please bring the completed forms on Thursday."


def on_care_team(base: str, patient: PortalPatient) -> httpx.Client:
    """The demo clinician joins the patient's care team; returns the clinician's client."""
    clinician = staff(base, Role.CLINICIAN)
    me = ok(clinician.get("/v1/me"))["id"]
    desk = staff(base, Role.FRONT_DESK)
    ok(desk.post(f"/v1/patients/{patient.patient_id}/care-team", json={"user_id": me}))
    return clinician


def flagged_thread(base: str, patient: PortalPatient) -> tuple[str, str]:
    """A conversation the clinician started, its message flagged: (thread id, flag id)."""
    clinician = on_care_team(base, patient)
    sent = ok(
        clinician.post(
            "/v1/threads",
            json={"patient_id": patient.patient_id, "subject": "Wrong patient", "body": BODY},
        )
    )
    path = f"/v1/threads/{sent['thread_id']}/messages/{sent['message']['id']}/flag"
    flag = ok(clinician.post(path, json={"reason": "wrong_recipient", "note": "Meant for Lee."}))
    return str(sent["thread_id"]), str(flag["id"])


def test_clinician_writes_from_the_chart_through_a_draft_flags_and_files(
    page: Page, portal_url: str, new_patient: PortalPatient
) -> None:
    on_care_team(portal_url, new_patient)
    # GIVEN the clinician on the patient's chart
    sign_in_staff(page, Role.CLINICIAN, f"/staff/#/patients/{new_patient.patient_id}")
    chart = page.locator("#chart-messages")
    expect(chart).to_contain_text("No secure messages yet.")
    # WHEN they start a message and save it as a draft
    chart.get_by_role("link", name="Write a message").click()
    expect(page.get_by_role("heading", name=re.compile("^New message about"))).to_be_focused()
    form = page.get_by_role("form", name="New message")
    form.get_by_label("Subject").fill(SUBJECT)
    form.get_by_label("Message", exact=True).fill("Please bring")
    form.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Draft saved")
    check_axe(page)
    # THEN the draft waits in Messages, and opening it brings the text back
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Messages").click()
    drafts = page.get_by_role("table", name=re.compile("^Your drafts"))
    drafts.get_by_role("link", name=SUBJECT).click()
    form = page.get_by_role("form", name="New message")
    expect(form.get_by_label("Message", exact=True)).to_have_value("Please bring")
    form.get_by_label("Message", exact=True).fill(BODY)
    form.get_by_role("button", name="Send message").click()
    # AND sending opens the conversation (and the draft is gone)
    expect(page.get_by_role("heading", name=SUBJECT)).to_be_focused()
    said = page.get_by_role("list", name="Messages, oldest first").get_by_role("listitem")
    expect(said).to_have_count(1)
    expect(said.first).to_contain_text(BODY)
    clinician = staff(portal_url, Role.CLINICIAN)
    assert ok(clinician.get("/v1/me/message-drafts"))["items"] == []

    # WHEN they file the conversation into the chart
    page.get_by_role("button", name="File into the chart").click()
    expect(page.get_by_role("status")).to_contain_text("Filed into the chart")
    # AND flag their own message (sent to the wrong patient, say)
    said.first.get_by_role("button", name=re.compile("^Flag as a disclosure")).click()
    flag = said.first.get_by_role("form", name="Flag this message")
    flag.get_by_label("Why").select_option("wrong_recipient")
    flag.get_by_label("What happened (optional)").fill("Meant for another family.")
    flag.get_by_role("button", name="Flag and withhold").click()
    # THEN it is withheld at once, for them too
    expect(page.get_by_role("status")).to_contain_text("Message flagged and withheld")
    expect(said.first).to_contain_text("Withheld since")
    expect(said.first).not_to_contain_text(BODY)
    check_axe(page)
    shoot(page, "staff-messages-flagged")
    # AND the chart lists the conversation and the filed document
    page.get_by_role("link", name=re.compile("Synthetic")).first.click()
    expect(page.locator("#chart-messages")).to_contain_text(SUBJECT)
    expect(page.locator("#chart-documents")).to_contain_text(f"Messages: {SUBJECT}")


def test_privacy_officer_reviews_a_flag_and_owner_holds_the_thread(
    page: Page, portal_url: str, new_patient: PortalPatient
) -> None:
    thread_id, flag_id = flagged_thread(portal_url, new_patient)
    # GIVEN the privacy officer (compliance role) in the staff app
    sign_in_staff(page, Role.COMPLIANCE)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Disclosure flags").click()
    flags = page.get_by_role("table", name="Flagged messages, newest first")
    expect(flags.locator("tbody tr").first).to_contain_text("Sent to the wrong person")
    check_axe(page)
    shoot(page, "staff-disclosure-flags")
    # WHEN they open the newest flag
    page.goto(f"/staff/#/messages/flags/{flag_id}")
    expect(page.get_by_role("heading", name="Disclosure flag")).to_be_focused()
    # THEN they read the withheld message itself, the note and that an incident opened
    expect(page.locator("dl.facts")).to_contain_text("Meant for Lee.")
    expect(page.locator("dl.facts")).to_contain_text("Opened")
    expect(page.get_by_role("region", name="The flagged message")).to_contain_text(BODY)
    check_axe(page)
    # WHEN they place a legal hold on the conversation from the review (a reason is needed)
    hold = page.get_by_role("form", name="Place a legal hold")
    hold.get_by_role("button", name="Place a legal hold").click()
    expect(hold.get_by_text("Give a reason for the hold.").first).to_be_visible()
    hold.get_by_label("Reason for the hold").fill("Incident review")
    hold.get_by_role("button", name="Place a legal hold").click()
    expect(page.get_by_role("status")).to_contain_text("Legal hold placed")
    expect(page.get_by_role("region", name="Legal hold")).to_contain_text("Incident review")
    check_axe(page)
    # AND the conversation itself stays closed to them (no thread content for compliance)
    page.goto(f"/staff/#/messages/threads/{thread_id}")
    expect(page.get_by_role("heading", name="You do not have access to this")).to_be_visible()

    # WHEN the owner opens the conversation THEN they see the hold and may release it
    page.get_by_role("button", name="Sign out").click()
    sign_in_staff(page, Role.OWNER, f"/staff/#/messages/threads/{thread_id}")
    expect(page.get_by_role("heading", name="Wrong patient")).to_be_focused()
    expect(page.locator("dl.facts")).to_contain_text("Incident review")
    page.get_by_role("button", name="Release the legal hold").click()
    expect(page.get_by_role("status")).to_contain_text("Legal hold released")
    expect(page.locator("dl.facts")).not_to_contain_text("Legal hold")
    # AND places a new one (owner's own reason)
    hold = page.get_by_role("form", name="Place a legal hold")
    hold.get_by_label("Reason for the hold").fill("Records request from counsel")
    hold.get_by_role("button", name="Place a legal hold").click()
    expect(page.get_by_role("status")).to_contain_text("Legal hold placed")
    expect(page.locator("dl.facts")).to_contain_text("Records request from counsel")
    check_axe(page)


def test_out_of_office_and_the_messaging_policy(page: Page, portal_url: str) -> None:
    # GIVEN the clinician sets an out of office next month, covered by the supervisor
    start = datetime.now(UTC).date() + timedelta(days=30)
    sign_in_staff(page, Role.CLINICIAN, "/staff/#/messages")
    page.get_by_role("link", name="Set out of office").click()
    expect(page.get_by_role("heading", name="Out of office")).to_be_focused()
    form = page.get_by_role("form", name="Out of office")
    form.get_by_label("First day away").fill(start.isoformat())
    form.get_by_label("Back on").fill((start + timedelta(days=7)).isoformat())
    form.get_by_label("Who covers your messages").select_option(label="Sam Supervisor (synthetic)")
    form.get_by_role("button", name="Set out of office").click()
    # THEN it is saved, says who covers, and the inbox says so too
    expect(page.get_by_role("status")).to_have_text("Out of office saved.")
    expect(page.locator("#view .notice")).to_contain_text("Sam Supervisor (synthetic) covers")
    check_axe(page)
    shoot(page, "staff-out-of-office")
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Messages").click()
    expect(page.locator("#view .notice")).to_contain_text("You are out of office from")
    page.get_by_role("link", name="Change or end it").click()
    # AND ending it puts messages back to them
    page.get_by_role("button", name="End out of office now").click()
    expect(page.get_by_role("status")).to_contain_text("Out of office ended")
    assert ok(staff(portal_url, Role.CLINICIAN).get("/v1/me/out-of-office"))["set"] is False

    # WHEN the admin puts a clinical word in the notice email
    page.get_by_role("button", name="Sign out").click()
    sign_in_staff(page, Role.ADMIN)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Messaging policy").click()
    expect(page.get_by_role("heading", name="Messaging policy")).to_be_focused()
    shoot(page, "staff-messaging-policy")
    form = page.get_by_role("form", name="Messaging policy")
    subject = form.get_by_label("Email subject")
    original = subject.input_value()
    subject.fill("Your therapy message from {practice_name}")
    form.get_by_role("button", name="Save messaging policy").click()
    # THEN the linter's reason shows next to the field, and nothing is saved
    expect(form.get_by_role("alert")).to_contain_text("Email subject")
    expect(form.locator('[data-field="settings.messaging.notification_subject"]')).to_contain_text(
        "may not name a diagnosis"
    )
    check_axe(page)
    # AND a neutral wording saves
    subject.fill(original)
    hours = form.get_by_label("Expected response time, in hours")
    hours.fill("48")
    form.get_by_role("button", name="Save messaging policy").click()
    expect(page.get_by_role("status")).to_have_text("Messaging policy saved.")
