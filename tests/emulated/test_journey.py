"""A new practice on AWS, end to end, against the emulated tier (and the same journey on
tpm dev's adapters): the first practice from the documented command, the owner accepts and
enrols TOTP, invites a clinician and a front-desk user, each signs in (MFA where
required), the front desk books a visit, a patient is invited and signs in to the portal in
Chromium, and the reminder that leaves the stack carries the configured portal address and
no PHI."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from emulated.conftest import BrowserRun
from emulated.stack import CLINIC_ZONE, PASSWORD, EmulatedStack, totp

SLUG = "riverside"
OWNER = "olive@riverside.example"
PATIENT = "pat.synthetic@example.test"
PATIENT_PASSWORD = "Marigold-Canyon-Ferry-29"

pytestmark = pytest.mark.e2e


def test_first_practice_to_a_patient_reminder(
    journey_stack: EmulatedStack, in_browser: BrowserRun, results_dir: Path
) -> None:
    stack = journey_stack
    # GIVEN the operator creates the practice with the documented command
    invitation = stack.create_practice(SLUG, OWNER)
    # WHEN the owner accepts the invitation and signs in
    stack.accept(SLUG, invitation, PASSWORD)
    login = stack.call(
        "POST",
        "/v1/auth/login",
        json_body={"practice": SLUG, "email": OWNER, "password": PASSWORD},
    ).json()
    assert login["mfa_enrolment_required"] is True
    first_token = login["access_token"]
    # THEN without MFA the owner reaches only enrolment
    refused = stack.call("GET", "/v1/users", first_token)
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        403,
        "mfa_enrolment_required",
    )
    # WHEN the owner enrols TOTP and signs in again: the password, then a code
    secret = stack.enrol_totp(first_token)
    owner = stack.client(stack.sign_in(SLUG, OWNER, PASSWORD, secret))
    assert owner.get("/v1/users").status_code == 200

    # AND invites a clinician and a front-desk user, who each accept and sign in
    clinician = stack.staff(owner, SLUG, "clinician", "casey@riverside.example")
    desk = stack.staff(owner, SLUG, "front_desk", "frankie@riverside.example")
    clinician_id = clinician.get("/v1/me").json()["id"]
    assert desk.get("/v1/me").json()["roles"] == ["front_desk"]

    # AND the owner sets up an office, a service, the clinician's hours; no quiet hours
    location = owner.post(
        "/v1/locations",
        json={"name": "Suite 200 (synthetic)", "kind": "office", "timezone": CLINIC_ZONE},
    ).json()
    service = owner.post(
        "/v1/services",
        json={
            "name": "Individual psychotherapy 45 min",
            "cpt_code": "90834",
            "duration_minutes": 45,
            "fee": {"amount": "150.00", "currency": "USD"},
        },
    ).json()
    hours_path = f"/v1/clinicians/{clinician_id}/availability"
    hours = owner.get(hours_path).json()
    weekly = [
        {"weekday": d, "start": "09:00", "end": "17:00", "location_ids": [location["id"]]}
        for d in range(7)
    ]
    set_hours = owner.patch(
        hours_path, json={"version": hours["version"], "timezone": CLINIC_ZONE, "weekly": weekly}
    )
    assert set_hours.status_code == 200, set_hours.text
    settings = owner.get("/v1/reminder-settings").json()
    body = {
        key: settings[key]
        for key in (
            "version",
            "rules",
            "templates",
            "allow_clinician_name",
            "feed_patient_initials",
            "sms_number",
        )
    }
    body["quiet_hours"] = {**settings["quiet_hours"], "enabled": False}
    assert owner.put("/v1/reminder-settings", json=body).status_code == 200

    # AND the owner records the business associate agreement with AWS (without it nothing
    # that carries PHI may leave through SES or SNS)
    vendor = owner.post(
        "/v1/vendors",
        json={
            "key": "aws",
            "name": "Amazon Web Services",
            "role": "hosting",
            "receives_phi": True,
            "agreement": {
                "status": "executed",
                "executed_on": (date.today() - timedelta(days=30)).isoformat(),
            },
        },
    )
    assert vendor.status_code == 201, vendor.text

    # AND the front desk registers a patient, invites them to the portal, books a visit
    registered = desk.post(
        "/v1/patients",
        json={
            "legal_first_name": "Pat",
            "legal_last_name": "Synthetic",
            "date_of_birth": "1985-05-05",
            "email": PATIENT,
        },
    )
    assert registered.status_code == 201, registered.text
    patient = registered.json()
    portal_invite = desk.post(f"/v1/patients/{patient['id']}/portal-invitation", json={})
    assert portal_invite.status_code in (200, 201), portal_invite.text
    stack.accept(SLUG, portal_invite.json()["invitation_token"], PATIENT_PASSWORD)
    day = date.today() + timedelta(days=5)
    start = datetime.combine(day, datetime.min.time()).replace(
        hour=10, tzinfo=ZoneInfo(CLINIC_ZONE)
    )
    booked = desk.post(
        "/v1/appointments",
        json={
            "patient_ids": [patient["id"]],
            "clinician_id": clinician_id,
            "service_id": service["id"],
            "location_id": location["id"],
            "start": start.isoformat(),
        },
    )
    assert booked.status_code == 201, booked.text

    # WHEN the patient signs in to the portal in the browser and asks for email reminders
    def portal(page: Page) -> None:
        page.goto(f"{stack.base}/?practice={SLUG}")
        form = page.get_by_role("region", name="Sign in to your patient portal")
        form.get_by_label("Email").fill(PATIENT)
        form.get_by_label("Password").fill(PATIENT_PASSWORD)
        form.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Welcome, Pat")).to_be_visible(timeout=30_000)
        upcoming = page.get_by_role("list", name="Upcoming")
        expect(upcoming.get_by_role("listitem")).to_have_count(1)
        reminders = page.get_by_role("group", name="Appointment reminders")
        reminders.get_by_label("Email me reminders").check()
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("status")).to_have_text(re.compile("saved"))
        page.screenshot(path=str(results_dir / f"emulated-journey-{stack.mode}.png"))

    in_browser(portal)

    # AND the scheduled reminder sweep runs
    swept = stack.run_schedule("ReminderSweepFunction")

    # THEN the patient's confirmation left the stack (SES in AWS), with the configured
    # portal address and nothing clinical
    to_patient = [m for m in stack.sent_emails() if m.to == [PATIENT]]
    assert len(to_patient) == 1, (swept, stack.sent_emails())
    message = to_patient[0]
    assert f"{stack.base}/" in message.body
    assert re.search(r"\b10:00\b", message.body)
    for disclosure in (
        "psychotherapy",
        "90834",
        "Casey",
        "Clinician",
        "Synthetic",  # last name
        "1985",  # date of birth
        "Suite 200",
    ):
        assert disclosure not in message.body, f"the reminder discloses {disclosure!r}"
        assert disclosure not in message.subject
    # (the code below keeps the owner's TOTP helper honest: a wrong code is refused)
    wrong = stack.call(
        "POST", "/v1/auth/login", json_body={"practice": SLUG, "email": OWNER, "password": PASSWORD}
    ).json()
    bad = {"practice": SLUG, "challenge": wrong["challenge"], "code": _other(totp(secret))}
    assert stack.call("POST", "/v1/auth/mfa", json_body=bad).status_code == 401


def _other(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"
