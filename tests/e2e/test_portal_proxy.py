"""Proxy (guardian) portal access, one journey: the front desk invites a second parent of
the demo minor from the chart; the parent sets up their account with the one-time code,
signs in to the portal and writes to the care team for the child; the clinician sees the
message "written by <parent> for <child>", answers it, and revokes the parent from the
chart, which ends their session at once. axe on each screen; CSP violations fail."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Page, expect
from portal_api import TIMEOUT, ok, sign_in, staff
from staff_ui import check_axe, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e

PARENT = "Robin Secondparent (synthetic)"
PASSWORD = "juniper-lantern-oboe-81"
SUBJECT = "Sky's new inhaler"
BODY = "Sky started a new inhaler this week; does that change anything for the sessions?"


def test_a_parent_is_invited_writes_for_the_child_and_is_revoked(
    page: Page, portal_url: str
) -> None:
    desk = staff(portal_url, Role.FRONT_DESK)
    [minor] = ok(desk.post("/v1/patients/search", json={"name": "Sky"}))["items"]
    email = f"robin-{secrets.token_hex(4)}@example.test"
    # GIVEN the front desk on the child's chart invites the second parent
    sign_in_staff(page, Role.FRONT_DESK, f"/staff/#/patients/{minor['id']}")
    form = page.locator("#proxy-invite")
    form.get_by_label("Their name").fill(PARENT)
    form.get_by_label("Their email (their own sign-in)").fill(email)
    form.get_by_label("Relationship").select_option("parent_of_minor")
    form.get_by_label("Documented basis").fill("Birth certificate seen at the desk (synthetic)")
    form.get_by_role("button", name="Invite proxy").click()
    code = page.locator("#proxy-code")
    expect(code).to_be_visible()
    token = code.inner_text().strip()
    proxies = page.get_by_role("region", name="Proxies for this patient")
    expect(proxies).to_contain_text(PARENT)
    check_axe(page)
    # WHEN the parent sets up their account with the code and signs in to the portal
    page.goto("/")
    page.get_by_text("Have a one-time invitation code?").click()
    page.get_by_label("Invitation code").fill(token)
    page.get_by_label("Choose a passphrase").fill(PASSWORD)
    page.get_by_role("button", name="Set up my account").click()
    expect(page.locator("#signin-message")).to_contain_text("Your account is ready")
    signin = page.locator("#signin-form")
    signin.get_by_label("Password").fill(PASSWORD)
    signin.get_by_role("button", name="Sign in").click()
    # THEN they act for the child, and write to the care team for them
    expect(page.get_by_role("heading", name=re.compile(r"^Acting for Sky"))).to_be_focused()
    compose = page.locator("#proxy-new-form")
    compose.get_by_label("Subject").fill(SUBJECT)
    compose.get_by_label("Message").fill(BODY)
    compose.get_by_role("button", name="Send message").click()
    expect(page.locator("#proxy-thread-messages")).to_contain_text(BODY)
    check_axe(page)
    parent = sign_in(portal_url, email, PASSWORD)  # a second session of theirs, for later
    # AND the clinician sees it attributed to the parent, for the child, and answers
    threads = ok(parent.get(f"/v1/proxy/patients/{minor['id']}/threads"))["items"]
    [thread] = [t for t in threads if t["subject"] == SUBJECT]
    sign_in_staff(page, Role.CLINICIAN, f"/staff/#/messages/threads/{thread['id']}")
    expect(page.get_by_text(f"Written by {PARENT} for Sky")).to_be_visible()
    expect(page.get_by_text("Shared with the patient's proxies (guardians)")).to_be_visible()
    reply = page.locator("#reply-form")
    reply.get_by_label("Message").fill("Thanks, noted: no change for the sessions.")
    reply.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("status")).to_contain_text("Reply sent")
    answered = ok(parent.get(f"/v1/proxy/patients/{minor['id']}/threads/{thread['id']}"))
    assert [m["author_kind"] for m in answered["messages"] if m["author_kind"] != "system"] == [
        "proxy",
        "staff",
    ]
    # WHEN the clinician revokes the parent from the chart
    page.goto(f"/staff/#/patients/{minor['id']}")
    page.get_by_role("button", name=f"Revoke {PARENT}").click()
    expect(page.get_by_role("status")).to_contain_text("It ended at once")
    proxies = page.get_by_role("region", name="Proxies for this patient")
    expect(proxies.get_by_role("row", name=re.compile(re.escape(PARENT)))).to_contain_text(
        "Revoked"
    )
    # THEN the parent's session has ended (it was their only patient)
    refused = parent.get("/v1/proxy/patients", timeout=TIMEOUT)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "session_expired")
