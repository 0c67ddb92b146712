"""A demo practice for the messaging tests: the demo people, two more clinicians who sign
in with a password (a colleague off the patient's care team, and one to delegate to), a
moveable clock on a Monday morning in the practice's zone, and helpers to call the API
and read the audit trail and outbox."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support.demo_practice import ACCOUNTS, demo_practice
from support.gateway_calls import call_gateway

from tpm.clock import FixedClock
from tpm.domain.users import User, UserStatus
from tpm.ids import new_id
from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.repositories.reminders import OutboxMessage, OutboxRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security import passwords
from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import AuditEvent, ChainedEvent
from tpm.security.principal import Role, SystemActor
from tpm.services.messaging_sweep import MessagingSweep, SweepReport

# Monday 7 December 2026, 10:00 in Chicago: the office is open (default hours 9-17). With
# microseconds, like a real clock (stored times are kept to the millisecond).
MONDAY_MORNING = datetime(2026, 12, 7, 16, 0, 0, 123456, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
PASSWORD = "quiet-harbor-lantern-52"


@dataclass
class Msg:
    runtime: Runtime
    gateway: LocalGateway
    practice_id: str
    clock: FixedClock
    tokens: dict[Role, str]
    extra: dict[str, tuple[User, str]] = field(default_factory=dict)

    # ---- calling --------------------------------------------------------------------

    def call(self, method: str, path: str, who: Role | str, body: Any = None) -> HttpResponse:
        token = self.tokens[who] if isinstance(who, Role) else self.extra[who][1]
        return call_gateway(self.gateway, method, path, token=token, body=body)

    def ok(self, method: str, path: str, who: Role | str, body: Any = None) -> Any:
        response = self.call(method, path, who, body)
        assert 200 <= response.status < 300, (response.status, response.body)
        return json.loads(response.body) if response.body else None

    def me(self, who: Role | str) -> dict[str, Any]:
        return dict(self.ok("GET", "/v1/me", who))

    def patient_id(self) -> str:
        return str(self.me(Role.PATIENT)["patient_id"])

    def user_id(self, who: Role | str) -> str:
        return str(self.me(who)["id"])

    def add_clinician(self, label: str) -> User:
        """A clinician who signs in with a password (no MFA needed for the role)."""
        store = self.runtime.store.practice(self.practice_id)
        repo = UserRepository(store, self.runtime.cipher)
        user = User(
            id=new_id("usr"),
            email=f"{label}@example.test",
            display_name=f"{label.title()} Clinician (synthetic)",
            roles=frozenset({Role.CLINICIAN}),
            status=UserStatus.ACTIVE,
            password_hash=passwords.hash_password(PASSWORD),
            created_at=self.clock.now(),
        )
        self.runtime.audit.write_with_audit(
            store,
            lambda: list(repo.create_ops(user)),
            AuditEvent.for_system(
                SystemActor("test", self.practice_id),
                action="practice.seed",
                resource_kind="practice",
            ),
        )
        self.extra[label] = (user, self._login(user.email, PASSWORD))
        return user

    def travel(self, **delta: float) -> None:
        """Moves the clock and signs everyone in again (tokens last 15 minutes)."""
        self.clock.advance(**delta)
        for role in list(self.tokens):
            self.tokens[role] = self._login(ACCOUNTS[role].email, ACCOUNTS[role].password)
        for label, (user, _) in list(self.extra.items()):
            self.extra[label] = (user, self._login(user.email, PASSWORD))

    def _login(self, email: str, password: str) -> str:
        login = {"practice": "local", "email": email, "password": password}
        response = call_gateway(self.gateway, "POST", "/v1/auth/login", body=login)
        assert response.status == 200, response.body
        return str(json.loads(response.body)["access_token"])

    # ---- what happened ----------------------------------------------------------------

    def head(self) -> int:
        head = read_head(self.runtime.store.practice(self.practice_id))
        return head.seq if head else 0

    def events_after(self, seq: int) -> list[ChainedEvent]:
        store = self.runtime.store.practice(self.practice_id)
        head = read_head(store)
        assert head is not None
        return list(read_events(store, seq + 1, head.seq)) if head.seq > seq else []

    def outbox(self) -> list[OutboxMessage]:
        store = self.runtime.store.practice(self.practice_id)
        return OutboxRepository(store, self.runtime.cipher).page(100, None)[0]

    def sweep(self) -> SweepReport:
        return MessagingSweep(self.runtime).sweep_practice(self.practice_id)


def attachment(
    name: str = "scan.png", data: bytes = PNG, kind: str = "image/png"
) -> dict[str, str]:
    return {
        "filename": name,
        "content_type": kind,
        "content_base64": base64.b64encode(data).decode(),
    }


@contextmanager
def messaging_practice(
    tmp_path: Path, project_root: Path, now: datetime = MONDAY_MORNING
) -> Iterator[Msg]:
    with demo_practice(tmp_path, project_root, now, "Messaging Practice") as demo:
        yield Msg(demo.runtime, demo.gateway, demo.practice_id, demo.clock, demo.tokens)


__all__ = ["ACCOUNTS", "MONDAY_MORNING", "PNG", "Msg", "attachment", "messaging_practice"]
