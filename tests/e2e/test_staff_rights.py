"""The compliance officer's screens for disclosures and access reviews in the staff app:
record a disclosure in a patient's register (a bad date is caught next to its field), then
start an access review, decide every account and sign it off. axe on each state; CSP
violations and uncaught errors fail (the page fixture)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from portal_api import demo_patient_id, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_compliance_records_a_disclosure_and_signs_off_an_access_review(
    page: Page, portal_url: str
) -> None:
    patient_id = demo_patient_id(staff(portal_url, Role.FRONT_DESK))
    sign_in_staff(page, Role.COMPLIANCE)
    nav = page.get_by_role("navigation", name=NAV)

    # GIVEN the officer opens the demo patient's disclosure register
    nav.get_by_role("link", name="Disclosures").click()
    page.get_by_label("Patient id").fill(patient_id)
    page.get_by_role("button", name="Show disclosures").click()
    expect(page.get_by_role("heading", name="Record a disclosure")).to_be_visible()
    form = page.locator("#record-disclosure")
    # WHEN they record one dated in the future THEN the date is flagged and nothing saved
    form.get_by_label("Date disclosed").fill("2099-01-01")
    form.get_by_label("Recipient", exact=True).fill("County health department (synthetic)")
    form.get_by_label("What was disclosed").fill("Name and a reportable condition")
    form.get_by_label("Purpose").fill("Mandatory public health report")
    form.get_by_label("Basis").select_option("public_health")
    form.get_by_role("button", name="Record the disclosure").click()
    expect(form.locator(".error-summary")).to_be_visible()
    expect(page.get_by_text("No disclosures recorded.")).to_be_visible()
    # WHEN they give the real date THEN it is in the register, counted in the accounting
    form.get_by_label("Date disclosed").fill("2026-11-02")
    form.get_by_role("button", name="Record the disclosure").click()
    register = page.get_by_role(
        "table", name="Disclosures of this patient's information, newest first"
    )
    expect(register.get_by_role("row")).to_have_count(2)
    expect(register).to_contain_text("County health department (synthetic)")
    expect(register).to_contain_text("Public health")
    check_axe(page)
    shoot(page, "staff-disclosures")

    # GIVEN a new access review
    nav.get_by_role("link", name="Access reviews").click()
    page.get_by_role("button", name="Start a review").click()
    expect(page.get_by_role("heading", name="Access review")).to_be_visible()
    accounts = page.get_by_role("table", name="Staff accounts, their roles and reach")
    expect(accounts).to_contain_text("Cory Compliance")
    check_axe(page)
    # WHEN the officer keeps every account and signs off
    decisions = page.locator("#review-decisions select[name^='user:']")
    for i in range(decisions.count()):
        decisions.nth(i).select_option("keep")
    uses = page.locator("#review-decisions select[name^='use:']")
    for i in range(uses.count()):
        uses.nth(i).select_option("justified")
    page.get_by_role("button", name="Save decisions").click()
    expect(page.get_by_role("status")).to_contain_text("Decisions saved.")
    # (the screen then redraws with the saved review and its new version: wait for that,
    # or the summary goes into the form being replaced)
    expect(page.locator("dl.facts")).to_contain_text("Open: 0 outstanding")
    page.get_by_label("Summary").fill("Quarterly review: no changes (synthetic)")
    page.get_by_role("button", name="Sign off the review").click()
    # THEN it is signed off and read-only
    expect(page.locator("dl.facts")).to_contain_text("Signed off")
    expect(page.get_by_role("button", name="Save decisions")).to_have_count(0)
    check_axe(page)
    shoot(page, "staff-access-review")
