"""The compliance officer's tools: query the audit trail, verify it, read security alerts.
Each use is itself audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tpm.security.audit import EventPage, query_events
from tpm.security.audit_chain import VerifyReport
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
    ) -> EventPage:
        ctx = self.ctx
        access = ctx.authorize("audit.read", resource_kind="audit_event", patient_id=patient_id)
        page = query_events(
            ctx.store,
            patient_id=patient_id,
            user_id=user_id,
            start=start,
            end=end,
            limit=limit,
            cursor=cursor,
            newest_first=True,
        )
        ctx.record(access, "audit_event", patient_id=patient_id, reason_code="query")
        return page

    def verify(self) -> VerifyReport:
        ctx = self.ctx
        access = ctx.authorize("audit.verify", resource_kind="audit_event")
        trail = ctx.runtime.audit
        report = verify(ctx.store, trail.signer.public_keys(), trail.sink)
        ctx.record(access, "audit_event", reason_code="intact" if report.ok else "problems_found")
        return report

    def alerts(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        ctx = self.ctx
        access = ctx.authorize("security_alert.read", resource_kind="security_alert")
        page = ctx.store.query("ALERTS", limit=limit, cursor=cursor, descending=True)
        ctx.record(access, "security_alert")
        fields = ALERT_FIELDS
        return [{k: item.get(k) for k in fields} for item in page.items], page.next_cursor
