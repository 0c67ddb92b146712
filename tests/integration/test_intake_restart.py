"""Intake end to end against a real `tpm dev`, killed (SIGKILL) in the middle and started
again: invite → verify → forms → (kill, restart) → consents → review with one change
request → approved → appointment booked → done, with nothing lost or repeated."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from intake_world import filled

from tpm.config import get_settings
from tpm.domain.scheduling import Appointment
from tpm.ids import new_id
from tpm.local.bootstrap import ensure_demo_practice, local_settings, prepare_data_dir
from tpm.local.demo import DEMO_ACCOUNTS, DEMO_PATIENT
from tpm.repositories.appointments import AppointmentRepository
from tpm.runtime import Runtime, build_runtime, set_runtime
from tpm.security.audit import read_events, read_head
from tpm.security.principal import Principal, Role
from tpm.services.context import ServiceContext
from tpm.services.intake_templates import IntakeTemplateService

PASSWORDS = {a.role: a for a in (*DEMO_ACCOUNTS, DEMO_PATIENT)}
TEMPLATE = {
    "name": "Short intake",
    "forms": [{"key": "phq", "template_id": "phq2"}],
    "consents": [{"key": "sms", "template_id": "electronic_communication_consent"}],
}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def offline_runtime(data_dir: Path) -> Iterator[Runtime]:
    """The data dir opened in-process while no server runs."""
    get_settings.cache_clear()
    runtime = build_runtime(local_settings(data_dir))
    try:
        yield runtime
    finally:
        runtime.store.close()
        set_runtime(None)


@contextmanager
def server(data_dir: Path, root: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPM_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tpm.cli", "dev", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("tpm dev did not start")
        time.sleep(0.2)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


class Client:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.tokens: dict[Role, str] = {}

    def sign_in(self, *roles: Role) -> None:
        for role in roles:
            body = {"practice": "demo", "email": PASSWORDS[role].email}
            body["password"] = PASSWORDS[role].password
            answer = httpx.post(f"{self.base}/v1/auth/login", json=body, timeout=30)
            assert answer.status_code == 200, answer.text
            self.tokens[role] = answer.json()["access_token"]

    def ok(self, role: Role, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        headers = {"authorization": f"Bearer {self.tokens[role]}"}
        answer = httpx.request(
            method, self.base + path, json=body, headers=headers, timeout=30, **kw
        )
        assert 200 <= answer.status_code < 300, (path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def wait_for_step(self, step: str | None, status: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + 45
        while True:
            checklist = self.ok(Role.PATIENT, "GET", "/v1/me/intake")
            if checklist["current_step"] == step and status in (None, checklist["status"]):
                return dict(checklist)
            assert time.monotonic() < deadline, checklist
            time.sleep(0.3)

    def code(self) -> str:
        page = httpx.get(f"{self.base}/dev/outbox", timeout=30).text
        found = re.findall(r"one-time code is (\d{6})", page)
        assert found, "no code in the outbox"
        return found[0]  # newest first


def owner(runtime: Runtime, practice_id: str) -> ServiceContext:
    from tpm.repositories.users import UserRepository

    users = UserRepository(runtime.store.practice(practice_id), runtime.cipher)
    account = users.find_by_email(PASSWORDS[Role.OWNER].email)
    assert account is not None
    principal = Principal(
        user_id=account.id,
        practice_id=practice_id,
        roles=frozenset({Role.OWNER}),
        session_id="test",
        auth_time=runtime.clock.now(),
        mfa_authenticated=True,
    )
    return ServiceContext(runtime, principal)


def test_an_intake_survives_a_killed_tpm_dev(tmp_path: Path, project_root: Path) -> None:
    data_dir = tmp_path / "data"
    prepare_data_dir(data_dir)
    with offline_runtime(data_dir) as runtime:
        practice_id = ensure_demo_practice(runtime).practice_id
        template = IntakeTemplateService(owner(runtime, practice_id)).save(None, 0, dict(TEMPLATE))
    port = free_port()
    client = Client(port)

    # GIVEN an intake started and worked through identity and forms
    with server(data_dir, project_root, port) as first:
        client.sign_in(Role.CLINICIAN, Role.PATIENT)
        me = client.ok(Role.PATIENT, "GET", "/v1/me")
        patient_id = me["patient_id"]
        intake = client.ok(
            Role.CLINICIAN,
            "POST",
            f"/v1/patients/{patient_id}/intakes",
            {"template_id": template.id},
        )
        client.wait_for_step("identity")
        client.ok(Role.PATIENT, "POST", "/v1/me/intake/identity", {"date_of_birth": "1990-01-01"})
        client.ok(Role.PATIENT, "POST", "/v1/me/intake/identity/code", {"code": client.code()})
        client.wait_for_step("forms")
        form = client.ok(Role.PATIENT, "GET", "/v1/me/intake/forms/phq")
        body = {"version": 0, "content": filled(form), "submit": True}
        client.ok(Role.PATIENT, "PUT", "/v1/me/intake/forms/phq", body)
        # WHEN tpm dev is killed at once (the runner may be between transitions)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=20)

    # (while it is down, the first visit is booked elsewhere)
    with offline_runtime(data_dir) as runtime:
        store = runtime.store.practice(practice_id)
        start = (runtime.clock.now() + timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
        appointment = Appointment(
            id=new_id("apt"),
            patient_ids=(patient_id,),
            clinician_id=new_id("usr"),
            location_id=new_id("loc"),
            service_id=new_id("svc"),
            start=start,
            end=start + timedelta(hours=1),
            created_by="test",
            created_at=runtime.clock.now(),
        )
        store.transact(AppointmentRepository(store, runtime.cipher).create_ops(appointment))

    # THEN a new tpm dev carries on where it was, and the intake finishes
    with server(data_dir, project_root, port):
        client.sign_in(Role.CLINICIAN, Role.PATIENT)
        client.wait_for_step("consents")
        consent = client.ok(Role.PATIENT, "GET", "/v1/me/intake/forms/sms")
        signed = {
            "content": filled(consent),
            "signer_name": "Pat Example",
            "document_hash": consent["document_hash"],
            "agree": True,
        }
        client.ok(Role.PATIENT, "POST", "/v1/me/intake/consents/sms/sign", signed)
        client.wait_for_step("review", "in_review")
        detail = client.ok(Role.CLINICIAN, "GET", f"/v1/intakes/{intake['id']}")
        change = {
            "version": detail["intake"]["version"],
            "decision": "request_changes",
            "step": "forms",
            "comment": "Please answer again.",
        }
        client.ok(Role.CLINICIAN, "POST", f"/v1/intakes/{intake['id']}/review", change)
        client.wait_for_step("forms", "changes_requested")
        form = client.ok(Role.PATIENT, "GET", "/v1/me/intake/forms/phq")
        body = {"version": form["response"]["version"], "content": filled(form), "submit": True}
        client.ok(Role.PATIENT, "PUT", "/v1/me/intake/forms/phq", body)
        client.wait_for_step("review", "in_review")
        detail = client.ok(Role.CLINICIAN, "GET", f"/v1/intakes/{intake['id']}")
        approve = {"version": detail["intake"]["version"], "decision": "approve"}
        client.ok(Role.CLINICIAN, "POST", f"/v1/intakes/{intake['id']}/review", approve)
        client.wait_for_step("appointment")
        client.ok(
            Role.PATIENT, "POST", "/v1/me/intake/appointment", {"appointment_id": appointment.id}
        )
        deadline = time.monotonic() + 45
        while (
            client.ok(Role.CLINICIAN, "GET", f"/v1/intakes/{intake['id']}")["intake"]["status"]
            != "completed"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.3)

    # Nothing lost or repeated: one execution, each transition once, each step opened once
    # per time it was due, one verification code, the workflow finished.
    with offline_runtime(data_dir) as runtime:
        workflows = runtime.workflows
        # (the demo practice's own intakes have executions and events of their own)
        executions = [
            e for e in workflows.executions(practice_id, "intake") if intake["id"] in e.name
        ]
        assert len(executions) == 1
        assert executions[0].status == "SUCCEEDED"
        history = workflows.history(practice_id, executions[0].id)
        entered = Counter(e.state for e in history if e.type == "StateEntered")
        assert entered["NextStep"] == entered["Route"] == 8  # 7 waits answered + the end
        assert entered["Complete"] == 1
        callbacks = [e.state for e in history if e.type == "CallbackSucceeded"]
        assert len(callbacks) == 7
        store = runtime.store.practice(practice_id)
        head = read_head(store)
        assert head is not None
        events = [e for e in read_events(store, 1, head.seq) if e.resource_id == intake["id"]]
        opened = [e.reason_code for e in events if e.action == "intake.step.open"]
        assert opened == ["identity", "forms", "consents", "review", "review", "appointment"]
        assert sum(e.action == "intake.completed" for e in events) == 1
        assert sum(e.reason_code == "code_sent" for e in events) == 1
