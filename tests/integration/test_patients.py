"""Patients through the local API gateway: the full record, the guardian rule in the
practice's time zone, blind-index search, partial updates (staff and the patient's own),
portal invitations, abuse limits, and what actually lands in the SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.gateway_calls import call_gateway

from tpm.clock import FixedClock
from tpm.config import get_settings
from tpm.local.authorizer import verify_bearer
from tpm.local.bootstrap import export_settings, local_settings
from tpm.local.demo import DEMO_ACCOUNTS, DEMO_PATIENT, seed_demo_people
from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.runtime import Runtime, build_runtime, set_runtime
from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import ChainedEvent
from tpm.security.principal import Role
from tpm.services.patients import SEARCH_LIMIT
from tpm.services.practices import create_practice

ACCOUNTS = {a.role: a for a in (*DEMO_ACCOUNTS, DEMO_PATIENT)}
# 22:00 on 24 November in New York, already the 25th in UTC.
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@dataclass
class Local:
    runtime: Runtime
    gateway: LocalGateway
    clock: FixedClock
    practice_id: str
    data_dir: Path

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> HttpResponse:
        return call_gateway(self.gateway, method, path, token=token, body=body)

    def token(self, role: Role) -> str:
        return self.sign_in(ACCOUNTS[role].email, ACCOUNTS[role].password)

    def sign_in(self, email: str, password: str) -> str:
        body = {"practice": "local", "email": email, "password": password}
        response = self.call("POST", "/v1/auth/login", body=body)
        assert response.status == 200, response.body
        return str(json.loads(response.body)["access_token"])

    def head(self) -> int:
        head = read_head(self.runtime.store.practice(self.practice_id))
        return head.seq if head else 0

    def events_after(self, seq: int) -> list[ChainedEvent]:
        store = self.runtime.store.practice(self.practice_id)
        head = read_head(store)
        assert head is not None
        return list(read_events(store, seq + 1, head.seq)) if head.seq > seq else []


def body_of(response: HttpResponse) -> Any:
    return json.loads(response.body)


def header(response: HttpResponse, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)


@pytest.fixture
def local(tmp_path: Path, project_root: Path) -> Iterator[Local]:
    settings = local_settings(tmp_path, environment="test")
    export_settings(settings)
    get_settings.cache_clear()
    clock = FixedClock(NOW)
    runtime = build_runtime(settings, clock=clock)
    practice = create_practice(
        runtime.store, clock, name="Patients Practice", slug="local", timezone="America/New_York"
    )
    seed_demo_people(runtime, practice.id)
    set_runtime(runtime)
    gateway = LocalGateway(project_root, authorizer=verify_bearer)
    yield Local(runtime, gateway, clock, practice.id, tmp_path)
    set_runtime(None)


FULL = {
    "legal_first_name": "Renée",
    "legal_last_name": "O'Hara-Smith",
    "preferred_name": "Ren",
    "pronouns": "she/her",
    "date_of_birth": "1984-07-09",
    "email": "ren.synthetic@example.test",
    "phone": "+15555550142",
    "timezone": "America/Denver",
    "address": {
        "line1": "12 Synthetic Way",
        "city": "Springfield",
        "region": "CO",
        "postal_code": "80000",
    },
    "emergency_contact": {
        "name": "Sam Synthetic",
        "relationship": "spouse",
        "phone": "+15555550143",
    },
    "insurance": {
        "payer_name": "Example Health",
        "payer_id": "EX123",
        "member_id": "M-0042",
        "group_number": "G-7",
        "subscriber": {
            "name": "Renée O'Hara-Smith",
            "relationship": "self",
            "date_of_birth": "1984-07-09",
        },
    },
    "communication": {"email_reminders": True, "sms_reminders": False},
}


def create(local: Local, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = local.call("POST", "/v1/patients", token, body)
    assert response.status == 201, response.body
    created: dict[str, Any] = body_of(response)
    return created


def minimal(first: str, last: str, dob: str = "1990-02-03", **extra: Any) -> dict[str, Any]:
    return {"legal_first_name": first, "legal_last_name": last, "date_of_birth": dob, **extra}


def search(local: Local, token: str, **terms: str) -> HttpResponse:
    return local.call("POST", "/v1/patients/search", token, terms)


def found_ids(response: HttpResponse) -> set[str]:
    assert response.status == 200, response.body
    return {p["id"] for p in body_of(response)["items"]}


# ---- the record ----------------------------------------------------------------------------


def test_the_full_record_round_trips(local: Local) -> None:
    desk = local.token(Role.FRONT_DESK)
    made = create(local, desk, FULL)
    got = body_of(local.call("GET", f"/v1/patients/{made['id']}", desk))
    assert got == made
    assert got["address"]["country"] == "US"
    assert got["insurance"]["subscriber"]["date_of_birth"] == "1984-07-09"
    assert got["communication"] == {
        "email_reminders": True,
        "sms_reminders": False,
        "reminder_may_name_service": False,
        "email_opted_out_at": None,
        "sms_opted_out_at": None,
    }


def test_a_minor_needs_a_guardian_by_the_practice_date(local: Local) -> None:
    desk = local.token(Role.FRONT_DESK)
    # Born 25 Nov 2008: 18 in UTC already, still 17 in the practice's New York evening.
    refused = local.call("POST", "/v1/patients", desk, minimal("Young", "Synthetic", "2008-11-25"))
    assert refused.status == 422
    assert body_of(refused)["error"]["details"]["fields"] == [
        {"path": "body.guardian", "type": "guardian_required"}
    ]
    guardian = {"name": "Gale Synthetic", "relationship": "mother", "phone": "+15555550150"}
    made = create(local, desk, minimal("Young", "Synthetic", "2008-11-25", guardian=guardian))
    assert made["guardian"]["relationship"] == "mother"
    # Removing the guardian of a minor is refused too.
    removal = {"guardian": None, "version": made["version"]}
    assert local.call("PATCH", f"/v1/patients/{made['id']}", desk, removal).status == 422
    # A birthday a day later in New York: an adult, no guardian needed.
    create(local, desk, minimal("Older", "Synthetic", "2008-11-24"))


def test_unknown_fields_are_rejected_on_create(local: Local) -> None:
    desk = local.token(Role.FRONT_DESK)
    body = {**minimal("Mass", "Assign"), "version": 9, "created_by": "usr_x"}
    response = local.call("POST", "/v1/patients", desk, body)
    assert response.status == 422
    paths = {f["path"] for f in body_of(response)["error"]["details"]["fields"]}
    assert paths == {"body.version", "body.created_by"}
    opted = {**minimal("Mass", "Assign"), "communication": {"sms_opted_out_at": None}}
    assert local.call("POST", "/v1/patients", desk, opted).status == 422


# ---- search --------------------------------------------------------------------------------


def test_search_by_name_date_of_birth_or_phone(local: Local) -> None:
    desk = local.token(Role.FRONT_DESK)
    ren = create(local, desk, FULL)["id"]
    twin = create(local, desk, minimal("Renee", "O'Hara-Smith", "1984-07-09"))["id"]
    other = create(local, desk, minimal("Quentin", "Example", phone="+15555550144"))["id"]
    # Names match without case, accents or extra spaces; first, last or full name.
    assert found_ids(search(local, desk, name="  RENEE   o'hara-smith ")) == {ren, twin}
    assert found_ids(search(local, desk, name="o'hara-smith")) == {ren, twin}
    assert found_ids(search(local, desk, name="Ren O'Hara-Smith")) == {ren}  # preferred name
    assert found_ids(search(local, desk, date_of_birth="1984-07-09")) == {ren, twin}
    assert found_ids(search(local, desk, phone="(555) 555-0144")) == {other}
    # Several criteria must all match.
    assert found_ids(search(local, desk, name="renee", phone="+1 555 555 0142")) == {ren}
    assert found_ids(search(local, desk, name="quentin", date_of_birth="1984-07-09")) == set()
    assert found_ids(search(local, desk, name="Nobody")) == set()
    # No criteria is a 422, and search terms are never in the URL.
    assert search(local, desk).status == 422
    assert local.call("GET", "/v1/patients/search", desk).status == 404


def test_search_is_one_audit_event_with_the_count(local: Local) -> None:
    desk = local.token(Role.FRONT_DESK)
    create(local, desk, FULL)
    before = local.head()
    assert len(found_ids(search(local, desk, date_of_birth="1984-07-09"))) == 1
    events = [e for e in local.events_after(before) if e.actor_kind == "user"]
    assert [(e.action, e.reason_code, e.patient_id) for e in events] == [
        ("patient.search", "count_1", None)
    ]


def test_clinicians_find_only_patients_they_may_read(local: Local) -> None:
    desk, clinician = local.token(Role.FRONT_DESK), local.token(Role.CLINICIAN)
    mine = create(local, clinician, minimal("Shared", "Name", add_me_to_care_team=True))["id"]
    theirs = create(local, desk, minimal("Shared", "Name"))["id"]
    assert found_ids(search(local, desk, name="shared name")) == {mine, theirs}
    assert found_ids(search(local, clinician, name="shared name")) == {mine}
    patient = local.token(Role.PATIENT)
    assert search(local, patient, name="shared name").status == 403


def test_search_follows_changes_and_forgets_old_values(local: Local) -> None:
    desk = local.token(Role.FRONT_DESK)
    made = create(local, desk, minimal("Before", "Rename", phone="+15555550160"))
    changed = local.call(
        "PATCH",
        f"/v1/patients/{made['id']}",
        desk,
        {"legal_last_name": "Renamed", "phone": None, "version": made["version"]},
    )
    assert changed.status == 200, changed.body
    assert found_ids(search(local, desk, name="before rename")) == set()
    assert found_ids(search(local, desk, phone="+15555550160")) == set()
    assert found_ids(search(local, desk, name="before renamed")) == {made["id"]}


def test_search_is_rate_limited_per_user(local: Local) -> None:
    desk, clinician = local.token(Role.FRONT_DESK), local.token(Role.CLINICIAN)
    local.clock.advance(seconds=15)  # 15 s into a one-minute window
    for _ in range(SEARCH_LIMIT):
        assert search(local, desk, name="anyone").status == 200
    limited = search(local, desk, name="anyone")
    assert limited.status == 429
    assert header(limited, "Retry-After") == "45"
    error = body_of(limited)["error"]
    assert error["code"] == "rate_limited"
    assert error["details"] == {"retry_after": 45}
    assert "anyone" not in limited.body.decode()
    # Another user is not affected; the next window starts afresh.
    assert search(local, clinician, name="anyone").status == 200
    local.clock.advance(seconds=45)
    assert search(local, desk, name="anyone").status == 200


# ---- updates -------------------------------------------------------------------------------


def test_staff_partial_update_with_version(local: Local) -> None:
    desk = local.token(Role.FRONT_DESK)
    made = create(local, desk, FULL)
    path = f"/v1/patients/{made['id']}"
    update = {
        "version": made["version"],
        "communication": {"sms_reminders": True, "reminder_may_name_service": True},
        "insurance": {"payer_name": "Other Health", "member_id": "Z-1"},
    }
    response = local.call("PATCH", path, desk, update)
    assert response.status == 200, response.body
    after = body_of(response)
    assert after["version"] == made["version"] + 1
    assert after["communication"]["email_reminders"] is True  # kept
    assert after["communication"]["sms_reminders"] is True
    assert after["communication"]["reminder_may_name_service"] is True
    assert after["insurance"] == {
        "payer_name": "Other Health",
        "payer_id": None,
        "member_id": "Z-1",
        "group_number": None,
        "subscriber": None,
    }
    assert after["legal_first_name"] == FULL["legal_first_name"]
    # A stale version is a 409 carrying the current one, and changes nothing.
    stale = local.call("PATCH", path, desk, {"pronouns": "they/them", "version": made["version"]})
    assert stale.status == 409
    assert body_of(stale)["error"]["details"] == {"current_version": after["version"]}
    assert body_of(local.call("GET", path, desk))["pronouns"] == "she/her"
    # Fields nobody sets through this route are 422.
    for forbidden in ({"id": "pat_x"}, {"status": "discharged"}, {"created_by": "usr_x"}):
        refused = local.call("PATCH", path, desk, {**forbidden, "version": after["version"]})
        assert refused.status == 422, forbidden
    opt_out = {"communication": {"sms_opted_out_at": None}, "version": after["version"]}
    assert local.call("PATCH", path, desk, opt_out).status == 422
    # A value the record refuses is a 422 with the path, never the value.
    bad = local.call("PATCH", path, desk, {"timezone": "Mars/Olympus", "version": after["version"]})
    assert bad.status == 422
    assert "Mars" not in bad.body.decode()
    assert local.call("PATCH", path, desk, {"version": 1}).status == 409


def test_patients_change_only_their_contact_details_and_reminders(local: Local) -> None:
    patient = local.token(Role.PATIENT)
    me = body_of(local.call("GET", "/v1/me", patient))
    path = f"/v1/patients/{me['patient_id']}"
    record = body_of(local.call("GET", path, patient))
    allowed = {
        "version": record["version"],
        "phone": "+15555550177",
        "address": {"line1": "1 Portal Rd", "city": "Springfield", "postal_code": "00002"},
        "communication": {"email_reminders": True, "sms_reminders": True},
    }
    done = local.call("PATCH", path, patient, allowed)
    assert done.status == 200, done.body
    record = body_of(done)
    assert record["phone"] == "+15555550177"
    assert record["communication"]["sms_reminders"] is True
    for refused_change, refused_path in (
        ({"legal_last_name": "Changed"}, "body.legal_last_name"),
        ({"date_of_birth": "2001-01-01"}, "body.date_of_birth"),
        ({"insurance": None}, "body.insurance"),
        (
            {"communication": {"reminder_may_name_service": True}},
            "body.communication.reminder_may_name_service",
        ),
    ):
        refused = local.call(
            "PATCH", path, patient, {**refused_change, "version": record["version"]}
        )
        assert refused.status == 403, refused_change
        assert body_of(refused)["error"]["details"]["fields"] == [
            {"path": refused_path, "type": "not_editable"}
        ]
    unchanged = body_of(local.call("GET", path, patient))
    assert unchanged["version"] == record["version"]
    assert unchanged["legal_last_name"] == "Example"
    # And never someone else's record.
    desk = local.token(Role.FRONT_DESK)
    other = create(local, desk, minimal("Someone", "Else"))
    assert (
        local.call(
            "PATCH", f"/v1/patients/{other['id']}", patient, {"phone": None, "version": 1}
        ).status
        == 404
    )


# ---- portal invitations ----------------------------------------------------------------------


def invite(local: Local, token: str, patient_id: str, body: Any = None) -> HttpResponse:
    return local.call("POST", f"/v1/patients/{patient_id}/portal-invitation", token, body or {})


def test_invited_patient_accepts_and_signs_in_to_their_own_record(local: Local) -> None:
    desk = local.token(Role.FRONT_DESK)
    made = create(local, desk, FULL)
    first = invite(local, desk, made["id"])
    assert first.status == 201, first.body
    first_body = body_of(first)
    assert first_body["status"] == "invited"
    assert first_body["reissued"] is False
    # Re-issued before acceptance: a new token, the old one no longer works.
    second = body_of(invite(local, desk, made["id"]))
    assert second["reissued"] is True
    assert second["user_id"] == first_body["user_id"]
    password = "marigold-tundra-violet-88"
    old = local.call(
        "POST",
        "/v1/auth/accept-invitation",
        body={"practice": "local", "token": first_body["invitation_token"], "password": password},
    )
    assert old.status == 404
    accepted = local.call(
        "POST",
        "/v1/auth/accept-invitation",
        body={"practice": "local", "token": second["invitation_token"], "password": password},
    )
    assert accepted.status == 200, accepted.body
    token = local.sign_in(FULL["email"], password)
    me = body_of(local.call("GET", "/v1/me", token))
    assert me["patient_id"] == made["id"]
    assert local.call("GET", f"/v1/patients/{made['id']}", token).status == 200
    # Once active, no new invitation.
    assert invite(local, desk, made["id"]).status == 409


def test_invitation_email_rules(local: Local) -> None:
    desk = local.token(Role.FRONT_DESK)
    no_email = create(local, desk, minimal("No", "Email"))
    missing = invite(local, desk, no_email["id"])
    assert missing.status == 422
    assert body_of(missing)["error"]["details"]["fields"] == [
        {"path": "body.email", "type": "missing_email"}
    ]
    # Given in the body when none is on file: used and recorded on the patient.
    given = invite(local, desk, no_email["id"], {"email": "No.Email@Example.test"})
    assert given.status == 201, given.body
    record = body_of(local.call("GET", f"/v1/patients/{no_email['id']}", desk))
    assert record["email"] == "no.email@example.test"
    # A different address than the one on file is refused.
    on_file = create(local, desk, minimal("On", "File", email="on.file@example.test"))
    other = invite(local, desk, on_file["id"], {"email": "other@example.test"})
    assert other.status == 422
    # One account per email per practice (a staff member's address here).
    clash = create(local, desk, minimal("Clash", "Email", email=ACCOUNTS[Role.BILLER].email))
    assert invite(local, desk, clash["id"]).status == 409


def test_portal_invitations_are_rate_limited_per_patient(local: Local) -> None:
    desk = local.token(Role.FRONT_DESK)
    made = create(local, desk, FULL)
    statuses = [invite(local, desk, made["id"]).status for _ in range(6)]
    assert statuses == [201, 201, 201, 201, 201, 429]


# ---- what is stored --------------------------------------------------------------------------


def test_no_plaintext_or_normalised_phi_reaches_the_database_file(local: Local) -> None:
    desk = local.token(Role.FRONT_DESK)
    body = {
        **minimal("Zephyrine", "Quillfeather", "1987-03-14", phone="+15555550199"),
        "email": "zq.synthetic@example.test",
        "address": {"line1": "77 Obscure Lane", "city": "Hiddenville", "postal_code": "99999"},
        "insurance": {"payer_name": "Secret Payer", "member_id": "MEMBER-31337"},
    }
    made = create(local, desk, body)
    assert found_ids(search(local, desk, name="zephyrine quillfeather")) == {made["id"]}
    local.runtime.store.close()  # flush: the WAL is checked too, whatever is left in it
    raw = b"".join(p.read_bytes() for p in local.data_dir.glob("tpm.db*")).lower()
    assert made["id"].lower().encode() in raw  # the rows are really in what we read
    for secret in (
        "Zephyrine",
        "Quillfeather",
        "zephyrine quillfeather",
        "1987-03-14",
        "19870314",
        "+15555550199",
        "15555550199",
        "5555550199",
        "zq.synthetic",
        "Obscure Lane",
        "Hiddenville",
        "Secret Payer",
        "MEMBER-31337",
    ):
        assert secret.lower().encode() not in raw, secret
