"""The staff app's shell: sign-in (keyboard only, MFA enrolment on a first sign-in),
navigation built from the API's effective permissions, a screen the role may not use,
patient search, my sessions, sign-out. Every test checks axe; CSP violations fail."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect
from portal_api import account, auth_post
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_a_clinician_signs_in_with_the_keyboard_and_finds_a_patient(
    page: Page, portal_url: str
) -> None:
    clinician = account(Role.CLINICIAN)
    page.goto("/staff/")
    check_axe(page)
    shoot(page, "staff-sign-in")
    # GIVEN only the keyboard: the skip link, then the form
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("textbox", name="Email")).to_be_focused()
    page.keyboard.type(clinician.email)
    page.keyboard.press("Tab")
    page.keyboard.type(clinician.password)
    page.keyboard.press("Enter")
    # THEN the home page greets them, focused, with the sections their role uses
    welcome = page.get_by_role("heading", name=f"Welcome, {clinician.display_name}")
    expect(welcome).to_be_focused()
    nav = page.get_by_role("navigation", name=NAV)
    expect(nav.get_by_role("link", name="Patients")).to_be_visible()
    check_axe(page)

    # WHEN they search for a patient by name (the terms go in the body, never the address)
    nav.get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", name="Patients", exact=True)).to_be_focused()
    page.get_by_label("Name").fill("Pat Example")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_have_text("1 patient found.")
    assert "Example" not in page.url
    assert "Pat" not in page.url
    check_axe(page)
    shoot(page, "staff-patient-search")
    # AND open the record: the address carries the id only
    page.get_by_role("link", name="Example, Pat").click()
    expect(page.get_by_role("heading", name="Example, Pat")).to_be_focused()
    assert "#/patients/pat_" in page.url
    expect(page.get_by_text("they/them")).to_be_visible()
    check_axe(page)


def test_a_search_with_no_terms_says_what_to_enter_next_to_the_field(page: Page) -> None:
    sign_in_staff(page, Role.FRONT_DESK, "/staff/#/patients")
    expect(page.get_by_role("heading", name="Patients", exact=True)).to_be_visible()
    page.get_by_role("button", name="Search").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_focused()
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    # The summary links to the field
    summary.get_by_role("link").click()
    expect(page.get_by_label("Name")).to_be_focused()
    check_axe(page)


def test_compliance_enrols_an_authenticator_and_sees_only_its_sections(
    page: Page, portal_url: str
) -> None:
    # GIVEN the compliance officer signs in for the first time: enrolment comes first
    sign_in_staff(page, Role.COMPLIANCE)
    nav = page.get_by_role("navigation", name=NAV)
    # THEN the menu has no patient search (the role does not hold patient.search)
    expect(nav.get_by_role("link", name="Home")).to_be_visible()
    expect(nav.get_by_role("link", name="Patients")).to_have_count(0)
    # AND going there by address says so (the API would refuse it too)
    page.goto("/staff/#/patients")
    expect(page.get_by_role("heading", name="You do not have access to this")).to_be_visible()
    check_axe(page)


def test_my_sessions_lists_this_one_and_ends_another(page: Page, portal_url: str) -> None:
    desk = account(Role.FRONT_DESK)
    # GIVEN another session of the same person (another device)
    other = auth_post(
        portal_url,
        "/v1/auth/login",
        {"practice": "demo", "email": desk.email, "password": desk.password},
    ).json()["access_token"]
    sign_in_staff(page, Role.FRONT_DESK)
    page.get_by_role("link", name="My account").click()
    expect(page.get_by_role("heading", name="My account")).to_be_focused()
    sessions = page.get_by_role("table", name="Sessions that have not ended")
    expect(sessions.get_by_text("This session")).to_be_visible()
    check_axe(page)
    shoot(page, "staff-my-account")
    # WHEN they end the other one(s)
    while page.get_by_role("button", name="End session").count():
        page.get_by_role("button", name="End session").first.click()
        expect(page.get_by_role("status")).to_contain_text("Ended the session")
    # THEN its token no longer works, and this session still does
    refused = httpx.get(
        f"{portal_url}/v1/me", headers={"Authorization": f"Bearer {other}"}, timeout=30
    )
    assert refused.status_code == 401
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", name="Patients", exact=True)).to_be_visible()


def test_sign_out_clears_the_page_and_patients_cannot_use_the_staff_app(page: Page) -> None:
    sign_in_staff(page, Role.FRONT_DESK, "/staff/#/patients")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    expect(page.get_by_role("navigation", name=NAV)).to_be_hidden()
    expect(page.locator("#view")).to_be_empty()
    patient = account(Role.PATIENT)
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(patient.email)
    form.get_by_label("Password").fill(patient.password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Patients sign in to the patient portal.")).to_be_visible()
