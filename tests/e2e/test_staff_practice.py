"""The admin's practice screen (settings, locations, services and fees, hours) and a
clinician's break-glass access to a patient outside their care team. axe on each state;
CSP violations fail."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect
from portal_api import account, ok, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_admin_changes_settings_locations_services_and_hours(page: Page, portal_url: str) -> None:
    staff(portal_url, Role.ADMIN)  # the admin's authenticator, enrolled once per server
    sign_in_staff(page, Role.ADMIN)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Practice").click()
    expect(page.get_by_role("heading", name="Practice", exact=True)).to_be_focused()
    check_axe(page)
    shoot(page, "staff-practice")
    # settings: the break-glass time box
    box = page.get_by_label("Emergency (break-glass) access lasts, in minutes")
    box.fill("45")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Settings saved")
    admin = staff(portal_url, Role.ADMIN)
    assert ok(admin.get("/v1/practice"))["settings"]["break_glass_minutes"] == 45
    page.get_by_label("Emergency (break-glass) access lasts, in minutes").fill("60")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Settings saved")
    # a location and a service
    name = f"Annex {uuid.uuid4().hex[:4]} (synthetic)"
    add = page.get_by_role("form", name="Add a location")
    add.get_by_label("Name").fill(name)
    add.get_by_role("button", name="Add location").click()
    expect(
        page.get_by_role("table", name="Locations").get_by_role("cell", name=name, exact=True)
    ).to_be_visible()
    service = page.get_by_role("form", name="Add a service")
    service.get_by_label("Name").fill(f"Consultation {name}"[:60])
    service.get_by_label("CPT code").fill("90832")
    service.get_by_label("Minutes").fill("30")
    service.get_by_label("Fee (USD)").fill("95.00")
    service.get_by_role("button", name="Add service").click()
    expect(page.get_by_role("status")).to_contain_text("Added Consultation")
    check_axe(page)


def outside_patient(portal_url: str) -> tuple[str, str]:
    desk = staff(portal_url, Role.FRONT_DESK)
    last = "Glass" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:6].capitalize()
    patient = ok(
        desk.post(
            "/v1/patients",
            json={
                "legal_first_name": "Alex",
                "legal_last_name": last,
                "date_of_birth": "1970-07-07",
            },
        )
    )
    return patient["id"], f"{last}, Alex"


def test_a_supervisor_opens_a_record_with_break_glass(page: Page, portal_url: str) -> None:
    patient_id, name = outside_patient(portal_url)
    sign_in_staff(page, Role.SUPERVISOR, f"/staff/#/patients/{patient_id}")
    expect(
        page.get_by_role("heading", name="You are not on this patient's care team")
    ).to_be_visible()
    check_axe(page)
    reason = page.get_by_label("Why do you need this record now?")
    reason.fill("short")
    page.get_by_role("button", name="Open with emergency access").click()
    expect(reason).to_have_attribute("aria-invalid", "true")
    reason.fill("On-call: patient in crisis called the line (synthetic).")
    page.get_by_role("button", name="Open with emergency access").click()
    # (signed in with a code moments ago: no step-up needed yet)
    expect(page.get_by_role("heading", name=name)).to_be_focused()
    expect(page.get_by_role("status")).to_contain_text("Emergency access open until")


def test_break_glass_asks_for_a_step_up_the_app_cannot_skip(page: Page, portal_url: str) -> None:
    # GIVEN a clinician who signed in without a second factor
    patient_id, _ = outside_patient(portal_url)
    sign_in_staff(page, Role.CLINICIAN, f"/staff/#/patients/{patient_id}")
    page.get_by_label("Why do you need this record now?").fill("On-call emergency (synthetic).")
    page.get_by_role("button", name="Open with emergency access").click()
    # THEN the API's 401 reauthenticate opens the step-up dialog
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Password")).to_be_focused()
    check_axe(page)
    # AND a wrong code is refused there; cancelling leaves the record closed, with a message
    clinician = account(Role.CLINICIAN)
    dialog.get_by_label("Password").fill(clinician.password)
    dialog.get_by_label("Verification code").fill("000000")
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog.get_by_role("alert")).to_contain_text("did not work")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("alert").filter(has_text="fresh code")).to_be_visible()
    expect(
        page.get_by_role("heading", name="You are not on this patient's care team")
    ).to_be_visible()


def test_admin_adds_and_removes_availability_exceptions(page: Page, portal_url: str) -> None:
    # (the supervisor's hours: the demo clinician's belong to the portal's booking tests)
    admin = staff(portal_url, Role.ADMIN)
    sam = next(
        c for c in ok(admin.get("/v1/clinicians"))["items"] if c["display_name"].startswith("Sam")
    )
    sign_in_staff(page, Role.ADMIN, "/staff/#/admin/practice")
    page.get_by_label("Clinician", exact=True).select_option(label=sam["display_name"])
    # (the editor redraws for the chosen clinician: wait for theirs)
    expect(
        page.get_by_role("heading", name=f"Time off and extra hours: {sam['display_name']}")
    ).to_be_visible()
    form = page.get_by_role("form", name="Add an exception")
    day = (date.today() + timedelta(days=200)).isoformat()
    # WHEN an end time comes without a start THEN the form says so next to it; nothing saved
    form.get_by_label("From", exact=True).fill(day)
    form.get_by_label("End time").fill("12:00")
    form.get_by_role("button", name="Add exception").click()
    expect(form.get_by_label("End time")).to_have_attribute("aria-invalid", "true")
    check_axe(page)
    # WHEN a whole day off is added THEN it is listed and saved
    form.get_by_label("End time").fill("")
    form.get_by_label("Until").fill(day)
    form.get_by_role("button", name="Add exception").click()
    expect(page.get_by_role("status")).to_contain_text(f"Added time off on {day}")
    table = page.get_by_role("table", name="Exceptions")
    expect(table.get_by_role("row").filter(has_text=day)).to_contain_text("All day")
    # AND extra hours at a location
    form = page.get_by_role("form", name="Add an exception")
    form.get_by_label("Kind").select_option("extra")
    extra = (date.today() + timedelta(days=201)).isoformat()
    form.get_by_label("From", exact=True).fill(extra)
    form.get_by_label("Until").fill(extra)
    form.get_by_label("Start time").fill("18:00")
    form.get_by_label("End time").fill("20:00")
    form.get_by_label("Location").select_option(index=1)
    form.get_by_role("button", name="Add exception").click()
    expect(page.get_by_role("status")).to_contain_text(f"Added extra hours on {extra}")
    saved = ok(admin.get(f"/v1/clinicians/{sam['id']}/availability"))["exceptions"]
    assert {(x["kind"], x["start_date"]) for x in saved} >= {("off", day), ("extra", extra)}
    check_axe(page)
    # WHEN the time off is removed THEN only the extra hours stay
    table = page.get_by_role("table", name="Exceptions")
    table.get_by_role("row").filter(has_text=day).get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_contain_text(f"Removed time off on {day}")
    saved = ok(admin.get(f"/v1/clinicians/{sam['id']}/availability"))["exceptions"]
    assert ("off", day) not in {(x["kind"], x["start_date"]) for x in saved}
    # (put the supervisor's hours back as they were)
    rest = [x for x in saved if x["start_date"] != extra]
    now = ok(admin.get(f"/v1/clinicians/{sam['id']}/availability"))
    ok(
        admin.patch(
            f"/v1/clinicians/{sam['id']}/availability",
            json={"version": now["version"], "exceptions": rest},
        )
    )


def test_a_supervisor_sets_their_own_time_off(page: Page, portal_url: str) -> None:
    # (the supervisor sees patients too; the demo clinician's hours belong to the portal tests)
    sign_in_staff(page, Role.SUPERVISOR, "/staff/#/account")
    page.get_by_role("link", name="Set my weekly hours and time off").click()
    expect(page.get_by_role("heading", name="My hours")).to_be_focused()
    expect(
        page.get_by_role("heading", name=re.compile("Time off and extra hours: Sam"))
    ).to_be_visible()
    check_axe(page)
    day = (date.today() + timedelta(days=210)).isoformat()
    form = page.get_by_role("form", name="Add an exception")
    form.get_by_label("From", exact=True).fill(day)
    form.get_by_label("Until").fill(day)
    form.get_by_label("Start time").fill("13:00")
    form.get_by_label("End time").fill("17:00")
    form.get_by_role("button", name="Add exception").click()
    expect(page.get_by_role("status")).to_contain_text(f"Added time off on {day}")
    row = page.get_by_role("table", name="Exceptions").get_by_role("row").filter(has_text=day)
    expect(row).to_contain_text("13:00\u201317:00")
    # AND removes it again (the API's self scope: their own hours only)
    row.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_contain_text(f"Removed time off on {day}")
    supervisor = staff(portal_url, Role.SUPERVISOR)
    others = [
        c
        for c in ok(supervisor.get("/v1/clinicians"))["items"]
        if c["display_name"].startswith("Casey")
    ]
    refused = supervisor.patch(
        f"/v1/clinicians/{others[0]['id']}/availability", json={"version": 1, "exceptions": []}
    )
    assert refused.status_code in (403, 404)
