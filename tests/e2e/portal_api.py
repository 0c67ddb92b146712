"""What the browser tests do through the API, as staff would: sign in (enrolling TOTP where
the role requires it), set up the demo practice's catalogue and online-booking rules, book
a series, and invite new patients to the portal."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pyotp
from playwright.sync_api import Page

from tpm.local.demo import DEMO_ACCOUNTS, DEMO_PATIENT, DemoAccount
from tpm.security.principal import Role

PRACTICE = "demo"
CLINIC_ZONE = "America/Chicago"
ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-results"
# Generous: the suite shares a small machine with CPU-heavy tests (argon2 on every sign-in).
TIMEOUT = 30.0


def account(role: Role) -> DemoAccount:
    return next(a for a in (*DEMO_ACCOUNTS, DEMO_PATIENT) if a.role is role)


# TOTP secrets of the accounts enrolled in this test process, per server (a process may
# run more than one tpm dev), so a browser sign-in can answer the MFA step of an account
# the API enrolled, and back. Keyed by (server base URL, email).
TOTP_SECRETS: dict[tuple[str, str], str] = {}
_LAST_STEP: dict[tuple[str, str], int] = {}


def fresh_totp(base: str, email: str) -> str:
    """A code for `email`'s authenticator on `base` that the server has not seen yet (it
    refuses a replayed step), waiting for the next 30-second step when the window is used."""
    key = (base.rstrip("/"), email)
    totp = pyotp.TOTP(TOTP_SECRETS[key])
    while True:
        now_step = int(time.time()) // 30
        step = max(now_step, _LAST_STEP.get(key, -1) + 1)
        if step <= now_step + 1:
            _LAST_STEP[key] = step
            return str(totp.at(step * 30))
        time.sleep(1)


def remember_totp(base: str, email: str, secret: str) -> None:
    key = (base.rstrip("/"), email)
    TOTP_SECRETS[key] = secret
    _LAST_STEP[key] = int(time.time()) // 30  # enrolment used the current step


def has_totp(base: str, email: str) -> bool:
    return (base.rstrip("/"), email) in TOTP_SECRETS


def auth_post(base: str, path: str, body: dict[str, Any]) -> httpx.Response:
    """Sign-in calls from a loopback address of their own: the API throttles sign-ins per
    source address (50 per 5 minutes), and the browser's sign-ins (from 127.0.0.1) should
    not share that budget with the many API sign-ins the tests make."""
    if "//127.0.0.1:" not in base:
        return httpx.post(f"{base}{path}", json=body, timeout=TIMEOUT)
    address = f"127.0.{random.randint(1, 250)}.{random.randint(2, 250)}"
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
        return client.post(f"{base}{path}", json=body)


def sign_in(base: str, email: str, password: str) -> httpx.Client:
    """A client signed in with a password (and a TOTP code when the account has one that
    this test process enrolled)."""
    body = {"practice": PRACTICE, "email": email, "password": password}
    tokens = auth_post(base, "/v1/auth/login", body).raise_for_status().json()
    if tokens.get("mfa_required") and has_totp(base, email):
        second = {
            "practice": PRACTICE,
            "challenge": tokens["challenge"],
            "code": fresh_totp(base, email),
        }
        tokens = auth_post(base, "/v1/auth/mfa", second).raise_for_status().json()
    assert "access_token" in tokens, "this account asks for MFA; use sign_in_with_mfa"
    return httpx.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=TIMEOUT,
    )


def enrol_totp(client: httpx.Client) -> str:
    """Enrol TOTP for the signed-in user; returns the secret."""
    secret = str(client.post("/v1/me/mfa/totp").raise_for_status().json()["secret"])
    confirm = {"code": pyotp.TOTP(secret).now()}
    client.post("/v1/me/mfa/totp/confirm", json=confirm).raise_for_status()
    return secret


MUST_USE_MFA = (Role.OWNER, Role.ADMIN, Role.SUPERVISOR, Role.BILLER, Role.COMPLIANCE)
# Signed-in API clients of the accounts that use MFA, per (server, role), with when they
# signed in. Each MFA sign-in spends a 30-second TOTP step (the server refuses a replayed
# one), so signing the same account in again and again made tests wait out steps.
_MFA_CLIENTS: dict[tuple[str, Role], tuple[httpx.Client, float]] = {}
# Younger than the server's step-up window (10 minutes), so a reused session still counts
# as recently verified.
_REUSE_FOR = 5 * 60.0


def staff(base: str, role: Role) -> httpx.Client:
    """A signed-in API client for the demo account of `role`. Roles that must use MFA enrol
    before anything else: sign in, enrol, carry on (the secret is remembered, so later
    sign-ins, in the API or the browser, answer with a code); their client is reused for a
    few minutes while its session still answers."""
    demo = account(role)
    key = (base.rstrip("/"), role)
    if role in MUST_USE_MFA and key in _MFA_CLIENTS:
        client, since = _MFA_CLIENTS[key]
        if (
            time.monotonic() - since < _REUSE_FOR
            and not client.is_closed
            and client.get("/v1/me/permissions").status_code == 200
        ):
            return client
    client = sign_in(base, demo.email, demo.password)
    if role in MUST_USE_MFA:
        if not has_totp(base, demo.email):
            remember_totp(base, demo.email, enrol_totp(client))
        _MFA_CLIENTS[key] = (client, time.monotonic())
    return client


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (
        f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
    )
    return response.json() if response.content else None


@dataclass(frozen=True)
class Catalogue:
    clinician_id: str
    service_id: str
    service_name: str
    location_id: str


def set_up_catalogue(admin: httpx.Client) -> Catalogue:
    """An office, a self-bookable service, the demo clinician's weekday hours, and rules
    that let patients book online with that clinician."""
    users = ok(admin.get("/v1/users", params={"limit": 100}))["items"]
    clinician = next(u for u in users if u["email"] == account(Role.CLINICIAN).email)
    location = ok(
        admin.post(
            "/v1/locations",
            json={"name": "Suite 200 (synthetic)", "kind": "office", "timezone": CLINIC_ZONE},
        )
    )
    service_name = "Individual psychotherapy 45 min"
    service = ok(
        admin.post(
            "/v1/services",
            json={
                "name": service_name,
                "cpt_code": "90834",
                "duration_minutes": 45,
                "fee": {"amount": "150.00", "currency": "USD"},
                "self_bookable": True,
            },
        )
    )
    path = f"/v1/clinicians/{clinician['id']}/availability"
    current = ok(admin.get(path))
    # Every day (a run on any date finds hours), at this office and the demo's own
    # locations (bookings must fall inside the clinician's availability).
    places = [location["id"]] + [
        x["id"]
        for x in ok(admin.get("/v1/locations"))["items"]
        if x["id"] != location["id"] and x.get("active", True)
    ]
    weekly = [
        {"weekday": d, "start": "09:00", "end": "17:00", "location_ids": places[:10]}
        for d in range(7)
    ]
    ok(
        admin.patch(
            path, json={"version": current["version"], "timezone": CLINIC_ZONE, "weekly": weekly}
        )
    )
    rules = ok(admin.get("/v1/scheduling-rules"))
    ok(
        admin.patch(
            "/v1/scheduling-rules",
            json={
                "version": rules["version"],
                "self_booking_enabled": True,
                "self_booking_clinician_ids": [clinician["id"]],
                "min_notice_hours": 2,
                "cancel_window_hours": 24,
            },
        )
    )
    return Catalogue(clinician["id"], service["id"], service_name, location["id"])


def book_weekly_series(
    desk: httpx.Client, catalogue: Catalogue, patient_id: str, first: date, count: int
) -> list[dict[str, Any]]:
    """Front desk books a weekly series at 10:00 clinic time."""
    start_local = datetime.combine(first, datetime.min.time()).replace(hour=10)
    body = {
        "patient_ids": [patient_id],
        "clinician_id": catalogue.clinician_id,
        "service_id": catalogue.service_id,
        "location_id": catalogue.location_id,
        "rrule": "FREQ=WEEKLY",
        "start_local": start_local.isoformat(),
        "timezone": CLINIC_ZONE,
        "count": count,
    }
    appointments: list[dict[str, Any]] = ok(desk.post("/v1/appointment-series", json=body))[
        "appointments"
    ]
    return appointments


def demo_patient_id(desk: httpx.Client) -> str:
    found = ok(desk.post("/v1/patients/search", json={"name": "Pat Example"}))["items"]
    assert len(found) == 1
    return str(found[0]["id"])


def invite_new_patient(
    desk: httpx.Client,
    first_name: str,
    email: str,
    password: str,
    inviter: httpx.Client | None = None,
) -> str:
    """A new patient record and an accepted portal invitation (sent by `inviter`, default
    `desk`: the API allows each user 20 invitations an hour); returns the patient id."""
    patient = ok(
        desk.post(
            "/v1/patients",
            json={
                "legal_first_name": first_name,
                "legal_last_name": "Synthetic",
                "date_of_birth": "1985-05-05",
                "email": email,
            },
        )
    )
    sender = inviter or desk
    invitation = ok(sender.post(f"/v1/patients/{patient['id']}/portal-invitation", json={}))
    base = str(desk.base_url).rstrip("/")
    accept = {"practice": PRACTICE, "token": invitation["invitation_token"], "password": password}
    ok(httpx.post(f"{base}/v1/auth/accept-invitation", json=accept, timeout=TIMEOUT))
    return str(patient["id"])


def next_weekday(after: date, weekday: int) -> date:
    days = (weekday - after.weekday()) % 7 or 7
    return after + timedelta(days=days)


def run_reminder_sweep(data_dir: Path) -> str:
    """The scheduled sweep `tpm dev` runs every five minutes, run now by the operator
    command against the server's data dir (SQLite and local keys), so the test need not
    wait for the schedule. Exactly once holds even if the schedule fires meanwhile.
    Returns what the command printed (counts only)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPM_")}
    done = subprocess.run(
        [sys.executable, "-m", "tpm.cli", "reminders", "sweep", "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"tpm reminders sweep failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def use_no_quiet_hours(admin: httpx.Client) -> None:
    """Quiet hours would hold messages back when the suite runs at night."""
    current = ok(admin.get("/v1/reminder-settings"))
    body = {
        key: current[key]
        for key in (
            "version",
            "rules",
            "templates",
            "allow_clinician_name",
            "feed_patient_initials",
            "sms_number",
        )
    }
    body["quiet_hours"] = {**current["quiet_hours"], "enabled": False}
    ok(admin.put("/v1/reminder-settings", json=body))


def screenshot(page: Page, name: str) -> Path:
    """Saved to test-results/ (gitignored) for people to look at."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in_portal(page: Page, email: str, password: str) -> None:
    page.goto("/")
    form = page.get_by_role("region", name="Sign in to your patient portal")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def book_one(
    desk: httpx.Client, catalogue: Catalogue, patient_id: str, day: date, hour: int
) -> dict[str, Any]:
    """Front desk books a single visit at `hour` clinic time on `day`."""
    start = datetime.combine(day, datetime.min.time()).replace(
        hour=hour, tzinfo=ZoneInfo(CLINIC_ZONE)
    )
    body = {
        "patient_ids": [patient_id],
        "clinician_id": catalogue.clinician_id,
        "service_id": catalogue.service_id,
        "location_id": catalogue.location_id,
        "start": start.isoformat(),
    }
    booked: dict[str, Any] = ok(desk.post("/v1/appointments", json=body))
    return booked


def serious_violations(page: Page) -> list[str]:
    """axe-core findings of serious or critical impact on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def run_messaging_sweep(data_dir: Path, as_of: datetime | None = None) -> str:
    """Messaging's scheduled jobs (escalation, notices), run now by the operator command
    against the server's data dir; `as_of` judges deadlines as at a later time, so a test
    need not wait 48 hours for an escalation. Returns what it printed (counts only)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPM_")}
    command = [sys.executable, "-m", "tpm.cli", "messaging", "sweep", "--data-dir", str(data_dir)]
    if as_of is not None:
        command += ["--as-of", as_of.isoformat()]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"tpm messaging sweep failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout
