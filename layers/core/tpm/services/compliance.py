"""The compliance officer's tools: query the audit trail, verify it, read security alerts.
Each use is itself audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tpm.security.audit import EventPage, query_events
from tpm.security.audit_chain import ChainedEvent, VerifyReport
from tpm.security.audit_verify import verify
from tpm.services.context import ServiceContext

# Alert rows (pk ALERTS) written by break-glass, the vendor register, incidents and the
# daily compliance job; ids, codes and dates only.
ALERT_FIELDS = (
    "kind",
    "grant_id",
    "user_id",
    "patient_id",
    "incident_id",
    "vendor_id",
    "vendor_key",
    "reason",
    "days_left",
    "ends_at",
    "time",
)

_FILTERED_PAGES = 10


class ComplianceService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def events(
        self,
        *,
        patient_id: str | None,
        user_id: str | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        cursor: str | None,
        action: str | None = None,
        outcome: str | None = None,
    ) -> EventPage:
        """Newest first. `action` is an exact action ("patient.read") or, ending in ".", a
        prefix ("patient."); `outcome` is allowed/denied/error. With those filters a page
        is one stored page of `limit` events, filtered (like a DynamoDB FilterExpression),
        so it may hold fewer than `limit` (skipping up to 10 empty ones); follow
        `next_cursor` until it is null."""
        ctx = self.ctx
        access = ctx.authorize("audit.read", resource_kind="audit_event", patient_id=patient_id)

        def wanted(event: ChainedEvent) -> bool:
            if outcome is not None and event.outcome != outcome:
                return False
            if action is None:
                return True
            if action.endswith("."):
                return event.action.startswith(action)
            return event.action == action

        page = EventPage([], cursor)
        for _ in range(_FILTERED_PAGES if action or outcome else 1):
            raw = query_events(
                ctx.store,
                patient_id=patient_id,
                user_id=user_id,
                start=start,
                end=end,
                limit=limit,
                cursor=page.next_cursor,
                newest_first=True,
            )
            page = EventPage([e for e in raw.events if wanted(e)], raw.next_cursor)
            if page.events or page.next_cursor is None:
                break
        ctx.record(access, "audit_event", patient_id=patient_id, reason_code="query")
        return page

    def verify(self) -> VerifyReport:
        ctx = self.ctx
        access = ctx.authorize("audit.verify", resource_kind="audit_event")
        trail = ctx.runtime.audit
        report = verify(ctx.store, trail.trusted_keys(), trail.sink)
        code = {
            "intact": "intact",
            "intact_with_acknowledged_restores": "intact_acknowledged_restore",
        }.get(report.status, "problems_found")
        ctx.record(access, "audit_event", reason_code=code)
        return report

    def alerts(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        ctx = self.ctx
        access = ctx.authorize("security_alert.read", resource_kind="security_alert")
        page = ctx.store.query("ALERTS", limit=limit, cursor=cursor, descending=True)
        ctx.record(access, "security_alert")
        fields = ALERT_FIELDS
        return [{k: item.get(k) for k in fields} for item in page.items], page.next_cursor
