"""Authorization matrix rows for proxy (guardian) portal access (see matrix.py for the format).

Staff routes target a patient like every patient route ("own": on the clinician's care
team; "other": related to nobody; "foreign": practice B). Proxy routes are called by
practice A's proxy account: "own" is a patient it holds a live grant for (every scope),
"other" a patient of practice A it holds no grant for, "foreign" a patient of practice B.
Params carry the patient id, so the audit harness checks every event names the patient
(the actor is the proxy)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date
from typing import Any

from matrix import CL, OW, PATIENT_VARIANTS, PX, A, C, Case, F, S, Target, patient
from matrix_messaging import thread_target
from world import World

from tpm.domain.messaging import AuthorKind, Message, Thread, ThreadKind
from tpm.domain.proxies import ProxyGrant, ProxyRelationship, ProxyScope
from tpm.ids import new_id
from tpm.repositories.messaging import MessagingRepository
from tpm.repositories.proxies import ProxyRepository
from tpm.security.principal import Role

MANAGERS_CREATE = {OW: (201, 201, 404), A: (201, 201, 404), F: (201, 201, 404), CL: (201, 404, 404)}
MANAGERS = {OW: (200, 200, 404), A: (200, 200, 404), F: (200, 200, 404), CL: (200, 404, 404)}


def practice_of(world: World, variant: str) -> str:
    return world.b.id if variant == "foreign" else world.a.id


def grant_for(world: World, practice_id: str, patient_id: str, user_id: str) -> ProxyGrant:
    grant = ProxyGrant(
        id=new_id("pxy"),
        patient_id=patient_id,
        proxy_user_id=user_id,
        relationship=ProxyRelationship.LEGAL_GUARDIAN,
        basis="Letters of guardianship on file (synthetic)",
        scopes=tuple(ProxyScope),
        invited_by="test-harness",
        invited_at=world.runtime.clock.now(),
    )
    repo = ProxyRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    world.system_write(practice_id, [repo.put_op(grant)])
    return grant


def staff_grant_target(body: Callable[[ProxyGrant], Any] | None = None) -> Target:
    """A patient (per variant) with one proxy grant; params name both."""

    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        pid = patient(world, role, variant)
        practice_id = practice_of(world, variant)
        proxy = world.new_user(practice_id, Role.PROXY, mfa_on=False)
        grant = grant_for(world, practice_id, pid, proxy.id)
        return {"patientId": pid, "proxyId": grant.id}, body(grant) if body else None

    return make


def invite_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = patient(world, role, variant)
    body = {
        "email": f"guardian-{secrets.token_hex(6)}@example.test",
        "display_name": "Gus Guardian (synthetic)",
        "relationship": "legal_guardian",
        "basis": "Letters of guardianship scanned to the chart (synthetic)",
        "scopes": ["messaging", "appointments"],
        "ends_on": date(2099, 1, 1).isoformat(),
    }
    return {"patientId": pid}, body


def proxied_patient(world: World, variant: str) -> str:
    """A patient for practice A's proxy account: granted ("own") or not."""
    if variant == "foreign":
        return world.b.own_patient
    clinician = world.a.users[Role.CLINICIAN].id
    pid = world.new_patient(world.a.id, care_team=[clinician])
    if variant == "own":
        grant_for(world, world.a.id, pid, world.a.users[Role.PROXY].id)
    return pid


def proxy_target(body: Any = None) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        return {"patientId": proxied_patient(world, variant)}, body

    return make


def proxy_thread_target(body: Any = None) -> Target:
    """A thread visible to proxies about the variant's patient (one clinician message)."""

    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        pid = proxied_patient(world, variant)
        practice_id = practice_of(world, variant)
        practice = world.b if variant == "foreign" else world.a
        staff = practice.users[Role.CLINICIAN].id
        now = world.runtime.clock.now()
        thread = Thread(
            id=new_id("thr"),
            kind=ThreadKind.PATIENT,
            patient_id=pid,
            subject="Harness proxy thread (synthetic)",
            patient_name="Testy McPatient",
            staff_ids=(staff,),
            proxy_visible=True,
            created_by="test-harness",
            created_at=now,
            last_message_at=now,
            last_author_kind=AuthorKind.STAFF,
            message_count=1,
        )
        message = Message(
            id=new_id("msg"),
            thread_id=thread.id,
            patient_id=pid,
            author_id=staff,
            author_kind=AuthorKind.STAFF,
            author_name="Test clinician (synthetic)",
            body="Harness message (synthetic)",
            sent_at=now,
        )
        repo = MessagingRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
        world.system_write(practice_id, [repo.thread_op(thread), repo.message_op(message)])
        return {"patientId": pid, "threadId": thread.id}, body

    return make


CASES: list[Case] = [
    # -- staff: a patient's proxies --
    Case(
        "POST",
        "/v1/patients/{patientId}/proxies",
        MANAGERS_CREATE,
        variants=PATIENT_VARIANTS,
        target=invite_target,
        audit=("patient.proxy.invite",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/proxies",
        {**MANAGERS, C: (200, 200, 404), S: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=staff_grant_target(),
        audit=("patient.proxy.read",),
        patient_scoped=True,
    ),
    Case(
        "PATCH",
        "/v1/patients/{patientId}/proxies/{proxyId}",
        MANAGERS,
        variants=PATIENT_VARIANTS,
        target=staff_grant_target(lambda g: {"version": g.version, "scopes": ["appointments"]}),
        audit=("patient.proxy.update",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/proxies/{proxyId}/revoke",
        MANAGERS,
        variants=PATIENT_VARIANTS,
        target=staff_grant_target(),
        audit=("patient.proxy.revoke",),
        patient_scoped=True,
    ),
    Case(
        "PUT",
        "/v1/patients/{patientId}/proxy-restriction",
        {OW: (200, 200, 404), CL: (200, 404, 404), S: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=lambda w, r, v: ({"patientId": patient(w, r, v)}, {"restricted": True}),
        audit=("patient.proxy.restrict",),
        patient_scoped=True,
    ),
    Case(
        "PUT",
        "/v1/threads/{threadId}/proxy-visibility",
        {OW: (200, 200, 404), CL: (200, 404, 404), S: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=thread_target(lambda t, m: {"visible": True, "version": t.version}),
        audit=("message.proxy_share",),
        patient_scoped=True,
    ),
    # -- the proxy's own routes --
    Case("GET", "/v1/proxy/patients", {PX: 200}, audit=("proxy.patients.read",)),
    Case(
        "GET",
        "/v1/proxy/patients/{patientId}/threads",
        {PX: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=proxy_target(),
        audit=("proxy.message.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/proxy/patients/{patientId}/threads",
        {PX: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=proxy_target({"subject": "A question (synthetic)", "body": "Hello (synthetic)"}),
        audit=("proxy.message.send",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/proxy/patients/{patientId}/threads/{threadId}",
        {PX: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=proxy_thread_target(),
        audit=("proxy.message.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/proxy/patients/{patientId}/threads/{threadId}/messages",
        {PX: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=proxy_thread_target({"body": "Thank you (synthetic)"}),
        audit=("proxy.message.send",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/proxy/patients/{patientId}/appointments",
        {PX: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=proxy_target(),
        audit=("proxy.appointment.read",),
        patient_scoped=True,
    ),
]
