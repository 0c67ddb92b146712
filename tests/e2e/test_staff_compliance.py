"""Compliance in the staff app: filter the audit trail (outcome, action), verify the chain,
and read one patient's access report. axe on each state; CSP violations fail."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from portal_api import demo_patient_id, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_compliance_filters_the_audit_trail_and_verifies_the_chain(
    page: Page, portal_url: str
) -> None:
    # GIVEN a refused request in the trail (front desk asked for the user list)
    desk = staff(portal_url, Role.FRONT_DESK)
    assert desk.get("/v1/users").status_code == 403
    patient_id = demo_patient_id(desk)
    assert desk.get(f"/v1/patients/{patient_id}").status_code == 200  # an access to report
    sign_in_staff(page, Role.COMPLIANCE)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_focused()
    events = page.get_by_role("table", name="Audit events matching the filters")
    expect(events).to_be_visible()
    # WHEN they filter to denied events
    page.get_by_label("Outcome").select_option("denied")
    page.get_by_role("button", name="Show events").click()
    expect(page.get_by_role("status")).to_contain_text("events shown")
    # THEN only denied events show, the refused user list among them
    expect(events.get_by_role("cell", name="user.list").first).to_be_visible()
    outcomes = events.locator("tbody tr td:nth-child(7)").all_inner_texts()
    assert outcomes
    assert {o.split(" ")[0] for o in outcomes} == {"denied"}
    # AND an action prefix narrows to that family
    page.get_by_label("Outcome").select_option("")
    page.get_by_label("Action").fill("patient.")
    page.get_by_role("button", name="Show events").click()
    expect(page.get_by_role("status")).to_contain_text("events shown")
    actions = events.locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert actions
    assert all(a.startswith("patient.") for a in actions)
    check_axe(page)
    shoot(page, "staff-audit-trail")
    # WHEN they verify the chain THEN it is intact
    page.get_by_role("button", name="Verify the audit chain").click()
    expect(page.locator("#verify-result")).to_contain_text("Chain intact:")
    check_axe(page)

    # AND the access report for the demo patient lists who opened the record
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Access report").click()
    page.get_by_label("Patient id").fill("not-an-id")
    page.get_by_role("button", name="Show access report").click()
    expect(page.locator("#view .field-error")).to_contain_text("Enter a patient id: pat_")
    expect(page.get_by_label("Patient id")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Patient id").fill(patient_id)
    page.get_by_role("button", name="Show access report").click()
    report = page.get_by_role("table", name="Access to this patient's record, newest first")
    expect(report.get_by_role("cell", name="Frankie Front-Desk (synthetic)").first).to_be_visible()
    assert patient_id in page.url  # an id, never a name
    check_axe(page)
