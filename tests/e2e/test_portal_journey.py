"""The newcomer's journey from issue 5, end to end: front desk books a recurring series
through the API, the patient signs in to the portal in a real browser, sees it, cancels
one visit, and the reminder outbox holds exactly the allowed content."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from conftest import DevServer
from playwright.sync_api import Page, expect
from portal_api import (
    Catalogue,
    account,
    book_weekly_series,
    demo_patient_id,
    run_reminder_sweep,
    screenshot,
    sign_in_portal,
    staff,
)

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_front_desk_books_a_series_and_the_patient_cancels_one_in_the_portal(
    page: Page, dev_server: DevServer, catalogue: Catalogue
) -> None:
    # GIVEN front desk (through the API) books a weekly series of four, starting in 8 days
    desk = staff(dev_server.base, Role.FRONT_DESK)
    patient_id = demo_patient_id(desk)
    first_day = date.today() + timedelta(days=8)
    series = book_weekly_series(desk, catalogue, patient_id, first_day, count=4)
    assert len(series) == 4

    # WHEN the patient signs in to the portal
    patient = account(Role.PATIENT)
    sign_in_portal(page, patient.email, patient.password)
    expect(page.get_by_role("heading", name=f"Welcome, {patient.display_name}")).to_be_visible()
    upcoming = page.get_by_role("list", name="Upcoming")
    visits = upcoming.get_by_role("listitem").filter(has_text=catalogue.service_name)
    expect(visits).to_have_count(4)
    expect(visits.first).to_contain_text("10:00 AM")
    screenshot(page, "journey-1-appointments")

    # AND turns on email reminders
    reminders = page.get_by_role("group", name="Appointment reminders")
    reminders.get_by_label("Email me reminders").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("saved"))

    # AND cancels the first visit, giving a reason
    first = visits.first
    first.get_by_role("button", name="Cancel appointment").click()
    first.get_by_label("Reason for cancelling").fill("Travelling that week")
    first.get_by_role("button", name="Confirm cancellation").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("^Cancelled your appointment"))
    expect(visits.first.get_by_text("Cancelled", exact=True)).to_be_visible()
    expect(upcoming.get_by_role("button", name="Cancel appointment")).to_have_count(3)
    screenshot(page, "journey-2-cancelled")

    # THEN the practice sees it cancelled, with the patient's reason
    cancelled = desk.get(f"/v1/appointments/{series[0]['id']}").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_reason"] == "Travelling that week"

    # AND once the reminder sweep has run, the outbox holds one confirmation per visit
    # still booked, saying only what the template allows
    swept = run_reminder_sweep(dev_server.data_dir)
    # (the schedule may have sent some first: exactly once either way)
    assert re.search(r"^demo: sent \d+, skipped \d+, failed 0, retried 0$", swept, re.M)
    assert "@" not in swept  # counts only: no names or addresses
    page.goto("/dev/outbox")
    expect(page.get_by_role("heading", name="Outbox (local)")).to_be_visible()
    screenshot(page, "journey-3-outbox")
    # (the demo practice's own messages — its intakes' invitations and codes — are there too)
    messages = page.get_by_role("row").filter(has=page.locator("pre")).filter(has_text="Hello Pat,")
    expect(messages).to_have_count(3)
    texts = messages.all_inner_texts()
    for text in texts:
        assert "Hello Pat," in text
        assert "Demo Practice (synthetic data)" in text
        assert "p***@example.test" in text  # the recipient is masked on the page
        assert re.search(r"\b10:00\b", text), "the visit time, in the patient's zone"
        for disclosure in (
            catalogue.service_name,
            "psychotherapy",
            "90834",
            "Casey",
            "Clinician",
            "Example",  # last name
            "1990",  # date of birth
            "Travelling",  # the cancellation reason
            "Suite 200",  # the location
        ):
            assert disclosure not in text, f"reminder discloses {disclosure!r}"
    # one message per visit still booked, none for the cancelled one
    days = [f"{d:%B} {d.day}, {d.year}" for d in (first_day + timedelta(weeks=w) for w in range(4))]
    assert not any(days[0] in text for text in texts)
    for day in days[1:]:
        assert sum(day in text for text in texts) == 1, day
