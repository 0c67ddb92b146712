"""What the staff-app browser tests share: signing in through the app (answering the MFA
step, or enrolling an authenticator on a first sign-in), axe, and screenshots for docs/."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Page, expect
from portal_api import account, fresh_totp, remember_totp, serious_violations

from tpm.security.principal import Role

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
NAV = "Staff sections"


def origin(page: Page) -> str:
    """The server the page is on (TOTP secrets are kept per server)."""
    parts = urlsplit(page.url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_in_staff(page: Page, role: Role, path: str = "/staff/") -> None:
    """Signs the demo account of `role` in through the app and waits for the shell. An
    account without an authenticator yet (its role must use MFA) enrols one on the way."""
    demo = account(role)
    page.goto(path)
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(demo.email)
    form.get_by_label("Password").fill(demo.password)
    form.get_by_role("button", name="Sign in").click()
    shell = page.get_by_role("navigation", name=NAV)
    enrol = page.get_by_role("heading", name="Set up your authenticator app")
    code = page.locator("#mfa-code")
    expect(shell.or_(enrol).or_(code).filter(visible=True).first).to_be_visible()
    if code.is_visible():
        code.fill(fresh_totp(origin(page), demo.email))
        page.get_by_role("button", name="Verify").click()
    elif enrol.is_visible():
        enrol_in_app(page, demo.email)
    expect(shell).to_be_visible()


def enrol_in_app(page: Page, email: str) -> list[str]:
    """Scans nothing: reads the key the page shows for typing in by hand. Returns the
    recovery codes the app showed."""
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    remember_totp(origin(page), email, secret)
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").locator("li").all_inner_texts()
    page.get_by_role("button", name="I have saved my recovery codes").click()
    return codes


def check_axe(page: Page) -> None:
    problems = serious_violations(page)
    assert problems == [], f"axe found serious or critical problems: {problems}"


def shoot(page: Page, name: str) -> None:
    """A screenshot of the app as it is now, kept in docs/screenshots/ (the tests make
    them, so they stay current). The viewport only: stable size, small files."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
