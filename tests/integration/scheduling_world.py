"""A practice for the scheduling tests: one user per role, patients, a FixedClock, calls
through the LocalGateway with real tokens (minted for a fresh session, as the harness does)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from tpm.adapters.store.base import Operation
from tpm.clock import FixedClock
from tpm.config import get_settings
from tpm.domain.availability import WeeklyRule
from tpm.domain.patients import Patient
from tpm.domain.sessions import Session
from tpm.domain.users import User, UserStatus
from tpm.ids import new_id
from tpm.local.authorizer import verify_bearer
from tpm.local.bootstrap import export_settings, local_settings
from tpm.local.gateway import HttpRequest, HttpResponse, LocalGateway
from tpm.repositories.availability import AvailabilityRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.relationships import StoreRelationships
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime, build_runtime, set_runtime
from tpm.security import mfa
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import Role, SystemActor
from tpm.services.practices import create_practice

# Monday 2 March 2026, 15:00 UTC (09:00 in Chicago): a week before the spring DST change.
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class SchedulingWorld:
    runtime: Runtime
    gateway: LocalGateway
    clock: FixedClock
    practice_id: str
    users: dict[str, User] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)

    # ---- building -----------------------------------------------------------------------

    def system_write(self, ops: list[Operation]) -> None:
        self.runtime.audit.write_with_audit(
            self.runtime.store.practice(self.practice_id),
            lambda: list(ops),
            AuditEvent.for_system(
                SystemActor("test", self.practice_id),
                action="practice.seed",
                resource_kind="practice",
            ),
        )

    def add_user(self, label: str, role: Role, patient_id: str | None = None) -> User:
        store = self.runtime.store.practice(self.practice_id)
        uid = new_id("usr")
        user = User(
            id=uid,
            email=f"{label}-{uid[-6:]}@example.test",
            display_name=f"{label} (synthetic)",
            roles=frozenset({role}),
            status=UserStatus.ACTIVE,
            patient_id=patient_id,
            mfa_secret=mfa.new_totp_secret() if role is not Role.PATIENT else None,
            created_at=self.clock.now(),
        )
        self.system_write([*UserRepository(store, self.runtime.cipher).create_ops(user)])
        self.users[label] = user
        return user

    def add_patient(
        self, label: str, care_team: tuple[str, ...] = (), zone: str = "America/Chicago"
    ) -> str:
        store = self.runtime.store.practice(self.practice_id)
        patient = Patient(
            id=new_id("pat"),
            legal_first_name="Robin",
            legal_last_name=label.capitalize(),
            date_of_birth=date(1988, 8, 8),
            timezone=zone,
            created_at=self.clock.now(),
            created_by="test",
        )
        ops: list[Operation] = [PatientRepository(store, self.runtime.cipher).create_op(patient)]
        ops += [
            StoreRelationships.add_member_op(patient.id, self.users[m].id, self.clock.now())
            for m in care_team
        ]
        self.system_write(ops)
        self.patients[label] = patient.id
        return patient.id

    def open_hours(
        self, label: str, location_ids: list[str], start: str = "07:00", end: str = "21:00"
    ) -> None:
        """Gives a clinician wide working hours every day at these locations (Chicago
        time): bookings must fall inside a clinician's availability (or carry an override),
        and the tests book between 07:00 and 21:00 unless they test that rule itself."""
        repo = AvailabilityRepository(self.runtime.store.practice(self.practice_id))
        cid = self.users[label].id
        current = repo.availability(cid)
        weekly = [
            WeeklyRule(
                weekday=d,
                start=time.fromisoformat(start),
                end=time.fromisoformat(end),
                location_ids=tuple(location_ids),
            )
            for d in range(7)
        ]
        changed = current.model_copy(
            update={"timezone": "America/Chicago", "weekly": tuple(weekly)}
        ).model_copy(update={"version": current.version + 1})
        self.system_write([repo.availability_op(changed)])

    # ---- calling ------------------------------------------------------------------------

    def token(self, label: str) -> str:
        user = self.users[label]
        store = self.runtime.store.practice(self.practice_id)
        now = self.clock.now()
        session = Session(
            id=new_id("ses"),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=8),
            idle_minutes=15,
            auth_time=now,
            mfa_at=now if user.mfa_secret else None,
        )
        store.put(SessionRepository(store).create_op(session).item)
        signer = self.runtime.identity.signer  # type: ignore[attr-defined]
        return str(
            signer.issue_access(
                sub=user.id,
                practice_id=self.practice_id,
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
        who: str | None = None,
        body: Any = None,
        query: dict[str, str] | None = None,
        source_ip: str = "127.0.0.1",
    ) -> Reply:
        headers = [("user-agent", "pytest")]
        raw = b""
        if body is not None:
            headers.append(("content-type", "application/json"))
            raw = json.dumps(body).encode()
        if who:
            headers.append(("authorization", f"Bearer {self.token(who)}"))
        request = HttpRequest(method, path, headers, list((query or {}).items()), raw, source_ip)
        response: HttpResponse = self.gateway.dispatch(request)
        return Reply(
            response.status,
            json.loads(response.body) if response.body else None,
            {k.lower(): v for k, v in response.headers},
        )

    def ok(self, method: str, path: str, who: str, body: Any = None, **kw: Any) -> Any:
        reply = self.call(method, path, who, body, **kw)
        assert 200 <= reply.status < 300, (reply.status, reply.body)
        return reply.body

    # ---- catalogue shortcuts --------------------------------------------------------------

    def location(self, kind: str = "office", name: str = "Room 1") -> str:
        body = {"name": name, "kind": kind, "timezone": "America/Chicago"}
        return str(self.ok("POST", "/v1/locations", "admin", body)["id"])

    def service(self, minutes: int = 50, self_bookable: bool = True) -> str:
        body = {
            "name": "Psychotherapy",
            "cpt_code": "90834",
            "duration_minutes": minutes,
            "fee": {"amount": "150.00", "currency": "USD"},
            "self_bookable": self_bookable,
        }
        return str(self.ok("POST", "/v1/services", "admin", body)["id"])


def build(tmp: Path, root: Path, at: datetime = START) -> SchedulingWorld:
    settings = local_settings(tmp, environment="test")
    export_settings(settings)
    get_settings.cache_clear()
    clock = FixedClock(at)
    runtime = build_runtime(settings, clock=clock)
    practice = create_practice(
        runtime.store, clock, name="Scheduling Practice", slug="sched", timezone="America/Chicago"
    )
    set_runtime(runtime)
    world = SchedulingWorld(
        runtime, LocalGateway(root, authorizer=verify_bearer), clock, practice.id
    )
    for label, role in (
        ("owner", Role.OWNER),
        ("admin", Role.ADMIN),
        ("desk", Role.FRONT_DESK),
        ("clinician", Role.CLINICIAN),
        ("clinician2", Role.CLINICIAN),
        ("supervisor", Role.SUPERVISOR),
        ("biller", Role.BILLER),
    ):
        world.add_user(label, role)
    world.add_patient("ada", care_team=("clinician",))
    world.add_patient("ben")
    world.add_patient("cy", care_team=("clinician",), zone="America/Los_Angeles")
    world.add_user("ada_login", Role.PATIENT, patient_id=world.patients["ada"])
    world.add_user("ben_login", Role.PATIENT, patient_id=world.patients["ben"])
    return world
