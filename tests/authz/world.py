"""A small, fully-related world for the authorization and audit harnesses.

Two practices. Practice A has one user per role and patients with known relationships:
  own_patient    on the clinician's care team; the clinician is supervised by the
                 supervisor; the patient user's own record
  other_patient  related to nobody
Practice B mirrors enough to be a "foreign" target. Every call gets a fresh session and
token for its role, so logout/password changes in one case never disturb the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from support.gateway_calls import call_gateway

from tpm.adapters.store.base import Operation
from tpm.config import get_settings
from tpm.domain.patients import Patient
from tpm.domain.sessions import Session
from tpm.domain.users import User, UserStatus
from tpm.ids import new_id
from tpm.local.authorizer import verify_bearer
from tpm.local.bootstrap import export_settings, local_settings
from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.repositories.patients import PatientRepository
from tpm.repositories.relationships import StoreRelationships
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime, build_runtime, set_runtime
from tpm.security import mfa, passwords
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import Role, SystemActor
from tpm.services.practices import create_practice

PASSWORD = "quiet-lantern-orbit-74"
ROLES = list(Role)
_HASH: dict[str, str] = {}


def password_hash() -> str:
    if "h" not in _HASH:
        _HASH["h"] = passwords.hash_password(PASSWORD)
    return _HASH["h"]


@dataclass
class Practice:
    id: str
    users: dict[Role, User] = field(default_factory=dict)
    own_patient: str = ""
    other_patient: str = ""


@dataclass
class World:
    runtime: Runtime
    gateway: LocalGateway
    a: Practice
    b: Practice

    # ---- building ---------------------------------------------------------------------

    def system_write(
        self, practice_id: str, ops: list[Operation], action: str = "practice.seed"
    ) -> None:
        self.runtime.audit.write_with_audit(
            self.runtime.store.practice(practice_id),
            lambda: list(ops),
            AuditEvent.for_system(
                SystemActor("test-harness", practice_id), action=action, resource_kind="practice"
            ),
        )

    def new_user(
        self, practice_id: str, role: Role, *, patient_id: str | None = None, mfa_on: bool = True
    ) -> User:
        store = self.runtime.store.practice(practice_id)
        repo = UserRepository(store, self.runtime.cipher)
        user_id = new_id("usr")
        user = User(
            id=user_id,
            email=f"{role.value}-{user_id[-8:]}@example.test",
            display_name=f"Test {role.value} (synthetic)",
            roles=frozenset({role}),
            status=UserStatus.ACTIVE,
            patient_id=patient_id,
            password_hash=password_hash(),
            mfa_secret=mfa.new_totp_secret() if mfa_on else None,
            created_at=self.runtime.clock.now(),
        )
        self.system_write(practice_id, [*repo.create_ops(user)])
        return user

    def new_patient(self, practice_id: str, *, care_team: list[str] = ()) -> str:  # type: ignore[assignment]
        store = self.runtime.store.practice(practice_id)
        patient = Patient(
            id=new_id("pat"),
            legal_first_name="Testy",
            legal_last_name="McPatient",
            date_of_birth=date(1985, 5, 5),
            email="testy@example.test",
            created_at=self.runtime.clock.now(),
            created_by="test-harness",
        )
        ops: list[Operation] = [PatientRepository(store, self.runtime.cipher).create_op(patient)]
        ops += [
            StoreRelationships.add_member_op(patient.id, uid, self.runtime.clock.now())
            for uid in care_team
        ]
        self.system_write(practice_id, ops)
        return patient.id

    def related_patient(self, role: Role) -> str:
        """A fresh patient related to the caller the way 'own' means for this role."""
        if role is Role.PATIENT:
            return self.a.own_patient
        clinician = self.a.users[Role.CLINICIAN].id
        return self.new_patient(self.a.id, care_team=[clinician])

    # ---- calling ------------------------------------------------------------------------

    def token(self, user: User, practice_id: str, *, mfa_recent: bool = True) -> str:
        store = self.runtime.store.practice(practice_id)
        now = self.runtime.clock.now()
        session = Session(
            id=new_id("ses"),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=8),
            idle_minutes=15,
            auth_time=now,
            mfa_at=now if mfa_recent and user.mfa_secret else None,
        )
        store.put(SessionRepository(store).create_op(session).item)
        signer = self.runtime.identity.signer  # type: ignore[attr-defined]
        return str(
            signer.issue_access(
                sub=user.id,
                practice_id=practice_id,
                roles=user.roles,
                sid=session.id,
                auth_time=now,
                amr=["pwd", "mfa"] if session.mfa_at else ["pwd"],
                patient_id=user.patient_id,
            )
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
    ) -> HttpResponse:
        return call_gateway(
            self.gateway,
            method,
            path,
            token=token,
            body=body,
            query=query,
            user_agent="tpm-harness/1.0",
        )


def build_world(tmp: Path, project_root: Path) -> World:
    settings = local_settings(tmp, environment="test")
    export_settings(settings)
    get_settings.cache_clear()
    runtime = build_runtime(settings)
    set_runtime(runtime)
    gateway = LocalGateway(project_root, authorizer=verify_bearer)
    world = World(runtime, gateway, Practice(""), Practice(""))
    for label in ("a", "b"):
        practice = create_practice(
            runtime.store,
            runtime.clock,
            name=f"Harness Practice {label.upper()}",
            slug=f"harness-{label}",
            timezone="America/New_York",
        )
        p = Practice(practice.id)
        setattr(world, label, p)
        for role in ROLES:
            if role is not Role.PATIENT:
                p.users[role] = world.new_user(practice.id, role, mfa_on=True)
        clinician, supervisor = p.users[Role.CLINICIAN].id, p.users[Role.SUPERVISOR].id
        store = runtime.store.practice(practice.id)
        world.system_write(
            practice.id,
            [UserRepository(store, runtime.cipher).supervision_op(clinician, supervisor)],
        )
        p.own_patient = world.new_patient(practice.id, care_team=[clinician])
        p.other_patient = world.new_patient(practice.id)
        p.users[Role.PATIENT] = world.new_user(
            practice.id, Role.PATIENT, patient_id=p.own_patient, mfa_on=False
        )
    return world
