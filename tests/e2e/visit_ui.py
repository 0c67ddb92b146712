"""What the video-visit browser tests share (tests/e2e/test_portal_visit.py,
test_staff_telehealth.py): Chromium with fake camera and microphone, pages that fail on
CSP violations or uncaught errors, a telehealth location, video appointments that are on
now (cancelled again after the test, so their 15-minute blocks are free for the next),
and the waits that follow real state (never sleeps).

Test modules import the fixtures they use by name (pytest finds them in the module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import CHROMIUM_ARGS, PageProblems
from playwright.sync_api import Browser, Page, Playwright, expect
from portal_api import Catalogue, ok, staff

from tpm.security.principal import Role

MEDIA_ARGS = [
    *CHROMIUM_ARGS,
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    # tpm dev's WebRTC uses loopback candidates only (no network, no STUN/TURN)
    "--allow-loopback-in-peer-connection",
]
# A block that ends sooner than this is not booked: the portal lists an appointment whose
# end has passed under "past", without its join button, and a busy machine takes a while
# from booking to the patient's page.
MIN_LEFT = timedelta(minutes=8)
# Browser-to-browser media on a busy 2-core machine (every page encodes the fake camera)
# can take longer to connect than a page takes to render: media waits get more room. They
# end as soon as the state is there.
MEDIA_WAIT = 60_000


@pytest.fixture(scope="module")
def media_browser(playwright_driver: Playwright, chromium_path: str) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(executable_path=chromium_path, args=MEDIA_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def pages(media_browser: Browser, portal_url: str) -> Iterator[Callable[[], Page]]:
    opened: list[tuple[Any, PageProblems]] = []

    def open_page() -> Page:
        context = media_browser.new_context(
            base_url=portal_url, viewport={"width": 1100, "height": 900}, locale="en-US"
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


@pytest.fixture
def book_video(
    desk: httpx.Client, catalogue: Catalogue, video_location: tuple[str, str]
) -> Iterator[Callable[[list[str]], str]]:
    """Books a video appointment that is on now for the given patients with the demo
    clinician (on each care team); cancels it after the test, freeing its block."""
    booked: list[str] = []

    def book(patient_ids: list[str]) -> str:
        for pid in patient_ids:
            ok(desk.post(f"/v1/patients/{pid}/care-team", json={"user_id": catalogue.clinician_id}))
        now = datetime.now(UTC)
        block = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 15)
        # The waiting room opens an hour ahead: any of the next few blocks is "on now";
        # the demo clinician may hold some of them (another test's visit).
        starts = [block + timedelta(minutes=15 * k) for k in range(5)]
        response = None
        for start in starts:
            if start + timedelta(minutes=15) - now < MIN_LEFT:
                continue
            response = desk.post(
                "/v1/appointments",
                json={
                    "patient_ids": patient_ids,
                    "clinician_id": catalogue.clinician_id,
                    "service_id": video_location[1],
                    "location_id": video_location[0],
                    "start": start.isoformat(),
                    # "Now" is any hour the suite runs at: outside the clinician's hours
                    # too, which the desk may override with a reason.
                    "override": {"reason": "Visit on now for the browser test (synthetic)"},
                },
            )
            if response.status_code != 409:
                break
        assert response is not None
        appointment_id = str(ok(response)["id"])
        booked.append(appointment_id)
        return appointment_id

    yield book
    for appointment_id in booked:
        current = desk.get(f"/v1/appointments/{appointment_id}")
        if current.is_success and current.json()["status"] in ("booked", "arrived"):
            desk.post(
                f"/v1/appointments/{appointment_id}/cancel",
                json={"version": current.json()["version"], "reason": "Test visit over"},
            )


def enter_waiting_room(page: Page, state: str = "TX") -> None:
    page.get_by_role("button", name="Join video visit").click()
    visit = page.get_by_role("region", name="Video visit")
    expect(visit.locator("[data-check=camera]")).to_have_text("Camera works.")
    visit.get_by_label("State").select_option(state)
    visit.get_by_role("button", name="Enter the waiting room").click()
    expect(visit.locator("#visit-waiting-message")).to_contain_text("waiting room")


def connected_remote_video(page: Page, scope: str = "") -> Any:
    """Waits for a connected remote tile; says whether its video track is live."""
    selector = f"{scope} figure.tile[data-state=connected]".strip()
    expect(page.locator(selector).first).to_be_visible(timeout=MEDIA_WAIT)
    return page.evaluate(
        """(selector) => {
          const v = document.querySelector(selector + ' video');
          const tracks = v && v.srcObject ? v.srcObject.getVideoTracks() : [];
          return {live: tracks.some(t => t.readyState === 'live'), width: v ? v.videoWidth : 0};
        }""",
        selector,
    )


def waiting(clinician: httpx.Client, visit_id: str) -> list[dict[str, Any]]:
    view = ok(clinician.get(f"/v1/visits/{visit_id}"))
    return [p for p in view["participants"] if p["status"] == "waiting"]
