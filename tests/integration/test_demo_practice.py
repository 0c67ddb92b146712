"""The demo practice `tpm dev` seeds on first start shows the product working, and every
record in it went through the services: read back through the API as each role would,
and the audit chain verifies."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from support.gateway_calls import call_gateway

from tpm.config import get_settings
from tpm.local.authorizer import verify_bearer
from tpm.local.bootstrap import (
    DEMO_SLUG,
    ensure_demo_practice,
    export_settings,
    local_settings,
    prepare_data_dir,
)
from tpm.local.demo import DEMO_ACCOUNTS
from tpm.local.demo_practice import SUPERVISEE_EMAIL, SUPERVISEE_PASSWORD
from tpm.local.gateway import LocalGateway
from tpm.runtime import Runtime, build_runtime, set_runtime
from tpm.security.audit import read_events, read_head
from tpm.security.audit_verify import verify
from tpm.security.principal import Role

ACCOUNTS = {a.role: a for a in DEMO_ACCOUNTS}


@dataclass
class Demo:
    runtime: Runtime
    gateway: LocalGateway
    practice_id: str
    tokens: dict[Role, str] = field(default_factory=dict)

    def token(self, email: str, password: str, enrol: bool = False) -> str:
        body = {"practice": DEMO_SLUG, "email": email, "password": password}
        reply = call_gateway(self.gateway, "POST", "/v1/auth/login", body=body)
        assert reply.status == 200, reply.body
        token = str(json.loads(reply.body)["access_token"])
        if enrol:
            started = json.loads(
                call_gateway(self.gateway, "POST", "/v1/me/mfa/totp", token=token).body
            )
            code = {"code": pyotp.TOTP(started["secret"]).now()}
            assert (
                call_gateway(
                    self.gateway, "POST", "/v1/me/mfa/totp/confirm", token=token, body=code
                ).status
                == 200
            )
        return token

    def as_role(self, role: Role) -> str:
        """One sign-in per role for the module's practice (MFA enrolled on the first)."""
        if role not in self.tokens:
            demo = ACCOUNTS[role]
            enrol = role in (Role.SUPERVISOR, Role.COMPLIANCE, Role.BILLER)
            self.tokens[role] = self.token(demo.email, demo.password, enrol=enrol)
        return self.tokens[role]

    def get(self, path: str, token: str, query: list[tuple[str, str]] | None = None) -> Any:
        reply = call_gateway(self.gateway, "GET", path, token=token, query=query)
        assert reply.status == 200, (path, reply.body)
        return json.loads(reply.body)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, project_root: Path) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("demo")
    prepare_data_dir(data_dir)
    settings = local_settings(data_dir, environment="test")
    export_settings(settings)
    get_settings.cache_clear()
    runtime = build_runtime(settings)
    set_runtime(runtime)
    info = ensure_demo_practice(runtime)
    assert info.created
    yield Demo(runtime, LocalGateway(project_root, authorizer=verify_bearer), info.practice_id)
    set_runtime(None)


def patient_ids(demo: Demo, token: str) -> dict[str, str]:
    found = {}
    for name in ("Avery", "Jordan", "Riley", "Morgan"):
        reply = call_gateway(
            demo.gateway, "POST", "/v1/patients/search", token=token, body={"name": name}
        )
        items = json.loads(reply.body)["items"]
        assert len(items) == 1, name
        assert "(synthetic)" in items[0]["legal_last_name"]
        found[name] = items[0]["id"]
    return found


def test_two_weeks_of_appointments_in_every_state(demo: Demo) -> None:
    clinician = demo.as_role(Role.CLINICIAN)
    me = demo.get("/v1/me", clinician)["id"]
    now = datetime.now(UTC)
    window = [
        ("clinician_id", me),
        ("from", (now - timedelta(days=16)).isoformat()),
        ("to", (now + timedelta(days=16)).isoformat()),
        ("limit", "100"),
    ]
    items = demo.get("/v1/appointments", clinician, window)["items"]
    statuses = Counter(a["status"] for a in items)
    assert statuses["no_show"] >= 1
    assert statuses["cancelled"] >= 1
    assert statuses["completed"] >= 1
    assert statuses["booked"] >= 3
    assert any(a["series_id"] for a in items)  # a recurring series
    assert any(len(a["patient_ids"]) == 3 for a in items)  # a group session
    assert any(a["start"] < now.isoformat() for a in items)
    assert any(a["start"] > now.isoformat() for a in items)


def test_notes_in_each_state_and_the_supervision_queue(demo: Demo) -> None:
    clinician = demo.as_role(Role.CLINICIAN)
    ids = patient_ids(demo, clinician)
    riley = demo.get(f"/v1/patients/{ids['Riley']}/notes", clinician)["items"]
    avery = demo.get(f"/v1/patients/{ids['Avery']}/notes", clinician)["items"]
    assert [n["status"] for n in riley] == ["signed"]
    assert demo.get(f"/v1/notes/{riley[0]['id']}", clinician)["addenda"]
    # (Avery's draft, and the session billing's demo billed yesterday)
    assert sorted(n["status"] for n in avery) == ["draft", "signed"]
    supervisee = demo.token(SUPERVISEE_EMAIL, SUPERVISEE_PASSWORD)
    morgan = demo.get(f"/v1/patients/{ids['Morgan']}/notes", supervisee)["items"]
    assert sorted(n["status"] for n in morgan) == ["cosigned", "pending_cosign", "returned"]
    supervisor = demo.as_role(Role.SUPERVISOR)
    queue = demo.get("/v1/supervision/queue", supervisor)["items"]
    assert [n["status"] for n in queue] == ["pending_cosign"]


def test_billing_a_paid_claim_one_to_batch_an_exception_and_an_approval(demo: Demo) -> None:
    biller = demo.as_role(Role.BILLER)
    paid = demo.get("/v1/claims", biller, query=[("status", "paid")])["items"]
    ready = demo.get("/v1/claims", biller, query=[("status", "validated")])["items"]
    assert (len(paid), len(ready)) == (1, 1)
    [stray] = demo.get("/v1/billing/exceptions", biller)["items"]
    assert (stray["kind"], stray["claim_ref"]) == ("unmatched_claim", "CNOTOURS01")
    [request] = demo.get("/v1/adjustment-requests", biller)["items"]
    assert (request["kind"], request["amount"], request["status"]) == (
        "write_off",
        "30.00",
        "pending",
    )
    ledger = demo.get(f"/v1/patients/{paid[0]['patient_id']}/ledger", biller)
    assert ledger["patient_balance"] == "30.00"
    assert demo.get("/v1/charges", biller)["items"]  # Morgan's sessions: ready to bill


def test_a_phq9_series_with_a_flagged_point_and_its_risk_flag(demo: Demo) -> None:
    clinician = demo.as_role(Role.CLINICIAN)
    avery = patient_ids(demo, clinician)["Avery"]
    series = demo.get(f"/v1/patients/{avery}/measures/phq9/series", clinician)["items"]
    assert len(series) == 8
    assert [p["completed_at"] for p in series] == sorted(p["completed_at"] for p in series)
    assert sum(1 for p in series if p["flags"]) == 1
    flags = demo.get("/v1/measure-flags", clinician)["items"]
    assert [f["patient_id"] for f in flags] == [avery]
    # the clinician's supervisor sees it too
    assert demo.get("/v1/measure-flags", demo.as_role(Role.SUPERVISOR))["items"]


def test_documents_a_waitlist_entry_and_a_chain_that_verifies(demo: Demo) -> None:
    desk = demo.as_role(Role.FRONT_DESK)
    ids = patient_ids(demo, desk)
    docs = demo.get(f"/v1/patients/{ids['Riley']}/documents", desk)["items"]
    assert sorted(d["shared_with_patient"] for d in docs) == [False, True]
    assert demo.get("/v1/waitlist", desk)["items"]
    store = demo.runtime.store.practice(demo.practice_id)
    report = verify(store, demo.runtime.audit.signer.public_keys(), demo.runtime.audit.sink)
    assert report.ok, report.problems
    # every area wrote through the services: their actions are in the trail
    head = read_head(store)
    assert head is not None
    actions = Counter(e.action for e in read_events(store, 1, head.seq))
    for action in (
        "scheduling.catalogue.manage",
        "patient.create",
        "appointment.book",
        "appointment.status",
        "appointment.cancel",
        "note.create",
        "note.sign",
        "note.addendum",
        "note.cosign",
        "note.return",
        "measure.request.create",
        "measure.response.submit",
        "document.upload",
        "waitlist.create",
        "message.thread.create",
        "message.send",
    ):
        assert actions[action] >= 1, action


def test_intakes_stalled_in_review_and_invited(demo: Demo) -> None:
    desk = demo.as_role(Role.FRONT_DESK)
    ids = {v: k for k, v in patient_ids(demo, desk).items()}
    queue = demo.get("/v1/intakes", desk)["items"]
    # Stalled first: five wrong dates of birth locked Riley's identity check.
    assert (ids[queue[0]["patient_id"]], queue[0]["status"]) == ("Riley", "stalled")
    statuses = {ids[i["patient_id"]]: i["status"] for i in queue}
    assert statuses == {"Riley": "stalled", "Jordan": "in_review", "Morgan": "invited"}
    # Jordan's packet: both forms, two signed consents with their PDFs, both card photos.
    clinician = demo.as_role(Role.CLINICIAN)
    (jordan,) = [i for i in queue if statuses[ids[i["patient_id"]]] == "in_review"]
    detail = demo.get(f"/v1/intakes/{jordan['id']}", clinician)
    assert sorted(f["key"] for f in detail["forms"]) == ["phq9", "registration"]
    assert all(f["status"] == "submitted" for f in detail["forms"])
    assert sorted(c["key"] for c in detail["consents"]) == ["telehealth", "treatment"]
    assert all(c["document_id"] for c in detail["consents"])
    assert sorted(c["side"] for c in detail["insurance_cards"]) == ["back", "front"]


def test_secure_messages_in_the_clinicians_inbox(demo: Demo) -> None:
    clinician = demo.as_role(Role.CLINICIAN)
    ids = patient_ids(demo, clinician)
    inbox = {i["subject"]: i for i in demo.get("/v1/me/inbox", clinician)["items"]}
    # Avery's thread: answered once, then a second message nobody has answered yet
    avery = inbox["Worksheet from Tuesday"]
    assert (avery["patient_id"], avery["kind"], avery["awaiting_reply"]) == (
        ids["Avery"],
        "patient",
        True,
    )
    thread = demo.get(f"/v1/threads/{avery['thread_id']}", clinician)
    authors = [m["author_kind"] for m in thread["messages"] if m["author_kind"] != "system"]
    assert authors == ["patient", "staff", "patient"]
    # a staff-only thread about Morgan, from the supervisee
    morgan = inbox["Cover for Morgan next week"]
    assert (morgan["patient_id"], morgan["kind"]) == (ids["Morgan"], "staff")


def test_a_minor_whose_parent_signs_in_as_a_proxy(demo: Demo) -> None:
    from tpm.local.demo_proxies import GUARDIAN_EMAIL, GUARDIAN_PASSWORD

    # GIVEN the demo parent signs in to the portal with their own account
    guardian = demo.token(GUARDIAN_EMAIL, GUARDIAN_PASSWORD)
    me = demo.get("/v1/me", guardian)
    assert (me["roles"], me["patient_id"]) == (["proxy"], None)
    # THEN they act for one minor, for messages and appointments, until the minor is 18
    [acting] = demo.get("/v1/proxy/patients", guardian)["items"]
    assert acting["display_name"].startswith("Sky")
    assert (acting["relationship"], acting["scopes"]) == (
        "parent_of_minor",
        ["appointments", "messaging"],
    )
    assert acting["access_ends_at"] is not None
    # AND their conversation with the care team is there, and the clinician sees who wrote
    [thread] = demo.get(f"/v1/proxy/patients/{acting['patient_id']}/threads", guardian)["items"]
    clinician = demo.as_role(Role.CLINICIAN)
    seen = demo.get(f"/v1/threads/{thread['id']}", clinician)
    # (and the practice's automatic reply between them when the seed ran after hours)
    kinds = [m["author_kind"] for m in seen["messages"] if m["author_kind"] != "system"]
    assert kinds == ["proxy", "staff"]
    assert seen["awaiting_reply_since"] is None  # answered: nothing escalates in the demo
    first = seen["messages"][0]
    assert (first["author_kind"], first["author_name"]) == ("proxy", "Quinn Guardian (synthetic)")
