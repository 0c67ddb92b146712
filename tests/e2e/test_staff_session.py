"""Idle sign-out in the staff app (GOV.UK timeout-warning pattern), on the page's own
clock: two minutes before the practice's idle limit the app asks whether to stay; staying
keeps the session; doing nothing signs out, says why, and leaves no patient data on the
page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from staff_ui import NAV, check_axe, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_the_idle_warning_keeps_or_ends_the_session(page: Page, portal_url: str) -> None:
    page.clock.install()
    sign_in_staff(page, Role.FRONT_DESK, "/staff/#/patients")
    expect(page.get_by_role("heading", name="Patients", exact=True)).to_be_visible()
    # WHEN 13.5 of the practice's 15 idle minutes pass without a request or a keystroke
    page.clock.fast_forward("13:30")
    # THEN the warning asks, with the time left
    warning = page.get_by_role("dialog", name="You will be signed out soon")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(re.compile(r"signed out in\s+\d+ minutes?"))
    expect(page.get_by_role("button", name="Stay signed in")).to_be_focused()
    check_axe(page)
    # WHEN they stay THEN the dialog closes and the page carries on
    with page.expect_response(lambda r: r.url.endswith("/v1/me")):
        page.get_by_role("button", name="Stay signed in").click()
    expect(warning).to_be_hidden()
    expect(page.get_by_role("navigation", name=NAV)).to_be_visible()
    # WHEN they then leave it alone for the whole idle time
    page.clock.fast_forward("15:00")
    # THEN they are signed out, told why, and nothing of the last page is left
    expect(page.get_by_text("You were signed out because you were inactive.")).to_be_visible()
    expect(page.get_by_role("navigation", name=NAV)).to_be_hidden()
    expect(page.locator("#view")).to_be_empty()
