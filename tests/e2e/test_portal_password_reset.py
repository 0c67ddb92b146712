"""A patient who forgot their password gets a link by email (seen on `tpm dev`'s outbox
page), chooses a new one in the portal, and signs in with it; the link works once."""

from __future__ import annotations

import re

import pytest
from conftest import PortalPatient
from playwright.sync_api import Page, expect
from portal_api import screenshot, serious_violations, sign_in_portal

pytestmark = pytest.mark.e2e
NEW_PASSWORD = "amber-harbour-quietly-93"


def test_a_patient_resets_a_forgotten_password_from_the_emailed_link(
    page: Page, new_patient: PortalPatient, portal_url: str
) -> None:
    # GIVEN the sign-in page, WHEN the patient says they forgot their password
    page.goto("/")
    page.get_by_role("textbox", name="Email").fill(new_patient.email)
    page.get_by_role("button", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_focused()
    form = page.locator("#forgot-form")
    expect(form.get_by_label("Your sign-in address")).to_have_value(new_patient.email)
    form.get_by_role("button", name="Email me a link").click()
    # THEN the answer says a link is on its way (it would say the same for any address)
    expect(page.locator("#forgot-done")).to_contain_text("on its way")
    assert serious_violations(page) == []
    screenshot(page, "password-reset-1-asked")

    # AND the email holds the link, and no other detail than the practice's name
    page.goto("/dev/outbox")
    row = page.get_by_role("row").filter(has_text="reset your password").first
    text = row.locator("pre").inner_text()
    link = re.search(r"https?://\S+#password-reset=\S+", text)
    assert link is not None, text
    assert new_patient.email not in text

    # WHEN the patient opens the link THEN they choose a new password (a weak one is refused
    # next to the field, the link still works)
    page.goto(link.group(0))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_focused()
    assert "password-reset" not in page.url  # the token left the address bar at once
    reset = page.locator("#reset-form")
    reset.get_by_label("New password").fill("password")
    reset.get_by_role("button", name="Set my new password").click()
    expect(page.locator("#reset-password-error")).to_contain_text("too common")
    reset.get_by_label("New password").fill(NEW_PASSWORD)
    reset.get_by_role("button", name="Set my new password").click()
    expect(page.get_by_text("Your password was changed")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "password-reset-2-changed")

    # AND the new password signs in
    sign_in_portal(page, new_patient.email, NEW_PASSWORD)
    expect(page.get_by_role("heading", name=re.compile("^Welcome, "))).to_be_visible()

    # AND the same link does not work twice
    page.goto(link.group(0))
    page.locator("#reset-form").get_by_label("New password").fill("another-long-phrase-17")
    page.get_by_role("button", name="Set my new password").click()
    expect(page.locator("#reset-password-error")).to_contain_text("did not work")
