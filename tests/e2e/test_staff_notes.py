"""Clinical notes in the staff app. A clinician writes a SOAP note from the template,
survives a stale-version save without losing typing, signs (the API's missing fields shown
next to them), adds an addendum and reads the history's field-level diff. A supervisor
returns a supervisee's note with comments, the supervisee sees them, and the supervisor
co-signs the corrected note. axe on each state; CSP violations fail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from portal_api import account, demo_patient_id, ok, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_clinician_writes_signs_and_amends_a_soap_note(page: Page, portal_url: str) -> None:
    api = staff(portal_url, Role.CLINICIAN)
    patient_id = demo_patient_id(api)
    sign_in_staff(page, Role.CLINICIAN, f"/staff/#/patients/{patient_id}")
    # GIVEN the patient's chart: write a note from the SOAP template
    page.get_by_role("link", name="Write a note").click()
    page.get_by_label("Template").select_option(label="Progress note (SOAP)")
    page.get_by_role("button", name="Start note").click()
    expect(page.get_by_role("heading", name="Progress note (SOAP)")).to_be_focused()
    note_id = page.url.rsplit("/", 1)[-1]
    assert note_id.startswith("note_")
    page.get_by_label(re.compile("^Subjective")).fill("Reports a calmer week (synthetic).")
    autosave = page.locator("#autosave")
    expect(autosave).to_contain_text("Draft saved", timeout=30_000)
    check_axe(page)

    # WHEN the note is saved somewhere else meanwhile (another tab)
    current = ok(api.get(f"/v1/notes/{note_id}"))
    ok(
        api.patch(
            f"/v1/notes/{note_id}",
            json={
                "version": current["version"],
                "content": {**current["content"], "assessment": "Other tab."},
            },
        )
    )
    objective = page.get_by_label(re.compile("^Objective"))
    objective.fill("Calm, engaged; good eye contact.")
    # THEN the stale save is refused, nothing typed is lost, and the choice is theirs
    conflict = page.get_by_role("heading", name="This note was changed somewhere else")
    expect(conflict).to_be_focused(timeout=30_000)
    expect(objective).to_have_value("Calm, engaged; good eye contact.")
    check_axe(page)
    page.get_by_role("button", name="Keep my version (save over theirs)").click()
    expect(page.get_by_role("status").filter(has_text="Your version is saved.")).to_be_visible()
    assert ok(api.get(f"/v1/notes/{note_id}"))["content"]["objective"].startswith("Calm")

    # WHEN they sign too early THEN the missing fields are named next to the fields
    page.get_by_label(re.compile("^I attest")).check()
    page.get_by_role("button", name="Sign note").click()
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_focused()
    date = page.get_by_label(re.compile("^Date of service"))
    expect(date).to_have_attribute("aria-invalid", "true")
    check_axe(page)
    # AND once complete, it signs
    date.fill("2026-12-01")
    page.get_by_label(re.compile("^Start time")).fill("10:00")
    page.get_by_label(re.compile("^End time")).fill("10:50")
    page.get_by_label(re.compile("^Face-to-face minutes")).fill("50")
    page.get_by_label(re.compile("^Modality")).select_option("in_person")
    page.get_by_label(re.compile("^Assessment")).fill("Improving (synthetic).")
    page.locator(
        '[data-field="content/plan/plan"] textarea, [data-field="content/plan/plan"] input'
    ).fill("Continue weekly CBT.")
    page.get_by_label("Behavioral activation").check()
    page.get_by_label(re.compile("^Suicidal ideation")).select_option("denied")
    page.get_by_label(re.compile("^Homicidal ideation")).select_option("denied")
    page.get_by_label(re.compile("^Clinician-rated risk level")).select_option("low")
    shoot(page, "staff-note-editor")
    page.get_by_role("button", name="Sign note").click()
    expect(page.get_by_role("status").filter(has_text="Note signed.")).to_be_visible()
    expect(page.get_by_text("Signed", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile("^Signed by: Casey Clinician"))).to_be_visible()
    check_axe(page)

    # WHEN they add an addendum THEN it is signed and dated on its own
    page.get_by_label("Add an addendum").fill(
        "Late entry: patient called after session (synthetic)."
    )
    page.get_by_role("button", name="Sign addendum").click()
    expect(page.get_by_role("status").filter(has_text="Addendum signed.")).to_be_visible()
    expect(
        page.get_by_text("Late entry: patient called after session (synthetic).")
    ).to_be_visible()
    # AND the history shows each version, with what changed field by field
    page.get_by_role("button", name="Show history").click()
    versions = page.get_by_role("table", name="Versions of this note")
    expect(versions).to_be_visible()
    versions.get_by_role("button", name="Changes in version 2").click()
    expect(page.get_by_role("heading", name="Changes from version 1 to 2")).to_be_focused()
    check_axe(page)
    final = ok(api.get(f"/v1/notes/{note_id}"))
    assert final["status"] == "signed"
    assert len(final["addenda"]) == 1


@pytest.fixture
def cosign_required(portal_url: str) -> Iterator[httpx.Client]:
    """The demo clinician's notes need their supervisor's co-signature for this test."""
    admin = staff(portal_url, Role.ADMIN)
    users = ok(admin.get("/v1/users", params={"limit": 100}))["items"]
    clinician = next(u for u in users if u["email"] == account(Role.CLINICIAN).email)
    body = {"user_id": clinician["id"], "required": True}
    ok(admin.post("/v1/supervision/cosign-requirements", json=body))
    try:
        yield admin
    finally:
        ok(admin.post("/v1/supervision/cosign-requirements", json={**body, "required": False}))


def signed_soap(api: httpx.Client, patient_id: str, example: dict[str, Any]) -> dict[str, Any]:
    note = ok(
        api.post(
            "/v1/notes",
            json={
                "patient_id": patient_id,
                "template_id": "progress_note_soap",
                "content": example,
            },
        )
    )
    signed: dict[str, Any] = ok(
        api.post(
            f"/v1/notes/{note['id']}/sign", json={"version": note["version"], "attestation": True}
        )
    )
    return signed


def test_supervisor_returns_then_cosigns_a_supervisees_note(
    page: Page, portal_url: str, cosign_required: httpx.Client
) -> None:
    import json
    from pathlib import Path

    example = json.loads(
        (
            Path(__file__).resolve().parents[1]
            / "fixtures/template_examples/progress_note_soap.json"
        ).read_text()
    )
    clinician = staff(portal_url, Role.CLINICIAN)
    patient_id = demo_patient_id(clinician)
    note = signed_soap(clinician, patient_id, example)
    assert note["status"] == "pending_cosign"
    # GIVEN the supervisor's queue
    sign_in_staff(page, Role.SUPERVISOR)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Supervision").click()
    queue = page.get_by_role("table", name="Notes waiting for your co-signature, oldest first")
    expect(queue).to_be_visible()
    check_axe(page)
    shoot(page, "staff-supervision-queue")
    page.goto(f"/staff/#/notes/{note['id']}")
    expect(page.get_by_role("heading", name="Progress note (SOAP)")).to_be_focused()
    # WHEN they return it without comments THEN they are asked for them
    page.get_by_role("button", name="Return with comments").click()
    expect(page.get_by_text("Say what needs to change.").first).to_be_visible()
    page.get_by_label("Comments for the author (needed to return)").fill(
        "Add the homework you agreed."
    )
    page.get_by_role("button", name="Return with comments").click()
    expect(
        page.get_by_role("status").filter(has_text="Note returned to the author.")
    ).to_be_visible()
    check_axe(page)
    # THEN the supervisee sees it returned, with the comments, and can edit it again
    returned = ok(clinician.get(f"/v1/notes/{note['id']}"))
    assert returned["status"] == "returned"
    assert returned["return_comments"] == "Add the homework you agreed."
    again = ok(
        clinician.post(
            f"/v1/notes/{note['id']}/sign",
            json={"version": returned["version"], "attestation": True},
        )
    )
    assert again["status"] == "pending_cosign"
    # WHEN the supervisor opens it again and co-signs
    page.reload()
    sign_in_staff(page, Role.SUPERVISOR, f"/staff/#/notes/{note['id']}")
    expect(page.get_by_role("heading", name="Progress note (SOAP)")).to_be_visible()
    page.get_by_role("button", name="Co-sign").click()
    expect(page.get_by_role("status").filter(has_text="Note co-signed.")).to_be_visible()
    expect(page.get_by_text(re.compile("^Co-signed by: Sam Supervisor"))).to_be_visible()
    assert ok(clinician.get(f"/v1/notes/{note['id']}"))["status"] == "cosigned"


def test_the_supervisee_sees_the_returned_note_and_its_comments(
    page: Page, portal_url: str, cosign_required: httpx.Client
) -> None:
    import json
    from pathlib import Path

    example = json.loads(
        (
            Path(__file__).resolve().parents[1]
            / "fixtures/template_examples/progress_note_soap.json"
        ).read_text()
    )
    clinician = staff(portal_url, Role.CLINICIAN)
    patient_id = demo_patient_id(clinician)
    note = signed_soap(clinician, patient_id, example)
    supervisor = staff(portal_url, Role.SUPERVISOR)
    ok(
        supervisor.post(
            f"/v1/notes/{note['id']}/return",
            json={"version": note["version"], "comments": "Please add the risk review."},
        )
    )
    sign_in_staff(page, Role.CLINICIAN, f"/staff/#/patients/{patient_id}")
    notes = page.get_by_role("table", name="Progress notes, latest first")
    expect(notes.get_by_role("cell", name="Returned by supervisor").first).to_be_visible()
    page.goto(f"/staff/#/notes/{note['id']}")
    expect(page.get_by_text("Please add the risk review.")).to_be_visible()
    expect(page.get_by_role("button", name="Sign note")).to_be_visible()
    check_axe(page)
