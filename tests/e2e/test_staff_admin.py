"""Administration in the staff app: an admin invites a biller, who accepts the invitation,
enrols an authenticator on the first sign-in and gets in; the admin changes roles,
deactivates and reactivates the account. axe on each state; CSP violations fail."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect
from portal_api import staff
from staff_ui import NAV, check_axe, enrol_in_app, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_admin_invites_a_user_who_enrols_mfa_and_signs_in(
    page: Page, browser: Browser, portal_url: str
) -> None:
    staff(portal_url, Role.ADMIN)  # the admin's authenticator, enrolled once per server
    sign_in_staff(page, Role.ADMIN)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_focused()
    check_axe(page)
    # GIVEN the admin invites a biller
    email = f"riley-{uuid.uuid4().hex[:8]}@example.test"
    invite = page.get_by_role("form", name="Invite a staff member")
    invite.get_by_label("Email").fill(email)
    invite.get_by_label("Name").fill("Riley Biller (synthetic)")
    invite.get_by_role("button", name="Send invitation").click()
    # (no role chosen: the API's field error shows next to the roles)
    expect(invite.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()
    invite.get_by_label("Email").fill(email)
    invite.get_by_label("Name").fill("Riley Biller (synthetic)")
    invite.get_by_label("Biller").check()
    invite.get_by_role("button", name="Send invitation").click()
    expect(
        page.get_by_role("heading", name="Invitation for Riley Biller (synthetic)")
    ).to_be_focused()
    code = page.locator("#invitation-code").inner_text()
    accounts = page.get_by_role("table", name="Staff accounts")
    expect(accounts.get_by_role("row", name=re.compile("Riley Biller"))).to_contain_text("Invited")
    shoot(page, "staff-users")

    # WHEN the biller accepts it in their own browser, enrols and signs in
    other = browser.new_context(base_url=portal_url, viewport={"width": 1100, "height": 900})
    try:
        riley = other.new_page()
        riley.goto("/staff/")
        riley.get_by_role("button", name="I have an invitation code").click()
        expect(riley.get_by_role("heading", name="Accept your invitation")).to_be_focused()
        riley.get_by_label("Invitation code").fill(code)
        riley.get_by_label("Choose a password").fill("short")
        riley.get_by_role("button", name="Set my password").click()
        expect(riley.get_by_text("Use at least 12 characters.").first).to_be_visible()
        check_axe(riley)
        password = f"saffron-harbor-{uuid.uuid4().hex[:8]}-kettle"
        riley.get_by_label("Choose a password").fill(password)
        riley.get_by_role("button", name="Set my password").click()
        expect(riley.get_by_text("Your account is ready.").first).to_be_visible()
        expect(riley.get_by_label("Email")).to_have_value(email)
        riley.locator("#signin-form").get_by_label("Password").fill(password)
        riley.get_by_role("button", name="Sign in").click()
        expect(riley.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
        check_axe(riley)
        shoot(riley, "staff-mfa-enrolment")
        codes = enrol_in_app(riley, email)
        assert len(codes) == 10
        # THEN they are in, with the biller's menu
        expect(
            riley.get_by_role("heading", name="Welcome, Riley Biller (synthetic)")
        ).to_be_visible()
        expect(riley.get_by_role("navigation", name=NAV)).to_be_visible()
    finally:
        other.close()

    # AND the admin sees the account active, changes its roles, deactivates, reactivates
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Riley Biller (synthetic)").click()
    expect(page.get_by_role("heading", name="Riley Biller (synthetic)")).to_be_focused()
    expect(page.get_by_text("Active", exact=True)).to_be_visible()
    page.get_by_label("Front desk").check()
    page.get_by_role("button", name="Save roles").click()
    expect(page.get_by_role("status")).to_have_text("Roles saved.")
    expect(page.locator(".facts")).to_contain_text("Biller, Front desk")
    check_axe(page)
    page.get_by_role("button", name="Deactivate account").click()
    expect(page.get_by_role("button", name="Yes, deactivate")).to_be_focused()
    page.get_by_role("button", name="Yes, deactivate").click()
    expect(page.get_by_role("status")).to_have_text("Riley Biller (synthetic) is deactivated.")
    page.get_by_role("button", name="Reactivate account").click()
    expect(page.get_by_role("status")).to_have_text("Riley Biller (synthetic) can sign in again.")
    check_axe(page)


def test_admin_assigns_a_clinicians_supervisor(page: Page, portal_url: str) -> None:
    # GIVEN a newly invited clinician with no supervisor
    admin = staff(portal_url, Role.ADMIN)
    invited = admin.post(
        "/v1/users",
        json={
            "email": f"kai-{uuid.uuid4().hex[:8]}@example.test",
            "display_name": "Kai Newhire (synthetic)",
            "roles": ["clinician"],
        },
    )
    assert invited.status_code == 201, invited.text
    user_id = invited.json()["user"]["id"]
    sign_in_staff(page, Role.ADMIN, f"/staff/#/admin/users/{user_id}")
    expect(page.get_by_role("heading", name="Kai Newhire (synthetic)")).to_be_visible()
    box = page.get_by_role("region", name="Supervision")
    expect(box).to_contain_text("No supervisor assigned.")
    check_axe(page)
    # WHEN the admin assigns the practice's supervisor (keyboard: Enter on the button)
    form = box.get_by_role("form", name="Assign a supervisor")
    choice = form.get_by_label("Supervisor")
    name = choice.locator("option").first.inner_text()
    choice.select_option(label=name)
    form.get_by_role("button", name="Assign supervisor").press("Enter")
    # THEN it is said and shown, and the API holds it
    expect(page.get_by_role("status")).to_contain_text(f"{name} now supervises Kai Newhire")
    listed = page.get_by_role("list", name="Supervisors")
    expect(listed).to_contain_text(name)
    supervisors = admin.get(f"/v1/users/{user_id}/supervisors").json()["items"]
    assert [s["display_name"] for s in supervisors] == [name]
    check_axe(page)
    box.scroll_into_view_if_needed()
    shoot(page, "staff-user-supervision")
