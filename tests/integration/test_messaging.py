"""Secure messaging through the local gateway: a patient writes to their care team with an
attachment; the clinician reads (inbox, thread, attachment, read receipt) and answers;
notifications say only that a message waits; the office's hours bring the auto-reply;
an unanswered message escalates to the practice queue; drafts; who cannot reach a
thread."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from messaging_world import PNG, Msg, attachment, messaging_practice

from tpm.domain.messaging_settings import DEFAULT_AUTO_REPLY
from tpm.security.audit_chain import Outcome
from tpm.security.principal import Role

SUBJECT = "Question about my sleep plan"
BODY = "I have been waking at 3am since the new schedule started."


@pytest.fixture
def msg(tmp_path: Path, project_root: Path) -> Iterator[Msg]:
    with messaging_practice(tmp_path, project_root) as world:
        yield world


def start(msg: Msg, **extra: object) -> dict[str, object]:
    body = {"subject": SUBJECT, "body": BODY, **extra}
    return dict(msg.ok("POST", "/v1/threads", Role.PATIENT, body))


def test_patient_writes_clinician_reads_and_answers(msg: Msg) -> None:
    clinician = msg.user_id(Role.CLINICIAN)
    # GIVEN the patient writes to their care team with an attachment
    sent = start(msg, attachments=[attachment()])
    thread_id = str(sent["thread_id"])
    assert sent["automatic"] == []  # Monday morning: the office is open
    # THEN it is in the clinician's inbox, unread and awaiting a reply
    inbox = msg.ok("GET", "/v1/me/inbox", Role.CLINICIAN)["items"]
    assert [(i["thread_id"], i["subject"], i["unread"], i["awaiting_reply"]) for i in inbox] == [
        (thread_id, SUBJECT, 1, True)
    ]
    assert inbox[0]["patient_name"] == "Pat Example"
    assert msg.ok("GET", "/v1/me/inbox/unread", Role.CLINICIAN) == {
        "unread_threads": 1,
        "more": False,
    }
    # WHEN the clinician opens it, downloads the attachment and marks it read
    thread = msg.ok("GET", f"/v1/threads/{thread_id}", Role.CLINICIAN)
    assert [m["body"] for m in thread["messages"]] == [BODY]
    assert [p["id"] for p in thread["participants"] if p["side"] == "staff"] == [clinician]
    file = thread["messages"][0]["attachments"][0]
    content = msg.ok("GET", f"/v1/message-attachments/{file['id']}/content", Role.CLINICIAN)
    assert base64.b64decode(content["content_base64"]) == PNG
    assert content["filename"] == "scan.png"
    first = thread["messages"][0]["id"]
    msg.ok("POST", f"/v1/threads/{thread_id}/read", Role.CLINICIAN, {"message_id": first})
    assert msg.ok("GET", "/v1/me/inbox/unread", Role.CLINICIAN)["unread_threads"] == 0
    # AND answers
    reply = msg.ok(
        "POST",
        f"/v1/threads/{thread_id}/messages",
        Role.CLINICIAN,
        {"body": "Let us talk Tuesday."},
    )
    assert reply["message"]["author_kind"] == "staff"
    # THEN the patient sees the answer, unread, and the clinician's read receipt
    mine = msg.ok("GET", "/v1/me/inbox", Role.PATIENT)["items"]
    assert [(i["thread_id"], i["unread"]) for i in mine] == [(thread_id, 1)]
    assert "patient_name" not in mine[0]
    assert "awaiting_reply" not in mine[0]
    view = msg.ok("GET", f"/v1/threads/{thread_id}", Role.PATIENT)
    assert [m["author_kind"] for m in view["messages"]] == ["patient", "staff"]
    assert "legal_hold" not in view
    assert "patient_name" not in view
    assert {r["user_id"] for r in view["read_receipts"]} == {clinician}
    # AND the clinician's inbox no longer shows it awaiting a reply
    inbox = msg.ok("GET", "/v1/me/inbox", Role.CLINICIAN)["items"]
    assert inbox[0]["awaiting_reply"] is False


def test_notices_say_only_that_a_message_waits(msg: Msg) -> None:
    thread_id = str(start(msg)["thread_id"])
    msg.ok(
        "POST", f"/v1/threads/{thread_id}/messages", Role.CLINICIAN, {"body": "Reply text here."}
    )
    before = msg.head()
    report = msg.sweep()
    assert report.sent == 2  # the clinician (patient wrote), the patient (clinician replied)
    messages = msg.outbox()
    assert {m.channel for m in messages} == {"email"}
    for m in messages:
        assert m.thread_id == thread_id
        for secret in (SUBJECT, BODY, "Reply text here", "sleep", "LCSW", "Casey"):
            assert secret not in (m.subject or "") + m.text
        assert "secure message" in m.text
    notices = [e for e in msg.events_after(before) if e.action == "message.notify"]
    assert {e.actor_kind for e in notices} == {"system"}
    assert {e.patient_id for e in notices} == {msg.patient_id()}
    # A second sweep has nothing left to send.
    assert msg.sweep().sent == 0


def test_after_hours_the_patient_gets_the_auto_reply_once(msg: Msg) -> None:
    msg.travel(days=5, hours=4)  # Saturday 14:00 in Chicago: closed
    status = msg.ok("GET", "/v1/me/messaging", Role.PATIENT)
    assert status["open_now"] is False
    assert status["auto_reply_text"] == DEFAULT_AUTO_REPLY
    assert [r["display_name"] for r in status["recipients"]] == ["Casey Clinician (synthetic)"]
    sent = start(msg)
    assert [m["body"] for m in sent["automatic"]] == [DEFAULT_AUTO_REPLY]
    thread_id = sent["thread_id"]
    again = msg.ok(
        "POST", f"/v1/threads/{thread_id}/messages", Role.PATIENT, {"body": "Also this."}
    )
    assert again["automatic"] == []  # once per thread in twelve hours
    view = msg.ok("GET", f"/v1/threads/{thread_id}", Role.PATIENT)
    assert [m["author_kind"] for m in view["messages"]] == ["patient", "system", "patient"]


def test_unanswered_message_escalates_to_the_practice_queue(msg: Msg) -> None:
    thread_id = str(start(msg)["thread_id"])
    msg.clock.advance(hours=47)
    assert msg.sweep().escalated == 0
    msg.travel(hours=2)  # past the default 48 hours
    before = msg.head()
    assert msg.sweep().escalated == 1
    events = [e for e in msg.events_after(before) if e.action == "message.escalate"]
    assert [(e.resource_id, e.actor_kind) for e in events] == [(thread_id, "system")]
    inbox = msg.ok("GET", "/v1/me/inbox", Role.CLINICIAN)["items"]
    assert inbox[0]["escalated"] is True
    # The queue is for owners and supervisors; front desk and clinicians get 403.
    assert msg.call("GET", "/v1/message-queue", Role.FRONT_DESK).status == 403
    assert msg.call("GET", "/v1/message-queue", Role.CLINICIAN).status == 403
    # The clinician's answer takes it off the queue.
    msg.ok(
        "POST", f"/v1/threads/{thread_id}/messages", Role.CLINICIAN, {"body": "Sorry, here now."}
    )
    thread = msg.ok("GET", f"/v1/threads/{thread_id}", Role.CLINICIAN)
    assert thread["escalated_at"] is None
    assert thread["awaiting_reply_since"] is None
    assert msg.sweep().escalated == 0


def test_who_cannot_reach_a_thread(msg: Msg) -> None:
    thread_id = str(start(msg)["thread_id"])
    msg.add_clinician("other")
    before = msg.head()
    # Front desk holds no messaging action: 403, audited.
    assert msg.call("GET", f"/v1/threads/{thread_id}", Role.FRONT_DESK).status == 403
    # A clinician off the care team: 404, like a thread that does not exist, audited.
    assert msg.call("GET", f"/v1/threads/{thread_id}", "other").status == 404
    denied = [e for e in msg.events_after(before) if e.outcome is Outcome.DENIED]
    assert [(e.action, e.reason_code) for e in denied] == [
        ("message.read", "forbidden"),
        ("message.read", "no_relationship"),
    ]
    assert denied[1].patient_id == msg.patient_id()


def test_a_patient_writes_only_to_their_care_team(msg: Msg) -> None:
    other = msg.add_clinician("other")
    response = msg.call(
        "POST",
        "/v1/threads",
        Role.PATIENT,
        {"subject": SUBJECT, "body": BODY, "recipient_ids": [other.id]},
    )
    assert response.status == 422
    assert b"not_allowed_recipient" in response.body
    staff_thread = msg.call(
        "POST", "/v1/threads", Role.PATIENT, {"subject": SUBJECT, "body": BODY, "kind": "staff"}
    )
    assert staff_thread.status == 422


def test_staff_threads_are_invisible_to_the_patient(msg: Msg) -> None:
    other = msg.add_clinician("colleague")
    pid = msg.patient_id()
    sent = msg.ok(
        "POST",
        "/v1/threads",
        Role.CLINICIAN,
        {
            "patient_id": pid,
            "kind": "staff",
            "subject": "Consult",
            "body": "Could you look at this?",
            "recipient_ids": [other.id],
        },
    )
    thread_id = sent["thread_id"]
    # The colleague (not on the care team) reaches it as a participant.
    assert msg.ok("GET", f"/v1/threads/{thread_id}", "colleague")["kind"] == "staff"
    assert msg.call("GET", f"/v1/threads/{thread_id}", Role.PATIENT).status == 404
    assert msg.ok("GET", "/v1/me/inbox", Role.PATIENT)["items"] == []
    listed = msg.ok("GET", f"/v1/patients/{pid}/threads", Role.CLINICIAN)["items"]
    assert [t["id"] for t in listed] == [thread_id]


def test_drafts_are_private_and_sending_removes_them(msg: Msg) -> None:
    draft = msg.ok(
        "POST", "/v1/message-drafts", Role.PATIENT, {"subject": "Half", "body": "Half a"}
    )
    saved = msg.ok(
        "PATCH",
        f"/v1/message-drafts/{draft['id']}",
        Role.PATIENT,
        {"body": "Half a thought, finished.", "version": draft["version"]},
    )
    assert saved["version"] == 2
    stale = msg.call(
        "PATCH", f"/v1/message-drafts/{draft['id']}", Role.PATIENT, {"body": "x", "version": 1}
    )
    assert stale.status == 409
    # Nobody else can open it, and it notifies nobody.
    assert (
        msg.call(
            "PATCH",
            f"/v1/message-drafts/{draft['id']}",
            Role.CLINICIAN,
            {"body": "x", "version": 2},
        ).status
        == 404
    )
    assert msg.ok("GET", "/v1/me/inbox", Role.CLINICIAN)["items"] == []
    start(msg, draft_id=draft["id"])
    assert msg.ok("GET", "/v1/me/message-drafts", Role.PATIENT)["items"] == []


def test_bad_input_changes_nothing(msg: Msg) -> None:
    before = msg.head()
    cases = [
        {"subject": "  ", "body": BODY},
        {"subject": SUBJECT, "body": BODY, "attachments": [attachment(data=b"MZ\x90\x00")]},
        {"subject": SUBJECT, "body": BODY, "attachments": [attachment()] * 4},
        {
            "subject": SUBJECT,
            "body": BODY,
            "attachments": [{**attachment(), "content_base64": "!!"}],
        },
        {"subject": SUBJECT, "body": BODY, "draft_id": "drf_" + "0" * 26},
        {"subject": SUBJECT, "body": BODY, "practice_id": "x"},
    ]
    for body in cases:
        response = msg.call("POST", "/v1/threads", Role.PATIENT, body)
        assert response.status == 422, (body, response.body)
        assert BODY.encode() not in response.body
    assert msg.ok("GET", "/v1/me/inbox", Role.PATIENT)["items"] == []
    assert [e.action for e in msg.events_after(before)] == ["message.inbox.read"]


def test_practice_notification_wording_is_linted_on_save(msg: Msg) -> None:
    from messaging_world import ACCOUNTS

    from tpm.errors import ValidationFailed
    from tpm.repositories.users import UserRepository
    from tpm.security.principal import Principal
    from tpm.services.context import ServiceContext
    from tpm.services.practice_settings import PracticeService

    store = msg.runtime.store.practice(msg.practice_id)
    admin = UserRepository(store, msg.runtime.cipher).find_by_email(ACCOUNTS[Role.ADMIN].email)
    assert admin is not None
    principal = Principal(
        user_id=admin.id,
        practice_id=msg.practice_id,
        roles=admin.roles,
        session_id="ses_test",
        auth_time=msg.clock.now(),
        mfa_authenticated=True,
    )
    service = PracticeService(ServiceContext(msg.runtime, principal))
    version = service.get().version
    clinical = {"messaging": {"notification_subject": "Your therapy update from {practice_name}"}}
    with pytest.raises(ValidationFailed) as refused:
        service.update_settings(clinical, version)
    assert refused.value.details["fields"][0]["type"] == "clinical_content"
    changed = service.update_settings({"messaging": {"expected_response_hours": 24}}, version)
    assert changed.settings.messaging.expected_response_hours == 24
    assert changed.settings.messaging.auto_reply_text == DEFAULT_AUTO_REPLY
