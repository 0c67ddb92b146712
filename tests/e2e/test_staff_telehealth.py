"""The clinician's side of a video visit in the staff app, against a patient in the portal
(both Chromium pages with fake camera and microphone, tpm dev's local WebRTC): the patient
waits; the clinician sees them on today's list, starts the visit, checks the location and
confirms the patient against the chart, admits; both pages show a connected, live remote
video track. The clinician invites an interpreter by link, admits and then removes them,
and denies a second guest; switches to audio only; ends the visit and sees the facts
charge capture takes."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from conftest import PortalPatient
from playwright.sync_api import Page, expect
from portal_api import account, sign_in_portal
from staff_ui import check_axe, shoot, sign_in_staff
from visit_ui import connected_remote_video, enter_waiting_room

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


def test_the_clinician_admits_a_waiting_patient_from_the_staff_app_and_ends_the_visit(
    pages: Callable[[], Page],
    book_video: Callable[[list[str]], str],
    new_patient: PortalPatient,
) -> None:
    book_video([new_patient.patient_id])
    # GIVEN the patient waits in the portal (the visit has not started)
    patient = pages()
    sign_in_portal(patient, new_patient.email, new_patient.password)
    enter_waiting_room(patient, "TX")

    # WHEN the clinician opens today's video visits in the staff app
    host = pages()
    sign_in_staff(host, Role.CLINICIAN, "/staff/#/visits")
    expect(host.get_by_role("heading", name="Video visits")).to_be_visible()
    # THEN the patient shows as waiting (the list refreshes itself)
    row = host.get_by_role("row").filter(has_text="Robin")
    expect(row.get_by_text("1 waiting")).to_be_visible()
    check_axe(host)
    shoot(host, "staff-video-visits")

    # WHEN they start the visit: the waiting room lists the patient by chart name, with
    # the attested location and its place of service
    row.get_by_role("button", name=re.compile("^Start visit")).click()
    expect(host.get_by_role("heading", name="Video visit", exact=True)).to_be_visible()
    waiting_table = host.get_by_role("table", name="Waiting to be let in")
    expect(waiting_table).to_contain_text("Robin")
    expect(waiting_table).to_contain_text("TX, at home")
    # the patient's page knows the clinician has started
    expect(patient.locator("#visit-waiting-message")).to_contain_text("has started the visit")

    # Admitting a patient needs the identity check against the chart
    host.get_by_role("button", name="Admit Robin").click()
    expect(host.get_by_role("alert")).to_contain_text("confirmed Robin's identity")
    host.get_by_label("Identity check for Robin").select_option("photo_id")
    host.get_by_role("button", name="Admit Robin").click()
    in_visit = host.get_by_role("table", name="In the visit")
    expect(in_visit).to_contain_text("Photo ID shown on camera")

    # THEN both pages show a connected, live remote video track
    assert connected_remote_video(patient)["live"] is True
    assert connected_remote_video(host, "#host-tiles")["live"] is True
    # the patient's tile is labelled with the clinician's name, the clinician's with the
    # patient's first name
    expect(patient.locator("figure.tile figcaption")).to_have_text(
        [account(Role.CLINICIAN).display_name]
    )
    expect(host.locator("#host-tiles figure.tile figcaption")).to_have_text(["Robin"])
    check_axe(host)
    shoot(host, "staff-video-visit")

    # WHEN they invite an interpreter, who opens the link and waits
    host.get_by_label("Name others will see").fill("Interpreter")
    host.get_by_role("button", name="Create invitation link").click()
    link = host.get_by_label("Invitation link for Interpreter")
    expect(link).to_be_focused()
    url = link.input_value()
    assert "#visit-invitation=" in url
    guest = pages()
    guest.goto(url)
    guest_visit = guest.get_by_role("region", name="Video visit")
    expect(guest_visit.locator("[data-check=camera]")).to_have_text("Camera works.")
    guest_visit.get_by_role("button", name="Enter the waiting room").click()
    expect(guest.locator("#visit-waiting-message")).to_contain_text("let you in")
    # AND the clinician admits them (no identity check for guests), then removes them
    host.get_by_role("button", name="Admit Interpreter").click()
    assert connected_remote_video(guest)["live"] is True
    host.get_by_role("button", name="Remove Interpreter").click()
    expect(guest.locator("#visit-done-message")).to_contain_text("ended your part")
    # AND a second guest the clinician does not let in is told so
    host.get_by_label("Name others will see").fill("Family member")
    host.get_by_role("button", name="Create invitation link").click()
    other = pages()
    other.goto(host.get_by_label("Invitation link for Family member").input_value())
    other_visit = other.get_by_role("region", name="Video visit")
    expect(other_visit.locator("[data-check=camera]")).to_have_text("Camera works.")
    other_visit.get_by_role("button", name="Enter the waiting room").click()
    host.get_by_role("button", name="Deny Family member").click()
    expect(other.locator("#visit-done-message")).to_contain_text("could not let you in")
    expect(host.get_by_role("table", name="Waiting to be let in")).to_have_count(0)

    # WHEN video fails and the clinician switches to audio only
    host.get_by_role("button", name="Switch to audio only").click()
    expect(host.get_by_role("button", name="Turn video back on")).to_be_visible()

    # AND ends the visit (after confirming)
    host.get_by_role("button", name="End visit").click()
    host.get_by_role("button", name="Yes, end the visit").click()
    expect(patient.locator("#visit-done-message")).to_have_text("The visit has ended.")
    # THEN the staff app shows the facts charge capture takes: audio only, at home (10),
    # modifier 93, the attended minutes offered to the note
    facts = host.get_by_role("table", name="Charge capture facts per patient")
    expect(facts).to_contain_text("Audio only")
    expect(facts).to_contain_text("10 — telehealth in the patient's home")
    expect(facts).to_contain_text("93")
    expect(facts.get_by_role("link", name="Write the note")).to_be_visible()
    expect(host.get_by_role("heading", name="For the note and the charge")).to_be_focused()
    check_axe(host)
    shoot(host, "staff-video-visit-ended")
