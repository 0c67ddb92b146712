"""Periodic access reviews with the reviewer's sign-off, break-glass uses reviewed (rules in
`tpm.domain.access_reviews`; documented in docs/compliance.md#access-reviews). Owners and
compliance officers only; every call audited (`access_review.*`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from tpm.adapters.store.base import ConditionFailed, Item
from tpm.clock import to_rfc3339
from tpm.domain.access_reviews import (
    DEFAULT_PERIOD_DAYS,
    AccessReview,
    BreakGlassUse,
    InvalidReviewState,
    ReviewStatus,
    UserAccess,
    UserDecision,
    UseVerdict,
    sign_off_problem,
)
from tpm.domain.incidents import IncidentSource
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.ids import is_id, new_id
from tpm.repositories.access_reviews import KIND, AccessReviewRepository
from tpm.repositories.sealing import Sealer
from tpm.security.policy import Access
from tpm.services.context import ServiceContext
from tpm.services.incidents import prepare_incident

_PAGE = 100


class AccessReviewService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = AccessReviewRepository(ctx.store, ctx.runtime.cipher)

    def start(self, period_from: datetime | None) -> AccessReview:
        """Snapshots every staff account and the break-glass uses since `period_from`
        (default: the last signed-off review's sign-off, else 90 days back)."""
        ctx = self.ctx
        access = ctx.authorize("access_review.manage", resource_kind=KIND)
        now = ctx.now()
        if period_from is None:
            period_from = self._last_sign_off() or now - timedelta(days=DEFAULT_PERIOD_DAYS)
        if period_from >= now:
            raise ValidationFailed(fields=[{"path": "body.period_from", "type": "in_future"}])
        review = AccessReview(
            id=new_id("arv"),
            period_from=period_from,
            started_at=now,
            started_by=ctx.principal.user_id,
            users=tuple(self._users()),
            uses=tuple(self._uses(period_from, now)),
        )
        op = self.repo.create_op(review)
        ctx.write(access, lambda: [op], KIND, review.id, reason_code="started")
        return review

    def reviews(self, limit: int, cursor: str | None) -> tuple[list[AccessReview], str | None]:
        ctx = self.ctx
        access = ctx.authorize("access_review.read", resource_kind=KIND)
        items, next_cursor = self.repo.page(limit, cursor)
        ctx.record(access, KIND, reason_code=f"count_{len(items)}")
        return items, next_cursor

    def get(self, review_id: str) -> AccessReview:
        ctx = self.ctx
        access = ctx.authorize("access_review.read", resource_kind=KIND, resource_id=review_id)
        review = self._load(review_id)
        ctx.record(access, KIND, review.id)
        return review

    def decide(
        self,
        review_id: str,
        version: int,
        users: Mapping[str, tuple[UserDecision, str]],
        uses: Mapping[str, tuple[UseVerdict, str]],
    ) -> AccessReview:
        """Records decisions on users and verdicts on break-glass uses (any subset, again
        until sign-off). An unjustified use opens a security incident, once per use."""
        ctx = self.ctx
        access = ctx.authorize("access_review.manage", resource_kind=KIND, resource_id=review_id)
        review = self._current(review_id, version)
        if review.status is not ReviewStatus.OPEN:
            raise InvalidReviewState(reason="already_signed_off")
        known_users = {u.user_id for u in review.users}
        known_uses = {g.grant_id for g in review.uses}
        if not set(users) <= known_users:
            raise ValidationFailed(fields=[{"path": "body.users", "type": "not_in_review"}])
        if not set(uses) <= known_uses:
            raise ValidationFailed(fields=[{"path": "body.break_glass", "type": "not_in_review"}])
        for decision, note in users.values():
            if decision is UserDecision.CHANGE and not note.strip():
                raise ValidationFailed(fields=[{"path": "body.users", "type": "missing"}])
        new_users = tuple(
            u.model_copy(update={"decision": users[u.user_id][0], "note": users[u.user_id][1]})
            if u.user_id in users
            else u
            for u in review.users
        )
        extra_ops = []
        events = []
        new_uses = []
        for use in review.uses:
            if use.grant_id not in uses:
                new_uses.append(use)
                continue
            verdict, note = uses[use.grant_id]
            incident_id = use.incident_id
            if verdict is UseVerdict.UNJUSTIFIED and incident_id is None:
                prepared = prepare_incident(
                    ctx.runtime,
                    ctx.store,
                    ctx.principal,
                    source=IncidentSource.BREAK_GLASS_REVIEW,
                    summary="Break-glass use found unjustified on access review",
                    details=note,
                    reference=use.grant_id,
                    patient_ids=[use.patient_id],
                    dedupe_key=f"break_glass:{use.grant_id}",
                )
                incident_id = prepared.incident.id
                extra_ops += prepared.operations
                events.append(prepared.event)
            new_uses.append(
                use.model_copy(
                    update={"verdict": verdict, "note": note, "incident_id": incident_id}
                )
            )
        changed = review.bump(users=new_users, uses=tuple(new_uses))
        op = self.repo.update_op(changed)
        event = ctx.event(access.action, KIND, changed.id, reason_code="decided")
        try:
            ctx.runtime.audit.write_many_with_audit(
                ctx.store, lambda: [op, *extra_ops], [event, *events]
            )
        except ConditionFailed as exc:
            current = self.repo.get(review_id)
            raise VersionConflict(
                current_version=current.version if current else exc.current_version
            ) from exc
        return changed

    def sign_off(self, review_id: str, version: int, summary: str) -> AccessReview:
        ctx = self.ctx
        access = ctx.authorize("access_review.manage", resource_kind=KIND, resource_id=review_id)
        review = self._current(review_id, version)
        problem = sign_off_problem(review)
        if problem is not None:
            raise InvalidReviewState(reason=problem)
        changed = review.bump(
            status=ReviewStatus.SIGNED_OFF,
            summary=summary,
            signed_off_by=ctx.principal.user_id,
            signed_off_at=ctx.now(),
        )
        return self._commit(access, changed, "signed_off")

    # ---- helpers --------------------------------------------------------------------------

    def _users(self) -> list[UserAccess]:
        ctx = self.ctx
        found: list[UserAccess] = []
        cursor: str | None = None
        while True:
            users, cursor = ctx.users.page(_PAGE, cursor)
            for user in users:
                if not user.is_staff:
                    continue  # portal accounts reach only themselves (or, for a proxy, grants)
                patients = 0
                inner: str | None = None
                while True:
                    ids, inner = ctx.relationships.patients_of(user.id, 1000, inner)
                    patients += len(ids)
                    if inner is None:
                        break
                found.append(
                    UserAccess(
                        user_id=user.id,
                        display_name=user.display_name,
                        roles=tuple(sorted(r.value for r in user.roles)),
                        status=user.status.value,
                        care_team_patients=patients,
                        supervisees=len(ctx.users.supervisees_of(user.id)),
                    )
                )
            if cursor is None:
                return found

    def _uses(self, start: datetime, end: datetime) -> list[BreakGlassUse]:
        ctx = self.ctx
        uses: list[BreakGlassUse] = []
        cursor: str | None = None
        low, high = to_rfc3339(start), to_rfc3339(end) + "~"
        while True:
            page = ctx.store.query("ALERTS", sk_between=(low, high), limit=_PAGE, cursor=cursor)
            for item in page.items:
                if item.get("kind") != "break_glass":
                    continue
                grant_id = str(item["grant_id"])
                reason = self._reason(item, grant_id)
                uses.append(
                    BreakGlassUse(
                        grant_id=grant_id,
                        user_id=str(item["user_id"]),
                        patient_id=str(item["patient_id"]),
                        started_at=datetime.fromisoformat(str(item["time"])),
                        ends_at=datetime.fromisoformat(str(item["ends_at"])),
                        reason=reason,
                    )
                )
            cursor = page.next_cursor
            if cursor is None:
                return uses

    def _reason(self, alert: Item, grant_id: str) -> str:
        """The stated reason, sealed in the alert row (the grant row expires with the
        grant); the audit trail keeps the use itself either way."""
        sealed = alert.get("sealed_reason")
        if sealed is None:
            row = self.ctx.store.get(
                f"PATIENT#{alert['patient_id']}", f"BREAKGLASS#{alert['user_id']}"
            )
            sealed = row.get("reason") if row and row.get("grant_id") == grant_id else None
        sealer = Sealer(self.ctx.runtime.cipher, self.ctx.practice_id, "break-glass", grant_id)
        return sealer.open("reason", sealed) or ""

    def _last_sign_off(self) -> datetime | None:
        reviews, _ = self.repo.page(20, None)
        signed = [r.signed_off_at for r in reviews if r.signed_off_at is not None]
        return max(signed) if signed else None

    def _load(self, review_id: str) -> AccessReview:
        review = self.repo.get(review_id) if is_id(review_id, "arv") else None
        if review is None:
            raise NotFound()
        return review

    def _current(self, review_id: str, version: int) -> AccessReview:
        review = self._load(review_id)
        if review.version != version:
            raise VersionConflict(current_version=review.version)
        return review

    def _commit(self, access: Access, changed: AccessReview, reason: str) -> AccessReview:
        op = self.repo.update_op(changed)
        try:
            self.ctx.write(access, lambda: [op], KIND, changed.id, reason_code=reason)
        except ConditionFailed as exc:
            current = self.repo.get(changed.id)
            raise VersionConflict(
                current_version=current.version if current else exc.current_version
            ) from exc
        return changed
