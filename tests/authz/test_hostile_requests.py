"""Loose values and malformed ids against real routes, signed in: a 4xx every time, and
a refusal is still written to the audit trail (with the bad id recorded safely)."""

from __future__ import annotations

import hashlib
import json

import pytest
from world import World

from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import Outcome
from tpm.security.principal import Role


def fields_of(response: object) -> dict[str, str]:
    body = json.loads(response.body)  # type: ignore[attr-defined]
    return {f["path"]: f["type"] for f in body["error"]["details"]["fields"]}


def new_patient_body(**changes: object) -> dict[str, object]:
    return {
        "legal_first_name": "Strict",
        "legal_last_name": "Types",
        "date_of_birth": "1990-04-01",
        **changes,
    }


def test_zero_is_not_a_date_of_birth(world: World) -> None:
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    response = world.call(
        "POST", "/v1/patients", token=token, body=new_patient_body(date_of_birth=0)
    )
    assert response.status == 422
    assert fields_of(response) == {"body.date_of_birth": "date_format"}


def test_false_is_not_a_version(world: World) -> None:
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    path = f"/v1/patients/{world.a.own_patient}"
    response = world.call("PATCH", path, token=token, body={"version": False, "pronouns": "they"})
    assert response.status == 422
    assert fields_of(response) == {"body.version": "int_type"}


def test_nested_parts_are_strict_too(world: World) -> None:
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    insurance = {
        "payer_name": "Acme",
        "member_id": "M1",
        "subscriber": {"name": "S", "relationship": "self", "date_of_birth": 0},
    }
    response = world.call(
        "POST", "/v1/patients", token=token, body=new_patient_body(insurance=insurance)
    )
    assert response.status == 422
    assert fields_of(response) == {"body.insurance.subscriber.date_of_birth": "date_format"}


@pytest.mark.parametrize("start", ["2026-12-01", "2026-12-01T00:00:00", "0", "1764547200"], ids=str)
def test_time_filters_need_an_offset(world: World, start: str) -> None:
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    query = [("from", start), ("to", "2026-12-08T00:00:00Z")]
    response = world.call("GET", "/v1/appointments", token=token, query=query)
    assert response.status == 422
    assert fields_of(response) == {"query.from": "datetime_with_offset"}


def test_time_filters_with_an_offset_work(world: World) -> None:
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    query = [("from", "2026-12-01T00:00:00-05:00"), ("to", "2026-12-08T00:00:00Z")]
    response = world.call("GET", "/v1/appointments", token=token, query=query)
    assert response.status == 200


def test_audit_filters_need_an_offset(world: World) -> None:
    token = world.token(world.a.users[Role.COMPLIANCE], world.a.id)
    response = world.call("GET", "/v1/audit-events", token=token, query=[("from", "2026-12-01")])
    assert response.status == 422
    assert fields_of(response) == {"query.from": "datetime_with_offset"}


def test_an_email_nfkc_changes_is_checked_after_normalising(world: World) -> None:
    token = world.token(world.a.users[Role.ADMIN], world.a.id)
    body = {"email": "new\ufe6bperson@example.test", "display_name": "N", "roles": ["clinician"]}
    response = world.call("POST", "/v1/users", token=token, body=body)
    assert response.status == 422
    assert fields_of(response) == {"body.email": "string_pattern_mismatch"}


@pytest.mark.parametrize(
    "bad_id",
    ["pat_01$bad", "x" * 300, "pat_%C3%A9t%C3%A9", "pat_a|b", "pat_ok'--"],
    ids=["dollar", "long", "non_ascii", "key_chars", "quote"],
)
def test_a_refusal_with_a_malformed_id_is_audited_with_the_id_recorded_safely(
    world: World, bad_id: str
) -> None:
    store = world.runtime.store.practice(world.a.id)
    head = read_head(store)
    before = head.seq if head else 0
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    response = world.call("GET", f"/v1/patients/{bad_id}", token=token)
    assert response.status == 404
    after = read_head(store)
    assert after is not None
    denied = [e for e in read_events(store, before + 1, after.seq) if e.outcome is Outcome.DENIED]
    assert len(denied) == 1
    event = denied[0]
    assert event.action == "patient.read"
    # The raw id never reaches the trail (it may be anything, even PHI); its digest does,
    # so an investigator can still match it against a request they hold.
    assert bad_id not in json.dumps(event.model_dump())
    digest = hashlib.sha256(bad_id.encode()).hexdigest()[:32]
    assert event.resource_id == f"invalid:{digest}"
    assert event.patient_id == f"invalid:{digest}"
