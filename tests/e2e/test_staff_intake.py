"""Intake in the staff app, on the demo practice's intakes (tpm/local/demo_intake.py): the
front desk finds Riley's stalled intake first in the queue (statuses only, never answers)
and resends the invitation, which resumes it; the clinician reads Jordan's packet and sends
it back to the forms step with a comment; an intake is started from a patient's chart.
axe on each state; CSP violations fail."""

from __future__ import annotations

import re

import pytest
from conftest import PortalPatient
from playwright.sync_api import Page, expect
from portal_api import ok, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def open_queue(page: Page) -> None:
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Intake").click()
    expect(page.get_by_role("heading", name="Intake", exact=True)).to_be_focused()


def test_the_front_desk_resumes_a_stalled_intake(page: Page, portal_url: str) -> None:
    # GIVEN Riley's identity check locked after five wrong dates of birth (the demo)
    sign_in_staff(page, Role.FRONT_DESK)
    open_queue(page)
    queue = page.get_by_role("table", name="Open intakes, stalled first")
    first = queue.locator("tbody tr").first
    expect(first).to_contain_text("Testcase (synthetic), Riley")
    expect(first).to_contain_text("Stalled: needs staff")
    check_axe(page)
    # WHEN the front desk opens it
    first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile("^Intake: Testcase"))).to_be_focused()
    expect(page.get_by_text(re.compile("^Stalled .* at Identity check"))).to_be_visible()
    # THEN they see where it stands but not what a patient answered
    expect(page.locator("#intake-forms")).to_contain_text("for the patient's clinicians")
    expect(page.locator("#review")).to_have_count(0)  # reviewing is the clinician's
    check_axe(page)
    shoot(page, "staff-intake-stalled")
    # WHEN they resend the invitation
    page.get_by_role("button", name="Resend the invitation and resume").click()
    # THEN the intake resumes (the lock is lifted) and leaves the stalled state
    expect(page.get_by_role("status")).to_have_text("Invitation sent again.")
    expect(page.locator("#intake-summary")).to_contain_text("Invited: waiting for the patient")
    check_axe(page)
    desk = staff(portal_url, Role.FRONT_DESK)
    statuses = [i["status"] for i in ok(desk.get("/v1/intakes"))["items"]]
    assert "stalled" not in statuses


def test_the_clinician_sends_a_packet_back_with_a_comment(page: Page, portal_url: str) -> None:
    # GIVEN Jordan's packet is waiting for review (the demo)
    sign_in_staff(page, Role.CLINICIAN)
    open_queue(page)
    queue = page.get_by_role("table", name="Open intakes, stalled first")
    queue.get_by_role("link", name="Placeholder (synthetic), Jordan").click()
    expect(page.get_by_role("heading", name=re.compile("^Intake: Placeholder"))).to_be_focused()
    forms = page.locator("#intake-forms")
    expect(forms).to_contain_text("What brings you in?")
    expect(forms).to_contain_text("Trouble sleeping")
    expect(page.get_by_role("img", name="Insurance card, front")).to_be_visible()
    # WHEN they ask for changes without saying what: the form says so next to the field
    review = page.locator("#review-form")
    review.get_by_label("Request changes").check()
    review.get_by_label("Send the patient back to").select_option(label="Forms")
    review.get_by_role("button", name="Record decision").click()
    expect(review.get_by_role("alert")).to_contain_text("There is a problem")
    expect(review.get_by_label("What should the patient change?")).to_have_attribute(
        "aria-invalid", "true"
    )
    check_axe(page)
    # AND then with a comment
    comment = "Please add how long the sleep trouble has lasted."
    review.get_by_label("What should the patient change?").fill(comment)
    review.get_by_role("button", name="Record decision").click()
    # THEN the patient is sent back to the forms with the comment
    expect(page.get_by_role("status")).to_have_text("Sent back to the patient: Forms.")
    expect(page.get_by_text(f"Sent back with: “{comment}”")).to_be_visible()
    expect(page.locator("#intake-summary")).to_contain_text("Forms: Changes requested")
    check_axe(page)


def test_an_intake_is_started_from_the_chart(
    page: Page, portal_url: str, new_patient: PortalPatient
) -> None:
    clinician = staff(portal_url, Role.CLINICIAN)
    desk = staff(portal_url, Role.FRONT_DESK)
    me = ok(clinician.get("/v1/me"))["id"]
    desk.post(f"/v1/patients/{new_patient.patient_id}/care-team", json={"user_id": me})
    sign_in_staff(page, Role.CLINICIAN, f"/staff/#/patients/{new_patient.patient_id}")
    part = page.locator("#chart-intake")
    expect(part).to_contain_text("No intake yet.")
    part.get_by_role("link", name="Start an intake").click()
    expect(page.get_by_role("heading", name=re.compile("^Start an intake for"))).to_be_focused()
    page.get_by_label("Intake", exact=True).select_option(
        label="Adult outpatient (demo) (version 1)"
    )
    check_axe(page)
    page.get_by_role("button", name="Start the intake").click()
    expect(page.get_by_role("heading", name=re.compile("^Intake: Synthetic"))).to_be_focused()
    expect(page.locator("#intake-summary")).to_contain_text("Identity check")
    intakes = ok(clinician.get(f"/v1/patients/{new_patient.patient_id}/intakes"))["items"]
    assert [i["status"] for i in intakes] in (["invited"], ["in_progress"])


def test_an_admin_configures_an_intake_template(page: Page, portal_url: str) -> None:
    sign_in_staff(page, Role.ADMIN)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Intake templates").click()
    expect(page.get_by_role("heading", name="Intake templates")).to_be_focused()
    templates = page.get_by_role("table", name="The practice's intake templates")
    expect(templates).to_contain_text("Adult outpatient (demo)")
    page.get_by_role("link", name="New intake template").click()
    expect(page.get_by_role("heading", name="New intake template")).to_be_focused()
    form = page.locator("#intake-template-form")
    form.get_by_label("Name").fill("Substance use program intake")
    form.get_by_role("group", name="Forms").get_by_label(
        "PHQ-9 (Patient Health Questionnaire-9)"
    ).check()
    consents = form.get_by_role("group", name="Consents")
    consents.get_by_label(re.compile("^Informed consent")).check()
    # WHEN the Part 2 consent is asked for without its elements, it is refused next to it
    form.get_by_label(re.compile("^Ask for a 42 CFR Part 2 consent")).check()
    shoot(page, "staff-intake-template")
    form.get_by_role("button", name="Create the template").click()
    expect(form.get_by_role("alert")).to_contain_text("Who may disclose (the program)")
    expect(form.get_by_label("What may be disclosed")).to_have_attribute("aria-invalid", "true")
    check_axe(page)
    # AND with every element it is saved
    part2 = form.get_by_role("group", name="42 CFR Part 2 consent")
    part2.get_by_label("Asked of").select_option("everyone")
    part2.get_by_label("Who may disclose (the program)").fill("Harbor SUD program (synthetic)")
    part2.get_by_label("What may be disclosed").fill(
        "My substance use disorder diagnosis, treatment dates and attendance."
    )
    part2.get_by_label("The purpose, in words").fill("To bill my health plan.")
    form.get_by_role("button", name="Create the template").click()
    expect(page.get_by_role("status")).to_have_text(
        "Saved Substance use program intake, version 1."
    )
    admin = staff(portal_url, Role.ADMIN)
    (saved,) = [
        t
        for t in ok(admin.get("/v1/intake-templates"))["items"]
        if t["name"] == "Substance use program intake"
    ]
    assert [c["template_id"] for c in saved["consents"]] == ["informed_consent_treatment"]
    assert saved["part2"]["applies_to"] == "everyone"
    assert saved["part2"]["recipients"][0]["kind"] == "payer"
    assert saved["steps"][:3] == ["identity", "forms", "consents"]


def test_a_consent_is_revoked_from_the_chart_at_the_patients_request(
    page: Page, portal_url: str
) -> None:
    # GIVEN Jordan signed the telehealth consent in the demo intake
    clinician = staff(portal_url, Role.CLINICIAN)
    found = ok(clinician.post("/v1/patients/search", json={"name": "Jordan"}))["items"]
    jordan = found[0]["id"]
    sign_in_staff(page, Role.CLINICIAN, f"/staff/#/patients/{jordan}")
    consents = page.get_by_role("table", name="Consents, newest first")
    row = consents.get_by_role("row").filter(has_text="telehealth")
    expect(row).to_contain_text("Signed")
    # WHEN the clinician revokes it (the patient asked), confirming first
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    row.get_by_role("button", name=re.compile("^Yes, revoke it")).click()
    # THEN it is revoked with its effect, and the API agrees
    expect(page.get_by_role("status")).to_contain_text("Revoked")
    row = page.get_by_role("table", name="Consents, newest first").get_by_role("row")
    expect(row.filter(has_text="telehealth")).to_contain_text("Telehealth needs a new consent")
    check_axe(page)
    mine = ok(clinician.get(f"/v1/patients/{jordan}/consents"))["items"]
    (telehealth,) = [c for c in mine if c["effect"] == "telehealth"]
    assert telehealth["status"] == "revoked"
