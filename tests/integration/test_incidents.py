"""Security incidents: reported by any staff member or opened by another capability
through `open_incident`, assessed on the four factors, notices recorded against their
60-day deadlines, closed only when nothing is outstanding; free text sealed at rest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.demo_practice import ACCOUNTS, demo_practice
from support.gateway_calls import call_gateway
from support.staff_tokens import token_for

from tpm.clock import FixedClock
from tpm.domain.incidents import IncidentSource
from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.runtime import Runtime
from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import ChainedEvent
from tpm.security.principal import Role, SystemActor
from tpm.services.compliance_jobs import run_daily
from tpm.services.incidents import open_incident

NOW = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
SECRET_DETAIL = "Pat Example's intake form was e-mailed to the wrong address"


@dataclass
class Local:
    runtime: Runtime
    gateway: LocalGateway
    practice_id: str
    clock: FixedClock
    data_dir: Path

    def call(self, method: str, path: str, role: Role, body: Any = None) -> HttpResponse:
        token = token_for(self.runtime, self.practice_id, ACCOUNTS[role].email)
        path, _, raw_query = path.partition("?")
        query = [tuple(p.split("=", 1)) for p in raw_query.split("&") if p]
        return call_gateway(
            self.gateway,
            method,
            path,
            token=token,
            body=body,
            query=query,  # type: ignore[arg-type]
        )

    def ok(self, method: str, path: str, role: Role, body: Any = None) -> Any:
        response = self.call(method, path, role, body)
        assert 200 <= response.status < 300, (response.status, response.body)
        return json.loads(response.body)

    def events_after(self, seq: int) -> list[ChainedEvent]:
        store = self.runtime.store.practice(self.practice_id)
        head = read_head(store)
        assert head is not None
        return list(read_events(store, seq + 1, head.seq)) if head.seq > seq else []

    def head(self) -> int:
        head = read_head(self.runtime.store.practice(self.practice_id))
        return head.seq if head else 0


@pytest.fixture
def local(tmp_path: Path, project_root: Path) -> Iterator[Local]:
    with demo_practice(tmp_path, project_root, NOW, "Incident Practice") as demo:
        yield Local(demo.runtime, demo.gateway, demo.practice_id, demo.clock, tmp_path)


def patient_id(local: Local) -> str:
    return str(local.ok("GET", "/v1/me", Role.PATIENT)["patient_id"])


def factors(level: str = "low") -> dict[str, Any]:
    return {
        name: {"level": level, "notes": f"{name} considered"}
        for name in ("nature_and_extent", "unauthorized_person", "acquired_or_viewed", "mitigation")
    }


def test_a_breach_from_report_to_closing(local: Local) -> None:
    # GIVEN a clinician reports a misdirected e-mail discovered two days ago
    pid = patient_id(local)
    discovered = NOW - timedelta(days=2)
    reported = local.ok(
        "POST",
        "/v1/incidents",
        Role.CLINICIAN,
        {
            "summary": "Misdirected e-mail",
            "details": SECRET_DETAIL,
            "discovered_at": discovered.isoformat(),
            "patient_ids": [pid],
        },
    )
    assert reported["status"] == "open"
    assert reported["source"] == "manual"
    assert reported["notification_deadline"] == str((discovered + timedelta(days=60)).date())
    # Clinicians report but do not read the register of incidents.
    assert local.call("GET", f"/v1/incidents/{reported['id']}", Role.CLINICIAN).status == 403
    # WHEN the compliance officer assesses it as a breach
    path = f"/v1/incidents/{reported['id']}"
    assessed = local.ok(
        "POST",
        f"{path}/assessment",
        Role.COMPLIANCE,
        {"version": reported["version"], **factors("high"), "determination": "breach"},
    )
    # THEN the individual notice is due in 60 days, HHS within 60 days of year end (< 500)
    assert [(d["kind"], d["due"]) for d in assessed["deadlines"]] == [
        ("individuals", "2027-02-02"),
        ("hhs", "2027-03-01"),
    ]
    # AND it cannot be closed while notices are outstanding
    refused = local.call("POST", f"{path}/close", Role.COMPLIANCE, {"version": 2})
    assert refused.status == 409
    assert json.loads(refused.body)["error"]["details"] == {"reason": "notifications_outstanding"}
    # WHEN both notices are recorded THEN it closes
    notice = {"version": 2, "kind": "individuals", "sent_on": "2026-12-06", "recipients": 1}
    local.ok("POST", f"{path}/notifications", Role.COMPLIANCE, notice)
    hhs = {"version": 3, "kind": "hhs", "sent_on": "2026-12-06", "method": "HHS breach portal"}
    local.ok("POST", f"{path}/notifications", Role.COMPLIANCE, hhs)
    closed = local.ok("POST", f"{path}/close", Role.OWNER, {"version": 4, "reason": "Done"})
    assert closed["status"] == "closed"
    assert all(d["done_on"] for d in closed["deadlines"])
    # AND the free text never reaches the database file in the clear
    raw = (local.data_dir / "tpm.db").read_bytes()
    wal = local.data_dir / "tpm.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert b"wrong address" not in raw


def test_not_a_breach_needs_reasons_when_a_factor_is_high(local: Local) -> None:
    incident = local.ok("POST", "/v1/incidents", Role.FRONT_DESK, {"summary": "Fax misdial"})
    path = f"/v1/incidents/{incident['id']}/assessment"
    body = {"version": 1, **factors("high"), "determination": "not_a_breach"}
    refused = local.call("POST", path, Role.COMPLIANCE, body)
    assert refused.status == 422
    assert json.loads(refused.body)["error"]["details"]["fields"][0]["type"] == "rationale_required"
    body["rationale"] = "The recipient is a covered entity and attested destruction."
    assessed = local.ok("POST", path, Role.COMPLIANCE, body)
    assert assessed["determination"] == "not_a_breach"
    assert assessed["deadlines"] == []
    closed = local.ok(
        "POST", f"/v1/incidents/{incident['id']}/close", Role.COMPLIANCE, {"version": 2}
    )
    assert closed["status"] == "closed"


def test_stale_versions_and_bad_input_change_nothing(local: Local) -> None:
    incident = local.ok("POST", "/v1/incidents", Role.COMPLIANCE, {"summary": "Lost laptop"})
    path = f"/v1/incidents/{incident['id']}"
    stale = local.call("PATCH", path, Role.COMPLIANCE, {"version": 9, "summary": "x"})
    assert stale.status == 409
    future = (NOW + timedelta(days=1)).isoformat()
    bad = local.call("PATCH", path, Role.COMPLIANCE, {"version": 1, "discovered_at": future})
    assert bad.status == 422
    wrong_id = local.call(
        "POST", "/v1/incidents", Role.COMPLIANCE, {"summary": "x", "patient_ids": ["bob"]}
    )
    assert wrong_id.status == 422
    assert local.ok("GET", path, Role.COMPLIANCE)["version"] == 1
    # A notice before a breach determination is refused.
    notice = {"version": 1, "kind": "individuals", "sent_on": "2026-12-06"}
    assert local.call("POST", f"{path}/notifications", Role.COMPLIANCE, notice).status == 409


def test_another_capability_opens_an_incident_once_per_dedupe_key(local: Local) -> None:
    # GIVEN messaging flags a message as an inappropriate disclosure (a system path)
    store = local.runtime.store.practice(local.practice_id)
    actor = SystemActor("messaging", local.practice_id, request_id="req-msg")
    pid = patient_id(local)
    before = local.head()
    first = open_incident(
        local.runtime,
        store,
        actor,
        source=IncidentSource.MESSAGING_ESCALATION,
        summary="Message flagged as an inappropriate disclosure",
        reference="msg_01jabcdefghjkmnpqrstvwxyz0",
        patient_ids=[pid],
        dedupe_key="message:msg_01jabcdefghjkmnpqrstvwxyz0",
    )
    # WHEN the same message is flagged again
    again = open_incident(
        local.runtime,
        store,
        actor,
        source=IncidentSource.MESSAGING_ESCALATION,
        summary="Flagged again",
        dedupe_key="message:msg_01jabcdefghjkmnpqrstvwxyz0",
    )
    # THEN there is one incident, audited once, and the compliance role is alerted
    assert again.id == first.id
    opened = [e for e in local.events_after(before) if e.action == "incident.open"]
    assert [(e.actor_id, e.resource_id, e.reason_code) for e in opened] == [
        ("messaging", first.id, "messaging_escalation")
    ]
    alerts = local.ok("GET", "/v1/security-alerts", Role.COMPLIANCE)["items"]
    assert [(a["kind"], a["incident_id"]) for a in alerts] == [("incident_opened", first.id)]
    listed = local.ok("GET", "/v1/incidents?status=open", Role.COMPLIANCE)["items"]
    assert [(i["id"], i["source"], i["patient_ids"]) for i in listed] == [
        (first.id, "messaging_escalation", [pid])
    ]


def test_the_daily_job_warns_as_a_notification_deadline_nears_and_passes(local: Local) -> None:
    incident = local.ok("POST", "/v1/incidents", Role.COMPLIANCE, {"summary": "Stolen phone"})
    assert run_daily(local.runtime).deadline_warnings == 0
    local.clock.advance(days=47)  # 13 days left
    assert run_daily(local.runtime).deadline_warnings == 1
    assert run_daily(local.runtime).deadline_warnings == 0  # once per state
    local.clock.advance(days=14)  # one day late
    assert run_daily(local.runtime).deadline_warnings == 1
    alerts = local.ok("GET", "/v1/security-alerts", Role.OWNER)["items"]
    kinds = [(a["kind"], a["incident_id"], a["reason"]) for a in alerts if a["incident_id"]]
    assert kinds[:2] == [
        ("incident_overdue", incident["id"], "individuals"),
        ("incident_due_soon", incident["id"], "individuals"),
    ]
