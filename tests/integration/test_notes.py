"""Clinical notes through the local API gateway: write, autosave with conflicts, sign with
required fields, lock, addenda, history with verifiable hashes (and tampering caught),
minimum-necessary views, co-signature by a supervisor, charge capture, and psychotherapy
notes that nobody but their author (and grantees) can see."""

from __future__ import annotations

import base64
import copy
import json
import re
import sqlite3
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from scheduling_world import SchedulingWorld, build
from support.gateway_calls import call_gateway

from tpm.domain.sessions import Session
from tpm.ids import new_id
from tpm.repositories.notes import VERSION_KIND
from tpm.repositories.sealing import Sealer
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import set_runtime
from tpm.security.audit import read_events, read_head
from tpm.security.principal import Role

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "template_examples"
TEMPLATE = "progress_note_soap"


def soap(**session: Any) -> dict[str, Any]:
    """A complete SOAP note dated on the world's clock (2026-03-02)."""
    content: dict[str, Any] = json.loads((EXAMPLES / f"{TEMPLATE}.json").read_text("utf-8"))
    content["session"] |= {"date": "2026-03-02", **session}
    return content


def draft() -> dict[str, Any]:
    return {"subjective": "Client reports a difficult week."}


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[SchedulingWorld]:
    w = build(tmp_path, project_root)
    w.add_user("clinician3", Role.CLINICIAN)
    w.add_user("supervisor2", Role.SUPERVISOR)
    w.add_user("compliance", Role.COMPLIANCE)
    w.add_patient("dee", care_team=("clinician2", "clinician3"))
    users = UserRepository(w.runtime.store.practice(w.practice_id), w.runtime.cipher)
    w.system_write([users.supervision_op(w.users["clinician2"].id, w.users["supervisor"].id)])
    yield w
    set_runtime(None)


def create(world: SchedulingWorld, who: str, patient: str, content: Any = None) -> dict[str, Any]:
    body = {"patient_id": world.patients[patient], "template_id": TEMPLATE}
    if content is not None:
        body["content"] = content
    return dict(world.ok("POST", "/v1/notes", who, body))


def write_and_sign(world: SchedulingWorld, who: str, patient: str) -> dict[str, Any]:
    note = create(world, who, patient, soap())
    path = f"/v1/notes/{note['id']}/sign"
    return dict(world.ok("POST", path, who, {"version": note["version"], "attestation": True}))


def events(world: SchedulingWorld, after: int) -> list[Any]:
    store = world.runtime.store.practice(world.practice_id)
    head = read_head(store)
    assert head is not None
    return list(read_events(store, after + 1, head.seq)) if head.seq > after else []


def head_seq(world: SchedulingWorld) -> int:
    head = read_head(world.runtime.store.practice(world.practice_id))
    return head.seq if head else 0


def test_write_autosave_sign_lock_amend_and_verify(world: SchedulingWorld) -> None:
    # GIVEN a draft started from a template (the exact version is kept)
    note = create(world, "clinician", "ada", draft())
    assert (note["status"], note["version"], note["template_version"]) == ("draft", 1, 1)
    nid = note["id"]
    # WHEN it is autosaved THEN each save is a new version
    saved = world.ok("PATCH", f"/v1/notes/{nid}", "clinician", {"content": soap(), "version": 1})
    assert saved["version"] == 2
    # AND a save based on a stale version is refused with the current version
    stale = world.call("PATCH", f"/v1/notes/{nid}", "clinician", {"content": draft(), "version": 1})
    assert stale.status == 409
    assert stale.body["error"]["code"] == "version_conflict"
    assert stale.body["error"]["details"]["current_version"] == 2
    # AND malformed content is a field error (no value echoed)
    bad = soap(date="03/02/2026")
    refused = world.call("PATCH", f"/v1/notes/{nid}", "clinician", {"content": bad, "version": 2})
    assert refused.status == 422
    assert {"path": "body.content/session/date", "type": "format"} in refused.body["error"][
        "details"
    ]["fields"]
    assert "03/02/2026" not in json.dumps(refused.body)
    # WHEN signed THEN the signature block carries signer, time and the content hash
    signed = world.ok(
        "POST", f"/v1/notes/{nid}/sign", "clinician", {"version": 2, "attestation": True}
    )
    assert signed["status"] == "signed"
    assert signed["late_entry"] is False
    signature = signed["signature"]
    assert signature["signer_id"] == world.users["clinician"].id
    assert signature["content_hash"] == signed["content_hash"]
    assert signature["signed_at"].startswith("2026-03-02T15:00")
    assert signed["cpt_codes"] == ["90837"]
    # AND the note is locked
    locked = world.call("PATCH", f"/v1/notes/{nid}", "clinician", {"content": soap(), "version": 3})
    assert (locked.status, locked.body["error"]["code"]) == (409, "note_locked")
    # WHEN amended THEN an addendum is signed and linked; the content never changes
    world.clock.advance(hours=1)
    added = world.call(
        "POST", f"/v1/notes/{nid}/addenda", "clinician", {"text": "Client called: PHQ-9 was 11."}
    )
    assert added.status == 201, added.body
    assert added.body["signature"]["content_hash"] == added.body["text_hash"]
    full = world.ok("GET", f"/v1/notes/{nid}", "clinician")
    assert [a["text"] for a in full["addenda"]] == ["Client called: PHQ-9 was 11."]
    assert full["content"] == soap()
    # THEN the history lists every version with who and hashes, and they verify
    history = world.ok("GET", f"/v1/notes/{nid}/versions", "clinician")
    assert [(v["n"], v["event"]) for v in history] == [
        (1, "created"),
        (2, "saved"),
        (3, "signed"),
        (4, "addended"),
    ]
    assert {v["by"] for v in history} == {world.users["clinician"].id}
    assert history[1]["content_hash"] == history[2]["content_hash"] == signature["content_hash"]
    verified = world.ok("POST", f"/v1/notes/{nid}/verify", "clinician")
    assert verified["valid"] is True
    assert verified["signature_valid"] is True
    assert verified["addenda_valid"] == [True]
    # AND the diff between the draft and the full note is field-level, with values
    changes = world.ok("GET", f"/v1/notes/{nid}/diff", "clinician", query={"from": "1", "to": "2"})
    by_path = {c["path"]: c for c in changes["changes"]}
    assert by_path["/subjective"]["op"] == "changed"
    assert by_path["/subjective"]["before"] == "Client reports a difficult week."
    assert by_path["/session"]["op"] == "added"
    assert changes["values_included"] is True


def test_signing_requires_the_required_fields(world: SchedulingWorld) -> None:
    note = create(world, "clinician", "ada", draft())
    refused = world.call(
        "POST", f"/v1/notes/{note['id']}/sign", "clinician", {"version": 1, "attestation": True}
    )
    assert refused.status == 422
    fields = refused.body["error"]["details"]["fields"]
    assert {"path": "body.content/plan/plan", "type": "required_at_signing"} in fields
    assert {"path": "body.content/session/date", "type": "required_at_signing"} in fields
    # Without the attestation there is no signature either.
    unattested = world.call(
        "POST", f"/v1/notes/{note['id']}/sign", "clinician", {"version": 1, "attestation": False}
    )
    assert unattested.status == 422
    # Only the author signs; a colleague on the care team may not.
    world.add_user("colleague", Role.CLINICIAN)
    other = create(world, "clinician2", "dee", soap())
    by_colleague = world.call(
        "POST", f"/v1/notes/{other['id']}/sign", "clinician3", {"version": 1, "attestation": True}
    )
    assert by_colleague.status == 403


def test_late_entry_is_flagged(world: SchedulingWorld) -> None:
    note = create(world, "clinician", "ada", soap(date="2026-02-20"))
    signed = world.ok(
        "POST", f"/v1/notes/{note['id']}/sign", "clinician", {"version": 1, "attestation": True}
    )
    assert signed["late_entry"] is True
    assert signed["service_date"] == "2026-02-20"


def _db_row(world: SchedulingWorld, pk: str, sk: str) -> tuple[sqlite3.Connection, dict[str, Any]]:
    conn = sqlite3.connect(world.runtime.store.path)  # type: ignore[attr-defined]
    (data,) = conn.execute(
        "SELECT data FROM items WHERE pk = ? AND sk = ?", (f"{world.practice_id}|{pk}", sk)
    ).fetchone()
    return conn, json.loads(data)


def _write_row(conn: sqlite3.Connection, world: SchedulingWorld, row: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE items SET data = ? WHERE pk = ? AND sk = ?",
        (json.dumps(row), f"{world.practice_id}|{row['pk']}", row["sk"]),
    )
    conn.commit()
    conn.close()


def test_a_tampered_version_is_reported_by_verify(world: SchedulingWorld) -> None:
    # GIVEN a signed note with three versions
    note = create(world, "clinician", "ada", draft())
    nid = note["id"]
    world.ok("PATCH", f"/v1/notes/{nid}", "clinician", {"content": soap(), "version": 1})
    world.ok("POST", f"/v1/notes/{nid}/sign", "clinician", {"version": 2, "attestation": True})
    assert world.ok("POST", f"/v1/notes/{nid}/verify", "clinician")["valid"] is True
    # WHEN someone with database and key access rewrites version 2's content in place
    conn, row = _db_row(world, f"NOTE#{nid}", "VER#000002")
    sealer = Sealer(world.runtime.cipher, world.practice_id, VERSION_KIND, f"{nid}#2")
    content = json.loads(sealer.open("content", row["content"]) or "{}")
    altered = copy.deepcopy(content)
    altered["assessment"] = "Rewritten after the fact."
    row["content"] = sealer.seal("content", json.dumps(altered))
    _write_row(conn, world, row)
    # THEN verify names the altered version (its content no longer matches its hash)
    result = world.ok("POST", f"/v1/notes/{nid}/verify", "clinician")
    assert result["valid"] is False
    checks = {c["n"]: c for c in result["versions"]}
    assert checks[2]["content_ok"] is False
    assert checks[1]["content_ok"] is True
    # WHEN the plain fields are edited too (who saved it) THEN the chain breaks there
    conn, row = _db_row(world, f"NOTE#{nid}", "VER#000001")
    row["by"] = new_id("usr")
    _write_row(conn, world, row)
    result = world.ok("POST", f"/v1/notes/{nid}/verify", "clinician")
    assert {c["n"]: c["chain_ok"] for c in result["versions"]}[1] is False
    # WHEN a ciphertext is damaged THEN that version is reported unreadable, not a 500
    conn, row = _db_row(world, f"NOTE#{nid}", "VER#000003")
    row["content"] = row["content"][:-6] + "AAAAAA"
    _write_row(conn, world, row)
    result = world.ok("POST", f"/v1/notes/{nid}/verify", "clinician")
    assert result["unreadable_versions"] == [3]
    assert result["valid"] is False


def test_billers_see_billing_facts_only_and_front_desk_nothing(world: SchedulingWorld) -> None:
    signed = write_and_sign(world, "clinician", "ada")
    nid = signed["id"]
    view = world.ok("GET", f"/v1/notes/{nid}", "biller")
    assert set(view) == {
        "id",
        "patient_id",
        "clinician_id",
        "appointment_id",
        "status",
        "service_date",
        "signed_at",
        "cpt_codes",
        "minutes",
        "place_of_service",
        "version",
    }
    assert (view["cpt_codes"], view["minutes"], view["status"]) == (["90837"], 53, "signed")
    assert "Client" not in json.dumps(view)
    listed = world.ok("GET", f"/v1/patients/{world.patients['ada']}/notes", "biller")
    assert [n["id"] for n in listed["items"]] == [nid]
    assert "content" not in listed["items"][0]
    assert world.call("GET", f"/v1/notes/{nid}", "desk").status == 403
    assert world.call("GET", f"/v1/patients/{world.patients['ada']}/notes", "desk").status == 403
    # The charge was captured with the signature, billing facts only.
    charges = world.ok("GET", "/v1/charges", "biller")["items"]
    assert [(c["note_id"], c["lines"], c["place_of_service"]) for c in charges] == [
        (nid, [{"cpt_code": "90837", "units": 1}], "10")
    ]
    assert charges[0]["service_date"] == "2026-03-02"
    assert world.call("GET", "/v1/charges", "clinician").status == 403
    # Compliance reviews alterations without reading values.
    diff = world.ok("GET", f"/v1/notes/{nid}/diff", "compliance", query={"from": "1", "to": "2"})
    assert diff["values_included"] is False
    assert all(c["before"] is None and c["after"] is None for c in diff["changes"])
    assert world.call("GET", f"/v1/notes/{nid}", "compliance").status == 403


def test_supervisee_note_goes_through_cosignature(world: SchedulingWorld) -> None:
    # GIVEN clinician2 is supervised and marked as needing co-signature
    marked = world.call(
        "POST",
        "/v1/supervision/cosign-requirements",
        "admin",
        {"user_id": world.users["clinician2"].id, "required": True},
    )
    assert marked.status == 204, marked.body
    # WHEN they sign a note THEN it waits in the supervisor's queue, not billed yet
    signed = write_and_sign(world, "clinician2", "dee")
    nid = signed["id"]
    assert signed["status"] == "pending_cosign"
    queue = world.ok("GET", "/v1/supervision/queue", "supervisor")["items"]
    assert [n["id"] for n in queue] == [nid]
    assert world.ok("GET", "/v1/supervision/queue", "supervisor2")["items"] == []
    assert world.ok("GET", "/v1/charges", "biller")["items"] == []
    # AND a supervisor who does not supervise the author cannot see or co-sign it
    assert world.call("GET", f"/v1/notes/{nid}", "supervisor2").status == 404
    stranger = world.call("POST", f"/v1/notes/{nid}/cosign", "supervisor2", {"version": 3})
    assert stranger.status == 404
    # WHEN the supervisor returns it with comments THEN the author can revise and re-sign
    returned = world.ok(
        "POST",
        f"/v1/notes/{nid}/return",
        "supervisor",
        {"version": signed["version"], "comments": "Add the safety plan review."},
    )
    assert (returned["status"], returned["return_comments"]) == (
        "returned",
        "Add the safety plan review.",
    )
    assert world.ok("GET", "/v1/supervision/queue", "supervisor")["items"] == []
    revised = soap()
    revised["risk"]["safety_plan_reviewed"] = True
    saved = world.ok(
        "PATCH",
        f"/v1/notes/{nid}",
        "clinician2",
        {"content": revised, "version": returned["version"]},
    )
    resigned = world.ok(
        "POST",
        f"/v1/notes/{nid}/sign",
        "clinician2",
        {"version": saved["version"], "attestation": True},
    )
    assert resigned["status"] == "pending_cosign"
    # WHEN the supervisor co-signs THEN the note is final, co-signed and billed
    cosigned = world.ok(
        "POST", f"/v1/notes/{nid}/cosign", "supervisor", {"version": resigned["version"]}
    )
    assert cosigned["status"] == "cosigned"
    assert cosigned["cosignature"]["signer_id"] == world.users["supervisor"].id
    assert cosigned["cosignature"]["content_hash"] == cosigned["content_hash"]
    assert [c["note_id"] for c in world.ok("GET", "/v1/charges", "biller")["items"]] == [nid]
    # THEN every step is a version, and the whole history verifies
    history = world.ok("GET", f"/v1/notes/{nid}/versions", "supervisor")
    assert [v["event"] for v in history] == [
        "created",
        "signed",
        "returned",
        "saved",
        "signed",
        "cosigned",
    ]
    assert world.ok("POST", f"/v1/notes/{nid}/verify", "supervisor")["valid"] is True
    again = world.call("POST", f"/v1/notes/{nid}/cosign", "supervisor", {"version": 6})
    assert (again.status, again.body["error"]["code"]) == (409, "invalid_note_state")


def test_unmarked_supervisee_signs_without_cosignature(world: SchedulingWorld) -> None:
    signed = write_and_sign(world, "clinician2", "dee")
    assert signed["status"] == "signed"
    assert world.ok("GET", "/v1/supervision/queue", "supervisor")["items"] == []


def _token_without_recent_mfa(world: SchedulingWorld, label: str) -> str:
    user = world.users[label]
    store = world.runtime.store.practice(world.practice_id)
    now = world.clock.now()
    session = Session(
        id=new_id("ses"),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=8),
        idle_minutes=15,
        auth_time=now - timedelta(hours=1),
        mfa_at=now - timedelta(hours=1),
    )
    store.put(SessionRepository(store).create_op(session).item)
    signer = world.runtime.identity.signer  # type: ignore[attr-defined]
    return str(
        signer.issue_access(
            sub=user.id,
            practice_id=world.practice_id,
            roles=user.roles,
            sid=session.id,
            auth_time=session.auth_time,
            amr=["pwd", "mfa"],
        )
    )


def test_psychotherapy_note_is_invisible_to_all_but_its_author(world: SchedulingWorld) -> None:
    created = world.call(
        "POST",
        "/v1/psychotherapy-notes",
        "clinician",
        {"patient_id": world.patients["ada"], "text": "Process note: transference themes."},
    )
    assert created.status == 201, created.body
    pid = created.body["id"]
    before = head_seq(world)
    # The author reads it; the read is audited as a psychotherapy note read.
    assert world.ok("GET", f"/v1/psychotherapy-notes/{pid}", "clinician")["text"].startswith(
        "Process note"
    )
    reads = [e for e in events(world, before) if e.action == "psychotherapy_note.read"]
    assert [(e.resource_id, e.outcome.value) for e in reads] == [(pid, "allowed")]
    # Nobody else: not the supervisor, not the owner, not billing, not the patient.
    for who in ("supervisor", "clinician2", "owner", "admin", "biller", "desk", "ada_login"):
        response = world.call("GET", f"/v1/psychotherapy-notes/{pid}", who)
        assert response.status in (403, 404), who
        assert "transference" not in json.dumps(response.body)
    # Never among the patient's notes, the author's regular lists or documents.
    for who in ("clinician", "biller"):
        notes = world.ok("GET", f"/v1/patients/{world.patients['ada']}/notes", who)
        assert pid not in json.dumps(notes)
    portal = world.call("GET", "/v1/me/documents", "ada_login")
    assert pid not in json.dumps(portal.body)
    access_log = world.ok("GET", "/v1/me/access-log", "ada_login")
    assert "psychotherapy" not in json.dumps(access_log)
    assert [n["id"] for n in world.ok("GET", "/v1/psychotherapy-notes", "clinician")["items"]] == [
        pid
    ]
    assert world.ok("GET", "/v1/psychotherapy-notes", "clinician2")["items"] == []
    # The author may grant a colleague; only then can the colleague read it.
    grant = world.call(
        "POST",
        f"/v1/psychotherapy-notes/{pid}/grants",
        "clinician",
        {"user_id": world.users["clinician2"].id},
    )
    assert grant.status == 204, grant.body
    assert world.call("GET", f"/v1/psychotherapy-notes/{pid}", "clinician2").status == 200
    # A grantee cannot pass it on or release it.
    regrant = world.call(
        "POST",
        f"/v1/psychotherapy-notes/{pid}/grants",
        "clinician2",
        {"user_id": world.users["clinician3"].id},
    )
    assert regrant.status == 404
    assert world.call("POST", f"/v1/psychotherapy-notes/{pid}/release", "clinician2").status == 404
    # Releasing needs a recent MFA step-up.
    stale = _token_without_recent_mfa(world, "clinician")
    refused = call_gateway(
        world.gateway, "POST", f"/v1/psychotherapy-notes/{pid}/release", token=stale
    )
    assert refused.status == 401
    assert json.loads(refused.body)["error"]["code"] == "reauthenticate"
    released = world.call("POST", f"/v1/psychotherapy-notes/{pid}/release", "clinician")
    assert released.status == 200


def pdf_text(data: bytes) -> str:
    """The text drawn in a PDF: fpdf2 writes core-font text as literal strings inside
    (Flate-compressed) content streams."""
    text = data.decode("latin-1")
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            text += zlib.decompress(match.group(1)).decode("latin-1")
        except zlib.error:
            continue
    return text


def test_a_signed_note_renders_to_pdf_with_signature_and_addenda(world: SchedulingWorld) -> None:
    draft_note = create(world, "clinician", "ada", draft())
    refused = world.call("GET", f"/v1/notes/{draft_note['id']}/pdf", "clinician")
    assert (refused.status, refused.body["error"]["code"]) == (409, "invalid_note_state")
    signed = write_and_sign(world, "clinician", "ada")
    nid = signed["id"]
    world.ok("POST", f"/v1/notes/{nid}/addenda", "clinician", {"text": "Phoned: sleep better."})
    out = world.ok("GET", f"/v1/notes/{nid}/pdf", "clinician")
    data = base64.b64decode(out["content_base64"])
    assert data.startswith(b"%PDF")
    assert (out["content_type"], out["size_bytes"]) == ("application/pdf", len(data))
    text = pdf_text(data)
    assert "Template: progress_note_soap version 1" in text
    assert signed["signature"]["content_hash"] in text
    assert "Addendum 1" in text
    assert "Phoned: sleep better." in text
    assert "Robin Ada" in text  # the patient, for release
    assert world.call("GET", f"/v1/notes/{nid}/pdf", "biller").status == 403
