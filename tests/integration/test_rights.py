"""Patients' rights (45 CFR 164.524/526/528): the disclosure register, the accounting of
disclosures a patient asks for in the portal, amendment requests, and the deadlines the
compliance officer works to. Through the local gateway, as the screens call it."""

from __future__ import annotations

import base64
import hashlib
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

from tpm.clock import FixedClock
from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.runtime import Runtime
from tpm.security.audit import read_events, read_head
from tpm.security.principal import Role

NOW = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
TODAY = date(2026, 12, 6)  # the demo practice's zone is behind UTC: still the 6th
SECRET_RECIPIENT = "Detective Quill of the Riverside Police"


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

    def error(self, method: str, path: str, role: Role, body: Any = None) -> tuple[int, Any]:
        response = self.call(method, path, role, body)
        return response.status, json.loads(response.body)["error"]

    def head(self) -> int:
        head = read_head(self.runtime.store.practice(self.practice_id))
        return head.seq if head else 0


@pytest.fixture
def local(tmp_path: Path, project_root: Path) -> Iterator[Local]:
    with demo_practice(tmp_path, project_root, NOW, "Rights Practice") as demo:
        yield Local(demo.runtime, demo.gateway, demo.practice_id, demo.clock, tmp_path)


def patient_id(local: Local) -> str:
    return str(local.ok("GET", "/v1/me", Role.PATIENT)["patient_id"])


def disclose(local: Local, pid: str, on: date, basis: str, **extra: Any) -> dict[str, Any]:
    body = {
        "disclosed_on": on.isoformat(),
        "recipient": f"Recipient for {basis}",
        "description": "Dates of treatment",
        "purpose": f"Purpose of the {basis} disclosure",
        "basis": basis,
        **extra,
    }
    return dict(local.ok("POST", f"/v1/patients/{pid}/disclosures", Role.COMPLIANCE, body))


def test_an_accounting_gives_six_years_of_accountable_disclosures_and_keeps_what_it_gave(
    local: Local,
) -> None:
    # GIVEN disclosures of the patient's information over eight years
    pid = patient_id(local)
    too_old = disclose(local, pid, TODAY - timedelta(days=7 * 365), "public_health")
    public_health = disclose(
        local,
        pid,
        TODAY - timedelta(days=2 * 365),
        "law_enforcement",
        recipient=SECRET_RECIPIENT,
        recipient_address="1 Station Road",
    )
    treatment = disclose(local, pid, TODAY - timedelta(days=30), "treatment_payment_operations")
    authorised = disclose(local, pid, TODAY - timedelta(days=20), "authorization")
    incident = local.ok("POST", "/v1/incidents", Role.COMPLIANCE, {"summary": "Misdirected fax"})
    breach = disclose(
        local,
        pid,
        TODAY - timedelta(days=3),
        "impermissible",
        source="incident",
        reference=incident["id"],
    )
    assert (treatment["accounted"], authorised["accounted"], breach["accounted"]) == (
        False,
        False,
        True,
    )
    # The register is append-only: there is no route that edits or deletes a disclosure.
    status, _ = local.error("DELETE", f"/v1/patients/{pid}/disclosures", Role.OWNER)
    assert status in (404, 405)
    # The patient does not read the staff register; they ask for an accounting.
    assert local.call("GET", f"/v1/patients/{pid}/disclosures", Role.PATIENT).status == 403
    register = local.ok("GET", f"/v1/patients/{pid}/disclosures", Role.COMPLIANCE)["items"]
    assert [d["id"] for d in register] == [
        breach["id"],
        authorised["id"],
        treatment["id"],
        public_health["id"],
        too_old["id"],
    ]

    # WHEN the patient asks for an accounting in the portal
    asked = local.ok(
        "POST", f"/v1/patients/{pid}/rights-requests", Role.PATIENT, {"kind": "accounting"}
    )
    # THEN it is due in 60 days and covers the six years before the request
    assert asked["due_on"] == str(TODAY + timedelta(days=60))
    assert asked["accounting_from"] == "2020-12-06"
    assert asked["accounting_to"] == str(TODAY)
    queue = local.ok("GET", "/v1/rights-requests?status=open", Role.COMPLIANCE)["items"]
    assert [(r["id"], r["kind"], r["overdue"]) for r in queue] == [
        (asked["id"], "accounting", False)
    ]
    # The patient cannot give themselves the accounting; the officer does.
    path = f"/v1/patients/{pid}/rights-requests/{asked['id']}"
    assert local.call("POST", f"{path}/accounting", Role.PATIENT, {"version": 1}).status == 403
    given = local.ok("POST", f"{path}/accounting", Role.COMPLIANCE, {"version": 1})
    # AND it holds exactly the accountable disclosures of those six years, with what
    # 164.528(b)(2) asks for: date, recipient and address, what, why
    assert given["status"] == "fulfilled"
    assert [d["id"] for d in given["disclosures"]] == [public_health["id"], breach["id"]]
    first = given["disclosures"][0]
    assert (first["disclosed_on"], first["recipient"], first["recipient_address"]) == (
        public_health["disclosed_on"],
        SECRET_RECIPIENT,
        "1 Station Road",
    )
    assert (first["description"], first["purpose"]) == (
        "Dates of treatment",
        "Purpose of the law_enforcement disclosure",
    )
    assert local.ok("GET", "/v1/rights-requests?status=open", Role.COMPLIANCE)["items"] == []

    # A disclosure recorded later does not change what the patient was given.
    disclose(local, pid, TODAY, "required_by_law")
    seen = local.ok("GET", path, Role.PATIENT)
    assert [d["id"] for d in seen["disclosures"]] == [public_health["id"], breach["id"]]
    # Giving it twice is refused, and changes nothing.
    status, error = local.error("POST", f"{path}/accounting", Role.COMPLIANCE, {"version": 2})
    assert (status, error["code"], error["details"]["reason"]) == (
        409,
        "invalid_request_state",
        "not_open",
    )
    # Another patient's request is out of reach for this patient.
    other = local.ok(
        "POST",
        "/v1/patients",
        Role.FRONT_DESK,
        {"legal_first_name": "Other", "legal_last_name": "Patient", "date_of_birth": "1990-01-01"},
    )
    assert (
        local.call("GET", f"/v1/patients/{other['id']}/rights-requests", Role.PATIENT).status == 404
    )

    # Every step is in the audit trail with the patient, and the recipient is sealed at rest.
    events = list(read_events(local.runtime.store.practice(local.practice_id), 1, local.head()))
    actions = [
        (e.action, e.patient_id) for e in events if e.action.startswith(("rights.", "disclosure."))
    ]
    assert ("disclosure.record", pid) in actions
    assert ("rights.request", pid) in actions
    assert ("rights.manage", pid) in actions
    assert ("rights.read", pid) in actions
    raw = (local.data_dir / "tpm.db").read_bytes()
    wal = local.data_dir / "tpm.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert b"Detective Quill" not in raw


def test_a_deadline_extends_once_with_a_reason_and_the_queue_shows_what_is_overdue(
    local: Local,
) -> None:
    # GIVEN a patient's request for access to their record, due in 30 days
    pid = patient_id(local)
    asked = local.ok(
        "POST", f"/v1/patients/{pid}/rights-requests", Role.PATIENT, {"kind": "access"}
    )
    assert asked["due_on"] == str(TODAY + timedelta(days=30))
    path = f"/v1/patients/{pid}/rights-requests/{asked['id']}"
    # WHEN the officer extends it once, with the reason given to the patient
    extended = local.ok(
        "POST", f"{path}/extend", Role.COMPLIANCE, {"version": 1, "reason": "Records off site"}
    )
    # THEN it is due 30 days later, and a second extension is refused
    assert extended["due_on"] == str(TODAY + timedelta(days=60))
    assert extended["extension"]["reason"] == "Records off site"
    status, error = local.error(
        "POST", f"{path}/extend", Role.COMPLIANCE, {"version": 2, "reason": "Again"}
    )
    assert (status, error["details"]["reason"]) == (409, "already_extended")
    # A stale version is a conflict, never an overwrite.
    status, error = local.error(
        "POST", f"{path}/extend", Role.COMPLIANCE, {"version": 1, "reason": "Again"}
    )
    assert (status, error["code"]) == (409, "version_conflict")
    # AND once the extended deadline passes the queue shows it overdue
    local.clock.advance(days=61)
    queue = local.ok("GET", "/v1/rights-requests?status=open", Role.COMPLIANCE)["items"]
    assert [(r["id"], r["overdue"]) for r in queue] == [(asked["id"], True)]
    # AND the daily job alerts the compliance role: due soon (7 days), then overdue, once each
    from tpm.services.compliance_jobs import run_daily

    local.clock.advance(days=-61)
    assert run_daily(local.runtime).extra.get("rights_warnings", 0) == 0
    local.clock.advance(days=54)  # 6 days left on the extended deadline
    assert run_daily(local.runtime).extra["rights_warnings"] == 1
    assert run_daily(local.runtime).extra.get("rights_warnings", 0) == 0  # once per state
    local.clock.advance(days=7)  # a day late
    assert run_daily(local.runtime).extra["rights_warnings"] == 1
    alerts = local.ok("GET", "/v1/security-alerts", Role.OWNER)["items"]
    assert [(a["kind"], a["patient_id"], a["reason"]) for a in alerts[:2]] == [
        ("rights_request_overdue", pid, "access"),
        ("rights_request_due_soon", pid, "access"),
    ]
    # Bad input changes nothing: an accounting period on an access request.
    status, error = local.error(
        "POST",
        f"/v1/patients/{pid}/rights-requests",
        Role.PATIENT,
        {"kind": "access", "period_from": "2024-01-01"},
    )
    assert (status, error["code"]) == (422, "validation_failed")


def test_an_amendment_is_accepted_or_denied_and_a_disagreement_is_kept_with_it(
    local: Local,
) -> None:
    pid = patient_id(local)
    base = f"/v1/patients/{pid}/rights-requests"
    # An amendment request must say what should change.
    status, error = local.error("POST", base, Role.PATIENT, {"kind": "amendment"})
    assert (status, error["code"]) == (422, "validation_failed")
    # GIVEN two amendment requests from the patient, due in 60 days
    wrong_date = local.ok(
        "POST",
        base,
        Role.PATIENT,
        {"kind": "amendment", "details": "My first visit was on 3 March, not 3 May."},
    )
    assert wrong_date["due_on"] == str(TODAY + timedelta(days=60))
    diagnosis = local.ok(
        "POST",
        base,
        Role.PATIENT,
        {"kind": "amendment", "details": "Please remove the diagnosis from my record."},
    )
    # WHEN the officer accepts the first (the amendment as made is kept with the record)
    accepted = local.ok(
        "POST",
        f"{base}/{wrong_date['id']}/decision",
        Role.COMPLIANCE,
        {"version": 1, "accept": True, "response": "First visit date corrected to 3 March."},
    )
    assert (accepted["status"], accepted["response"]) == (
        "accepted",
        "First visit date corrected to 3 March.",
    )
    # AND denies the second with the basis for the denial
    denied = local.ok(
        "POST",
        f"{base}/{diagnosis['id']}/decision",
        Role.COMPLIANCE,
        {"version": 1, "accept": False, "response": "The record is accurate and complete."},
    )
    assert denied["status"] == "denied"
    # A decided request is not decided again.
    status, error = local.error(
        "POST",
        f"{base}/{diagnosis['id']}/decision",
        Role.COMPLIANCE,
        {"version": 2, "accept": True, "response": "Changed my mind"},
    )
    assert (status, error["details"]["reason"]) == (409, "not_open")
    # A disagreement answers a denial only.
    status, error = local.error(
        "POST",
        f"{base}/{wrong_date['id']}/disagreement",
        Role.PATIENT,
        {"version": 2, "statement": "x"},
    )
    assert (status, error["details"]["reason"]) == (409, "not_denied")
    # THEN the patient files a statement of disagreement, kept with the request, once
    statement = "I disagree: the diagnosis was made without seeing me."
    kept = local.ok(
        "POST",
        f"{base}/{diagnosis['id']}/disagreement",
        Role.PATIENT,
        {"version": 2, "statement": statement},
    )
    assert (kept["disagreement"], kept["response"]) == (
        statement,
        "The record is accurate and complete.",
    )
    status, error = local.error(
        "POST",
        f"{base}/{diagnosis['id']}/disagreement",
        Role.PATIENT,
        {"version": 3, "statement": "Again"},
    )
    assert (status, error["details"]["reason"]) == (409, "already_recorded")
    # AND the patient's record of requests shows both outcomes, newest first
    mine = local.ok("GET", base, Role.PATIENT)["items"]
    assert [(r["id"], r["status"]) for r in mine] == [
        (diagnosis["id"], "denied"),
        (wrong_date["id"], "accepted"),
    ]
    assert mine[0]["disagreement"] == statement


PSYCHOTHERAPY_SECRET = "dream about the lighthouse keeper"
PDF = b"%PDF-1.4\n% synthetic school letter\n%%EOF\n"


def test_the_patient_gets_their_record_as_a_valid_fhir_bundle_and_a_pdf_without_psychotherapy_notes(
    local: Local,
) -> None:
    from fhir.resources.R4B.bundle import Bundle

    # GIVEN a patient with a signed progress note, a psychotherapy note and a filed document
    pid = patient_id(local)
    clinician = local.ok("GET", "/v1/me", Role.CLINICIAN)["id"]
    added = local.call(
        "POST", f"/v1/patients/{pid}/care-team", Role.FRONT_DESK, {"user_id": clinician}
    )
    assert added.status in (201, 409)  # the demo clinician may be on the team already
    content = json.loads(
        (
            Path(__file__).parents[1] / "fixtures" / "template_examples" / "progress_note_soap.json"
        ).read_text("utf-8")
    )
    content["session"] |= {"date": "2026-12-01"}
    note = local.ok(
        "POST",
        "/v1/notes",
        Role.CLINICIAN,
        {"patient_id": pid, "template_id": "progress_note_soap", "content": content},
    )
    local.ok(
        "POST",
        f"/v1/notes/{note['id']}/sign",
        Role.CLINICIAN,
        {"version": note["version"], "attestation": True},
    )
    local.ok(
        "POST",
        "/v1/psychotherapy-notes",
        Role.CLINICIAN,
        {"patient_id": pid, "text": f"Process notes: the {PSYCHOTHERAPY_SECRET}."},
    )
    local.ok(
        "POST",
        f"/v1/patients/{pid}/documents",
        Role.FRONT_DESK,
        {
            "title": "Letter for school (synthetic)",
            "filename": "letter.pdf",
            "content_type": "application/pdf",
            "content_base64": base64.b64encode(PDF).decode(),
        },
    )

    # WHEN the patient asks for their record and the officer gives it
    asked = local.ok(
        "POST", f"/v1/patients/{pid}/rights-requests", Role.PATIENT, {"kind": "access"}
    )
    path = f"/v1/patients/{pid}/rights-requests/{asked['id']}"
    # (nothing to download before it is given)
    assert local.call("GET", f"{path}/package/fhir", Role.PATIENT).status == 404
    given = local.ok("POST", f"{path}/access", Role.COMPLIANCE, {"version": 1})
    assert given["status"] == "fulfilled"
    assert sorted(f["format"] for f in given["package"]) == ["fhir", "pdf"]

    # THEN the patient downloads a FHIR bundle that fhir.resources validates
    before = local.head()
    fhir = local.ok("GET", f"{path}/package/fhir", Role.PATIENT)
    assert fhir["content_type"] == "application/fhir+json"
    raw = base64.b64decode(fhir["content_base64"])
    assert hashlib.sha256(raw).hexdigest() == next(
        f["sha256"] for f in given["package"] if f["format"] == "fhir"
    )
    bundle = Bundle.model_validate_json(raw)
    kinds = {e.resource.get_resource_type() for e in bundle.entry}
    assert kinds >= {"Patient", "DocumentReference"}
    resources = [e["resource"] for e in json.loads(raw)["entry"]]
    documents = [r for r in resources if r["resourceType"] == "DocumentReference"]
    assert sorted(d["type"]["text"] for d in documents) == ["Document", "Progress note"]
    attached = {
        d["type"]["text"]: base64.b64decode(d["content"][0]["attachment"]["data"])
        for d in documents
    }
    assert f"subjective: {content['subjective']}".encode() in attached["Progress note"]
    assert attached["Document"] == PDF
    # AND it holds no psychotherapy note
    assert PSYCHOTHERAPY_SECRET.encode() not in raw
    # AND the PDF comes with it
    pdf = local.ok("GET", f"{path}/package/pdf", Role.PATIENT)
    assert base64.b64decode(pdf["content_base64"]).startswith(b"%PDF-")
    # Each download is audited with the patient; another patient cannot download it.
    events = list(
        read_events(local.runtime.store.practice(local.practice_id), before + 1, local.head())
    )
    assert [(e.action, e.reason_code, e.patient_id) for e in events] == [
        ("rights.read", "download_fhir", pid),
        ("rights.read", "download_pdf", pid),
    ]
    assert local.call("GET", f"{path}/package/zip", Role.PATIENT).status == 404
