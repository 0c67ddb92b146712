"""Video visits in the browser on `tpm dev`'s local WebRTC, with Chromium's fake camera
and microphone: the patient checks their devices, attests their location and waits; the
clinician admits them (and an invited interpreter); both pages show a connected remote
video track; someone with a made-up invitation is refused; ending the visit ends it on
every page; the group's pages show first names only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import CHROMIUM_ARGS, PageProblems, PortalPatient
from playwright.sync_api import Browser, Page, Playwright, expect
from portal_api import (
    Catalogue,
    invite_new_patient,
    ok,
    screenshot,
    serious_violations,
    sign_in_portal,
    staff,
)

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e

MEDIA_ARGS = [
    *CHROMIUM_ARGS,
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    # tpm dev's WebRTC uses loopback candidates only (no network, no STUN/TURN)
    "--allow-loopback-in-peer-connection",
]


@pytest.fixture(scope="module")
def media_browser(playwright_driver: Playwright, chromium_path: str) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(executable_path=chromium_path, args=MEDIA_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def pages(media_browser: Browser, portal_url: str) -> Iterator[Any]:
    opened: list[tuple[Any, PageProblems]] = []

    def open_page() -> Page:
        context = media_browser.new_context(
            base_url=portal_url, viewport={"width": 1000, "height": 900}, locale="en-US"
        )
        context.set_default_timeout(30_000)
        page = context.new_page()
        problems = PageProblems()
        page.on("console", problems.on_console)
        page.on("pageerror", problems.on_error)
        opened.append((context, problems))
        return page

    yield open_page
    for context, problems in opened:
        context.close()
        assert problems.csp == [], "Content Security Policy violations"
        assert problems.uncaught == [], problems.uncaught


@pytest.fixture(scope="module")
def video_location(portal_url: str, catalogue: Catalogue) -> tuple[str, str]:
    """A telehealth location and a 15-minute check-in service (so the next few blocks,
    all within the waiting room's hour, hold one visit each), made by the owner."""
    owner = staff(portal_url, Role.OWNER)
    body = {"name": "Video (synthetic)", "kind": "telehealth", "timezone": "America/Chicago"}
    location = ok(owner.post("/v1/locations", json=body))["id"]
    service = {
        "name": "Video check-in (synthetic)",
        "cpt_code": "90832",
        "duration_minutes": 15,
        "fee": {"amount": "60.00", "currency": "USD"},
    }
    return str(location), str(ok(owner.post("/v1/services", json=service))["id"])


@pytest.fixture(scope="module")
def desk(portal_url: str) -> httpx.Client:
    """Front desk and the clinician sign in once for the module: every sign-in costs a
    password hash on a busy machine and counts against the per-address sign-in budget."""
    return staff(portal_url, Role.FRONT_DESK)


@pytest.fixture(scope="module")
def clinician(portal_url: str) -> httpx.Client:
    return staff(portal_url, Role.CLINICIAN)


def telehealth_booking(
    desk: httpx.Client, catalogue: Catalogue, video: tuple[str, str], patient_ids: list[str]
) -> str:
    """A video appointment that is on now, with the demo clinician on each care team."""
    for pid in patient_ids:
        ok(desk.post(f"/v1/patients/{pid}/care-team", json={"user_id": catalogue.clinician_id}))
    now = datetime.now(UTC)
    block = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 15)
    # The waiting room opens an hour ahead: any of the next few blocks is "on now"; the
    # demo clinician may already hold some of them from an earlier test.
    for k in range(5):
        booked = desk.post(
            "/v1/appointments",
            json={
                "patient_ids": patient_ids,
                "clinician_id": catalogue.clinician_id,
                "service_id": video[1],
                "location_id": video[0],
                "start": (block + timedelta(minutes=15 * k)).isoformat(),
            },
        )
        if booked.status_code != 409:
            break
    booked = ok(booked)
    return str(booked["id"])


def enter_waiting_room(page: Page, state: str = "TX") -> None:
    page.get_by_role("button", name="Join video visit").click()
    visit = page.get_by_role("region", name="Video visit")
    expect(visit.locator("[data-check=camera]")).to_have_text("Camera works.")
    visit.get_by_label("State").select_option(state)
    visit.get_by_role("button", name="Enter the waiting room").click()
    expect(visit.locator("#visit-waiting-message")).to_contain_text("waiting room")


def connected_remote_video(page: Page) -> Any:
    tile = page.locator("figure.tile[data-state=connected]").first
    expect(tile).to_be_visible()
    return page.evaluate(
        """() => {
          const v = document.querySelector('figure.tile[data-state=connected] video');
          const tracks = v && v.srcObject ? v.srcObject.getVideoTracks() : [];
          return {live: tracks.some(t => t.readyState === 'live'), width: v ? v.videoWidth : 0};
        }"""
    )


def waiting(clinician: httpx.Client, visit_id: str) -> list[dict[str, Any]]:
    view = ok(clinician.get(f"/v1/visits/{visit_id}"))
    return [p for p in view["participants"] if p["status"] == "waiting"]


def test_patient_waits_is_admitted_and_sees_a_connected_remote_video(
    pages: Any,
    desk: httpx.Client,
    clinician: httpx.Client,
    catalogue: Catalogue,
    video_location: tuple[str, str],
    new_patient: PortalPatient,
) -> None:
    apt = telehealth_booking(desk, catalogue, video_location, [new_patient.patient_id])
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
    catalogue: Catalogue,
    video_location: tuple[str, str],
    new_patient: PortalPatient,
) -> None:
    # a made-up invitation
    stranger = pages()
    stranger.goto("/#visit-invitation=not-a-real-invitation-token-000000")
    expect(stranger.locator("#visit-checks li").first).to_be_visible()
    stranger.get_by_role("button", name="Enter the waiting room").click()
    expect(stranger.locator("#visit-done-message")).to_contain_text("not valid")
    # a patient the clinician denies
    apt = telehealth_booking(desk, catalogue, video_location, [new_patient.patient_id])
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
    catalogue: Catalogue,
    video_location: tuple[str, str],
    new_patient: PortalPatient,
) -> None:
    others = []
    for first in ("Sam", "Kai"):
        email = f"group-{uuid.uuid4().hex[:8]}@example.test"
        password = f"amber-grove-{uuid.uuid4().hex[:10]}"
        others.append((invite_new_patient(desk, first, email, password), email, password))
    ids = [new_patient.patient_id, *(o[0] for o in others)]
    apt = telehealth_booking(desk, catalogue, video_location, ids)
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
        expect(captions).to_have_count(2)
        # A tile can appear (the peer's offer arrived) a status poll before its alias does
        # (shown as "Participant" until then): wait for each alias, in whatever order.
        for alias in expected:
            expect(captions.filter(has_text=re.compile(f"^{alias}$"))).to_have_count(1)
        body = page.locator("#visit-view").inner_text()
        for pid in ids:
            assert pid not in body
    screenshot(first, "visit-group-aliases")
    ok(clinician.post(f"/v1/visits/{visit_id}/end"))
