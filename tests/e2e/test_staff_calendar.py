"""The calendar in the staff app: the front desk books a weekly series for a patient, is
told exactly which visits clash when a second booking collides (nothing booked), moves
the time and books it; marks a visit arrived; a clinician opens their week. axe on each
state; CSP violations fail."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect
from portal_api import Catalogue, ok, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def new_patient_named(
    desk: httpx.Client, first: str, care_team: str | None = None
) -> tuple[str, str]:
    """A patient of this test's own (the demo patient's calendar belongs to the portal
    tests), with a unique last name; returns (id, "Last, First")."""
    last = "Cal" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:8].capitalize()
    patient = ok(
        desk.post(
            "/v1/patients",
            json={
                "legal_first_name": first,
                "legal_last_name": last,
                "date_of_birth": "1980-02-02",
            },
        )
    )
    if care_team:
        ok(desk.post(f"/v1/patients/{patient['id']}/care-team", json={"user_id": care_team}))
    return patient["id"], f"{last}, {first}"


def book(page: Page, patient_name: str, day: date, time: str, repeat: str, count: int = 3) -> None:
    form = page.get_by_role("form", name="Book an appointment")
    form.get_by_role("textbox", name="Patient").fill(patient_name)
    form.get_by_role("button", name="Find patient").click()
    expect(page.get_by_role("status")).to_have_text("1 found. Choose one and add them.")
    form.get_by_role("button", name="Add this patient").click()
    expect(page.get_by_role("status")).to_contain_text("Added")
    form.get_by_label("Clinician").select_option(label="Casey Clinician (synthetic)")
    form.get_by_label("Service").select_option(label="Individual psychotherapy 45 min (45 min)")
    form.get_by_label("Location").select_option(label="Suite 200 (synthetic)")
    form.get_by_label("Date").fill(day.isoformat())
    form.get_by_label("Time").fill(time)
    form.get_by_label("Repeat").select_option(label=repeat)
    form.get_by_label("Number of visits").fill(str(count))
    form.get_by_role("button", name="Book", exact=True).click()


def test_front_desk_books_a_series_and_handles_a_conflict(
    page: Page, portal_url: str, catalogue: Catalogue
) -> None:
    first = date.today() + timedelta(days=43)  # clear of other tests' bookings
    desk = staff(portal_url, Role.FRONT_DESK)
    quinn_id, quinn = new_patient_named(desk, "Quinn")
    _, jo = new_patient_named(desk, "Jo")
    sign_in_staff(page, Role.FRONT_DESK)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Calendar").click()
    expect(page.get_by_role("heading", name="Calendar", exact=True)).to_be_focused()
    check_axe(page)
    page.get_by_role("button", name="Book an appointment").click()
    # GIVEN a patient's weekly series at 13:15
    book(page, quinn.split(", ")[1] + " " + quinn.split(", ")[0], first, "13:15", "Every week", 3)
    expect(page.get_by_role("status")).to_contain_text("Booked 3 visits")
    day_label = page.get_by_role(
        "table", name=f"Appointments on {first.strftime('%A, %B')} {first.day}"
    )
    expect(day_label.get_by_role("link", name=quinn)).to_be_visible()
    check_axe(page)
    shoot(page, "staff-calendar")

    # WHEN another patient's weekly series overlaps the second and third visits
    book(page, "Jo " + jo.split(", ")[0], first + timedelta(days=7), "13:30", "Every week", 2)
    # THEN nothing is booked and the clashing visits are named by date
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text(f"visit 1 on {(first + timedelta(days=7)).isoformat()}")
    expect(summary).to_contain_text(f"visit 2 on {(first + timedelta(days=14)).isoformat()}")
    jo_id = ok(desk.post("/v1/patients/search", json={"name": "Jo " + jo.split(", ")[0]}))["items"][
        0
    ]["id"]
    booked = ok(
        desk.get(
            "/v1/appointments",
            params={
                "patient_id": jo_id,
                "from": f"{first.isoformat()}T00:00:00Z",
                "to": f"{(first + timedelta(days=30)).isoformat()}T00:00:00Z",
            },
        )
    )["items"]
    assert booked == []
    check_axe(page)
    # AND at a free time it books (the patient stays chosen; the time changes)
    form = page.get_by_role("form", name="Book an appointment")
    form.get_by_label("Time").fill("15:00")
    form.get_by_role("button", name="Book", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Booked 2 visits")

    # AND the calendar now shows that week: both patients' visits on the same day
    second = first + timedelta(days=7)
    week2 = page.get_by_role(
        "table", name=f"Appointments on {second.strftime('%A, %B')} {second.day}"
    )
    expect(week2.get_by_role("link", name=jo)).to_be_visible()
    expect(week2.get_by_role("link", name=quinn)).to_be_visible()
    # WHEN a visit is cancelled with a reason THEN it shows cancelled, the series stays
    row = week2.get_by_role("row").filter(has_text=jo)
    row.get_by_role("button", name="Cancel").click()
    row.get_by_label("Reason for cancelling this visit (the rest of the series stays)").fill(
        "Patient asked (synthetic)."
    )
    row.get_by_role("button", name="Cancel visit").click()
    expect(page.get_by_role("status")).to_contain_text("Cancelled")
    expect(week2.get_by_role("row").filter(has_text=jo)).to_contain_text("Cancelled")
    assert quinn_id
    check_axe(page)


def test_a_clinician_opens_their_day(page: Page, portal_url: str, catalogue: Catalogue) -> None:
    # GIVEN a visit with the clinician for a patient on their care team
    desk = staff(portal_url, Role.FRONT_DESK)
    patient_id, name = new_patient_named(desk, "Sky", care_team=catalogue.clinician_id)
    day = date.today() + timedelta(days=50)
    ok(
        desk.post(
            "/v1/appointments",
            json={
                "patient_ids": [patient_id],
                "clinician_id": catalogue.clinician_id,
                "service_id": catalogue.service_id,
                "location_id": catalogue.location_id,
                "start": f"{day.isoformat()}T11:00:00-06:00",
            },
        )
    )
    sign_in_staff(page, Role.CLINICIAN, "/staff/#/calendar")
    expect(page.get_by_role("heading", name="Calendar", exact=True)).to_be_visible()
    # THEN their own calendar shows (they are preselected); the day view has the visit
    view = page.get_by_role("form", name="Calendar view")
    expect(view.get_by_label("Clinician")).to_have_value(catalogue.clinician_id)
    view.get_by_label("View").select_option("day")
    view.get_by_label("Date").fill(day.isoformat())
    view.get_by_role("button", name="Show").click()
    expect(page.get_by_role("link", name=name)).to_be_visible()
    # The clinician books only for their care team; the desk's group tools are not theirs
    check_axe(page)


def test_front_desk_books_outside_the_clinicians_hours_only_with_a_reason(
    page: Page, portal_url: str, catalogue: Catalogue
) -> None:
    # GIVEN the clinician works 09:00-17:00 (the catalogue's hours) and a new patient
    day = date.today() + timedelta(days=57)  # clear of other tests' bookings
    desk = staff(portal_url, Role.FRONT_DESK)
    patient_id, name = new_patient_named(desk, "Ari")
    sign_in_staff(page, Role.FRONT_DESK, "/staff/#/calendar")
    page.get_by_role("button", name="Book an appointment").click()
    # WHEN the desk books at 18:00 THEN it is refused and a reason is asked for
    book(page, name.split(", ")[1] + " " + name.split(", ")[0], day, "18:00", "Does not repeat")
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_contain_text("outside the clinician's availability")
    form = page.get_by_role("form", name="Book an appointment")
    reason = form.get_by_label("Reason to book outside their availability")
    expect(reason).to_be_visible()
    check_axe(page)
    # WHEN the reason is given THEN it books, and the calendar shows why it is outside
    reason.fill("Only evening the patient can come this month (synthetic).")
    form.get_by_role("button", name="Book", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Booked {day.isoformat()} at 18:00")
    table = page.get_by_role("table", name=f"Appointments on {day.strftime('%A, %B')} {day.day}")
    row = table.get_by_role("row").filter(has=page.get_by_role("link", name=name))
    expect(row).to_contain_text("Outside the clinician's hours: Only evening the patient")
    booked = ok(
        desk.get(
            "/v1/appointments",
            params={
                "patient_id": patient_id,
                "from": f"{day.isoformat()}T00:00:00Z",
                "to": f"{(day + timedelta(days=2)).isoformat()}T00:00:00Z",
            },
        )
    )["items"]
    assert [b["override"]["by"] for b in booked] == [booked[0]["override"]["by"]]
    check_axe(page)
