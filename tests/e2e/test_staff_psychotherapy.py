"""Psychotherapy notes in the staff app: written from the chart, kept out of it, listed
only to their author (and grantees). axe; CSP violations fail."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect
from portal_api import demo_patient_id, ok, staff
from staff_ui import check_axe, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_a_clinician_writes_a_psychotherapy_note_kept_apart(page: Page, portal_url: str) -> None:
    api = staff(portal_url, Role.CLINICIAN)
    patient_id = demo_patient_id(api)
    text = f"Process note {uuid.uuid4().hex[:6]}: transference themes (synthetic)."
    sign_in_staff(page, Role.CLINICIAN, f"/staff/#/patients/{patient_id}")
    page.get_by_role("link", name="Write a psychotherapy note (kept apart)").click()
    expect(page.get_by_role("heading", name="Psychotherapy notes")).to_be_focused()
    expect(page.get_by_label("Patient id")).to_have_value(patient_id)
    page.get_by_label("Note", exact=True).fill(text)
    page.get_by_role("button", name="Save note").click()
    expect(page.get_by_role("status")).to_have_text("Psychotherapy note saved.")
    mine = page.get_by_role("table", name="My psychotherapy notes and those shared with me")
    mine.get_by_text("Read").first.click()
    expect(mine.get_by_text(text)).to_be_visible()
    check_axe(page)
    # THEN it is not in the chart's notes, and a colleague without a grant cannot list it
    page.goto(f"/staff/#/patients/{patient_id}")
    expect(
        page.get_by_role("table", name="Progress notes, latest first").or_(
            page.get_by_text("No notes yet.")
        )
    ).to_be_visible()
    expect(page.get_by_text(text)).to_have_count(0)
    supervisor = staff(portal_url, Role.SUPERVISOR)
    listed = ok(supervisor.get("/v1/psychotherapy-notes"))["items"]
    assert all(n["text"] != text for n in listed)
