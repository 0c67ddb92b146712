"""The right of access end to end (45 CFR 164.524): the patient asks for a copy of their
record in the portal; the compliance officer gives it from the staff app; the patient
downloads the FHIR bundle, which fhir.resources validates and which holds no
psychotherapy note. axe on each state; CSP violations fail (the page fixture)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from conftest import PortalPatient
from fhir.resources.R4B.bundle import Bundle
from playwright.sync_api import Page, expect
from portal_api import ok, screenshot, serious_violations, sign_in, sign_in_portal, staff
from staff_ui import check_axe, shoot, sign_in_staff

from tpm.domain.record_export import validate_bundle
from tpm.security.principal import Role

pytestmark = pytest.mark.e2e

SECRET = "the lighthouse keeper dream (synthetic)"
PDF = b"%PDF-1.4\n% synthetic school letter\n%%EOF\n"


def test_patient_requests_their_record_staff_give_it_and_the_bundle_validates(
    page: Page, portal_url: str, new_patient: PortalPatient, tmp_path: Path
) -> None:
    # GIVEN the patient's clinician keeps a psychotherapy note and front desk files a letter
    desk = staff(portal_url, Role.FRONT_DESK)
    clinician = staff(portal_url, Role.CLINICIAN)
    pid = new_patient.patient_id
    clinician_id = ok(clinician.get("/v1/me"))["id"]
    ok(desk.post(f"/v1/patients/{pid}/care-team", json={"user_id": clinician_id}))
    ok(clinician.post("/v1/psychotherapy-notes", json={"patient_id": pid, "text": SECRET}))
    ok(
        desk.post(
            f"/v1/patients/{pid}/documents",
            json={
                "title": "Letter for school (synthetic)",
                "filename": "letter.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(PDF).decode(),
            },
        )
    )

    # WHEN the patient asks for a copy of their record in the portal
    sign_in_portal(page, new_patient.email, new_patient.password)
    rights = page.get_by_role("region", name="Your privacy rights")
    rights.get_by_label("A copy of my record").check()
    rights.get_by_role("button", name="Send request").click()
    asked = rights.get_by_role("list", name="Your requests").get_by_role("listitem")
    expect(asked).to_have_count(1)
    expect(asked.first).to_contain_text("Waiting for the practice")
    assert serious_violations(page) == []
    screenshot(page, "portal-rights-request")
    patient = sign_in(portal_url, new_patient.email, new_patient.password)
    request_id = ok(patient.get(f"/v1/patients/{pid}/rights-requests"))["items"][0]["id"]

    # AND the compliance officer gives it from the staff app
    sign_in_staff(page, Role.COMPLIANCE, "/staff/#/compliance/rights")
    expect(page.get_by_role("heading", name="Patients' rights requests")).to_be_visible()
    expect(page.get_by_role("link", name=pid).first).to_be_visible()
    check_axe(page)
    shoot(page, "staff-rights-queue")
    page.goto(f"/staff/#/compliance/rights/{pid}/{request_id}")
    page.get_by_role("button", name="Give the copy of the record").click()
    expect(page.get_by_role("heading", name="The copy given")).to_be_visible()
    check_axe(page)
    shoot(page, "staff-rights-request")

    # THEN the patient downloads the FHIR bundle from the portal
    page.goto("/")
    sign_in_portal(page, new_patient.email, new_patient.password)
    rights = page.get_by_role("region", name="Your privacy rights")
    expect(rights.get_by_role("listitem").first).to_contain_text("Answered")
    with page.expect_download() as info:
        rights.get_by_role("button", name="Download my record for health apps (FHIR)").click()
    saved = tmp_path / "record.json"
    info.value.save_as(saved)
    raw = saved.read_bytes()
    # AND fhir.resources validates it, and it holds the letter but no psychotherapy note
    bundle = Bundle.model_validate_json(raw)
    validate_bundle(json.loads(raw))
    kinds = {e.resource.get_resource_type() for e in bundle.entry}
    assert kinds >= {"Patient", "DocumentReference"}
    assert SECRET.encode() not in raw
    letters = [
        base64.b64decode(r["resource"]["content"][0]["attachment"]["data"])
        for r in json.loads(raw)["entry"]
        if r["resource"]["resourceType"] == "DocumentReference"
    ]
    assert letters == [PDF]
    assert serious_violations(page) == []
