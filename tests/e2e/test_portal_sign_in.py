"""Signing in to the portal: keyboard only, wrong password, the TOTP step, sign-out, and a
session that ends (idle timeout or ended elsewhere) sending the patient back to sign-in."""

from __future__ import annotations

import re
import time

import httpx
import pyotp
import pytest
from conftest import PortalPatient
from playwright.sync_api import Page, Request, expect
from portal_api import account, enrol_totp, screenshot, sign_in, sign_in_portal

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e
SIGN_IN = "Sign in to your patient portal"


def bearer_tokens(page: Page) -> list[str]:
    """Every bearer token the page sends (to show it is dead after sign-out)."""
    seen: list[str] = []

    def record(request: Request) -> None:
        value = request.headers.get("authorization", "")
        if value.startswith("Bearer ") and value not in seen:
            seen.append(value)

    page.on("request", record)
    return seen


def test_keyboard_only_sign_in_and_sign_out(page: Page, portal_url: str) -> None:
    patient = account(Role.PATIENT)
    tokens = bearer_tokens(page)
    page.goto("/")
    # GIVEN only the keyboard: the skip link comes first, then the form
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("textbox", name="Email")).to_be_focused()
    page.keyboard.type(patient.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(patient.password)
    # WHEN Enter submits
    page.keyboard.press("Enter")
    # THEN the patient is in, with focus on the page's heading
    welcome = page.get_by_role("heading", name=f"Welcome, {patient.display_name}")
    expect(welcome).to_be_focused()
    expect(page.get_by_role("navigation", name="Portal sections")).to_be_visible()

    # WHEN they sign out with the keyboard
    page.get_by_role("button", name="Sign out").focus()
    page.keyboard.press("Enter")
    # THEN the sign-in form is back, and the token the page held no longer works
    expect(page.get_by_role("heading", name=SIGN_IN)).to_be_visible()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    expect(welcome).to_be_hidden()
    assert tokens
    refused = httpx.get(f"{portal_url}/v1/me", headers={"Authorization": tokens[-1]}, timeout=30)
    assert refused.status_code == 401


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(page: Page) -> None:
    sign_in_portal(page, account(Role.PATIENT).email, "not-the-password-at-all")
    expect(page.get_by_role("alert")).to_have_text(
        "That email and password do not match an account."
    )
    expect(page.get_by_role("heading", name=SIGN_IN)).to_be_visible()


def test_staff_cannot_use_the_patient_portal(page: Page) -> None:
    clinician = account(Role.CLINICIAN)
    sign_in_portal(page, clinician.email, clinician.password)
    expect(page.get_by_text("The patient portal is for patients.")).to_be_visible()
    expect(page.get_by_role("heading", name=SIGN_IN)).to_be_visible()


def test_a_patient_with_mfa_enters_a_code_after_the_password(
    page: Page, portal_url: str, new_patient: PortalPatient
) -> None:
    # GIVEN the patient enrolled TOTP (the enrolment used up the current code)
    client = sign_in(portal_url, new_patient.email, new_patient.password)
    totp = pyotp.TOTP(enrol_totp(client))
    # WHEN they sign in with their password
    sign_in_portal(page, new_patient.email, new_patient.password)
    code = page.get_by_label("Verification code")
    expect(code).to_be_focused()
    screenshot(page, "sign-in-mfa")
    # AND a wrong code is refused
    code.fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile("That code did not work"))
    # THEN the next code lets them in
    code.fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name=re.compile("^Welcome, "))).to_be_visible()


def test_a_session_that_ended_sends_the_patient_back_to_sign_in(
    page: Page, portal_url: str, new_patient: PortalPatient
) -> None:
    # GIVEN the patient is signed in in the browser
    sign_in_portal(page, new_patient.email, new_patient.password)
    expect(page.get_by_role("heading", name=re.compile("^Welcome, "))).to_be_visible()
    # WHEN that session ends on the server (as after the idle timeout)
    other = sign_in(portal_url, new_patient.email, new_patient.password)
    sessions = other.get("/v1/me/sessions").raise_for_status().json()["items"]
    browser_sessions = [s for s in sessions if not s["current"]]
    assert len(browser_sessions) == 1
    other.post(f"/v1/me/sessions/{browser_sessions[0]['id']}/end").raise_for_status()
    # AND the patient does something
    page.get_by_role("button", name="Save changes").click()
    # THEN they are back at sign-in, told why, with nothing of theirs left on the page
    expect(page.get_by_role("heading", name=SIGN_IN)).to_be_visible()
    expect(page.get_by_text(re.compile("Your session has ended"))).to_be_visible()
    expect(page.get_by_role("textbox", name="Email")).to_be_focused()
    expect(page.locator("#contact-email")).to_have_value("")
    expect(page.locator("#upcoming li")).to_have_count(0)
    screenshot(page, "sign-in-after-session-ended")
