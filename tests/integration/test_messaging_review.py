"""Review and record-keeping for messages: flagging an inappropriate disclosure restricts
the message at once; legal hold; filing a thread into the chart; out-of-office delegates;
the retention job lists, never deletes; and no message text reaches any log."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from messaging_world import ACCOUNTS, Msg, attachment, messaging_practice
from support.staff_tokens import token_for

from tpm.clock import to_rfc3339
from tpm.repositories.incidents import IncidentRepository
from tpm.repositories.messaging import MessagingRepository
from tpm.security.principal import Role
from tpm.services.messaging_sweep import MessagingSweep

SUBJECT = "Neighbour's results by mistake"
BODY = "This has someone else's lab results attached, Jordan Q. Sample, DOB 1970."


@pytest.fixture
def msg(tmp_path: Path, project_root: Path) -> Iterator[Msg]:
    with messaging_practice(tmp_path, project_root) as world:
        yield world


def thread_with_reply(msg: Msg) -> tuple[str, str]:
    sent = msg.ok(
        "POST",
        "/v1/threads",
        Role.PATIENT,
        {"subject": SUBJECT, "body": BODY, "attachments": [attachment()]},
    )
    return str(sent["thread_id"]), str(sent["message"]["id"])


def test_flagging_restricts_the_message_for_everyone_at_once(msg: Msg) -> None:
    thread_id, message_id = thread_with_reply(msg)
    file_id = msg.ok("GET", f"/v1/threads/{thread_id}", Role.CLINICIAN)["messages"][0][
        "attachments"
    ][0]["id"]
    before = msg.head()
    flag = msg.ok(
        "POST",
        f"/v1/threads/{thread_id}/messages/{message_id}/flag",
        Role.CLINICIAN,
        {"reason": "third_party_phi", "note": "Another patient's results."},
    )
    assert flag["reason"] == "third_party_phi"
    assert flag["flagged_by"] == msg.user_id(Role.CLINICIAN)
    events = [e for e in msg.events_after(before) if e.action == "message.flag"]
    assert [(e.resource_id, e.reason_code, e.patient_id) for e in events] == [
        (thread_id, "third_party_phi", msg.patient_id())
    ]
    # AND an incident is open for the privacy officer, with who, when and why
    store = msg.runtime.store.practice(msg.practice_id)
    incident = IncidentRepository(store, msg.runtime.cipher).get(flag["incident_id"])
    assert incident is not None
    assert incident.source.value == "messaging_escalation"
    assert incident.reference == message_id
    assert incident.patient_ids == (msg.patient_id(),)
    assert incident.details == "Another patient's results."
    opened = [e for e in msg.events_after(before) if e.action == "incident.open"]
    assert [(e.resource_id, e.actor_id) for e in opened] == [
        (incident.id, msg.user_id(Role.CLINICIAN))
    ]
    for who in (Role.CLINICIAN, Role.PATIENT):
        shown = msg.ok("GET", f"/v1/threads/{thread_id}", who)["messages"][0]
        assert shown["restricted"] is True
        assert shown["body"] is None
        assert shown["attachments"] == []
    # The files are withheld too; flagging twice is a conflict.
    assert (
        msg.call("GET", f"/v1/message-attachments/{file_id}/content", Role.CLINICIAN).status == 403
    )
    again = msg.call(
        "POST",
        f"/v1/threads/{thread_id}/messages/{message_id}/flag",
        Role.CLINICIAN,
        {"reason": "other"},
    )
    assert again.status == 409
    # The privacy officer reviews it: the withheld text, and what holding the thread needs
    officer = ACCOUNTS[Role.COMPLIANCE].email
    msg.tokens[Role.COMPLIANCE] = token_for(msg.runtime, msg.practice_id, officer)
    review = msg.ok("GET", f"/v1/message-flags/{flag['id']}", Role.COMPLIANCE)
    assert review["message"]["restricted"] is True
    assert review["message"]["body"] is not None
    assert set(review["thread"]) == {"id", "version", "legal_hold"}  # no thread content
    assert (review["thread"]["id"], review["thread"]["legal_hold"]) == (thread_id, None)
    # ... and places a legal hold from the review, with that version
    body = {"hold": True, "reason": "Incident review", "version": review["thread"]["version"]}
    held = msg.ok("POST", f"/v1/threads/{thread_id}/legal-hold", Role.COMPLIANCE, body)
    assert held["legal_hold"] is True
    review = msg.ok("GET", f"/v1/message-flags/{flag['id']}", Role.COMPLIANCE)
    assert review["thread"]["legal_hold"]["reason"] == "Incident review"
    assert review["thread"]["legal_hold"]["set_by"] == msg.user_id(Role.COMPLIANCE)
    # but still cannot open the thread itself
    assert msg.call("GET", f"/v1/threads/{thread_id}", Role.COMPLIANCE).status in (403, 404)


def test_legal_hold_and_filing_into_the_chart(msg: Msg) -> None:
    thread_id, _ = thread_with_reply(msg)
    msg.ok("POST", f"/v1/threads/{thread_id}/messages", Role.CLINICIAN, {"body": "Thanks, noted."})
    # Clinicians cannot place holds (owner, compliance): 403.
    hold = {"hold": True, "reason": "Litigation notice 2026-12", "version": 2}
    assert (
        msg.call("POST", f"/v1/threads/{thread_id}/legal-hold", Role.CLINICIAN, hold).status == 403
    )
    filed = msg.ok("POST", f"/v1/threads/{thread_id}/file", Role.CLINICIAN, {})
    document = msg.ok("GET", f"/v1/documents/{filed['document_id']}", Role.CLINICIAN)
    assert document["content_type"] == "application/pdf"
    assert document["shared_with_patient"] is False
    pdf = msg.ok("GET", f"/v1/documents/{filed['document_id']}/content", Role.CLINICIAN)
    assert base64.b64decode(pdf["content_base64"]).startswith(b"%PDF-")
    thread = msg.ok("GET", f"/v1/threads/{thread_id}", Role.CLINICIAN)
    assert thread["filed_document_ids"] == [filed["document_id"]]


def test_out_of_office_brings_in_the_delegate(msg: Msg) -> None:
    delegate = msg.add_clinician("delegate")
    now = msg.clock.now()
    absence = {
        "start": to_rfc3339(now - timedelta(hours=1)),
        "end": to_rfc3339(now + timedelta(days=3)),
        "delegate_id": delegate.id,
    }
    # A patient is no delegate; neither is oneself.
    bad = {**absence, "delegate_id": msg.user_id(Role.PATIENT)}
    assert msg.call("PUT", "/v1/me/out-of-office", Role.CLINICIAN, bad).status == 422
    assert msg.ok("PUT", "/v1/me/out-of-office", Role.CLINICIAN, absence)["set"] is True
    sent = msg.ok("POST", "/v1/threads", Role.PATIENT, {"subject": "Hi", "body": "Are you in?"})
    assert len(sent["automatic"]) == 1
    assert "is away until" in sent["automatic"][0]["body"]
    inbox = msg.ok("GET", "/v1/me/inbox", "delegate")["items"]
    assert [(i["thread_id"], i["via"], i["unread"]) for i in inbox] == [
        (sent["thread_id"], "delegate", 1)
    ]
    # The delegate reaches the thread (a participant now) and answers it.
    msg.ok(
        "POST", f"/v1/threads/{sent['thread_id']}/messages", "delegate", {"body": "I am covering."}
    )
    msg.ok("DELETE", "/v1/me/out-of-office", Role.CLINICIAN)
    assert msg.ok("GET", "/v1/me/out-of-office", Role.CLINICIAN) == {
        "set": False,
        "start": None,
        "end": None,
        "delegate_id": None,
        "version": None,
    }


def test_retention_lists_expired_threads_and_deletes_nothing(msg: Msg) -> None:
    thread_id, _ = thread_with_reply(msg)
    held_id, _ = thread_with_reply(msg)
    store = msg.runtime.store.practice(msg.practice_id)
    repo = MessagingRepository(store, msg.runtime.cipher)
    held = repo.get_thread(held_id)
    assert held is not None
    from tpm.domain.messaging import LegalHold

    on_hold = held.model_copy(
        update={
            "legal_hold": LegalHold(set_by="test", set_at=msg.clock.now(), reason="Subpoena"),
            "version": held.version + 1,
        }
    )
    store.transact([repo.thread_op(on_hold)])
    sweep = MessagingSweep(msg.runtime)
    assert sweep.retention_practice(msg.practice_id).listed_for_review == 0
    msg.clock.advance(days=365 * 7 + 3)  # past the default seven years
    report = sweep.retention_practice(msg.practice_id)
    assert report.listed_for_review == 1  # not the one on hold
    assert sweep.retention_practice(msg.practice_id).listed_for_review == 0  # listed once
    assert repo.get_thread(thread_id) is not None
    assert len(repo.all_messages(thread_id)) == 1


def test_no_message_text_reaches_any_log(
    msg: Msg, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    thread_id, message_id = thread_with_reply(msg)
    msg.ok("GET", f"/v1/threads/{thread_id}", Role.CLINICIAN)
    msg.ok("POST", f"/v1/threads/{thread_id}/messages", Role.CLINICIAN, {"body": BODY + " reply"})
    msg.call("POST", "/v1/threads", Role.PATIENT, {"subject": SUBJECT, "body": BODY, "extra": 1})
    msg.call("POST", f"/v1/threads/{thread_id}/messages", Role.FRONT_DESK, {"body": BODY})
    msg.ok(
        "POST",
        f"/v1/threads/{thread_id}/messages/{message_id}/flag",
        Role.CLINICIAN,
        {"reason": "third_party_phi", "note": BODY},
    )
    msg.ok("POST", f"/v1/threads/{thread_id}/file", Role.CLINICIAN, {})
    msg.sweep()
    out = capsys.readouterr()
    logged = out.out + out.err + caplog.text
    assert "request" in logged  # the handlers did log (ids, status, timings)
    for secret in (SUBJECT, "Jordan", "lab results", "Subpoena"):
        assert secret not in logged
