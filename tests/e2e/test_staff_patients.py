"""Patients in the staff app: the front desk adds a patient, edits the record through a
version conflict (shown field by field, typing kept), builds the care team and creates
the portal invitation; the clinician uploads a document to the chart, shares it, stops
sharing it and downloads it. axe on each state; CSP violations fail."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect
from portal_api import ok, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_front_desk_adds_and_edits_a_patient_through_a_conflict(
    page: Page, portal_url: str
) -> None:
    last = "Edit" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:6].capitalize()
    sign_in_staff(page, Role.FRONT_DESK)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="Add a patient").click()
    expect(page.get_by_role("heading", name="Add a patient")).to_be_focused()
    page.get_by_label("Legal first name").fill("Casey")
    page.get_by_label("Legal last name").fill(last)
    page.get_by_label("Date of birth").fill("1991-03-04")
    page.get_by_label("Mobile phone").fill("+1 555 555 0199")
    check_axe(page)
    page.get_by_role("button", name="Create patient").click()
    # (the phone must be in E.164 form: the API says so next to the field)
    expect(page.get_by_label("Mobile phone")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Mobile phone").fill("+15555550199")
    page.get_by_role("button", name="Create patient").click()
    expect(page.get_by_role("heading", name=f"{last}, Casey")).to_be_focused()
    patient_id = page.url.rsplit("/", 1)[-1]

    # WHEN they edit while someone else saves the same record
    page.get_by_role("link", name="Edit details, care team and portal access").click()
    expect(page.get_by_role("heading", name=f"Edit {last}, Casey")).to_be_focused()
    desk = staff(portal_url, Role.FRONT_DESK)
    current = ok(desk.get(f"/v1/patients/{patient_id}"))
    ok(
        desk.patch(
            f"/v1/patients/{patient_id}",
            json={"version": current["version"], "pronouns": "they/them"},
        )
    )
    form = page.locator("#patient-form")
    form.get_by_label("Email", exact=True).fill("casey.edit@example.test")
    page.get_by_role("button", name="Save changes").click()
    # THEN the conflict names what changed, and what they typed is still there
    conflict = page.get_by_role("heading", name="Someone else changed this record")
    expect(conflict).to_be_focused()
    differs = page.get_by_role("table", name="Fields that differ from yours")
    expect(differs.get_by_role("row", name=re.compile("Pronouns"))).to_contain_text("they/them")
    expect(form.get_by_label("Email", exact=True)).to_have_value("casey.edit@example.test")
    check_axe(page)
    shoot(page, "staff-patient-conflict")
    form.get_by_label("Pronouns").fill("they/them")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text("Changes saved.")
    saved = ok(desk.get(f"/v1/patients/{patient_id}"))
    assert (saved["email"], saved["pronouns"]) == ("casey.edit@example.test", "they/them")

    # AND the care team and the portal invitation
    page.get_by_label("Add", exact=True).select_option(label="Casey Clinician (synthetic)")
    page.get_by_role("button", name="Add to care team").click()
    expect(page.get_by_role("status")).to_contain_text("Added Casey Clinician (synthetic)")
    page.get_by_role("button", name="Invite to the patient portal").click()
    expect(page.get_by_text(re.compile("one-time code"))).to_be_visible()
    check_axe(page)

    # WHEN the clinician uploads a document to the chart and shares it
    page.get_by_role("button", name="Sign out").click()
    sign_in_staff(page, Role.CLINICIAN, f"/staff/#/patients/{patient_id}")
    upload = page.get_by_role("form", name="Upload a document")
    upload.get_by_label("Title").fill("After-visit summary (synthetic)")
    upload.get_by_label("File").set_input_files(
        files=[{"name": "summary.txt", "mimeType": "text/plain", "buffer": b"Synthetic summary.\n"}]
    )
    upload.get_by_label(re.compile("^Share it with the patient now")).check()
    upload.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Uploaded After-visit summary (synthetic) and shared it"
    )
    docs = page.get_by_role("table", name="Documents, newest first")
    row = docs.get_by_role("row").filter(has_text="After-visit summary")
    expect(row).to_contain_text("Shared")
    check_axe(page)
    # THEN stopping sharing says what it changes, and the file downloads
    row.get_by_role("button", name=re.compile("^Stop sharing")).click()
    expect(page.get_by_role("status")).to_contain_text("the patient no longer sees it")
    row = docs.get_by_role("row").filter(has_text="After-visit summary")
    expect(row).to_contain_text("Not shared")
    with page.expect_download() as download:
        row.get_by_role("button", name=re.compile("^Download")).click()
    assert download.value.suggested_filename == "summary.txt"
