"""The patient's privacy rights in the portal: asking for a correction needs details; a
correction and an accounting request are listed with their deadlines; axe clean; CSP
violations fail (the page fixture)."""

from __future__ import annotations

import pytest
from conftest import PortalPatient
from playwright.sync_api import Page, expect
from portal_api import ok, screenshot, serious_violations, sign_in, sign_in_portal

pytestmark = pytest.mark.e2e


def test_patient_asks_for_a_correction_and_an_accounting(
    page: Page, portal_url: str, new_patient: PortalPatient
) -> None:
    # GIVEN the patient is signed in to the portal
    sign_in_portal(page, new_patient.email, new_patient.password)
    rights = page.get_by_role("region", name="Your privacy rights")
    requests = rights.get_by_role("list", name="Your requests")
    expect(rights.get_by_text("You have not made any requests.")).to_be_visible()

    # WHEN they ask for a correction without saying what should change
    rights.get_by_label("A correction to my record").check()
    rights.get_by_role("button", name="Send request").click()
    # THEN they are told what is missing and nothing is sent
    expect(page.get_by_role("alert")).to_contain_text("say what should change and why")
    expect(requests.get_by_role("listitem")).to_have_count(0)

    # WHEN they say what should change, and then ask for an accounting too
    rights.get_by_label("Details").fill("My first visit was on 3 March, not 3 May.")
    rights.get_by_role("button", name="Send request").click()
    expect(requests.get_by_role("listitem")).to_have_count(1)
    rights.get_by_label("A list of the times my information was shared").check()
    rights.get_by_role("button", name="Send request").click()

    # THEN both are listed, newest first, waiting for the practice with a due date
    items = requests.get_by_role("listitem")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("A list of the times my information was shared")
    expect(items.nth(1)).to_contain_text("A correction to my record")
    expect(items.nth(1)).to_contain_text("My first visit was on 3 March")
    for i in range(2):
        expect(items.nth(i)).to_contain_text("Waiting for the practice")
        expect(items.nth(i)).to_contain_text("Due by")
    assert serious_violations(page) == []
    screenshot(page, "portal-rights-requests")
    # AND the practice has them, with the 60-day deadlines
    patient = sign_in(portal_url, new_patient.email, new_patient.password)
    stored = ok(patient.get(f"/v1/patients/{new_patient.patient_id}/rights-requests"))["items"]
    assert [(r["kind"], r["status"]) for r in stored] == [
        ("accounting", "open"),
        ("amendment", "open"),
    ]
