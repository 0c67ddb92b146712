"""Clinical screens in the staff app: a clinician acknowledges a PHQ-9 risk flag from the
patient's chart (the score chart shows the flagged point, also as a table), and the flag
inbox shows who acknowledged it. axe on each state; CSP violations fail."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from portal_api import account, demo_patient_id, ok, sign_in, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e
# Moderate depression with item 9 above 0: raises a risk flag.
RISKY = {f"item_{i}": v for i, v in enumerate([2, 2, 1, 1, 1, 2, 1, 1, 1], start=1)}


def raise_phq9_flag(base: str) -> str:
    """The clinician sends a PHQ-9 to the demo patient, who answers it in the portal."""
    clinician = staff(base, Role.CLINICIAN)
    patient_id = demo_patient_id(clinician)
    request = ok(
        clinician.post(f"/v1/patients/{patient_id}/measure-requests", json={"template_id": "phq9"})
    )
    pat = account(Role.PATIENT)
    patient = sign_in(base, pat.email, pat.password)
    ok(patient.post(f"/v1/me/measure-requests/{request['id']}/responses", json={"answers": RISKY}))
    return patient_id


def test_a_clinician_acknowledges_a_phq9_risk_flag(page: Page, portal_url: str) -> None:
    # GIVEN the demo patient answered a PHQ-9 with item 9 above 0
    patient_id = raise_phq9_flag(portal_url)
    sign_in_staff(page, Role.CLINICIAN)
    # WHEN the clinician opens the flag inbox
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Risk flags").click()
    expect(page.get_by_role("heading", name="Risk flags", exact=True)).to_be_focused()
    inbox = page.get_by_role("table", name="Risk flags addressed to you, newest first")
    first = inbox.locator("tbody tr").first
    expect(first).to_contain_text("Possible suicide risk")
    expect(first).to_contain_text("Not acknowledged")
    check_axe(page)
    shoot(page, "staff-risk-flags")
    # AND goes to the patient's chart from it (the address carries the id only)
    first.get_by_role("link", name="Example, Pat").click()
    expect(page.get_by_role("heading", name="Example, Pat")).to_be_focused()
    assert page.url.endswith(f"#/patients/{patient_id}")
    # THEN the chart shows the score series with the flagged point, as a chart and a table
    scores = page.get_by_role("table", name="PHQ-9 (depression) scores, oldest first")
    expect(
        scores.get_by_role("cell", name=re.compile("^Flagged: suicide risk")).first
    ).to_be_visible()
    expect(page.locator("#chart-measures canvas").first).to_be_visible()
    for part in ("#chart-appointments", "#chart-notes", "#chart-documents"):
        expect(page.locator(part)).not_to_contain_text("could not load")
    check_axe(page)
    shoot(page, "staff-patient-chart")

    # WHEN they acknowledge the newest flag with a note
    flags = page.get_by_role("table", name="Risk flags for this patient")
    row = flags.locator("tbody tr").first
    row.get_by_role("button", name="Acknowledge").click()
    note = row.get_by_label("What did you do? (optional)")
    expect(note).to_be_focused()
    note.fill("Called Pat; safety plan reviewed.")
    row.get_by_role("button", name="Record acknowledgement").click()
    # THEN it is recorded with their name and the time, and announced
    expect(page.get_by_role("status")).to_have_text("Flag acknowledged.")
    row = page.get_by_role("table", name="Risk flags for this patient").locator("tbody tr").first
    expect(row).to_contain_text("Acknowledged")
    expect(row).to_contain_text("Called Pat; safety plan reviewed.")
    check_axe(page)
    # AND the API agrees (the app is not the only record)
    flag = ok(staff(portal_url, Role.CLINICIAN).get("/v1/measure-flags"))["items"][0]
    assert flag["acknowledgement_note"] == "Called Pat; safety plan reviewed."
