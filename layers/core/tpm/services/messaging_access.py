"""Who reaches a message thread: the one load-and-authorise path every messaging route
uses (see permissions.d/messaging.yaml for the roles).

A role must hold the action (403 otherwise, audited); then the thread must exist and the
caller must reach it in one of three ways, tried in this order:
  participant   the caller takes part in the thread (for a patient: it is their own
                patient thread; a patient never reaches a staff thread)
  relationship  the permission table's scopes reach the thread's patient (care team,
                supervisees, practice)
  queue         the thread is on the practice queue and the caller works the queue
Anything else is 404 — the same answer as a thread that does not exist — and audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpm.domain.messaging import Thread, ThreadKind
from tpm.domain.users import User, UserStatus
from tpm.errors import Forbidden, NotFound
from tpm.repositories.messaging import MessagingRepository
from tpm.security.audit_chain import Outcome
from tpm.security.policy import Access, Scope
from tpm.security.principal import PORTAL_ROLES
from tpm.services.context import ServiceContext

KIND = "message_thread"
# Who can take part in a thread on the staff side: roles that may read messages at all.
READ_ACTION = "message.read"


@dataclass(frozen=True)
class ThreadAccess:
    access: Access
    thread: Thread
    how: str  # participant | relationship | queue

    @property
    def participant(self) -> bool:
        return self.how == "participant"


class MessagingAccess:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = MessagingRepository(ctx.store, ctx.runtime.cipher)

    def holds(self, action: str) -> bool:
        return bool(self.ctx.authorizer.table.scopes(self.ctx.principal.roles, action))

    def load(self, action: str, thread_id: str) -> ThreadAccess:
        self.ctx.authorize_list(action, resource_kind=KIND)
        thread = self.repo.get_thread(thread_id)
        if thread is None:
            raise NotFound()
        return self.reach(action, thread)

    def reach(self, action: str, thread: Thread) -> ThreadAccess:
        ctx = self.ctx
        principal = ctx.principal
        phi = ctx.authorizer.table.actions[action].phi
        if principal.is_patient:
            if thread.kind is ThreadKind.PATIENT and principal.patient_id == thread.patient_id:
                return ThreadAccess(Access(action, phi, Scope.SELF), thread, "participant")
            raise self.denied(action, thread, "not_participant")
        if principal.user_id in thread.staff_ids:
            return ThreadAccess(Access(action, phi, Scope.SELF), thread, "participant")
        try:
            access = ctx.authorizer.check(
                principal, action, patient_id=thread.patient_id, now=ctx.now()
            )
        except (Forbidden, NotFound):
            pass
        else:
            return ThreadAccess(access, thread, "relationship")
        if thread.on_queue and self.holds("message.queue.read"):
            return ThreadAccess(Access(action, phi, Scope.PRACTICE), thread, "queue")
        raise self.denied(action, thread, "no_relationship")

    def denied(self, action: str, thread: Thread, reason: str) -> NotFound:
        """Writes the denial to the trail; the caller raises the 404 this returns."""
        ctx = self.ctx
        ctx.runtime.audit.record(
            ctx.store,
            ctx.event(
                action,
                KIND,
                thread.id,
                patient_id=thread.patient_id,
                outcome=Outcome.DENIED,
                reason_code=reason,
            ),
        )
        return NotFound()

    def may_take_part(self, user: User | None) -> bool:
        """An active staff account whose roles may read messages (a colleague who can be a
        recipient or a delegate)."""
        if user is None or user.status is not UserStatus.ACTIVE or user.roles & PORTAL_ROLES:
            return False
        return bool(self.ctx.authorizer.table.scopes(user.roles, READ_ACTION))
