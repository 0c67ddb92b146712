"""The admin's reminder rules and templates screen: the content linter's messages next to
the template they are about, a new rule saved, the version carried. axe on each state; CSP
violations fail."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from portal_api import ok, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e

KEEP = ("rules", "templates", "quiet_hours", "allow_clinician_name", "feed_patient_initials")


@pytest.fixture
def restore_reminders(portal_url: str) -> Iterator[None]:
    """Other browser tests count the outbox: the practice's reminder settings go back to
    what they were."""
    admin = staff(portal_url, Role.ADMIN)
    before = ok(admin.get("/v1/reminder-settings"))
    yield
    now = ok(admin.get("/v1/reminder-settings"))
    body = {k: before[k] for k in KEEP} | {"version": now["version"]}
    body["sms_number"] = before["sms_number"]
    ok(admin.put("/v1/reminder-settings", json=body))


def test_admin_edits_reminders_and_sees_the_linters_messages(
    page: Page, portal_url: str, restore_reminders: None
) -> None:
    sign_in_staff(page, Role.ADMIN)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Reminders").click()
    expect(page.get_by_role("heading", name="Reminders", exact=True)).to_be_focused()
    body = page.get_by_label("Reminder by email: message")
    expect(body).to_have_value(re.compile(r"\{appointment_time\}"))
    # the delivery log is there too (recipients masked by the API)
    sent = page.get_by_role("region", name="Recently sent")
    expect(
        sent.get_by_role("table", name="Messages sent to patients, latest first").or_(
            sent.get_by_text("Nothing sent yet.")
        )
    ).to_be_visible()
    check_axe(page)
    shoot(page, "staff-reminders")

    # WHEN the email names the kind of care and uses a placeholder that is not allowed
    body.fill(
        "Hello {first_name}, your therapy session with {clinician_name} is {appointment_time}."
    )
    sms = page.get_by_label("Reminder by text message: message")
    sms.fill("{practice_name}: counseling on {appointment_time}.")
    page.get_by_role("button", name="Save reminder settings").click()

    # THEN the linter's own messages sit next to each template, with a summary on top
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_focused()
    email_error = page.locator('[data-field="templates.reminder_email.body"] .field-error')
    expect(email_error).to_contain_text("may not name a diagnosis, service or treatment: therap")
    expect(email_error).to_contain_text("{clinician_name} is not allowed")
    expect(body).to_have_attribute("aria-invalid", "true")
    sms_error = page.locator('[data-field="templates.reminder_sms.body"] .field-error')
    expect(sms_error).to_contain_text("counsel")
    check_axe(page)
    shoot(page, "staff-reminders-linter")
    # the summary's links move focus to the field
    summary.get_by_role("link", name="Reminder by text message: message").click()
    expect(sms).to_be_focused()

    # WHEN the wording is fixed and a text-message reminder two hours before is added
    body.fill("Hello {first_name}, a reminder of your appointment on {appointment_time}.")
    sms.fill("{practice_name}: appointment on {appointment_time}. Reply STOP to end.")
    page.get_by_role("button", name="Add a rule").click()
    rule = page.get_by_role("group", name="Rule 4")
    expect(rule.get_by_label("Sends")).to_be_focused()
    rule.get_by_label("By").select_option("sms")
    rule.get_by_label("Hours before the visit").fill("2")
    page.get_by_role("button", name="Save reminder settings").click()
    expect(page.get_by_role("status")).to_contain_text("Reminder settings saved")

    # THEN the API holds them
    saved = ok(staff(portal_url, Role.ADMIN).get("/v1/reminder-settings"))
    assert saved["templates"]["reminder_email"]["body"].startswith("Hello {first_name}, a rem")
    assert {"kind": "reminder", "channel": "sms", "hours_before": 2} in [
        {k: r[k] for k in ("kind", "channel", "hours_before")} for r in saved["rules"]
    ]
    expect(page.get_by_role("group", name="Rule 4")).to_be_visible()

    # AND a rule removed by keyboard leaves focus on a neighbouring rule (unsaved)
    page.get_by_role("group", name="Rule 4").get_by_role("button", name="Remove this rule").press(
        "Enter"
    )
    expect(page.get_by_role("group", name="Rule 4")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("Rule removed")
    check_axe(page)


def test_a_clinician_has_no_reminders_screen(page: Page) -> None:
    sign_in_staff(page, Role.CLINICIAN, "/staff/#/admin/reminders")
    expect(page.get_by_role("heading", name="You do not have access to this")).to_be_visible()
    expect(
        page.get_by_role("navigation", name=NAV).get_by_role("link", name="Reminders")
    ).to_have_count(0)
