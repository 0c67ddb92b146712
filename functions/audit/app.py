"""Audit and compliance: query and verify the trail, security alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.models import Instant
from tpm.api.views import Page
from tpm.services.compliance import ComplianceService

app = create_app("audit")
TAGS = ["audit"]
IdFilter = Annotated[str | None, Query(pattern=r"^[a-z]{2,5}_[0-9a-z]{26}$")]
TimeFilter = Annotated[Instant | None, Query(description="RFC 3339 with an offset")]


class AuditEventView(BaseModel):
    seq: int
    time: str
    actor_kind: str
    actor_id: str
    roles: list[str]
    action: str
    resource_kind: str
    resource_id: str
    patient_id: str | None
    outcome: str
    source_ip: str
    user_agent: str
    request_id: str
    break_glass: bool
    reason_code: str | None
    hash: str


class ProblemView(BaseModel):
    kind: str
    seq: int
    detail: str


class AcknowledgedRestoreView(BaseModel):
    """A span of the chain lost to a point-in-time restore that an operator acknowledged
    (`tpm audit acknowledge-restore`: signed, written once outside the database)."""

    restore_point: str
    acknowledged_by: str
    acknowledged_at: str
    lost_from_seq: int
    lost_to_seq: int
    sealed_checkpoints_set_aside: list[int]


class AuditVerifyOut(BaseModel):
    ok: bool
    status: Literal["intact", "intact_with_acknowledged_restores", "failed"] = Field(
        description="Never a plain intact when a restore was acknowledged"
    )
    events_checked: int
    last_seq: int
    checkpoints_checked: int
    sealed_checkpoints_checked: int
    problems: list[ProblemView]
    acknowledged_restores: list[AcknowledgedRestoreView]


class AlertView(BaseModel):
    kind: str | None = Field(
        description="break_glass, vendor_refused, agreement_expiring, incident_opened,"
        " incident_due_soon, incident_overdue, rights_request_due_soon or"
        " rights_request_overdue"
    )
    grant_id: str | None
    user_id: str | None
    patient_id: str | None
    incident_id: str | None
    vendor_id: str | None
    vendor_key: str | None
    reason: str | None
    days_left: int | None
    ends_at: str | None
    time: str | None


@app.get("/v1/audit-events", summary="Query the audit trail (newest first)", tags=TAGS)
def audit_events(
    patient_id: IdFilter = None,
    user_id: IdFilter = None,
    from_: Annotated[
        Instant | None, Query(alias="from", description="RFC 3339 with an offset")
    ] = None,
    to: TimeFilter = None,
    action: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z_]+(\.[a-z_]+)*\.?$",
            max_length=80,
            description='An action ("note.sign") or, ending in ".", a prefix ("note.").',
        ),
    ] = None,
    outcome: Annotated[Literal["allowed", "denied", "error"] | None, Query()] = None,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Page[AuditEventView]:
    page = ComplianceService(service_context(app)).events(
        patient_id=patient_id,
        user_id=user_id,
        start=from_,
        end=to,
        limit=limit,
        cursor=cursor,
        action=action,
        outcome=outcome,
    )
    items = [AuditEventView.model_validate(e.model_dump(mode="json")) for e in page.events]
    return Page[AuditEventView](items=items, next_cursor=page.next_cursor)


@app.post("/v1/audit/verify", summary="Verify the practice's audit chain end to end", tags=TAGS)
def verify_chain() -> AuditVerifyOut:
    report = ComplianceService(service_context(app)).verify()
    return AuditVerifyOut(
        ok=report.ok,
        events_checked=report.events_checked,
        last_seq=report.last_seq,
        checkpoints_checked=report.checkpoints_checked,
        sealed_checkpoints_checked=report.sealed_checkpoints_checked,
        problems=[ProblemView(kind=p.kind, seq=p.seq, detail=p.detail) for p in report.problems],
        status=report.status,
        acknowledged_restores=[
            AcknowledgedRestoreView.model_validate(
                {k: r[k] for k in AcknowledgedRestoreView.model_fields}
            )
            for r in report.acknowledged_restores
        ],
    )


@app.get("/v1/security-alerts", summary="Security and compliance alerts", tags=TAGS)
def alerts(limit: Limit = 25, cursor: Cursor = None) -> Page[AlertView]:
    items, next_cursor = ComplianceService(service_context(app)).alerts(limit, cursor)
    return Page[AlertView](items=[AlertView(**i) for i in items], next_cursor=next_cursor)


lambda_handler = lambda_entry(app, "audit")
