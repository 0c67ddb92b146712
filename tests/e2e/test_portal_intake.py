"""The intake checklist in the portal: a new patient confirms who they are (date of birth,
then the one-time code from the outbox), fills in a PHQ-2, signs the SMS consent and the
42 CFR Part 2 consent, uploads
both sides of an insurance card; the clinician finds the packet in the staff app's intake
queue, reviews the answers, consents and card photos, and approves it; the patient books
the first visit from the times offered; then the checklist is done."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import DevServer, PortalPatient, start_dev_server
from PIL import Image
from playwright.sync_api import Page, expect
from portal_api import ok, screenshot, serious_violations, sign_in, sign_in_portal, staff
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


# A server of its own: the intake needs the owner (whose MFA enrolment the shared server's
# other tests rely on doing first) and sends codes that would show in their outbox counts.
@pytest.fixture(scope="module")
def dev_server(
    chromium_path: str, tmp_path_factory: pytest.TempPathFactory, project_root: Path
) -> Iterator[DevServer]:
    with start_dev_server(tmp_path_factory.mktemp("intake"), project_root) as server:
        yield server


@pytest.fixture(scope="module")
def portal_url(dev_server: DevServer) -> str:
    return dev_server.base


TEMPLATE = {
    "version": 0,
    "name": "Browser intake",
    "forms": [{"key": "phq", "template_id": "phq2"}],
    "consents": [{"key": "sms", "template_id": "electronic_communication_consent"}],
    "part2": {
        "applies_to": "everyone",
        "disclosing_program": "Demo substance use program (synthetic)",
        "information": "My substance use disorder diagnosis and treatment dates.",
        "recipients": [{"kind": "payer", "name": "My health plans and third-party payers"}],
        "purposes": ["payment"],
        "purpose_description": "To bill my health plan.",
        "expires_after_days": 365,
    },
    "insurance_card": True,
}


def first_visit_service(owner: httpx.Client, clinician_id: str) -> str:
    """An office, a first-visit service and the clinician's hours every day, 08:00-20:00."""
    location = ok(
        owner.post(
            "/v1/locations",
            json={"name": "Room 1", "kind": "office", "timezone": "America/Chicago"},
        )
    )
    body = {
        "name": "First visit",
        "cpt_code": "90791",
        "duration_minutes": 60,
        "fee": {"amount": "180.00"},
    }
    service = ok(owner.post("/v1/services", json=body))
    path = f"/v1/clinicians/{clinician_id}/availability"
    current = ok(owner.get(path))
    weekly = [
        {"weekday": d, "start": "08:00", "end": "20:00", "location_ids": [location["id"]]}
        for d in range(7)
    ]
    ok(owner.patch(path, json={"version": current["version"], "weekly": weekly}))
    return str(service["id"])


def card_png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), colour).save(out, format="PNG")
    return out.getvalue()


def wait_for(client: httpx.Client, step: str | None, status: str | None = None) -> dict:
    deadline = time.monotonic() + 30
    while True:
        answer = client.get("/v1/me/intake")
        if answer.status_code == 200:
            data = answer.json()
            if data["current_step"] == step and status in (None, data["status"]):
                return dict(data)
        elif step is None and answer.status_code == 404:
            return {}
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.3)


def sent_codes(portal_url: str) -> list[str]:
    """The one-time codes in the outbox, newest first (the demo practice's own intakes
    sent some too)."""
    page = httpx.get(f"{portal_url.rstrip('/')}/dev/outbox", timeout=30).text
    return re.findall(r"one-time code is (\d{6})", page)


def new_code(portal_url: str, before: int) -> str:
    """The code sent after `before` codes were in the outbox (the portal's request may
    still be on its way when the test looks)."""
    deadline = time.monotonic() + 30
    while len(found := sent_codes(portal_url)) <= before:
        assert time.monotonic() < deadline, "no code was sent"
        time.sleep(0.2)
    return found[0]


def test_a_patient_completes_the_intake_checklist(
    page: Page, portal_url: str, new_patient: PortalPatient
) -> None:
    # GIVEN an intake template and an intake started by the patient's clinician
    owner = staff(portal_url, Role.OWNER)
    clinician = staff(portal_url, Role.CLINICIAN)
    desk = staff(portal_url, Role.FRONT_DESK)
    clinician_id = ok(clinician.get("/v1/me"))["id"]
    service_id = first_visit_service(owner, clinician_id)
    body = {**TEMPLATE, "first_visit_service_id": service_id}
    template = ok(owner.post("/v1/intake-templates", json=body))
    desk.post(f"/v1/patients/{new_patient.patient_id}/care-team", json={"user_id": clinician_id})
    intake = ok(
        clinician.post(
            f"/v1/patients/{new_patient.patient_id}/intakes", json={"template_id": template["id"]}
        )
    )
    me = sign_in(portal_url, new_patient.email, new_patient.password)
    wait_for(me, "identity")

    # WHEN the patient signs in and confirms who they are
    sign_in_portal(page, new_patient.email, new_patient.password)
    section = page.get_by_role("region", name="Getting started")
    expect(section.get_by_text("Confirm who you are: to do now")).to_be_visible()
    assert serious_violations(page) == []
    section.get_by_label("Date of birth").fill("1985-05-05")
    before = len(sent_codes(portal_url))
    section.get_by_role("button", name="Send me a code").click()
    section.get_by_label("One-time code").fill(new_code(portal_url, before))
    section.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("identity is confirmed")
    expect(section.get_by_text("Fill in your forms: to do now")).to_be_visible()

    # AND fills in the PHQ-2
    section.get_by_role("button", name=re.compile("^Fill in PHQ-2")).click()
    form = section.get_by_role("form", name=re.compile("PHQ-2"))
    form.get_by_label("Date completed").fill("2026-12-06")
    form.get_by_label("Little interest or pleasure in doing things").select_option("1")
    form.get_by_label("Feeling down, depressed, or hopeless").select_option("0")
    assert serious_violations(page) == []
    form.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("status")).to_contain_text("Sent")
    expect(section.get_by_text("Read and sign the consents: to do now")).to_be_visible()

    # AND signs the consent
    section.get_by_role("button", name=re.compile("^Read and sign")).click()
    form = section.get_by_role("form", name="Consent to electronic communication")
    form.get_by_role("group", name="Text messages for").get_by_label("reminders").check()
    form.get_by_label("I understand email and text are not encrypted end to end").check()
    form.get_by_label("Electronic messages are not monitored for emergencies").check()
    signature = form.get_by_role("group", name="Signature")
    signature.get_by_label("Name of person signing").fill("Robin Synthetic")
    signature.get_by_label("Signing as").select_option("self")
    signature.get_by_label("Date signed").fill("2026-12-06")
    form.get_by_label("Type your full name").fill("Robin Synthetic")
    form.get_by_label("I have read this document").check()
    screenshot(page, "intake-consent")
    assert serious_violations(page) == []
    form.get_by_role("button", name="Sign").click()
    expect(page.get_by_role("status")).to_contain_text("Signed")

    # AND reads the 42 CFR Part 2 consent, every element shown, and signs it too
    section.get_by_role("button", name=re.compile("^Read and decide")).click()
    form = section.get_by_role("form", name=re.compile("42 CFR Part 2"))
    expect(form).to_contain_text("My health plans and third-party payers")
    expect(form).to_contain_text("prohibits unauthorized use or disclosure")
    assert serious_violations(page) == []
    screenshot(page, "intake-part2")
    form.get_by_label("Type your full name to sign").fill("Robin Synthetic")
    form.get_by_label("I have read this consent and I sign it electronically.").check()
    form.get_by_role("button", name="Sign").click()
    expect(page.get_by_role("status")).to_contain_text("Signed: the Part 2 consent")
    expect(section.get_by_text("Add your insurance card: to do now")).to_be_visible()

    # AND uploads both sides of the insurance card
    section.get_by_label(re.compile("^Card front")).set_input_files(
        {"name": "front.png", "mimeType": "image/png", "buffer": card_png((10, 80, 160))}
    )
    section.get_by_label(re.compile("^Card back")).set_input_files(
        {"name": "back.png", "mimeType": "image/png", "buffer": card_png((160, 80, 10))}
    )
    section.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("card was uploaded")
    expect(section).to_contain_text("Your clinician is reviewing")
    screenshot(page, "intake-review")

    # THEN the clinician finds the packet in the staff app's intake queue
    page.get_by_role("button", name="Sign out").click()
    sign_in_staff(page, Role.CLINICIAN)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Intake").click()
    expect(page.get_by_role("heading", name="Intake", exact=True)).to_be_focused()
    queue = page.get_by_role("table", name="Open intakes, stalled first")
    row = queue.get_by_role("row").filter(has=page.get_by_role("link", name="Synthetic, Robin"))
    expect(row).to_contain_text("Waiting for review")
    check_axe(page)
    shoot(page, "staff-intake-queue")
    row.get_by_role("link", name="Synthetic, Robin").click()
    expect(page.get_by_role("heading", name="Intake: Synthetic, Robin")).to_be_focused()
    assert page.url.endswith(f"#/intake/{intake['id']}")
    # AND reviews it: the answers with their labels, the consents with their evidence, the
    # card photos
    forms = page.locator("#intake-forms")
    expect(forms.get_by_role("heading", name=re.compile("PHQ-2"))).to_be_visible()
    expect(forms).to_contain_text("Little interest or pleasure in doing things")
    consents = page.get_by_role("table", name="Consents signed in this intake")
    expect(consents.get_by_role("row")).to_have_count(3)  # header + SMS + Part 2
    expect(consents).to_contain_text("42 CFR Part 2")
    expect(consents).to_contain_text("Identity verified")
    for side in ("front", "back"):
        photo = page.get_by_role("img", name=f"Insurance card, {side}")
        expect(photo).to_be_visible()
        assert photo.evaluate("img => img.naturalWidth") == 320  # the re-encoded pixels
    forms.get_by_role("button", name=re.compile("^History")).click()
    expect(forms.get_by_role("table", name=re.compile("^Versions of"))).to_contain_text("submitted")
    check_axe(page)
    shoot(page, "staff-intake-review")
    # WHEN they approve it
    review = page.locator("#review-form")
    review.get_by_label("Approve: the packet is complete").check()
    review.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status")).to_have_text("Intake approved.")
    check_axe(page)
    approved = ok(clinician.get(f"/v1/intakes/{intake['id']}"))["intake"]
    assert approved["reviewer_id"] == clinician_id
    assert next(s for s in approved["steps"] if s["step"] == "review")["status"] == "done"

    # AND the patient, back in the portal later, books the first visit from the times offered
    wait_for(me, "appointment")
    page.get_by_role("button", name="Sign out").click()
    page.goto("/")
    sign_in_portal(page, new_patient.email, new_patient.password)
    expect(section.get_by_text("Book your first visit: to do now")).to_be_visible()
    booking = section.get_by_role("form", name=re.compile("^Book your first visit"))
    expect(booking.get_by_label("Clinician")).to_contain_text("Casey")
    booking.get_by_role("button", name="Show times").click()
    expect(page.get_by_role("status")).to_contain_text("available times")
    chosen = booking.get_by_label("Time").locator("option").first.text_content()
    assert serious_violations(page) == []
    screenshot(page, "intake-first-visit")
    booking.get_by_role("button", name="Book this time").click()
    expect(page.get_by_role("status")).to_contain_text("You are all set")
    wait_for(me, None)
    # (signing in again shows the portal without the checklist)
    page.get_by_role("button", name="Sign out").click()
    sign_in_portal(page, new_patient.email, new_patient.password)
    expect(page.get_by_role("heading", name="Appointments")).to_be_visible()
    expect(page.locator("#intake")).to_be_hidden()
    documents = ok(me.get("/v1/me/documents"))["items"]
    assert any(d["content_type"] == "application/pdf" for d in documents)
    final = ok(clinician.get(f"/v1/intakes/{intake['id']}"))["intake"]
    assert final["status"] == "completed"
    assert final["appointment_id"]
    assert chosen
