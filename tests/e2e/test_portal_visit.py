"""Video visits in the browser on `tpm dev`'s local WebRTC, with Chromium's fake camera
and microphone: the patient checks their devices, attests their location and waits; the
clinician admits them (and an invited interpreter); both pages show a connected remote
video track; someone with a made-up invitation is refused; ending the visit ends it on
every page; the group's pages show first names only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import PortalPatient
from playwright.sync_api import expect
from portal_api import invite_new_patient, ok, screenshot, serious_violations, sign_in_portal
from visit_ui import MEDIA_WAIT, connected_remote_video, enter_waiting_room, waiting

pytestmark = pytest.mark.e2e


def test_patient_waits_is_admitted_and_sees_a_connected_remote_video(
    pages: Any,
    desk: httpx.Client,
    clinician: httpx.Client,
    book_video: Callable[[list[str]], str],
    new_patient: PortalPatient,
) -> None:
    apt = book_video([new_patient.patient_id])
    # GIVEN the patient checks their devices and waits
    patient = pages()
    sign_in_portal(patient, new_patient.email, new_patient.password)
    enter_waiting_room(patient)
    assert serious_violations(patient) == []
    screenshot(patient, "visit-waiting-room")
    # WHEN the clinician starts the visit, confirms the patient against the chart, admits
    started = ok(clinician.post(f"/v1/appointments/{apt}/visit"))
    visit_id = started["id"]
    [person] = waiting(clinician, visit_id)
    assert person["location"]["state"] == "TX"
    ok(
        clinician.post(
            f"/v1/visits/{visit_id}/participants/{person['id']}/admit",
            json={"identity_method": "photo_id"},
        )
    )
    # AND invites an interpreter, who opens the link and is admitted too
    invitation = ok(
        clinician.post(f"/v1/visits/{visit_id}/invitations", json={"alias": "Interpreter"})
    )
    guest = pages()
    guest.goto(f"/#visit-invitation={invitation['token']}")
    # (the device check has run: the page's join handler is in place; on a busy machine
    # the lazily loaded visit module can lag behind the visible button)
    expect(guest.locator("#visit-checks li").first).to_be_visible()
    guest.get_by_role("button", name="Enter the waiting room").click()
    expect(guest.locator("#visit-waiting-message")).to_contain_text("let you in")
    [interpreter] = waiting(clinician, visit_id)
    assert interpreter["kind"] == "guest"
    ok(clinician.post(f"/v1/visits/{visit_id}/participants/{interpreter['id']}/admit", json={}))
    # THEN both pages show a connected remote video track, labelled with aliases only
    for page in (patient, guest):
        media = connected_remote_video(page)
        assert media["live"] is True
    expect(patient.locator("figure.tile figcaption")).to_contain_text(["Interpreter"])
    expect(guest.locator("figure.tile figcaption")).to_contain_text(["Robin"])
    assert serious_violations(patient) == []
    screenshot(patient, "visit-in-session")
    # WHEN the clinician ends the visit THEN every page says so
    ok(clinician.post(f"/v1/visits/{visit_id}/end"))
    for page in (patient, guest):
        expect(page.locator("#visit-done-message")).to_have_text("The visit has ended.")


def test_a_guest_without_a_valid_invitation_is_refused_and_denied_patients_are_told(
    pages: Any,
    desk: httpx.Client,
    clinician: httpx.Client,
    book_video: Callable[[list[str]], str],
    new_patient: PortalPatient,
) -> None:
    # a made-up invitation
    stranger = pages()
    stranger.goto("/#visit-invitation=not-a-real-invitation-token-000000")
    expect(stranger.locator("#visit-checks li").first).to_be_visible()
    stranger.get_by_role("button", name="Enter the waiting room").click()
    expect(stranger.locator("#visit-done-message")).to_contain_text("not valid")
    # a patient the clinician denies
    apt = book_video([new_patient.patient_id])
    patient = pages()
    sign_in_portal(patient, new_patient.email, new_patient.password)
    enter_waiting_room(patient)
    visit_id = ok(clinician.post(f"/v1/appointments/{apt}/visit"))["id"]
    [person] = waiting(clinician, visit_id)
    ok(clinician.post(f"/v1/visits/{visit_id}/participants/{person['id']}/deny"))
    expect(patient.locator("#visit-done-message")).to_contain_text("could not let you in")


def test_a_group_of_three_sees_first_names_only(
    pages: Any,
    desk: httpx.Client,
    clinician: httpx.Client,
    book_video: Callable[[list[str]], str],
    new_patient: PortalPatient,
) -> None:
    others = []
    for first in ("Sam", "Kai"):
        email = f"group-{uuid.uuid4().hex[:8]}@example.test"
        password = f"amber-grove-{uuid.uuid4().hex[:10]}"
        others.append((invite_new_patient(desk, first, email, password), email, password))
    ids = [new_patient.patient_id, *(o[0] for o in others)]
    apt = book_video(ids)
    first = pages()
    sign_in_portal(first, new_patient.email, new_patient.password)
    enter_waiting_room(first)
    second = pages()
    sign_in_portal(second, others[0][1], others[0][2])
    enter_waiting_room(second, "OK")
    third = pages()
    sign_in_portal(third, others[1][1], others[1][2])
    enter_waiting_room(third, "NM")
    visit_id = ok(clinician.post(f"/v1/appointments/{apt}/visit"))["id"]
    for person in waiting(clinician, visit_id):
        ok(
            clinician.post(
                f"/v1/visits/{visit_id}/participants/{person['id']}/admit",
                json={"identity_method": "verbal_details"},
            )
        )
    for page, expected in ((first, ("Sam", "Kai")), (second, ("Robin", "Kai"))):
        captions = page.locator("figure.tile figcaption")
        expect(captions).to_have_count(2, timeout=MEDIA_WAIT)
        # A tile can appear (the peer's offer arrived) a status poll before its alias does
        # (shown as "Participant" until then): wait for each alias, in whatever order.
        for alias in expected:
            named = captions.filter(has_text=re.compile(f"^{alias}$"))
            expect(named).to_have_count(1, timeout=MEDIA_WAIT)
        body = page.locator("#visit-view").inner_text()
        for pid in ids:
            assert pid not in body
    screenshot(first, "visit-group-aliases")
    ok(clinician.post(f"/v1/visits/{visit_id}/end"))
