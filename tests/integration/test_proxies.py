"""Proxy (guardian) portal access through the local gateway: the front desk invites a
guardian for a minor; the guardian accepts, sees the patient in their switcher and writes
to the care team; the clinician sees the message attributed ("written by X for Y"); the
guardian cannot reach the patient's own threads, notes or other patients; the clinician's
restriction closes messaging; the age of majority ends a parent's access by itself; a
revocation ends it at once (and the guardian's sessions)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from messaging_world import PASSWORD, Msg, messaging_practice
from support.gateway_calls import call_gateway

from tpm.security.audit_chain import Outcome
from tpm.security.principal import Role

GUARDIAN_EMAIL = "guardian-proxy@example.test"


@pytest.fixture
def msg(tmp_path: Path, project_root: Path) -> Iterator[Msg]:
    with messaging_practice(tmp_path, project_root) as world:
        yield world


def new_minor(msg: Msg, born: date) -> str:
    body = {
        "legal_first_name": "Milo",
        "legal_last_name": "Minor (synthetic)",
        "date_of_birth": born.isoformat(),
        "guardian": {"name": "Gwen Guardian (synthetic)", "relationship": "mother"},
        "add_me_to_care_team": False,
    }
    patient = msg.ok("POST", "/v1/patients", Role.FRONT_DESK, body)
    clinician = msg.user_id(Role.CLINICIAN)
    msg.ok(
        "POST", f"/v1/patients/{patient['id']}/care-team", Role.FRONT_DESK, {"user_id": clinician}
    )
    return str(patient["id"])


def invite(msg: Msg, patient_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "email": GUARDIAN_EMAIL,
        "display_name": "Gwen Guardian (synthetic)",
        "relationship": "parent_of_minor",
        "basis": "Birth certificate seen at intake (synthetic)",
        "scopes": ["messaging", "appointments"],
        **extra,
    }
    return dict(msg.ok("POST", f"/v1/patients/{patient_id}/proxies", Role.FRONT_DESK, body))


def accept(msg: Msg, token: str) -> str:
    """The guardian chooses a password and signs in; returns their access token."""
    accepted = {"practice": "local", "token": token, "password": PASSWORD}
    response = call_gateway(msg.gateway, "POST", "/v1/auth/accept-invitation", body=accepted)
    assert response.status == 200, response.body
    login = {"practice": "local", "email": GUARDIAN_EMAIL, "password": PASSWORD}
    response = call_gateway(msg.gateway, "POST", "/v1/auth/login", body=login)
    assert response.status == 200, response.body
    return str(json.loads(response.body)["access_token"])


def as_guardian(msg: Msg, token: str, method: str, path: str, body: Any = None) -> Any:
    response = call_gateway(msg.gateway, method, path, token=token, body=body)
    return response.status, json.loads(response.body) if response.body else None


def test_guardian_writes_for_a_minor_and_the_clinician_sees_who(msg: Msg) -> None:
    today = msg.clock.now().date()
    minor = new_minor(msg, today.replace(year=today.year - 12))
    # GIVEN the front desk invites the minor's mother as a proxy for messaging + appointments
    invited = invite(msg, minor)
    proxy = invited["proxy"]
    assert (proxy["status"], proxy["relationship"], proxy["account_status"]) == (
        "active",
        "parent_of_minor",
        "invited",
    )
    # access ends by itself at 18 (the practice's default age of majority)
    assert proxy["access_ends_at"].startswith(today.replace(year=today.year + 6).isoformat())
    token = accept(msg, invited["invitation_token"])
    # WHEN she signs in THEN her switcher holds the minor (and only what the grant covers)
    status, acting = as_guardian(msg, token, "GET", "/v1/proxy/patients")
    assert status == 200
    assert [(a["patient_id"], a["scopes"]) for a in acting["items"]] == [
        (minor, ["appointments", "messaging"])
    ]
    # AND she writes to the care team for him
    before = msg.head()
    status, sent = as_guardian(
        msg,
        token,
        "POST",
        f"/v1/proxy/patients/{minor}/threads",
        {"subject": "Milo's school letter", "body": "Could you write a note for school?"},
    )
    assert status == 201, sent
    thread_id = sent["thread_id"]
    events = [e for e in msg.events_after(before) if e.action == "proxy.message.send"]
    guardian_id = proxy["proxy_user_id"]
    assert [(e.actor_id, e.patient_id, e.outcome) for e in events] == [
        (guardian_id, minor, Outcome.ALLOWED)
    ]
    # THEN the clinician sees it in their inbox, written by the guardian for the patient
    inbox = msg.ok("GET", "/v1/me/inbox", Role.CLINICIAN)["items"]
    assert [(i["thread_id"], i["awaiting_reply"]) for i in inbox] == [(thread_id, True)]
    thread = msg.ok("GET", f"/v1/threads/{thread_id}", Role.CLINICIAN)
    [message] = thread["messages"]
    assert (message["author_kind"], message["author_name"]) == (
        "proxy",
        "Gwen Guardian (synthetic)",
    )
    assert thread["patient_name"].startswith("Milo")
    assert {(p["side"], p["display_name"]) for p in thread["participants"]} >= {
        ("proxy", "Gwen Guardian (synthetic)")
    }
    # AND the clinician's answer reaches the guardian (a content-free notice)
    msg.ok("POST", f"/v1/threads/{thread_id}/messages", Role.CLINICIAN, {"body": "Yes, today."})
    status, page = as_guardian(msg, token, "GET", f"/v1/proxy/patients/{minor}/threads/{thread_id}")
    assert status == 200
    assert [(m["author_kind"], m["mine"]) for m in page["messages"]] == [
        ("proxy", True),
        ("staff", False),
    ]
    msg.sweep()
    to_guardian = [o for o in msg.outbox() if o.to == GUARDIAN_EMAIL]
    assert to_guardian, "the guardian is told a message waits"
    assert all("school" not in (o.text + (o.subject or "")) for o in to_guardian)


def test_what_a_guardian_cannot_reach(msg: Msg) -> None:
    today = msg.clock.now().date()
    minor = new_minor(msg, today.replace(year=today.year - 15))
    token = accept(msg, invite(msg, minor)["invitation_token"])
    # the patient's own thread (not marked visible to proxies), started by staff
    demo_patient = msg.patient_id()
    own = msg.ok(
        "POST", "/v1/threads", Role.PATIENT, {"subject": "Private", "body": "Just for my therapist"}
    )
    for path in (
        f"/v1/proxy/patients/{demo_patient}/threads",  # a patient she holds no grant for
        f"/v1/proxy/patients/{minor}/threads/{own['thread_id']}",  # another patient's thread
    ):
        status, body = as_guardian(msg, token, "GET", path)
        assert (status, body["error"]["code"]) == (404, "not_found"), path
    # nothing of the staff or patient API: notes, the record, the messaging routes
    for method, path in (
        ("GET", f"/v1/patients/{minor}"),
        ("GET", f"/v1/patients/{minor}/notes"),
        ("GET", "/v1/me/inbox"),
        ("GET", f"/v1/threads/{own['thread_id']}"),
    ):
        status, _ = as_guardian(msg, token, method, path)
        assert status == 403, path


def test_clinician_restriction_closes_messaging_but_not_appointments(msg: Msg) -> None:
    today = msg.clock.now().date()
    minor = new_minor(msg, today.replace(year=today.year - 16))
    token = accept(msg, invite(msg, minor)["invitation_token"])
    # WHEN the clinician restricts proxies to scheduling and billing (confidential care)
    before = msg.head()
    flag = msg.ok(
        "PUT", f"/v1/patients/{minor}/proxy-restriction", Role.CLINICIAN, {"restricted": True}
    )
    assert flag["restricted"] is True
    assert [e.reason_code for e in msg.events_after(before) if e.patient_id == minor] == [
        "proxy_restricted"
    ]
    # THEN messaging is gone for the guardian (audited denial), appointments stay
    before = msg.head()
    status, _ = as_guardian(msg, token, "GET", f"/v1/proxy/patients/{minor}/threads")
    assert status == 404
    denied = [e for e in msg.events_after(before) if e.outcome is Outcome.DENIED]
    assert [(e.patient_id, e.reason_code) for e in denied] == [(minor, "restricted")]
    status, _ = as_guardian(msg, token, "GET", f"/v1/proxy/patients/{minor}/appointments")
    assert status == 200
    _, acting = as_guardian(msg, token, "GET", "/v1/proxy/patients")
    assert acting["items"][0]["scopes"] == ["appointments"]


def test_a_parents_access_ends_at_the_age_of_majority(msg: Msg) -> None:
    today = msg.clock.now().date()
    # GIVEN a patient who turns 18 tomorrow (practice time)
    tomorrow = today + timedelta(days=1)
    minor = new_minor(msg, tomorrow.replace(year=tomorrow.year - 18))
    token = accept(msg, invite(msg, minor)["invitation_token"])
    assert as_guardian(msg, token, "GET", f"/v1/proxy/patients/{minor}/threads")[0] == 200
    # WHEN the birthday comes THEN the parent's access ends by itself
    msg.travel(days=2)
    login = {"practice": "local", "email": GUARDIAN_EMAIL, "password": PASSWORD}
    response = call_gateway(msg.gateway, "POST", "/v1/auth/login", body=login)
    token = json.loads(response.body)["access_token"]
    before = msg.head()
    assert as_guardian(msg, token, "GET", f"/v1/proxy/patients/{minor}/threads")[0] == 404
    denied = [e for e in msg.events_after(before) if e.outcome is Outcome.DENIED]
    assert [e.reason_code for e in denied] == ["reached_majority"]
    assert as_guardian(msg, token, "GET", "/v1/proxy/patients")[1]["items"] == []
    # AND staff see why; a parent-of-a-minor grant cannot be made for an adult
    listed = msg.ok("GET", f"/v1/patients/{minor}/proxies", Role.FRONT_DESK)
    assert [p["status"] for p in listed["items"]] == ["reached_majority"]
    body = {
        "email": "another-parent@example.test",
        "display_name": "Another Parent (synthetic)",
        "relationship": "parent_of_minor",
        "basis": "Birth certificate (synthetic)",
        "scopes": ["messaging"],
    }
    response = msg.call("POST", f"/v1/patients/{minor}/proxies", Role.FRONT_DESK, body)
    assert response.status == 422
    fields = json.loads(response.body)["error"]["details"]["fields"]
    assert fields == [{"path": "body.relationship", "type": "patient_not_a_minor"}]
    # renewing on an adult's basis (legal guardianship) opens it again
    grant = listed["items"][0]
    renewed = msg.ok(
        "PATCH",
        f"/v1/patients/{minor}/proxies/{grant['id']}",
        Role.FRONT_DESK,
        {
            "version": grant["version"],
            "relationship": "legal_guardian",
            "basis": "Letters of guardianship (synthetic)",
        },
    )
    assert (renewed["status"], renewed["access_ends_at"]) == ("active", None)
    assert as_guardian(msg, token, "GET", f"/v1/proxy/patients/{minor}/threads")[0] == 200


def test_revocation_ends_access_and_sessions_at_once(msg: Msg) -> None:
    today = msg.clock.now().date()
    minor = new_minor(msg, today.replace(year=today.year - 10))
    invited = invite(msg, minor)
    token = accept(msg, invited["invitation_token"])
    assert as_guardian(msg, token, "GET", f"/v1/proxy/patients/{minor}/threads")[0] == 200
    # WHEN the front desk revokes the guardian
    revoked = msg.ok(
        "POST", f"/v1/patients/{minor}/proxies/{invited['proxy']['id']}/revoke", Role.FRONT_DESK
    )
    assert revoked["status"] == "revoked"
    # THEN her session has ended (it was her only patient) and the grant is dead
    status, body = as_guardian(msg, token, "GET", f"/v1/proxy/patients/{minor}/threads")
    assert (status, body["error"]["code"]) == (401, "session_expired")
    login = {"practice": "local", "email": GUARDIAN_EMAIL, "password": PASSWORD}
    response = call_gateway(msg.gateway, "POST", "/v1/auth/login", body=login)
    fresh = json.loads(response.body)["access_token"]
    assert as_guardian(msg, fresh, "GET", f"/v1/proxy/patients/{minor}/threads")[0] == 404
    # AND inviting her again makes a new grant for the same account (no new code needed)
    again = invite(msg, minor)
    assert again["invitation_token"] is None
    assert again["proxy"]["proxy_user_id"] == invited["proxy"]["proxy_user_id"]
    assert as_guardian(msg, fresh, "GET", f"/v1/proxy/patients/{minor}/threads")[0] == 200


def test_an_address_of_a_staff_or_patient_account_is_refused(msg: Msg) -> None:
    today = msg.clock.now().date()
    minor = new_minor(msg, today.replace(year=today.year - 9))
    staff_email = msg.me(Role.CLINICIAN)["email"]
    body = {
        "email": staff_email,
        "display_name": "Not A Proxy (synthetic)",
        "relationship": "parent_of_minor",
        "basis": "Birth certificate (synthetic)",
        "scopes": ["messaging"],
    }
    response = msg.call("POST", f"/v1/patients/{minor}/proxies", Role.FRONT_DESK, body)
    assert response.status == 409
    assert json.loads(response.body)["error"]["code"] == "not_a_proxy_account"


def test_staff_share_one_of_the_patients_threads_with_the_proxy(msg: Msg) -> None:
    today = msg.clock.now().date()
    minor = new_minor(msg, today.replace(year=today.year - 14))
    token = accept(msg, invite(msg, minor)["invitation_token"])
    # GIVEN a conversation the clinician and a colleague had about the child (staff only)
    # and one with the child's care team that the clinician started for the proxies to see
    colleague = msg.add_clinician("colleague")
    staff_only = msg.ok(
        "POST",
        "/v1/threads",
        Role.CLINICIAN,
        {
            "patient_id": minor,
            "kind": "staff",
            "subject": "Case note",
            "body": "Between us (synthetic).",
            "recipient_ids": [colleague.id],
        },
    )
    response = msg.call(
        "PUT",
        f"/v1/threads/{staff_only['thread_id']}/proxy-visibility",
        Role.CLINICIAN,
        {"visible": True, "version": 1},
    )
    assert (response.status, json.loads(response.body)["error"]["code"]) == (409, "not_shareable")
    # WHEN the guardian starts a thread and the clinician stops sharing it
    status, sent = as_guardian(
        msg,
        token,
        "POST",
        f"/v1/proxy/patients/{minor}/threads",
        {"subject": "Sleep", "body": "Sky sleeps badly (synthetic)."},
    )
    assert status == 201
    thread = msg.ok("GET", f"/v1/threads/{sent['thread_id']}", Role.CLINICIAN)
    assert thread["proxy_visible"] is True
    before = msg.head()
    shared = msg.ok(
        "PUT",
        f"/v1/threads/{sent['thread_id']}/proxy-visibility",
        Role.CLINICIAN,
        {"visible": False, "version": thread["version"]},
    )
    assert (shared["proxy_visible"], shared["version"]) == (False, thread["version"] + 1)
    assert [e.reason_code for e in msg.events_after(before)] == ["proxy_unshared"]
    # THEN the guardian no longer reaches it (nor sees it listed), and can again once shared
    path = f"/v1/proxy/patients/{minor}/threads/{sent['thread_id']}"
    assert as_guardian(msg, token, "GET", path)[0] == 404
    assert as_guardian(msg, token, "GET", f"/v1/proxy/patients/{minor}/threads")[1]["items"] == []
    msg.ok(
        "PUT",
        f"/v1/threads/{sent['thread_id']}/proxy-visibility",
        Role.CLINICIAN,
        {"visible": True, "version": shared["version"]},
    )
    assert as_guardian(msg, token, "GET", path)[0] == 200
