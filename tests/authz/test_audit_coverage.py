"""Every route, called successfully, writes the audit events declared for it (reads as
well as writes); every denial is written too. The events carry who, role, practice,
action, resource, patient, outcome, source, user agent and request id."""

from __future__ import annotations

import pytest
from harness import run_case
from matrix import CASES, EVERYONE, Case
from world import World

from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import ChainedEvent, Outcome
from tpm.security.principal import Role


def new_events(world: World, before: int) -> list[ChainedEvent]:
    store = world.runtime.store.practice(world.a.id)
    head = read_head(store)
    assert head is not None
    return list(read_events(store, before + 1, head.seq)) if head.seq > before else []


def head_seq(world: World) -> int:
    head = read_head(world.runtime.store.practice(world.a.id))
    return head.seq if head else 0


def success_role(case: Case) -> Role | None:
    for role in EVERYONE:
        if 200 <= case.status(role, case.variants[0]) < 300:
            return role
    return None


def denied_role(case: Case) -> Role | None:
    for role in EVERYONE:
        if case.status(role, case.variants[0]) == 403:
            return role
    return None


def test_every_authenticated_route_declares_its_audit_events() -> None:
    missing = [f"{c.method} {c.path}" for c in CASES if not c.public and not c.audit]
    assert missing == []


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.audit], ids=lambda c: f"{c.method} {c.path}"
)
def test_successful_call_is_audited(world: World, case: Case) -> None:
    role = success_role(case) if not case.public else None
    assert case.public or role is not None, "the matrix has no role that succeeds here"
    before = head_seq(world)
    outcome = run_case(world, case, role, case.variants[0])
    assert 200 <= outcome.status < 300, outcome.json()
    events = new_events(world, before)
    allowed = [e for e in events if e.outcome is Outcome.ALLOWED and e.actor_kind != "system"]
    actions = {e.action for e in allowed}
    assert set(case.audit) <= actions, (case.audit, actions)
    for event in allowed:
        if event.action not in case.audit:
            continue
        assert event.practice_id == world.a.id
        assert event.request_id, "request id recorded"
        assert event.user_agent == "tpm-harness/1.0"
        if role is not None:
            assert event.actor_id == outcome.caller_id
            assert role.value in event.roles
        if case.patient_scoped:
            assert event.patient_id == outcome.params["patientId"]


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if not c.public and denied_role(c) is not None],
    ids=lambda c: f"{c.method} {c.path}",
)
def test_denial_is_audited(world: World, case: Case) -> None:
    role = denied_role(case)
    assert role is not None
    before = head_seq(world)
    outcome = run_case(world, case, role, case.variants[0])
    assert outcome.status == 403
    denied = [e for e in new_events(world, before) if e.outcome is Outcome.DENIED]
    assert len(denied) == 1, denied
    assert denied[0].actor_id == outcome.caller_id
    assert denied[0].reason_code == "forbidden"
    assert denied[0].action in case.audit


def test_relationship_denial_is_audited_with_the_patient(world: World) -> None:
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    before = head_seq(world)
    response = world.call("GET", f"/v1/patients/{world.a.other_patient}", token=token)
    assert response.status == 404
    denied = [e for e in new_events(world, before) if e.outcome is Outcome.DENIED]
    assert [(e.action, e.patient_id, e.reason_code) for e in denied] == [
        ("patient.read", world.a.other_patient, "no_relationship")
    ]


def test_break_glass_flags_later_access_and_alerts(world: World) -> None:
    clinician = world.a.users[Role.CLINICIAN]
    token = world.token(clinician, world.a.id)
    target = world.new_patient(world.a.id)
    # GIVEN the patient is outside the clinician's care team
    assert world.call("GET", f"/v1/patients/{target}", token=token).status == 404
    # WHEN the clinician breaks the glass with a reason
    opened = world.call(
        "POST",
        f"/v1/patients/{target}/break-glass",
        token=token,
        body={"reason": "Crisis line call at night"},
    )
    assert opened.status == 201
    before = head_seq(world)
    # THEN the record opens, and the read is flagged as emergency access
    assert world.call("GET", f"/v1/patients/{target}", token=token).status == 200
    reads = [e for e in new_events(world, before) if e.action == "patient.read"]
    assert [e.break_glass for e in reads] == [True]
    # AND owners/admins see an alert naming who and which patient (no reason text)
    admin = world.token(world.a.users[Role.ADMIN], world.a.id)
    alerts = world.call("GET", "/v1/security-alerts", token=admin)
    items = __import__("json").loads(alerts.body)["items"]
    assert any(a["patient_id"] == target and a["user_id"] == clinician.id for a in items)
    assert "Crisis" not in alerts.body.decode()


def test_changing_an_audit_setting_is_itself_audited(world: World) -> None:
    from matrix import practice_version

    owner = world.token(world.a.users[Role.OWNER], world.a.id)
    before = head_seq(world)
    body = {
        "version": practice_version(world),
        "settings": {"audit": {"record_non_phi_reads": False}},
    }
    response = world.call("PATCH", "/v1/practice/settings", token=owner, body=body)
    assert response.status == 200, response.body
    events = [e for e in new_events(world, before) if e.actor_kind == "user"]
    assert [(e.action, e.resource_id) for e in events] == [
        ("audit.settings.update", "record_non_phi_reads")
    ]
    # Retention can never go below six years.
    body = {"version": practice_version(world), "settings": {"audit": {"retention_years": 2}}}
    refused = world.call("PATCH", "/v1/practice/settings", token=owner, body=body)
    assert refused.status == 422
