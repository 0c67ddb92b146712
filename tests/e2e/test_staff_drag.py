"""Drag to reschedule in the calendar's day view (one column per room): a visit dropped on
a taken time is refused with the clash explained and stays; dropped on a free time it
moves; dropped in another room's column it moves room. (Keyboard
users move visits with the Reschedule form, tested in test_staff_calendar.) axe; CSP
violations fail."""

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


def test_front_desk_drags_a_visit_to_a_new_time(
    page: Page, portal_url: str, catalogue: Catalogue
) -> None:
    day = date.today() + timedelta(days=66)  # clear of other tests' bookings
    desk = staff(portal_url, Role.FRONT_DESK)
    lee_id, lee = new_patient_named(desk, "Lee")
    bo_id, _ = new_patient_named(desk, "Bo")
    zone = ZoneInfo(CLINIC_ZONE)
    where = {
        "clinician_id": catalogue.clinician_id,
        "service_id": catalogue.service_id,
        "location_id": catalogue.location_id,
    }

    def at(hour: int, minute: int = 0) -> str:
        moment = datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute)
        return moment.replace(tzinfo=zone).isoformat()

    visit = ok(
        desk.post("/v1/appointments", json={"patient_ids": [lee_id], **where, "start": at(9)})
    )
    ok(desk.post("/v1/appointments", json={"patient_ids": [bo_id], **where, "start": at(11)}))

    sign_in_staff(page, Role.FRONT_DESK)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Calendar").click()
    view = page.get_by_role("form", name="Calendar view")
    view.get_by_label("View").select_option("day")
    view.get_by_label("Date").fill(day.isoformat())
    view.get_by_label("Clinician").select_option(label="Casey Clinician (synthetic)")
    view.get_by_role("button", name="Show").click()
    grid = page.get_by_role("table", name="The day by room in 15-minute steps")
    chip = grid.locator(f'[data-appointment="{visit["id"]}"]')
    expect(chip).to_contain_text(lee)
    check_axe(page)
    page.get_by_role("heading", name="The day by room: drag to move").scroll_into_view_if_needed()
    shoot(page, "staff-calendar-day-grid")

    def drag(to: str, room: str = catalogue.location_id) -> None:
        # The page's own drag events with one DataTransfer (what the browser sends on a
        # drag; Playwright's mouse-driven drag is unreliable for HTML5 drag and drop).
        data = page.evaluate_handle("() => new DataTransfer()")
        target = grid.locator(f'tr[data-time="{to}"] td[data-location="{room}"]')
        grid.locator(f'[data-appointment="{visit["id"]}"]').dispatch_event(
            "dragstart", {"dataTransfer": data}
        )
        target.dispatch_event("dragover", {"dataTransfer": data})
        target.dispatch_event("drop", {"dataTransfer": data})

    # WHEN it is dropped on Bo's time THEN the clash is explained and nothing moves
    drag("11:00")
    expect(page.get_by_role("alert")).to_contain_text("11:00 clashes")
    assert ok(desk.get(f"/v1/appointments/{visit['id']}"))["start"] == visit["start"]

    # WHEN it is dropped on a free time THEN it moves there
    drag("10:15")
    expect(page.get_by_role("status")).to_contain_text(f"Moved {lee} to 10:15")
    moved = ok(desk.get(f"/v1/appointments/{visit['id']}"))
    local = datetime.fromisoformat(moved["start"]).astimezone(zone)
    assert (local.date(), local.strftime("%H:%M")) == (day, "10:15")
    expect(grid.locator('tr[data-time="10:15"]')).to_contain_text(lee)
    check_axe(page)

    # WHEN it is dragged into another room's column THEN it moves room (and time)
    rooms = ok(desk.get("/v1/locations"))["items"]
    other = next(r for r in rooms if r["id"] != catalogue.location_id and r.get("active", True))
    drag("13:00", other["id"])
    expect(page.get_by_role("status")).to_contain_text(f"Moved {lee} to 13:00 in {other['name']}")
    assert ok(desk.get(f"/v1/appointments/{visit['id']}"))["location_id"] == other["id"]
