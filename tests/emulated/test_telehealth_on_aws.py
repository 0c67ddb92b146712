"""A video visit's main path on the emulated AWS stack: the telehealth function with the
template's own environment (TPM_VIDEO=chime://?region=…, DynamoDB, KMS, the audit trail
on AWS adapters) behind the local gateway.

moto has no Chime SDK: the media service is played by botocore's Stubber on the very
`chime-sdk-meetings` client the deployed adapter makes from its configuration (the
service model checks every request and response shape). Everything else is moto. What
it proves on AWS adapters: the patient waits with no Chime call at all; the clinician's
start creates the meeting (the visit id as token and external id: no PHI) and the host's
attendee; the patient's credentials are created at admission and only then; the patient
sees them (with the meeting's join information for the browser client); ending deletes
the meeting and nobody keeps credentials; every step is in the audit trail. And in
Chromium: the portal's visit page, admitted, joins the meeting with the bundled Chime SDK
(its signalling handshake, against a stand-in for Chime's signalling server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.stub import ANY, Stubber
from playwright.sync_api import Page, WebSocketRoute, expect

from emulated.stack import EmulatedStack
from tpm.adapters.video.chime import ChimeVideo
from tpm.runtime import get_runtime
from tpm.security.audit import read_events, read_head
from tpm.services.practices import practice_id_for_slug

SLUG = "videovisit"
PATIENT_PASSWORD = "Heron-Quarry-Violet-51"
MEETING_ID = "5c7e2f2d-8c2b-4e6f-8c2b-222222222222"
HOST_ATTENDEE = "c3333333-3333-4333-8333-333333333333"
PATIENT_ATTENDEE = "d4444444-4444-4444-8444-444444444444"
REGION = "us-east-1"


def meeting(visit_id: str) -> dict[str, Any]:
    return {
        "Meeting": {
            "MeetingId": MEETING_ID,
            "ExternalMeetingId": visit_id,
            "MediaRegion": REGION,
            "MediaPlacement": {
                "AudioHostUrl": "abc.k.m1.ue1.app.chime.aws:3478",
                "AudioFallbackUrl": "wss://haxrp.m1.ue1.app.chime.aws:443/calls/x",
                "SignalingUrl": "wss://signal.m1.ue1.app.chime.aws/control/x",
                "TurnControlUrl": "https://2713.cell.us-east-1.meetings.chime.aws/v2/turn_sessions",
                "EventIngestionUrl": "https://data.svc.ue1.ingest.chime.aws/v1/client-events",
            },
            "MeetingArn": f"arn:aws:chime:{REGION}:123456789012:meeting/{MEETING_ID}",
        }
    }


def attendee(attendee_id: str, external: str) -> dict[str, Any]:
    return {
        "Attendee": {
            "ExternalUserId": external,
            "AttendeeId": attendee_id,
            "JoinToken": f"join-{attendee_id}",
            "Capabilities": {"Audio": "SendReceive", "Video": "SendReceive", "Content": "Receive"},
        }
    }


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: {response.text}"
    )
    return response.json() if response.content else None


@pytest.fixture
def chime(emulated: EmulatedStack) -> Iterator[Stubber]:
    """The stack's own media adapter (made from TPM_VIDEO like in Lambda), its boto3
    client stubbed: a call nobody queued fails the request that made it."""
    video = get_runtime().video
    assert isinstance(video, ChimeVideo), f"the template configures Chime, got {video.kind}"
    assert video.region == REGION
    stubber = Stubber(video.client)
    with stubber:
        yield stubber


def audit_actions(after: int) -> tuple[int, list[str]]:
    runtime = get_runtime()
    practice_id = practice_id_for_slug(runtime.store, SLUG)
    assert practice_id is not None
    store = runtime.store.practice(practice_id)
    head = read_head(store)
    assert head is not None
    return head.seq, [e.action for e in read_events(store, after + 1, head.seq)]


def patient_email(slug: str) -> str:
    return f"robin.synthetic@{slug}.example"


@dataclass
class Practice:
    clinician: httpx.Client
    patient_id: str
    appointment_id: str


def video_practice(emulated: EmulatedStack, slug: str) -> Practice:
    """A practice with a video location, a clinician, front desk, the AWS agreement, a
    portal patient (`patient_email(slug)`) and a video appointment that is on now."""
    owner = emulated.owner(slug)
    clinician = emulated.staff(owner, slug, "clinician", f"casey@{slug}.example")
    desk = emulated.staff(owner, slug, "front_desk", f"frankie@{slug}.example")
    clinician_id = ok(clinician.get("/v1/me"))["id"]
    location = ok(
        owner.post(
            "/v1/locations",
            json={"name": "Video (synthetic)", "kind": "telehealth", "timezone": "UTC"},
        ),
        201,
    )
    service = ok(
        owner.post(
            "/v1/services",
            json={
                "name": "Psychotherapy 45 min",
                "cpt_code": "90834",
                "duration_minutes": 45,
                "fee": {"amount": "150.00", "currency": "USD"},
            },
        ),
        201,
    )
    # (the business associate agreement with AWS: without it no PHI leaves for AWS)
    agreement = {
        "status": "executed",
        "executed_on": (date.today() - timedelta(days=30)).isoformat(),
    }
    aws = {"key": "aws", "name": "Amazon Web Services", "role": "hosting", "receives_phi": True}
    ok(owner.post("/v1/vendors", json={**aws, "agreement": agreement}), 201)
    patient = ok(
        desk.post(
            "/v1/patients",
            json={
                "legal_first_name": "Robin",
                "legal_last_name": "Synthetic",
                "date_of_birth": "1988-08-08",
                "email": patient_email(slug),
            },
        ),
        201,
    )
    ok(desk.post(f"/v1/patients/{patient['id']}/care-team", json={"user_id": clinician_id}), 204)
    invitation = ok(desk.post(f"/v1/patients/{patient['id']}/portal-invitation", json={}), 201)
    emulated.accept(slug, invitation["invitation_token"], PATIENT_PASSWORD)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    booked = ok(
        desk.post(
            "/v1/appointments",
            json={
                "patient_ids": [patient["id"]],
                "clinician_id": clinician_id,
                "service_id": service["id"],
                "location_id": location["id"],
                "start": (now - timedelta(minutes=now.minute % 15)).isoformat(),
                # On now, whatever the hour: outside the clinician's (unset) hours, which
                # the desk overrides with a reason.
                "override": {"reason": "Visit on now for the test (synthetic)"},
            },
        ),
        201,
    )
    apt = booked["id"]
    return Practice(clinician, patient["id"], apt)


def test_a_video_visit_on_aws_adapters(emulated: EmulatedStack, chime: Stubber) -> None:
    # GIVEN a practice with a video location, a clinician, front desk and a portal patient
    practice = video_practice(emulated, SLUG)
    clinician, apt = practice.clinician, practice.appointment_id
    me = emulated.client(emulated.sign_in(SLUG, patient_email(SLUG), PATIENT_PASSWORD))
    before, _ = audit_actions(0)

    # WHEN the patient enters the waiting room THEN no Chime call at all, no credentials
    waiting = ok(
        me.post(
            f"/v1/appointments/{apt}/visit/waiting-room",
            json={
                "location": {"state": "TX", "at_home": True},
                "device_check": {"camera": True, "microphone": True, "connection": True},
            },
        ),
    )
    visit_id = waiting["id"]
    assert (waiting["me"]["status"], waiting["me"]["credentials"]) == ("waiting", None)

    # WHEN the clinician starts THEN CreateMeeting in the stack's region with the visit id
    # as token and external id (no PHI reaches Chime), and the host's own attendee
    chime.add_response(
        "create_meeting",
        meeting(visit_id),
        {
            "ClientRequestToken": visit_id,
            "MediaRegion": REGION,
            "ExternalMeetingId": visit_id,
            "MeetingFeatures": ANY,
        },
    )
    chime.add_response(
        "create_attendee",
        attendee(HOST_ATTENDEE, "host"),
        {"MeetingId": MEETING_ID, "ExternalUserId": ANY, "Capabilities": ANY},
    )
    host_view = ok(clinician.post(f"/v1/appointments/{apt}/visit"), 201)
    chime.assert_no_pending_responses()
    assert (host_view["media"], host_view["status"], host_view["waiting"]) == ("chime", "open", 1)
    [person] = [p for p in host_view["participants"] if p["status"] == "waiting"]
    # AND the patient still holds nothing
    assert ok(me.get(f"/v1/visits/{visit_id}"))["me"]["credentials"] is None

    # WHEN the clinician admits them (identity checked against the chart) THEN
    # CreateAttendee for exactly this participant, and the patient sees what the browser's
    # Chime client joins with
    chime.add_response(
        "create_attendee",
        attendee(PATIENT_ATTENDEE, person["id"]),
        {
            "MeetingId": MEETING_ID,
            "ExternalUserId": person["id"],
            "Capabilities": {"Audio": "SendReceive", "Video": "SendReceive", "Content": "Receive"},
        },
    )
    admit = f"/v1/visits/{visit_id}/participants/{person['id']}/admit"
    ok(clinician.post(admit, json={"identity_method": "photo_id"}))
    chime.assert_no_pending_responses()
    mine = ok(me.get(f"/v1/visits/{visit_id}"))
    assert (mine["media"], mine["me"]["status"]) == ("chime", "admitted")
    credentials = mine["me"]["credentials"]
    assert credentials["attendee_id"] == PATIENT_ATTENDEE
    assert credentials["join_token"] == f"join-{PATIENT_ATTENDEE}"
    assert credentials["meeting"]["MeetingId"] == MEETING_ID
    assert credentials["meeting"]["MediaPlacement"]["SignalingUrl"].startswith("wss://")
    # (the join token is sealed at rest in DynamoDB)
    table = emulated.aws("dynamodb").scan(TableName=emulated.physical["Table"])
    assert f"join-{PATIENT_ATTENDEE}" not in str(table["Items"])

    # WHEN the clinician ends the visit THEN DeleteMeeting, and nobody keeps credentials
    chime.add_response("delete_meeting", {}, {"MeetingId": MEETING_ID})
    ended = ok(clinician.post(f"/v1/visits/{visit_id}/end"))
    chime.assert_no_pending_responses()
    assert ended["status"] == "ended"
    after = ok(me.get(f"/v1/visits/{visit_id}"))
    assert (after["status"], after["me"]["credentials"]) == ("ended", None)

    # AND every step is in the practice's audit trail, in order
    _, actions = audit_actions(before)
    visit_steps = [
        a for a in actions if a in ("visit.join", "visit.start", "visit.admit", "visit.end")
    ]
    assert visit_steps == ["visit.join", "visit.start", "visit.admit", "visit.end"]


MEDIA_ARGS = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")
SIGNALING = "wss://signal.m1.ue1.app.chime.aws/control/x"
JOIN = 1  # SdkSignalFrame.Type.JOIN (one byte of frame kind, 5, then the protobuf)


def is_join_frame(message: str | bytes) -> bool:
    # The frame's `type` is field 2, a varint; the timestamp (field 1, a varint) comes first.
    if not isinstance(message, bytes) or message[:1] != b"\x05":
        return False
    i, data = 1, message
    while i < len(data):
        key = data[i]
        i += 1
        if key & 7 != 0:  # only varints come before the type
            return False
        value = shift = 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if key >> 3 == 2:
            return value == JOIN
    return False


def test_the_portal_joins_the_chime_meeting_in_the_browser(
    emulated: EmulatedStack, chime: Stubber, in_browser: Any
) -> None:
    """The AWS path end to end in Chromium: the patient waits in the portal, the clinician
    starts and admits (CreateMeeting, CreateAttendee on the stubbed Chime client), and the
    portal's visit page joins the meeting with the bundled amazon-chime-sdk-js in its media
    frame: the SDK opens the meeting's own signalling URL and sends its join frame. No
    Chime here: Playwright stands in for its signalling server and refuses the join (as
    Chime does for a token it does not accept), which the page reports."""
    slug = "videobrowser"
    practice = video_practice(emulated, slug)
    clinician, apt = practice.clinician, practice.appointment_id
    chime.add_response("create_meeting", meeting("vis"), None)
    chime.add_response("create_attendee", attendee(HOST_ATTENDEE, "host"), None)
    chime.add_response("create_attendee", attendee(PATIENT_ATTENDEE, "patient"), None)
    chime.add_response("delete_meeting", {}, {"MeetingId": MEETING_ID})
    opened: list[str] = []
    received: list[str | bytes] = []
    problems: list[str] = []

    def steps(page: Page) -> None:
        page.set_default_timeout(30_000)
        page.on(
            "console", lambda m: problems.append(m.text) if "Content Security" in m.text else None
        )
        page.on("pageerror", lambda e: problems.append(str(e)))

        def signalling(ws: WebSocketRoute) -> None:
            opened.append(ws.url)

            def on_message(message: str | bytes) -> None:
                received.append(message)
                if is_join_frame(message):
                    ws.close(code=4403, reason="Forbidden")

            ws.on_message(on_message)

        page.context.route_web_socket(re.compile(r"^wss://[^/]*\.chime\.aws/"), signalling)
        # GIVEN the patient signs in to the portal and waits
        page.goto(f"{emulated.base}/?practice={slug}")
        form = page.get_by_role("region", name="Sign in to your patient portal")
        form.get_by_label("Email").fill(patient_email(slug))
        form.get_by_label("Password").fill(PATIENT_PASSWORD)
        form.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Join video visit").click()
        visit = page.get_by_role("region", name="Video visit")
        expect(visit.locator("[data-check=camera]")).to_have_text("Camera works.")
        visit.get_by_label("State").select_option("TX")
        visit.get_by_role("button", name="Enter the waiting room").click()
        expect(visit.locator("#visit-waiting-message")).to_contain_text("waiting room")
        # WHEN the clinician starts the visit and admits them
        host = ok(clinician.post(f"/v1/appointments/{apt}/visit"), 201)
        [person] = [p for p in host["participants"] if p["status"] == "waiting"]
        admit = f"/v1/visits/{host['id']}/participants/{person['id']}/admit"
        ok(clinician.post(admit, json={"identity_method": "photo_id"}))
        # THEN the visit page opens the Chime media frame, whose SDK joins the meeting
        expect(visit.locator("#visit-tiles iframe.visit-media")).to_be_attached()
        # (the page marks the tiles failed; its polite status line says so until the next
        # announcement replaces it, so the mark is what the test waits for)
        expect(visit.locator("#visit-tiles[data-failed=true]")).to_be_attached()
        # WHEN the clinician ends the visit THEN the page says so
        ok(clinician.post(f"/v1/visits/{host['id']}/end"))
        expect(visit.locator("#visit-done-message")).to_have_text("The visit has ended.")

    in_browser(steps, MEDIA_ARGS)
    chime.assert_no_pending_responses()
    [url] = opened
    assert url.startswith(f"{SIGNALING}?X-Chime-Control-Protocol-Version=3&")
    assert any(is_join_frame(m) for m in received)
    assert problems == []
