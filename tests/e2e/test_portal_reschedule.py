"""A patient moves an upcoming visit to another free time online; someone who is not a
patient yet asks for an appointment from the sign-in screen."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timedelta

import pytest
from conftest import PortalPatient
from playwright.sync_api import Page, expect
from portal_api import (
    Catalogue,
    book_one,
    ok,
    screenshot,
    serious_violations,
    sign_in_portal,
    staff,
)

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_patient_reschedules_an_upcoming_visit_to_a_free_time(
    page: Page, portal_url: str, catalogue: Catalogue, new_patient: PortalPatient
) -> None:
    # GIVEN an upcoming visit the front desk booked
    desk = staff(portal_url, Role.FRONT_DESK)
    # (16:00: a time no other test on this shared server books, so a failure here cannot
    # leave a visit in another test's way)
    booked = book_one(
        desk, catalogue, new_patient.patient_id, date.today() + timedelta(days=5), hour=16
    )
    sign_in_portal(page, new_patient.email, new_patient.password)
    upcoming = page.get_by_role("list", name="Upcoming")
    expect(upcoming.get_by_role("listitem")).to_have_count(1)

    # WHEN they ask to reschedule, they are offered the clinician's free times
    upcoming.get_by_role("button", name="Reschedule").click()
    new_time = upcoming.get_by_label("New time")
    expect(new_time).to_be_focused()
    expect(page.get_by_role("status")).to_have_text(re.compile("available times"))
    assert serious_violations(page) == []
    # the latest offered time: well clear of the minimum notice
    last = new_time.locator("option").last
    chosen_start, chosen_location = json.loads(str(last.get_attribute("value")))
    new_time.select_option(value=str(last.get_attribute("value")))
    upcoming.get_by_role("button", name="Move to this time").click()

    # THEN it moves, the list shows the new time, and the practice sees the new start
    expect(page.get_by_role("status")).to_have_text(re.compile("^Moved your appointment to "))
    expect(upcoming.get_by_role("listitem")).to_have_count(1)
    screenshot(page, "self-service-rescheduled")
    moved = ok(desk.get(f"/v1/appointments/{booked['id']}"))
    assert datetime.fromisoformat(moved["start"]) == datetime.fromisoformat(chosen_start)
    assert moved["location_id"] == chosen_location
    assert moved["version"] > booked["version"]
    assert moved["status"] == "booked"


def test_a_visit_changed_meanwhile_is_refused_and_the_list_reloads(
    page: Page, portal_url: str, catalogue: Catalogue, new_patient: PortalPatient
) -> None:
    desk = staff(portal_url, Role.FRONT_DESK)
    booked = book_one(
        desk, catalogue, new_patient.patient_id, date.today() + timedelta(days=6), hour=11
    )
    sign_in_portal(page, new_patient.email, new_patient.password)
    upcoming = page.get_by_role("list", name="Upcoming")
    upcoming.get_by_role("button", name="Reschedule").click()
    new_time = upcoming.get_by_label("New time")
    expect(new_time).to_be_focused()

    # WHEN the office moves the visit meanwhile (its version changes) and the patient submits
    ok(
        desk.post(
            f"/v1/appointments/{booked['id']}/reschedule",
            json={"version": booked["version"], "start": booked["end"]},
        )
    )
    upcoming.get_by_role("button", name="Move to this time").click()

    # THEN they are told, and the list shows the visit as it is now
    expect(page.get_by_role("alert")).to_have_text(re.compile("This changed since you opened it"))
    expect(upcoming.get_by_label("New time")).to_be_hidden()  # the reloaded list's own form
    after = ok(desk.get(f"/v1/appointments/{booked['id']}"))
    assert datetime.fromisoformat(after["start"]) == datetime.fromisoformat(booked["end"])


def test_a_prospective_patient_requests_an_appointment_from_sign_in(
    page: Page, portal_url: str
) -> None:
    name = f"Jordan Prospect {uuid.uuid4().hex[:6]}"
    page.goto("/")
    page.get_by_role("link", name="Request an appointment").click()
    request = page.get_by_role("region", name="Request an appointment")
    expect(request.get_by_label("Your name")).to_be_focused()
    assert serious_violations(page) == []

    # WHEN they give no way to reach them, the form says so before sending anything
    request.get_by_label("Your name").fill(name)
    request.get_by_label("When could you come in?").fill("Weekday mornings")
    request.get_by_role("button", name="Send request").click()
    email = request.get_by_label("Your email")
    expect(email).to_be_focused()
    assert email.evaluate("e => e.validity.customError") is True

    # WHEN they add a phone number and send
    request.get_by_label("Your phone").fill("+1 555 555 0177")
    request.get_by_role("button", name="Send request").click()

    # THEN they see a confirmation, and the practice has the request
    expect(page.get_by_role("status")).to_have_text(re.compile("^Thank you. Your request was sent"))
    expect(request.get_by_text("Thank you. Your request was sent")).to_be_visible()
    screenshot(page, "prospective-request-sent")
    request.get_by_role("button", name="Back to sign in").click()
    expect(page.get_by_role("textbox", name="Email")).to_be_focused()
    desk = staff(portal_url, Role.FRONT_DESK)
    found = [r for r in ok(desk.get("/v1/appointment-requests"))["items"] if r["name"] == name]
    assert len(found) == 1
    assert found[0]["phone"] == "+15555550177"
    assert found[0]["preferred_times"] == "Weekday mornings"
    assert found[0]["email"] is None
    assert found[0]["note"] is None
