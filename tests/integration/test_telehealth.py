"""Telehealth visits through the local API gateway, with the media service played by
botocore's Stubber on a real `chime-sdk-meetings` client (the boto3 service model checks
every request and response shape): the waiting room, credentials only at admission, the
identity check, removal, the audio-only fallback, the meeting deleted at the end, and the
visit's facts reaching charge capture. Group privacy and guests run on local media."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from scheduling_world import SchedulingWorld, build

from tpm.adapters.video.chime import ChimeVideo
from tpm.adapters.video.local import LocalVideo
from tpm.runtime import set_runtime
from tpm.security.audit import read_events, read_head
from tpm.security.principal import Role

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "template_examples"
MEETING_ID = "4b6e1f1c-7b1a-4d5e-9b1a-111111111111"
HOST_ATTENDEE = "a1111111-1111-4111-8111-111111111111"
PATIENT_ATTENDEE = "b2222222-2222-4222-8222-222222222222"


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[SchedulingWorld]:
    w = build(tmp_path, project_root)
    w.add_patient("dee", care_team=("clinician",))
    w.add_patient("eve", care_team=("clinician",))
    w.add_user("dee_login", Role.PATIENT, patient_id=w.patients["dee"])
    w.add_user("eve_login", Role.PATIENT, patient_id=w.patients["eve"])
    yield w
    set_runtime(None)


@pytest.fixture
def chime(world: SchedulingWorld) -> Iterator[Stubber]:
    client = boto3.client(
        "chime-sdk-meetings",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stubber = Stubber(client)
    world.runtime.video = ChimeVideo(region="us-east-1", client=client)
    # Chime is covered by the practice's business associate agreement with AWS
    aws_agreement(world)
    with stubber:
        yield stubber
    world.runtime.video = LocalVideo()


def aws_agreement(world: SchedulingWorld) -> None:
    executed = (world.clock.now().date() - timedelta(days=30)).isoformat()
    body = {
        "key": "aws",
        "name": "Amazon Web Services",
        "role": "hosting",
        "receives_phi": True,
        "agreement": {"status": "executed", "executed_on": executed},
    }
    world.ok("POST", "/v1/vendors", "owner", body)


def meeting_response() -> dict[str, Any]:
    return {
        "Meeting": {
            "MeetingId": MEETING_ID,
            "ExternalMeetingId": "visit",
            "MediaRegion": "us-east-1",
            "MediaPlacement": {
                "AudioHostUrl": "abc.k.m1.ue1.app.chime.aws:3478",
                "AudioFallbackUrl": "wss://haxrp.m1.ue1.app.chime.aws:443/calls/x",
                "SignalingUrl": "wss://signal.m1.ue1.app.chime.aws/control/x",
                "TurnControlUrl": "https://2713.cell.us-east-1.meetings.chime.aws/v2/turn_sessions",
                "EventIngestionUrl": "https://data.svc.ue1.ingest.chime.aws/v1/client-events",
            },
            "MeetingArn": f"arn:aws:chime:us-east-1:111122223333:meeting/{MEETING_ID}",
        }
    }


def attendee_response(attendee_id: str, external: str) -> dict[str, Any]:
    return {
        "Attendee": {
            "ExternalUserId": external,
            "AttendeeId": attendee_id,
            "JoinToken": f"token-for-{attendee_id}",
            "Capabilities": {"Audio": "SendReceive", "Video": "SendReceive", "Content": "Receive"},
        }
    }


def catalogue(world: SchedulingWorld) -> dict[str, str]:
    found = {"video": world.location("telehealth", "Video"), "svc": world.service(60)}
    world.open_hours("clinician", [found["video"]])
    return found


def book(world: SchedulingWorld, cat: dict[str, str], *patients: str) -> str:
    body = {
        "patient_ids": [world.patients[p] for p in patients],
        "clinician_id": world.users["clinician"].id,
        "service_id": cat["svc"],
        "location_id": cat["video"],
        "start": world.clock.now().isoformat(),
    }
    return str(world.ok("POST", "/v1/appointments", "desk", body)["id"])


def enter(world: SchedulingWorld, apt: str, who: str, at_home: bool = True) -> dict[str, Any]:
    body = {
        "location": {"state": "TX", "at_home": at_home},
        "device_check": {"camera": True, "microphone": True, "connection": True},
    }
    return dict(world.ok("POST", f"/v1/appointments/{apt}/visit/waiting-room", who, body))


def actions(world: SchedulingWorld, after: int) -> list[str]:
    store = world.runtime.store.practice(world.practice_id)
    head = read_head(store)
    assert head is not None
    return [e.action for e in read_events(store, after + 1, head.seq)] if head.seq > after else []


def seq(world: SchedulingWorld) -> int:
    head = read_head(world.runtime.store.practice(world.practice_id))
    return head.seq if head else 0


def test_credentials_only_at_admission_and_the_meeting_is_deleted_at_the_end(
    world: SchedulingWorld, chime: Stubber
) -> None:
    cat = catalogue(world)
    apt = book(world, cat, "ada")
    world.ok(
        "PUT",
        f"/v1/users/{world.users['clinician'].id}/licence-states",
        "admin",
        {
            "states": ["OK"],
            "version": world.users["clinician"].version,
        },
    )
    start = seq(world)
    # GIVEN the patient in the waiting room before the clinician: no Chime call at all
    waiting = enter(world, apt, "ada_login")
    visit_id = waiting["id"]
    assert waiting["status"] == "waiting"
    assert waiting["me"]["status"] == "waiting"
    assert waiting["me"]["credentials"] is None
    # WHEN the clinician starts THEN CreateMeeting (policy features, the visit id as token
    # and external id: no PHI) and the host's own attendee
    chime.add_response(
        "create_meeting",
        meeting_response(),
        {
            "ClientRequestToken": visit_id,
            "MediaRegion": "us-east-1",
            "ExternalMeetingId": visit_id,
            "MeetingFeatures": {
                "Audio": {"EchoReduction": "AVAILABLE"},
                "Video": {"MaxResolution": "HD"},
                "Content": {"MaxResolution": "None"},
                "Attendee": {"MaxCount": 5},
            },
        },
    )
    chime.add_response(
        "create_attendee",
        attendee_response(HOST_ATTENDEE, "host"),
        {"MeetingId": MEETING_ID, "ExternalUserId": ANY, "Capabilities": ANY},
    )
    started = world.call("POST", f"/v1/appointments/{apt}/visit", "clinician")
    assert started.status == 201, started.body
    host_view = started.body
    assert (host_view["status"], host_view["media"], host_view["waiting"]) == ("open", "chime", 1)
    assert host_view["me"]["credentials"]["attendee_id"] == HOST_ATTENDEE
    [patient] = [p for p in host_view["participants"] if p["kind"] == "patient"]
    # the clinician sees the attested location, and that they are not licensed there
    assert patient["location"] == {"state": "TX", "at_home": True, "place_of_service": "10"}
    assert patient["licence_warning"] is True
    chime.assert_no_pending_responses()
    # AND the patient still holds no credentials
    assert world.ok("GET", f"/v1/visits/{visit_id}", "ada_login")["me"]["credentials"] is None
    # WHEN admitted without the identity check THEN refused, nothing created
    no_check = world.call(
        "POST", f"/v1/visits/{visit_id}/participants/{patient['id']}/admit", "clinician", {}
    )
    assert (no_check.status, no_check.body["error"]["details"]["fields"][0]["type"]) == (
        422,
        "required_for_patients",
    )
    # WHEN admitted with the check THEN CreateAttendee for exactly this participant
    chime.add_response(
        "create_attendee",
        attendee_response(PATIENT_ATTENDEE, patient["id"]),
        {
            "MeetingId": MEETING_ID,
            "ExternalUserId": patient["id"],
            "Capabilities": {"Audio": "SendReceive", "Video": "SendReceive", "Content": "Receive"},
        },
    )
    world.ok(
        "POST",
        f"/v1/visits/{visit_id}/participants/{patient['id']}/admit",
        "clinician",
        {"identity_method": "photo_id"},
    )
    chime.assert_no_pending_responses()
    mine = world.ok("GET", f"/v1/visits/{visit_id}", "ada_login")
    creds = mine["me"]["credentials"]
    assert creds["attendee_id"] == PATIENT_ATTENDEE
    assert creds["join_token"] == f"token-for-{PATIENT_ATTENDEE}"
    assert creds["meeting"]["MeetingId"] == MEETING_ID
    assert [p["alias"] for p in mine["peers"]] == ["clinician (synthetic)"[:60]]
    # the join token is sealed at rest
    raw = json.dumps(
        world.runtime.store.practice(world.practice_id)
        .query(f"VISIT#{visit_id}", sk_prefix="PART#", limit=10)
        .items,
        default=str,
    )
    assert f"token-for-{PATIENT_ATTENDEE}" not in raw
    # WHEN video fails THEN the same visit goes on audio only
    world.clock.advance(minutes=40)
    mode = world.ok(
        "POST",
        f"/v1/visits/{visit_id}/mode",
        "ada_login",
        {"mode": "audio_only", "reason": "video_failed"},
    )
    assert mode["mode"] == "audio_only"
    world.clock.advance(minutes=13)
    # WHEN the clinician ends it THEN DeleteMeeting, and nobody keeps credentials
    chime.add_response("delete_meeting", {}, {"MeetingId": MEETING_ID})
    ended = world.ok("POST", f"/v1/visits/{visit_id}/end", "clinician")
    chime.assert_no_pending_responses()
    assert ended["status"] == "ended"
    assert ended["duration_minutes"] == 53
    [facts] = ended["billing"]
    assert facts == {
        "patient_id": world.patients["ada"],
        "mode": "audio_only",
        "patient_location": "home",
        "patient_state": "TX",
        "place_of_service": "10",
        "modifiers": ["93"],
        "documented_minutes_offer": 53,
    }
    after = world.ok("GET", f"/v1/visits/{visit_id}", "ada_login")
    assert after["me"]["credentials"] is None
    assert after["status"] == "ended"
    # AND every step is in the audit trail, in order
    trail = [a for a in actions(world, start) if a.startswith("visit.")]
    assert trail[:2] == ["visit.join", "visit.start"]
    for step in ("visit.admit", "visit.mode", "visit.end"):
        assert step in trail
    # WHEN the note for the visit is signed THEN the charge carries the visit's facts
    content = copy.deepcopy(json.loads((EXAMPLES / "progress_note_soap.json").read_text()))
    content["session"] |= {"date": "2026-03-02", "duration_minutes": 53}
    content["session"].pop("place_of_service")
    note = world.ok(
        "POST",
        "/v1/notes",
        "clinician",
        {
            "patient_id": world.patients["ada"],
            "template_id": "progress_note_soap",
            "appointment_id": apt,
            "content": content,
        },
    )
    signed = world.ok(
        "POST",
        f"/v1/notes/{note['id']}/sign",
        "clinician",
        {"version": note["version"], "attestation": True},
    )
    assert signed["place_of_service"] == "10"
    [charge] = [
        c for c in world.ok("GET", "/v1/charges", "owner")["items"] if c["note_id"] == note["id"]
    ]
    assert (charge["mode"], charge["patient_location"], charge["modifiers"]) == (
        "audio_only",
        "home",
        ["93"],
    )
    assert (charge["place_of_service"], charge["visit_id"]) == ("10", visit_id)


def test_removal_deletes_the_attendee_and_chime_failures_change_nothing(
    world: SchedulingWorld, chime: Stubber
) -> None:
    cat = catalogue(world)
    apt = book(world, cat, "ada")
    visit_id = enter(world, apt, "ada_login")["id"]
    chime.add_response("create_meeting", meeting_response())
    chime.add_response("create_attendee", attendee_response(HOST_ATTENDEE, "host"))
    host = world.ok("POST", f"/v1/appointments/{apt}/visit", "clinician")
    [patient] = [p for p in host["participants"] if p["kind"] == "patient"]
    admit = f"/v1/visits/{visit_id}/participants/{patient['id']}/admit"
    # GIVEN Chime throttles WHEN admitting THEN 503, and the patient is still waiting
    chime.add_client_error("create_attendee", "ThrottlingException", http_status_code=429)
    refused = world.call("POST", admit, "clinician", {"identity_method": "known_to_clinician"})
    assert (refused.status, refused.body["error"]["code"]) == (503, "dependency_unavailable")
    assert world.ok("GET", f"/v1/visits/{visit_id}", "ada_login")["me"]["status"] == "waiting"
    # WHEN admitted, then removed THEN DeleteAttendee for exactly that attendee
    chime.add_response("create_attendee", attendee_response(PATIENT_ATTENDEE, patient["id"]))
    world.ok("POST", admit, "clinician", {"identity_method": "known_to_clinician"})
    chime.add_response(
        "delete_attendee", {}, {"MeetingId": MEETING_ID, "AttendeeId": PATIENT_ATTENDEE}
    )
    out = world.ok("POST", f"/v1/visits/{visit_id}/participants/{patient['id']}/deny", "clinician")
    assert out["status"] == "removed"
    chime.assert_no_pending_responses()
    mine = world.ok("GET", f"/v1/visits/{visit_id}", "ada_login")
    assert (mine["me"]["status"], mine["me"]["credentials"]) == ("removed", None)
    # AND a removed patient cannot let themselves back in
    again = world.call(
        "POST",
        f"/v1/appointments/{apt}/visit/waiting-room",
        "ada_login",
        {"location": {"state": "TX", "at_home": True}},
    )
    assert (again.status, again.body["error"]["code"]) == (409, "invalid_participant_state")
    # WHEN the meeting is already gone at Chime THEN ending still ends the visit
    chime.add_client_error("delete_meeting", "NotFoundException", http_status_code=404)
    assert world.ok("POST", f"/v1/visits/{visit_id}/end", "clinician")["status"] == "ended"
    # AND an ended visit cannot be started again
    assert world.call("POST", f"/v1/appointments/{apt}/visit", "clinician").status == 409


def test_no_chime_meeting_starts_without_an_agreement_with_aws(world: SchedulingWorld) -> None:
    # GIVEN Chime as the media service and no business associate agreement with AWS
    client = boto3.client(
        "chime-sdk-meetings",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    world.runtime.video = ChimeVideo(region="us-east-1", client=client)
    cat = catalogue(world)
    apt = book(world, cat, "ada")
    visit_id = enter(world, apt, "ada_login")["id"]
    start = seq(world)
    # WHEN the clinician starts THEN refused before any Chime call (the stubber has nothing
    # queued: a call would fail differently), the visit still waiting, the refusal audited
    with Stubber(client) as chime:
        refused = world.call("POST", f"/v1/appointments/{apt}/visit", "clinician")
        chime.assert_no_pending_responses()
    assert (refused.status, refused.body["error"]["code"]) == (409, "vendor_agreement_required")
    assert refused.body["error"]["details"] == {"vendor": "aws", "reason": "unknown_vendor"}
    assert world.ok("GET", f"/v1/visits/{visit_id}", "ada_login")["status"] == "waiting"
    assert "vendor.outbound_refused" in actions(world, start)
    world.runtime.video = LocalVideo()


def test_group_participants_see_first_names_only_and_chat_only_with_the_clinician(
    world: SchedulingWorld,
) -> None:
    cat = catalogue(world)
    apt = book(world, cat, "ada", "dee", "eve")
    for who in ("ada_login", "dee_login", "eve_login"):
        enter(world, apt, who, at_home=who != "eve_login")
    host = world.ok("POST", f"/v1/appointments/{apt}/visit", "clinician")
    visit_id = host["id"]
    assert host["group"] is True
    assert host["waiting"] == 3
    by_patient = {p["patient_id"]: p for p in host["participants"] if p["kind"] == "patient"}
    for p in by_patient.values():
        world.ok(
            "POST",
            f"/v1/visits/{visit_id}/participants/{p['id']}/admit",
            "clinician",
            {"identity_method": "verbal_details"},
        )
    view = world.ok("GET", f"/v1/visits/{visit_id}", "ada_login")
    text = json.dumps(view)
    # first names only: no ids of other patients, no last names, no locations
    assert sorted(p["alias"] for p in view["peers"]) == ["Robin", "Robin", "clinician (synthetic)"]
    for label in ("dee", "eve"):
        assert world.patients[label] not in text
        assert label.capitalize() not in text
    assert "TX" not in text
    dee = by_patient[world.patients["dee"]]["id"]
    host_id = host["me"]["participant_id"]
    # a patient's chat to another patient does not exist for them; to the clinician it goes
    denied = world.call(
        "POST",
        f"/v1/visits/{visit_id}/messages",
        "ada_login",
        {"to": dee, "type": "chat", "payload": "hi"},
    )
    assert denied.status == 404
    everyone = world.call(
        "POST",
        f"/v1/visits/{visit_id}/messages",
        "ada_login",
        {"to": "everyone", "type": "chat", "payload": "hi"},
    )
    assert everyone.status == 404
    world.ok(
        "POST",
        f"/v1/visits/{visit_id}/messages",
        "ada_login",
        {"to": host_id, "type": "chat", "payload": "Can you hear me?"},
    )
    inbox = world.ok("GET", f"/v1/visits/{visit_id}/messages", "clinician")["items"]
    assert [m["payload"] for m in inbox] == ["Can you hear me?"]
    # signalling between two patients' browsers is allowed (their media connect)
    world.ok(
        "POST",
        f"/v1/visits/{visit_id}/messages",
        "ada_login",
        {"to": dee, "type": "offer", "payload": '{"sdp":"v=0"}'},
    )
    got = world.ok("GET", f"/v1/visits/{visit_id}/messages", "dee_login")["items"]
    assert [m["type"] for m in got] == ["offer"]
    # the cursor returns only newer messages (clients drop repeats from the overlap)
    again = world.ok(
        "GET", f"/v1/visits/{visit_id}/messages", "dee_login", query={"after": got[-1]["id"]}
    )["items"]
    assert {m["id"] for m in again} <= {got[-1]["id"]}
    # attendance per member: one leaves early
    world.clock.advance(minutes=20)
    world.ok("POST", f"/v1/visits/{visit_id}/leave", "eve_login")
    world.clock.advance(minutes=25)
    ended = world.ok("POST", f"/v1/visits/{visit_id}/end", "clinician")
    minutes = {b["patient_id"]: b["documented_minutes_offer"] for b in ended["billing"]}
    assert minutes == {
        world.patients["ada"]: 45,
        world.patients["dee"]: 45,
        world.patients["eve"]: 20,
    }
    pos = {b["patient_id"]: b["place_of_service"] for b in ended["billing"]}
    assert pos[world.patients["eve"]] == "02"
    assert pos[world.patients["ada"]] == "10"


def guest_call(world: SchedulingWorld, method: str, path: str, token: str, body: Any = None) -> Any:
    from tpm.local.gateway import HttpRequest

    headers = [("user-agent", "pytest"), ("x-visit-guest", token)]
    raw = b""
    if body is not None:
        headers.append(("content-type", "application/json"))
        raw = json.dumps(body).encode()
    response = world.gateway.dispatch(HttpRequest(method, path, headers, [], raw))
    return response.status, json.loads(response.body) if response.body else None


def test_guests_need_a_single_use_unexpired_invitation_and_wait_like_everyone(
    world: SchedulingWorld,
) -> None:
    cat = catalogue(world)
    apt = book(world, cat, "ada")
    host = world.ok("POST", f"/v1/appointments/{apt}/visit", "clinician")
    visit_id = host["id"]
    # no invitation, or a made-up one: refused, nothing stored
    for token in ("", "x" * 40, f"{world.practice_id}.vin_{'0' * 26}.{'y' * 30}"):
        reply = world.call("POST", "/v1/visit-guests", None, {"token": token})
        assert reply.status in (404, 422)
    assert guest_call(world, "GET", "/v1/visit-guests/me", "nonsense")[0] == 401
    # GIVEN an invitation WHEN redeemed THEN the guest waits (no credentials)
    inv = world.ok(
        "POST",
        f"/v1/visits/{visit_id}/invitations",
        "clinician",
        {"alias": "Interpreter", "expires_minutes": 30},
    )
    start = seq(world)
    redeemed = world.call("POST", "/v1/visit-guests", None, {"token": inv["token"]})
    assert redeemed.status == 201, redeemed.body
    guest_token = redeemed.body["guest_token"]
    assert redeemed.body["visit"]["me"]["status"] == "waiting"
    assert redeemed.body["visit"]["me"]["credentials"] is None
    # AND it was single use
    assert world.call("POST", "/v1/visit-guests", None, {"token": inv["token"]}).status == 404
    status, me = guest_call(world, "GET", "/v1/visit-guests/me", guest_token)
    assert status == 200
    assert me["me"]["alias"] == "Interpreter"
    assert me["peers"] == []
    # WHEN the host admits the guest (no chart, so no identity check) THEN credentials
    admit = f"/v1/visits/{visit_id}/participants/{me['me']['participant_id']}/admit"
    world.ok("POST", admit, "clinician", {})
    status, me = guest_call(world, "GET", "/v1/visit-guests/me", guest_token)
    assert me["me"]["credentials"]["attendee_id"] == me["me"]["participant_id"]
    assert [p["alias"] for p in me["peers"]] == ["clinician (synthetic)"]
    # a guest's chat reaches the clinician only
    host_id = host["me"]["participant_id"]
    status, _ = guest_call(
        world,
        "POST",
        "/v1/visit-guests/me/messages",
        guest_token,
        {"to": host_id, "type": "chat", "payload": "Ready to interpret"},
    )
    assert status == 201
    assert guest_call(world, "POST", "/v1/visit-guests/me/leave", guest_token)[0] == 200
    trail = actions(world, start)
    assert {"visit.guest_join", "visit.guest_read", "visit.admit", "visit.message"} <= set(trail)
    store = world.runtime.store.practice(world.practice_id)
    [join] = list(read_events(store, start + 1, start + 1))
    assert (join.actor_kind, join.roles) == ("anonymous", ("guest",))
    # an expired invitation is refused
    late = world.ok(
        "POST",
        f"/v1/visits/{visit_id}/invitations",
        "clinician",
        {"alias": "Family member", "expires_minutes": 5},
    )
    world.clock.advance(minutes=6)
    assert world.call("POST", "/v1/visit-guests", None, {"token": late["token"]}).status == 404


def test_sharing_needs_the_policy_and_every_present_patients_consent(
    world: SchedulingWorld,
) -> None:
    cat = catalogue(world)
    apt = book(world, cat, "ada")
    enter(world, apt, "ada_login")
    host = world.ok("POST", f"/v1/appointments/{apt}/visit", "clinician")
    visit_id = host["id"]
    [patient] = [p for p in host["participants"] if p["kind"] == "patient"]
    world.ok(
        "POST",
        f"/v1/visits/{visit_id}/participants/{patient['id']}/admit",
        "clinician",
        {"identity_method": "photo_id"},
    )
    share = {"feature": "screen_share", "enabled": True}
    # off by policy
    off = world.call("POST", f"/v1/visits/{visit_id}/sharing", "clinician", share)
    assert (off.status, off.body["error"]["code"]) == (403, "sharing_not_allowed")
    version = world.ok("GET", "/v1/practice", "owner")["version"]
    world.ok(
        "PATCH",
        "/v1/practice/settings",
        "owner",
        {"version": version, "settings": {"telehealth": {"screen_share_allowed": True}}},
    )
    # allowed by policy, but the patient has not consented
    assert world.call("POST", f"/v1/visits/{visit_id}/sharing", "clinician", share).status == 403
    world.ok(
        "POST",
        f"/v1/visits/{visit_id}/consent",
        "ada_login",
        {"recording": False, "screen_share": True},
    )
    on = world.ok("POST", f"/v1/visits/{visit_id}/sharing", "clinician", share)
    assert on["screen_share"] is True
    # withdrawing consent switches it off at once
    world.ok(
        "POST",
        f"/v1/visits/{visit_id}/consent",
        "ada_login",
        {"recording": False, "screen_share": False},
    )
    after = world.ok("GET", f"/v1/visits/{visit_id}", "clinician")
    assert after["screen_share"] is False
    assert [(c["feature"], c["enabled"]) for c in after["sharing_changes"]] == [
        ("screen_share", True),
        ("screen_share", False),
    ]
