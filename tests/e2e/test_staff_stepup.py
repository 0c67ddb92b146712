"""Step-up re-authentication completed in the browser: a clinician who signed in with a
password only opens a record outside their care team with break-glass; the API's 401
`reauthenticate` opens the step-up dialog, the password and a fresh code from their
authenticator are accepted, and the request goes through. axe; CSP violations fail."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from portal_api import (
    PRACTICE,
    auth_post,
    enrol_totp,
    fresh_totp,
    ok,
    remember_totp,
    sign_in,
    staff,
)
from staff_ui import NAV, check_axe, origin
from test_staff_practice import outside_patient

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def new_clinician(portal_url: str) -> tuple[str, str]:
    """An invited clinician who accepted (no authenticator yet); returns email, password."""
    admin = staff(portal_url, Role.ADMIN)
    email = f"rowan-{uuid.uuid4().hex[:8]}@example.test"
    invited = ok(
        admin.post(
            "/v1/users",
            json={
                "email": email,
                "display_name": "Rowan Oncall (synthetic)",
                "roles": ["clinician"],
            },
        )
    )
    password = f"juniper-lantern-{uuid.uuid4().hex[:8]}-quartz"
    accept = {"practice": PRACTICE, "token": invited["invitation_token"], "password": password}
    ok(auth_post(portal_url, "/v1/auth/accept-invitation", accept))
    return email, password


def test_a_clinician_completes_a_step_up_for_break_glass(page: Page, portal_url: str) -> None:
    email, password = new_clinician(portal_url)
    patient_id, name = outside_patient(portal_url)
    # GIVEN the clinician signed in to the browser with a password only
    page.goto(f"/staff/#/patients/{patient_id}")
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name=NAV)).to_be_visible()
    expect(
        page.get_by_role("heading", name="You are not on this patient's care team")
    ).to_be_visible()
    # AND has since set up an authenticator (elsewhere: this session never proved it)
    remember_totp(origin(page), email, enrol_totp(sign_in(portal_url, email, password)))

    # WHEN they ask for emergency access THEN the API wants a fresh second factor
    page.get_by_label("Why do you need this record now?").fill("On-call: crisis line (synthetic).")
    page.get_by_role("button", name="Open with emergency access").click()
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    expect(dialog.get_by_label("Password")).to_be_focused()
    check_axe(page)
    # WHEN the password and a fresh code are given (keyboard only: Enter submits)
    dialog.get_by_label("Password").fill(password)
    dialog.get_by_label("Verification code").fill(fresh_totp(origin(page), email))
    dialog.get_by_label("Verification code").press("Enter")

    # THEN the dialog closes and the original request went through: the record is open
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("heading", name=name)).to_be_focused()
    expect(page.get_by_role("status")).to_contain_text("Emergency access open until")
    check_axe(page)


def sign_in_password_only(page: Page, email: str, password: str, path: str) -> None:
    page.goto(path)
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name=NAV)).to_be_visible()


def test_the_author_releases_a_psychotherapy_note_after_a_step_up(
    page: Page, portal_url: str
) -> None:
    # GIVEN a clinician's psychotherapy note about a patient on their care team
    email, password = new_clinician(portal_url)
    patient_id, name = outside_patient(portal_url)
    clinician = sign_in(portal_url, email, password)
    me = ok(clinician.get("/v1/me"))["id"]
    desk = staff(portal_url, Role.FRONT_DESK)
    ok(desk.post(f"/v1/patients/{patient_id}/care-team", json={"user_id": me}))
    text = f"Process note {uuid.uuid4().hex[:6]} (synthetic)."
    ok(clinician.post("/v1/psychotherapy-notes", json={"patient_id": patient_id, "text": text}))
    sign_in_password_only(page, email, password, "/staff/#/psychotherapy-notes")
    remember_totp(origin(page), email, enrol_totp(clinician))
    expect(page.get_by_role("heading", name="Psychotherapy notes")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=name)

    # WHEN they release it without confirming the authorization THEN nothing is released
    row.get_by_role("button", name="Release").click()
    row.get_by_role("button", name="Release and download").click()
    expect(page.get_by_role("alert")).to_contain_text("written authorization")
    check_axe(page)
    # WHEN they confirm and prove it is them (step-up) THEN the note downloads
    row.get_by_label("The patient's written authorization").check()
    with page.expect_download() as download:
        row.get_by_role("button", name="Release and download").click()
        dialog = page.get_by_role("dialog", name="Confirm it is you")
        dialog.get_by_label("Password").fill(password)
        dialog.get_by_label("Verification code").fill(fresh_totp(origin(page), email))
        dialog.get_by_role("button", name="Confirm").click()
    saved = download.value
    assert saved.suggested_filename.startswith("psychotherapy-note-")
    content = Path(saved.path()).read_text(encoding="utf-8")
    assert text in content
    assert f"Patient: {name}" in content
    expect(page.get_by_role("status")).to_contain_text("Released")
    check_axe(page)
