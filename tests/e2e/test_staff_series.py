"""A recurring series changed "this and following" from the calendar: the clash with
another booking is named by visit and date and nothing changes; at a free time the visit
and every later one move, the earlier ones stay. axe on each state; CSP violations fail."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from portal_api import CLINIC_ZONE, Catalogue, ok, staff
from staff_ui import NAV, check_axe, sign_in_staff
from test_staff_calendar import new_patient_named

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_front_desk_moves_this_and_following_visits(
    page: Page, portal_url: str, catalogue: Catalogue
) -> None:
    first = date.today() + timedelta(days=64)  # clear of other tests' bookings
    desk = staff(portal_url, Role.FRONT_DESK)
    rue_id, rue = new_patient_named(desk, "Rue")
    other_id, _ = new_patient_named(desk, "Kit")
    where = {
        "clinician_id": catalogue.clinician_id,
        "service_id": catalogue.service_id,
        "location_id": catalogue.location_id,
    }
    # GIVEN Rue's weekly series of three at 09:00, and Kit booked at 10:30 on the third
    ok(
        desk.post(
            "/v1/appointment-series",
            json={
                "patient_ids": [rue_id],
                **where,
                "rrule": "FREQ=WEEKLY",
                "start_local": f"{first.isoformat()}T09:00:00",
                "timezone": CLINIC_ZONE,
                "count": 3,
            },
        )
    )
    third = first + timedelta(days=14)
    kit_at = datetime.combine(third, datetime.min.time()).replace(
        hour=10, minute=30, tzinfo=ZoneInfo(CLINIC_ZONE)
    )
    ok(
        desk.post(
            "/v1/appointments",
            json={"patient_ids": [other_id], **where, "start": kit_at.isoformat()},
        )
    )

    sign_in_staff(page, Role.FRONT_DESK)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Calendar").click()
    view = page.get_by_role("form", name="Calendar view")
    second = first + timedelta(days=7)
    view.get_by_label("Date").fill(second.isoformat())
    view.get_by_role("button", name="Show").click()
    table = page.get_by_role(
        "table", name=f"Appointments on {second.strftime('%A, %B')} {second.day}"
    )
    row = table.get_by_role("row").filter(has=page.get_by_role("link", name=rue))
    row.get_by_role("button", name="Reschedule").click()
    form = row.get_by_role("form")
    form.get_by_label("This and following visits").check()
    expect(form.get_by_label("New date")).to_be_disabled()
    check_axe(page)

    # WHEN the new time clashes with Kit's visit THEN the clash is named; nothing moved
    form.get_by_label("New time").fill("10:30")
    form.get_by_role("button", name="Move").click()
    expect(page.get_by_role("alert")).to_contain_text(f"visit 2 on {third.isoformat()}")
    expect(page.get_by_role("alert")).to_contain_text("Nothing changed")

    # WHEN a free time is chosen THEN this and the following visit move; the first stays
    form.get_by_label("New time").fill("11:30")
    form.get_by_role("button", name="Move").click()
    expect(page.get_by_role("status")).to_contain_text(f"Moved 2 visits for {rue}")
    check_axe(page)
    visits = ok(
        desk.get(
            "/v1/appointments",
            params={
                "patient_id": rue_id,
                "from": f"{first.isoformat()}T00:00:00Z",
                "to": f"{(first + timedelta(days=21)).isoformat()}T00:00:00Z",
            },
        )
    )["items"]
    booked = sorted(
        datetime.fromisoformat(v["start"]).astimezone(ZoneInfo(CLINIC_ZONE)).strftime("%m-%d %H:%M")
        for v in visits
        if v["status"] == "booked"
    )
    assert booked == [
        f"{first:%m-%d} 09:00",
        f"{second:%m-%d} 11:30",
        f"{third:%m-%d} 11:30",
    ]
    table = page.get_by_role(
        "table", name=f"Appointments on {second.strftime('%A, %B')} {second.day}"
    )
    expect(table.get_by_role("row").filter(has_text="11:30")).to_contain_text("Booked")
