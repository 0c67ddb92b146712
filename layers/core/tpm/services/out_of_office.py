"""Out of office: a clinician sets an absence (start, end) and a delegate. While it lasts,
a message to any thread they take part in brings the delegate into the thread (it appears
in the delegate's inbox marked as delegated), and the patient is told once who is
covering (tpm.services.message_append). Ending it early removes the setting."""

from __future__ import annotations

from datetime import datetime, timedelta

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.messaging import OutOfOffice
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.repositories.messaging_jobs import OutOfOfficeRepository
from tpm.security.policy import Access
from tpm.services.context import ServiceContext
from tpm.services.messaging_access import MessagingAccess

KIND = "out_of_office"
MAX_ABSENCE = timedelta(days=120)


class OutOfOfficeService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = OutOfOfficeRepository(ctx.store)

    def _self(self) -> Access:
        return self.ctx.authorize(
            "message.out_of_office", resource_kind=KIND, user_id=self.ctx.principal.user_id
        )

    def get(self) -> OutOfOffice | None:
        access = self._self()
        absence = self.repo.get(self.ctx.principal.user_id)
        self.ctx.record(access, KIND, self.ctx.principal.user_id)
        return absence

    def set(
        self, start: datetime, end: datetime, delegate_id: str, version: int | None
    ) -> OutOfOffice:
        ctx = self.ctx
        access = self._self()
        me = ctx.principal.user_id
        problems = []
        if end <= start:
            problems.append({"path": "body.end", "type": "not_after_start"})
        elif end - start > MAX_ABSENCE:
            problems.append({"path": "body.end", "type": "too_long"})
        if end <= ctx.now():
            problems.append({"path": "body.end", "type": "in_past"})
        if delegate_id == me or not MessagingAccess(ctx).may_take_part(ctx.users.get(delegate_id)):
            problems.append({"path": "body.delegate_id", "type": "not_allowed_delegate"})
        if problems:
            raise ValidationFailed(fields=problems)
        current = self.repo.get(me)
        if (current.version if current else None) != version:
            raise VersionConflict(current_version=current.version if current else None)
        absence = OutOfOffice(
            user_id=me,
            start=start,
            end=end,
            delegate_id=delegate_id,
            version=current.version + 1 if current else 1,
        )
        try:
            ctx.write(access, lambda: [self.repo.put_op(absence)], KIND, me, reason_code="set")
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return absence

    def clear(self) -> None:
        ctx = self.ctx
        access = self._self()
        current = self.repo.get(ctx.principal.user_id)
        if current is None:
            raise NotFound()
        try:
            ctx.write(
                access,
                lambda: [self.repo.clear_op(current)],
                KIND,
                ctx.principal.user_id,
                reason_code="cleared",
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
