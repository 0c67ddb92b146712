"""Documents in the portal: the practice files two documents for a patient and shares one;
the patient sees only the shared one and downloads it, byte for byte, under the portal's
strict Content-Security-Policy (the page fixture fails on any CSP report)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from conftest import PortalPatient
from playwright.sync_api import Page, expect
from portal_api import ok, screenshot, serious_violations, sign_in_portal, staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e

# A small, valid-looking PDF: the API checks the %PDF- signature, nothing more.
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


def test_patient_downloads_only_what_was_shared(
    page: Page, portal_url: str, new_patient: PortalPatient, tmp_path: Path
) -> None:
    # GIVEN front desk files three documents for the patient and puts the demo clinician on
    # the care team; the clinician shares two of them (front desk may file, not share).
    # (Owner/admin are left alone: signing them in here would enrol their MFA and change
    # how the other tests of this server sign in.)
    desk = staff(portal_url, Role.FRONT_DESK)
    clinician = staff(portal_url, Role.CLINICIAN)
    path = f"/v1/patients/{new_patient.patient_id}/documents"
    body = {
        "filename": "care-plan.pdf",
        "content_type": "application/pdf",
        "content_base64": base64.b64encode(PDF).decode(),
    }
    plan = ok(desk.post(path, json={**body, "title": "Your care plan (synthetic)"}))
    private = ok(desk.post(path, json={**body, "title": "Intake scoring (synthetic)"}))
    letter = ok(desk.post(path, json={**body, "title": "Letter for school (synthetic)"}))
    clinician_id = ok(clinician.get("/v1/me"))["id"]
    care_team = f"/v1/patients/{new_patient.patient_id}/care-team"
    ok(desk.post(care_team, json={"user_id": clinician_id}))
    for doc in (plan, letter):
        ok(clinician.post(f"/v1/documents/{doc['id']}/share", json={"version": doc["version"]}))

    # WHEN the patient signs in
    sign_in_portal(page, new_patient.email, new_patient.password)
    documents = page.get_by_role("region", name="Documents shared with me")
    listed = documents.get_by_role("list", name="Documents shared with me")

    # THEN they see the two shared documents (newest first) and not the private one
    expect(listed.get_by_role("listitem")).to_have_count(2)
    expect(listed.get_by_role("listitem").first).to_contain_text("Letter for school")
    expect(documents).not_to_contain_text(private["title"])
    screenshot(page, "documents-shared")
    assert serious_violations(page) == []

    # AND the download saves exactly the bytes the practice filed, under its file name
    with page.expect_download() as info:
        documents.get_by_role("button", name="Download Letter for school (synthetic)").click()
    download = info.value
    assert download.suggested_filename == "care-plan.pdf"
    saved = tmp_path / "saved.pdf"
    download.save_as(saved)
    assert saved.read_bytes() == PDF
    expect(page.get_by_role("status")).to_have_text("Downloading care-plan.pdf.")
