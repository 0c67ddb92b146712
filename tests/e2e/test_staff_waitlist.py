"""The waitlist in the staff app: the front desk adds a patient to the waitlist, cancels a
visit inside their window in the calendar, and sees the offer the freed time made there and
on the waitlist screen. axe on each state; CSP violations fail."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from portal_api import CLINIC_ZONE, Catalogue, ok, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff
from test_staff_calendar import new_patient_named

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_front_desk_sees_a_cancelled_time_offered_to_the_waitlist(
    page: Page, portal_url: str, catalogue: Catalogue
) -> None:
    day = date.today() + timedelta(days=61)  # clear of other tests' bookings and windows
    desk = staff(portal_url, Role.FRONT_DESK)
    wren_id, wren = new_patient_named(desk, "Wren")
    ash_id, ash = new_patient_named(desk, "Ash")
    clinician = "Casey Clinician (synthetic)"

    # GIVEN the front desk puts Wren on the waitlist for that afternoon, with Casey
    sign_in_staff(page, Role.FRONT_DESK)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Waitlist").click()
    expect(page.get_by_role("heading", name="Waitlist", exact=True)).to_be_focused()
    check_axe(page)
    form = page.get_by_role("form", name="Add a patient to the waitlist")
    form.get_by_role("button", name="Add to the waitlist").click()
    expect(form.get_by_role("alert")).to_contain_text("Find and choose a patient")
    form.get_by_role("textbox", name="Patient").fill(f"Wren {wren.split(', ')[0]}")
    form.get_by_role("button", name="Find patient").click()
    expect(page.get_by_role("status")).to_have_text("1 found. Choose one.")
    expect(form.get_by_label("Matching patients")).to_be_focused()
    form.get_by_label("Clinician").select_option(label=clinician)
    form.get_by_label("From date").fill(day.isoformat())
    form.get_by_label("From time").fill("16:00")
    form.get_by_label("Until date").fill(day.isoformat())
    form.get_by_label("Until time").fill("17:00")
    form.get_by_role("button", name="Add to the waitlist").click()
    expect(page.get_by_role("status")).to_contain_text(f"Added {wren}")
    waiting = page.get_by_role("table", name="Patients on the waitlist")
    expect(waiting.get_by_role("row").filter(has_text=wren)).to_contain_text("Waiting")

    # AND Ash has a visit inside that window
    start = datetime.combine(day, datetime.min.time()).replace(
        hour=16, tzinfo=ZoneInfo(CLINIC_ZONE)
    )
    ok(
        desk.post(
            "/v1/appointments",
            json={
                "patient_ids": [ash_id],
                "clinician_id": catalogue.clinician_id,
                "service_id": catalogue.service_id,
                "location_id": catalogue.location_id,
                "start": start.isoformat(),
            },
        )
    )

    # WHEN the desk cancels Ash's visit in the calendar (by keyboard: the form's controls)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Calendar").click()
    expect(page.get_by_role("link", name="Waitlist and offers of freed times")).to_be_visible()
    view = page.get_by_role("form", name="Calendar view")
    view.get_by_label("View").select_option("day")
    view.get_by_label("Date").fill(day.isoformat())
    view.get_by_label("Clinician").select_option(label=clinician)
    view.get_by_role("button", name="Show").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=ash))
    row.get_by_role("button", name="Cancel").click()
    row.get_by_label("Reason for cancelling").fill("Patient asked (synthetic).")
    row.get_by_label("Reason for cancelling").press("Enter")

    # THEN the freed time was offered to Wren: said, and shown on the cancelled visit
    expect(page.get_by_role("status")).to_contain_text("on the waitlist")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=ash))
    expect(row).to_contain_text("Cancelled")
    offers = row.get_by_role("list", name="Waitlist offers")
    expect(offers).to_contain_text(f"{wren}: Offered, not yet claimed (until")
    check_axe(page)

    # AND the waitlist screen lists the offer
    page.get_by_role("link", name="Waitlist and offers of freed times").click()
    table = page.get_by_role("table", name="Offers of freed times")
    expect(table.get_by_role("row").filter(has_text=wren)).to_contain_text(
        "Offered, not yet claimed"
    )
    check_axe(page)
    shoot(page, "staff-waitlist")
    listed = ok(
        desk.get(
            "/v1/waitlist-offers",
            params={"from": start.isoformat(), "to": (start + timedelta(hours=1)).isoformat()},
        )
    )["items"]
    assert [(o["patient_id"], o["state"]) for o in listed] == [(wren_id, "open")]

    # WHEN Wren no longer wants to wait THEN the desk takes them off the list
    waiting = page.get_by_role("table", name="Patients on the waitlist")
    waiting.get_by_role("row").filter(has_text=wren).get_by_role(
        "button", name="Take off the list"
    ).click()
    expect(page.get_by_role("status")).to_contain_text(f"{wren} is off the waitlist")
    expect(page.get_by_role("heading", name="Waiting")).to_be_focused()
    expect(waiting.get_by_role("row").filter(has_text=wren)).to_contain_text("Removed")
    check_axe(page)


def test_a_clinician_has_no_waitlist_screen(page: Page) -> None:
    sign_in_staff(page, Role.CLINICIAN, "/staff/#/calendar/waitlist")
    expect(page.get_by_role("heading", name="You do not have access to this")).to_be_visible()
