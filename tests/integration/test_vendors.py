"""The business associate register through the API, and the register as the outbound
adapters ask it: a reminder is not sent through a vendor whose agreement is missing,
not executed, expired or terminated; the refusal is audited and alerted once; the daily
job warns the compliance role before an agreement ends."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.demo_practice import ACCOUNTS, demo_practice
from support.gateway_calls import call_gateway
from support.staff_tokens import token_for

from tpm.adapters.notify.outbox import OutboxNotifier
from tpm.clock import FixedClock
from tpm.domain.vendors import AgreementRequired
from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.runtime import Runtime
from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import ChainedEvent, Outcome
from tpm.security.principal import Role, SystemActor
from tpm.services.agreements import AgreementGuard
from tpm.services.compliance_jobs import run_daily

NOW = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)  # 10:00 in Chicago
TODAY = date(2026, 12, 6)
PDF = b"%PDF-1.4\n% synthetic business associate agreement\n%%EOF\n"


@dataclass
class Local:
    runtime: Runtime
    gateway: LocalGateway
    practice_id: str
    clock: FixedClock

    def token(self, role: Role) -> str:
        return token_for(self.runtime, self.practice_id, ACCOUNTS[role].email)

    def call(self, method: str, path: str, role: Role, body: Any = None) -> HttpResponse:
        return call_gateway(self.gateway, method, path, token=self.token(role), body=body)

    def events_after(self, seq: int) -> list[ChainedEvent]:
        store = self.runtime.store.practice(self.practice_id)
        head = read_head(store)
        assert head is not None
        return list(read_events(store, seq + 1, head.seq)) if head.seq > seq else []

    def head(self) -> int:
        head = read_head(self.runtime.store.practice(self.practice_id))
        return head.seq if head else 0

    def add_vendor(self, **agreement: Any) -> dict[str, Any]:
        body = {
            "key": "aws",
            "name": "Amazon Web Services",
            "role": "hosting",
            "receives_phi": True,
            "services": ["ses", "sns", "s3"],
            "agreement": agreement,
        }
        response = self.call("POST", "/v1/vendors", Role.COMPLIANCE, body)
        assert response.status == 201, response.body
        return dict(json.loads(response.body))

    def guard(self) -> AgreementGuard:
        store = self.runtime.store.practice(self.practice_id)
        return AgreementGuard(self.runtime, store, SystemActor("test", self.practice_id))


@pytest.fixture
def local(tmp_path: Path, project_root: Path) -> Iterator[Local]:
    with demo_practice(tmp_path, project_root, NOW, "Register Practice") as demo:
        yield Local(demo.runtime, demo.gateway, demo.practice_id, demo.clock)


def executed(expires_in_days: int | None = 365, **more: Any) -> dict[str, Any]:
    return {
        "status": "executed",
        "executed_on": str(TODAY - timedelta(days=30)),
        "expires_on": str(TODAY + timedelta(days=expires_in_days))
        if expires_in_days is not None
        else None,
        "breach_notice_days": 10,
        "permitted_uses": "Hosting and messaging for the practice only.",
        "subcontractor_terms": "Same restrictions flow down.",
        "return_destruction_terms": "Return or destroy within 30 days of termination.",
        **more,
    }


def test_the_register_answers_each_refusal_with_its_reason(local: Local) -> None:
    # GIVEN nothing in the register: PHI may not go to AWS, data without PHI may
    guard = local.guard()
    assert guard.problem("aws", carries_phi=True) == "unknown_vendor"
    assert guard.problem("aws", carries_phi=False) is None
    # WHEN the vendor is added with a draft agreement THEN still refused
    vendor = local.add_vendor(status="draft")
    assert local.guard().problem("aws", carries_phi=True) == "agreement_not_executed"
    assert vendor["phi_allowed"] is False
    # WHEN the agreement is executed THEN PHI may go
    patch = {"version": vendor["version"], "agreement": executed()}
    changed = local.call("PATCH", f"/v1/vendors/{vendor['id']}", Role.COMPLIANCE, patch)
    assert changed.status == 200, changed.body
    assert json.loads(changed.body)["phi_allowed"] is True
    assert local.guard().problem("aws", carries_phi=True) is None
    # WHEN the clock passes the end date THEN refused as expired
    local.clock.advance(days=366)
    assert local.guard().problem("aws", carries_phi=True) == "agreement_expired"


def test_a_vendor_registered_without_phi_never_receives_phi(local: Local) -> None:
    body = {"key": "card-co", "name": "Card Co", "role": "card_processor", "receives_phi": False}
    assert local.call("POST", "/v1/vendors", Role.COMPLIANCE, body).status == 201
    guard = local.guard()
    assert guard.problem("card-co", carries_phi=True) == "not_cleared_for_phi"
    assert guard.problem("card-co", carries_phi=False) is None


def test_terminated_and_future_agreements_are_refused(local: Local) -> None:
    vendor = local.add_vendor(
        **executed(effective_on=str(TODAY + timedelta(days=3)), expires_in_days=400)
    )
    assert local.guard().problem("aws", carries_phi=True) == "agreement_not_yet_effective"
    ended = executed(status="terminated", terminated_on=str(TODAY))
    patch = {"version": vendor["version"], "agreement": ended}
    assert local.call("PATCH", f"/v1/vendors/{vendor['id']}", Role.COMPLIANCE, patch).status == 200
    assert local.guard().problem("aws", carries_phi=True) == "agreement_terminated"


def test_inconsistent_agreement_dates_are_refused_and_change_nothing(local: Local) -> None:
    body = {
        "key": "aws",
        "name": "AWS",
        "role": "hosting",
        "receives_phi": True,
        "agreement": {"status": "executed"},  # no executed_on
    }
    response = local.call("POST", "/v1/vendors", Role.COMPLIANCE, body)
    assert response.status == 422
    assert json.loads(response.body)["error"]["details"]["fields"][0]["path"] == "body.agreement"
    listed = json.loads(local.call("GET", "/v1/vendors", Role.COMPLIANCE).body)
    assert listed["items"] == []


def test_a_vendor_key_is_unique_and_updates_need_the_current_version(local: Local) -> None:
    vendor = local.add_vendor(**executed())
    again = {"key": "aws", "name": "Again", "role": "hosting", "receives_phi": True}
    assert local.call("POST", "/v1/vendors", Role.COMPLIANCE, again).status == 409
    stale = {"version": vendor["version"] + 5, "notes": "x"}
    refused = local.call("PATCH", f"/v1/vendors/{vendor['id']}", Role.COMPLIANCE, stale)
    assert refused.status == 409
    assert json.loads(refused.body)["error"]["details"] == {"current_version": 1}
    key_change = {"version": 1, "key": "other"}
    assert local.call("PATCH", f"/v1/vendors/{vendor['id']}", Role.OWNER, key_change).status == 422


def test_due_diligence_files_are_kept_sealed_and_read_back(local: Local, tmp_path: Path) -> None:
    vendor = local.add_vendor(**executed())
    body = {
        "title": "Signed BAA 2026",
        "filename": "baa-2026.pdf",
        "content_type": "application/pdf",
        "content_base64": base64.b64encode(PDF).decode(),
    }
    added = local.call("POST", f"/v1/vendors/{vendor['id']}/documents", Role.COMPLIANCE, body)
    assert added.status == 201, added.body
    document = json.loads(added.body)
    # The bytes at rest are the sealed envelope, never the file.
    [stored] = (tmp_path / "files" / local.practice_id).iterdir()
    assert b"synthetic business associate agreement" not in stored.read_bytes()
    shown = json.loads(local.call("GET", f"/v1/vendors/{vendor['id']}", Role.ADMIN).body)
    assert [d["title"] for d in shown["documents"]] == ["Signed BAA 2026"]
    path = f"/v1/vendors/{vendor['id']}/documents/{document['id']}/content"
    content = json.loads(local.call("GET", path, Role.OWNER).body)
    assert base64.b64decode(content["content_base64"]) == PDF
    # Admins read the register but do not change it.
    assert (
        local.call("POST", f"/v1/vendors/{vendor['id']}/documents", Role.ADMIN, body).status == 403
    )


def use_outbox_for(local: Local, vendor: str) -> OutboxNotifier:
    """`tpm dev`'s notifier: the outbox standing in for the vendor's e-mail/SMS service."""
    outbox = OutboxNotifier(vendor=vendor)
    local.runtime.notifier = outbox
    return outbox


def book_and_sweep(local: Local) -> dict[str, int]:
    """Books the demo patient tomorrow and runs the reminder sweep."""
    from tpm.services.reminder_sweep import ReminderSweep

    clinician = json.loads(local.call("GET", "/v1/me", Role.CLINICIAN).body)
    patient = json.loads(local.call("GET", "/v1/me", Role.PATIENT).body)
    record_path = f"/v1/patients/{patient['patient_id']}"
    record = json.loads(local.call("GET", record_path, Role.PATIENT).body)
    opt_in = {"version": record["version"], "communication": {"email_reminders": True}}
    assert local.call("PATCH", record_path, Role.PATIENT, opt_in).status == 200
    loc = local.call(
        "POST",
        "/v1/locations",
        Role.ADMIN,
        {"name": "Room 1", "kind": "office", "timezone": "America/Chicago"},
    )
    assert loc.status == 201, loc.body
    service = local.call(
        "POST",
        "/v1/services",
        Role.ADMIN,
        {
            "name": "Psychotherapy",
            "cpt_code": "90834",
            "duration_minutes": 50,
            "fee": {"amount": "150.00", "currency": "USD"},
        },
    )
    assert service.status == 201, service.body
    start = NOW + timedelta(days=1)
    booked = local.call(
        "POST",
        "/v1/appointments",
        Role.FRONT_DESK,
        {
            "patient_ids": [patient["patient_id"]],
            "clinician_id": clinician["id"],
            "location_id": json.loads(loc.body)["id"],
            "service_id": json.loads(service.body)["id"],
            "start": start.isoformat().replace("+00:00", "Z"),
            # The clinician has no hours set: the desk books with an override.
            "override": {"reason": "Visit arranged by phone (synthetic)"},
        },
    )
    assert booked.status == 201, booked.body
    report = ReminderSweep(local.runtime).sweep_practice(local.practice_id)
    return dict(report.__dict__)


def test_reminders_are_not_sent_through_a_vendor_without_an_agreement(local: Local) -> None:
    # GIVEN the practice's e-mail/SMS goes through AWS, and AWS is not in the register
    outbox = use_outbox_for(local, "aws")
    before = local.head()
    # WHEN reminders fall due THEN nothing is sent and each is recorded as failed
    report = book_and_sweep(local)
    assert (report["sent"], report["failed"] >= 1) == (0, True), report
    assert outbox.sent == []
    # AND the refusal is in the trail once, with the vendor and the reason
    refused = [e for e in local.events_after(before) if e.action == "vendor.outbound_refused"]
    assert [(e.resource_id, e.reason_code, e.outcome) for e in refused] == [
        ("aws", "unknown_vendor", Outcome.DENIED)
    ]
    # AND the compliance role sees an alert naming the vendor
    alerts = json.loads(local.call("GET", "/v1/security-alerts", Role.COMPLIANCE).body)["items"]
    assert [(a["kind"], a["vendor_key"], a["reason"]) for a in alerts] == [
        ("vendor_refused", "aws", "unknown_vendor")
    ]


def test_reminders_go_out_while_the_agreement_is_in_effect(local: Local) -> None:
    outbox = use_outbox_for(local, "aws")
    local.add_vendor(**executed())
    report = book_and_sweep(local)
    assert report["sent"] >= 1
    assert report["failed"] == 0
    assert outbox.sent


def test_an_expired_agreement_stops_reminders(local: Local) -> None:
    outbox = use_outbox_for(local, "aws")
    local.add_vendor(**executed(expires_in_days=1))
    local.clock.advance(days=1)  # the agreement's last day has passed
    report = book_and_sweep(local)
    assert report["sent"] == 0
    assert report["failed"] >= 1
    assert outbox.sent == []


def test_the_guard_raises_a_typed_error_with_the_reason(local: Local) -> None:
    with pytest.raises(AgreementRequired) as caught:
        local.guard().require("clearinghouse-x", carries_phi=True)
    assert caught.value.code == "vendor_agreement_required"
    assert caught.value.details == {"vendor": "clearinghouse-x", "reason": "unknown_vendor"}


def test_the_daily_job_warns_before_an_agreement_ends_once_per_threshold(local: Local) -> None:
    # GIVEN an agreement ending in 30 days and the compliance officer's address
    outbox = use_outbox_for(local, "aws")
    local.add_vendor(**executed(expires_in_days=30))
    # WHEN the daily job runs twice the same day
    first = run_daily(local.runtime)
    second = run_daily(local.runtime)
    # THEN one warning, one e-mail to each owner and compliance officer, no patient detail
    assert (first.agreement_warnings, second.agreement_warnings) == (1, 0)
    to = sorted(m.to for m in outbox.sent)
    assert to == sorted([ACCOUNTS[Role.COMPLIANCE].email, ACCOUNTS[Role.OWNER].email])
    assert all("ends in 30 day(s)" in m.subject for m in outbox.sent)
    alerts = json.loads(local.call("GET", "/v1/security-alerts", Role.COMPLIANCE).body)["items"]
    assert [(a["kind"], a["vendor_key"], a["days_left"]) for a in alerts] == [
        ("agreement_expiring", "aws", 30)
    ]
    # WHEN 23 more days pass THEN the 7-day warning comes
    local.clock.advance(days=23)
    assert run_daily(local.runtime).agreement_warnings == 1


def test_no_patient_is_entered_before_the_record_holders_agreement(local: Local) -> None:
    from tpm.adapters.store.dynamodb import DynamoStore

    # GIVEN records kept by AWS (as DynamoDB is), with no agreement in the register
    assert DynamoStore.vendor == "aws"
    local.runtime.store.vendor = "aws"  # type: ignore[misc]
    new = {
        "legal_first_name": "Nova",
        "legal_last_name": "Synthetic",
        "date_of_birth": "1990-02-02",
    }
    # WHEN a patient is entered THEN it is refused with the reason, and nothing is written
    refused = local.call("POST", "/v1/patients", Role.FRONT_DESK, new)
    assert refused.status == 409
    error = json.loads(refused.body)["error"]
    assert (error["code"], error["details"]) == (
        "vendor_agreement_required",
        {"vendor": "aws", "reason": "unknown_vendor"},
    )
    listed = json.loads(local.call("GET", "/v1/patients", Role.FRONT_DESK).body)["items"]
    assert len(listed) == 1  # only the demo patient
    # WHEN the agreement is recorded as executed THEN the patient can be entered
    local.add_vendor(**executed())
    assert local.call("POST", "/v1/patients", Role.FRONT_DESK, new).status == 201


def test_tpm_devs_demo_practice_comes_with_a_register(tmp_path: Path) -> None:
    from tpm.local.bootstrap import ensure_demo_practice, local_settings
    from tpm.runtime import build_runtime

    runtime = build_runtime(local_settings(tmp_path), clock=FixedClock(NOW))
    try:
        assert runtime.notifier.vendor == "aws"  # tpm dev's outbox stands in for AWS
        # (the people and the register alone: the working data adds its own events)
        demo = ensure_demo_practice(runtime, with_working_data=False)
        store = runtime.store.practice(demo.practice_id)
        guard = AgreementGuard(runtime, store, SystemActor("test", demo.practice_id))
        assert guard.problem("aws", carries_phi=True) is None
        assert guard.problem("card-processor", carries_phi=True) == "not_cleared_for_phi"
        assert read_head(store).seq == 1  # type: ignore[union-attr]  # one seeding event
    finally:
        runtime.store.close()
