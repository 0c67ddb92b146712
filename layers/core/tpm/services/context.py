"""What every use case works with: the caller, their practice's store, and the one
authorise-then-audit path.

    access = ctx.authorize("patient.read", patient_id=pid)    # 403/404 + audited denial
    patient = repo.get(pid)
    ctx.record(access, "patient", pid, patient_id=pid)         # the read is in the trail
    ctx.write(access, build_ops, "patient", pid, patient_id=pid)  # change + event, one tx
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from tpm.adapters.store.base import Operation, PracticeStore
from tpm.errors import Forbidden, NotFound
from tpm.repositories.relationships import StoreRelationships
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent, Outcome
from tpm.security.policy import Access, Authorizer, Scope
from tpm.security.principal import Principal
from tpm.services.agreements import AgreementGuard


@dataclass
class ServiceContext:
    runtime: Runtime
    principal: Principal
    _now: datetime | None = field(default=None, repr=False)

    @property
    def practice_id(self) -> str:
        return self.principal.practice_id

    @cached_property
    def store(self) -> PracticeStore:
        return self.runtime.store.practice(self.principal.practice_id)

    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(self.store, self.runtime.cipher)

    @cached_property
    def sessions(self) -> SessionRepository:
        return SessionRepository(self.store)

    @cached_property
    def relationships(self) -> StoreRelationships:
        return StoreRelationships(self.store)

    @cached_property
    def authorizer(self) -> Authorizer:
        return Authorizer(self.relationships)

    @cached_property
    def outbound(self) -> AgreementGuard:
        """The business associate register for this request: pass it to every adapter
        that sends data out (`guard=ctx.outbound`), or ask it directly."""
        return AgreementGuard(self.runtime, self.store, self.principal)

    def now(self) -> datetime:
        # One instant per request, so every record of a request agrees on the time.
        if self._now is None:
            self._now = self.runtime.clock.now()
        return self._now

    # ---- authorise ----------------------------------------------------------------------

    def authorize(
        self,
        action: str,
        *,
        resource_kind: str,
        resource_id: str = "",
        patient_id: str | None = None,
        user_id: str | None = None,
    ) -> Access:
        """The permission table + relationships; a denial is written to the trail."""
        try:
            return self.authorizer.check(
                self.principal, action, patient_id=patient_id, user_id=user_id, now=self.now()
            )
        except (Forbidden, NotFound) as exc:
            self.runtime.audit.record(
                self.store,
                self.event(
                    action,
                    resource_kind,
                    resource_id,
                    patient_id=patient_id,
                    outcome=Outcome.DENIED,
                    reason_code="forbidden" if isinstance(exc, Forbidden) else "no_relationship",
                ),
            )
            raise

    def authorize_list(self, action: str, *, resource_kind: str) -> frozenset[Scope]:
        """For list routes: which slices the caller may list; a role without the action
        gets 403, written to the trail."""
        try:
            return self.authorizer.list_scopes(self.principal, action)
        except Forbidden:
            self.runtime.audit.record(
                self.store,
                self.event(action, resource_kind, outcome=Outcome.DENIED, reason_code="forbidden"),
            )
            raise

    # ---- audit ------------------------------------------------------------------------

    def event(
        self,
        action: str,
        resource_kind: str,
        resource_id: str = "",
        *,
        patient_id: str | None = None,
        outcome: Outcome = Outcome.ALLOWED,
        break_glass: bool = False,
        reason_code: str | None = None,
    ) -> AuditEvent:
        return AuditEvent.for_principal(
            self.principal,
            action=action,
            resource_kind=resource_kind,
            resource_id=resource_id,
            patient_id=patient_id,
            outcome=outcome,
            break_glass=break_glass,
            reason_code=reason_code,
        )

    def record(
        self,
        access: Access,
        resource_kind: str,
        resource_id: str = "",
        *,
        patient_id: str | None = None,
        reason_code: str | None = None,
    ) -> None:
        """Audit a read (or any allowed action that changes nothing)."""
        self.runtime.audit.record(
            self.store,
            self.event(
                access.action,
                resource_kind,
                resource_id,
                patient_id=patient_id,
                break_glass=access.break_glass,
                reason_code=reason_code,
            ),
        )

    def write(
        self,
        access: Access,
        build_ops: Callable[[], list[Operation]],
        resource_kind: str,
        resource_id: str = "",
        *,
        patient_id: str | None = None,
        reason_code: str | None = None,
    ) -> None:
        """Commit the change and its audit event in one transaction, or neither."""
        self.runtime.audit.write_with_audit(
            self.store,
            build_ops,
            self.event(
                access.action,
                resource_kind,
                resource_id,
                patient_id=patient_id,
                break_glass=access.break_glass,
                reason_code=reason_code,
            ),
        )
