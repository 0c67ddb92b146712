"""What a signed-in patient does for themselves: book online within the rules, keep their
contact details and reminder preferences, see who looked at their record; and the axe-core
accessibility check on the sign-in and appointments pages."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from conftest import PortalPatient
from playwright.sync_api import Page, expect
from portal_api import (
    Catalogue,
    account,
    book_one,
    screenshot,
    serious_violations,
    sign_in_portal,
    staff,
)

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_axe_finds_no_serious_problems_on_sign_in_and_appointments(
    page: Page, portal_url: str, catalogue: Catalogue, new_patient: PortalPatient
) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in to your patient portal")).to_be_visible()
    assert serious_violations(page) == []

    desk = staff(portal_url, Role.FRONT_DESK)
    book_one(desk, catalogue, new_patient.patient_id, date.today() + timedelta(days=5), hour=15)
    sign_in_portal(page, new_patient.email, new_patient.password)
    upcoming = page.get_by_role("list", name="Upcoming")
    upcoming.get_by_role("button", name="Cancel appointment").click()  # the open form too
    expect(upcoming.get_by_label("Reason for cancelling")).to_be_visible()
    assert serious_violations(page) == []


def test_patient_books_online_from_free_slots(
    page: Page, portal_url: str, catalogue: Catalogue, new_patient: PortalPatient
) -> None:
    # GIVEN the patient already sees the clinician (front desk booked a first visit)
    desk = staff(portal_url, Role.FRONT_DESK)
    book_one(desk, catalogue, new_patient.patient_id, date.today() + timedelta(days=6), hour=14)
    sign_in_portal(page, new_patient.email, new_patient.password)
    upcoming = page.get_by_role("list", name="Upcoming")
    expect(upcoming.get_by_role("listitem")).to_have_count(1)

    # WHEN they ask for times from next week and book the first one offered
    book = page.get_by_role("region", name="Book an appointment")
    expect(book.get_by_label("Service")).to_have_value(catalogue.service_id)
    clinician = book.get_by_label("Clinician")
    expect(clinician).to_have_value(catalogue.clinician_id)
    # the practice's name for the clinician (staff names are not PHI), not a placeholder
    casey = account(Role.CLINICIAN)
    expect(clinician.locator("option:checked")).to_have_text(
        f"{casey.display_name}, {casey.credentials}"
    )
    book.get_by_label("Earliest date").fill((date.today() + timedelta(days=7)).isoformat())
    book.get_by_role("button", name="Show available times").click()
    slot = book.get_by_label("Available time")
    expect(slot).to_be_focused()
    screenshot(page, "self-service-slots")
    chosen = slot.locator("option").first.inner_text()
    book.get_by_role("button", name="Book this time").click()

    # THEN it is booked, listed, and the practice sees it
    expect(page.get_by_role("status")).to_have_text(re.compile("^Booked: "))
    expect(upcoming.get_by_role("listitem")).to_have_count(2)
    mine = desk.get(
        "/v1/appointments",
        params={
            "patient_id": new_patient.patient_id,
            "from": f"{date.today()}T00:00:00Z",
            "to": f"{date.today() + timedelta(days=30)}T00:00:00Z",
        },
    ).json()["items"]
    assert len(mine) == 2
    assert chosen.split(", ")[-1] in upcoming.inner_text()  # the time of day chosen


def test_patient_updates_contact_and_reminders_and_sees_who_looked(
    page: Page, portal_url: str, new_patient: PortalPatient
) -> None:
    desk = staff(portal_url, Role.FRONT_DESK)
    sign_in_portal(page, new_patient.email, new_patient.password)
    # GIVEN the record was created and opened by front desk: the access log says so
    log = page.get_by_role("region", name="Who looked at my record")
    expect(log.get_by_role("cell", name="Frankie Front-Desk (synthetic)").first).to_be_visible()

    # WHEN the patient changes their phone, address and reminder channels
    profile = page.get_by_role("region", name="Contact details and reminders")
    profile.get_by_label("Mobile phone").fill("+1 555 555 0142")
    profile.get_by_label("Street address").fill("1 Example Way")
    profile.get_by_label("City").fill("Springfield")
    profile.get_by_label("State").fill("IL")
    profile.get_by_label("ZIP or postal code").fill("62701")
    profile.get_by_label("Email me reminders").check()
    profile.get_by_label("Text me reminders").check()
    profile.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("saved"))
    screenshot(page, "self-service-profile")

    # THEN the record has them
    record = desk.get(f"/v1/patients/{new_patient.patient_id}").json()
    assert record["phone"] == "+15555550142"
    assert record["address"]["city"] == "Springfield"
    assert record["communication"]["email_reminders"] is True
    assert record["communication"]["sms_reminders"] is True

    # WHEN the office changes the record meanwhile and the patient saves a stale copy
    desk.patch(
        f"/v1/patients/{new_patient.patient_id}",
        json={"version": record["version"], "preferred_name": "Rob"},
    ).raise_for_status()
    profile.get_by_label("Text me reminders").uncheck()
    profile.get_by_role("button", name="Save changes").click()
    # THEN they are told, the form reloads, and saving again works
    expect(page.get_by_role("alert")).to_have_text(re.compile("This changed since you opened it"))
    expect(profile.get_by_label("Text me reminders")).to_be_checked()
    profile.get_by_label("Text me reminders").uncheck()
    profile.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("saved"))
    after = desk.get(f"/v1/patients/{new_patient.patient_id}").json()
    assert after["communication"]["sms_reminders"] is False
    assert after["preferred_name"] == "Rob"


def test_a_half_filled_address_is_caught_before_it_is_sent(
    page: Page, new_patient: PortalPatient
) -> None:
    sign_in_portal(page, new_patient.email, new_patient.password)
    profile = page.get_by_role("region", name="Contact details and reminders")
    expect(profile.get_by_label("Email", exact=True)).to_have_value(new_patient.email)
    profile.get_by_label("City").fill("Springfield")
    profile.get_by_role("button", name="Save changes").click()
    street = profile.get_by_label("Street address")
    expect(street).to_be_focused()
    assert street.evaluate("e => e.validity.valueMissing") is True
