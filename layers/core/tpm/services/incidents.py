"""Security incidents: opening one from anywhere in the product, and the compliance
officer's work on it (risk assessment, notifications, closing).

Opening an incident from another capability (documented in docs/compliance.md):

    from tpm.domain.incidents import IncidentSource
    from tpm.services.incidents import open_incident

    incident = open_incident(
        runtime, store, actor,                       # actor: the Principal or SystemActor
        source=IncidentSource.MESSAGING_ESCALATION,  # where it came from
        summary="Message flagged as an inappropriate disclosure",
        reference=message_id,                        # an id in the source (never PHI)
        patient_ids=[patient_id],                    # who may be affected (ids)
        dedupe_key=f"message:{message_id}",          # optional: the same problem reported
    )                                                # again returns the open incident

It writes the incident, an alert for the compliance role and the audit event
(`incident.open`, resource `incident`) in one transaction. The caller has already
authorised its own action; opening the incident is a consequence of it and needs no
permission of its own. `prepare_incident(...)` returns the operations and the audit event
instead, for a caller that must commit them in its own transaction
(`runtime.audit.write_many_with_audit(store, lambda: [*mine, *prepared.operations],
[my_event, prepared.event])`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from tpm.adapters.store.base import ConditionFailed, Operation, PracticeStore, Put
from tpm.clock import to_rfc3339
from tpm.domain.incidents import (
    Determination,
    Incident,
    IncidentSource,
    IncidentStatus,
    InvalidIncidentState,
    NotificationKind,
    NotificationRecord,
    RiskAssessment,
    RiskFactor,
    check_assessment,
    closing_problem,
    deadlines,
)
from tpm.errors import AuditUnavailable, NotFound, ValidationFailed, VersionConflict
from tpm.ids import is_id, new_id
from tpm.repositories.incidents import IncidentRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent
from tpm.security.policy import Access
from tpm.security.principal import Principal, SystemActor
from tpm.services.context import ServiceContext

KIND = "incident"
OPEN_ACTION = "incident.open"


@dataclass(frozen=True)
class PreparedIncident:
    incident: Incident
    operations: list[Operation]
    event: AuditEvent


def prepare_incident(
    runtime: Runtime,
    store: PracticeStore,
    actor: Principal | SystemActor,
    *,
    source: IncidentSource,
    summary: str,
    details: str = "",
    reference: str | None = None,
    patient_ids: Sequence[str] = (),
    affected_count: int | None = None,
    vendor_id: str | None = None,
    discovered_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> PreparedIncident:
    """The rows and audit event that open an incident (not written yet)."""
    now = runtime.clock.now()
    for pid in patient_ids:
        if not is_id(pid, "pat"):
            raise ValidationFailed(fields=[{"path": "patient_ids", "type": "invalid_id"}])
    reporter = actor.user_id if isinstance(actor, Principal) else actor.name
    incident = Incident(
        id=new_id("inc"),
        source=source,
        reference=reference,
        summary=summary,
        details=details,
        discovered_at=discovered_at or now,
        reported_at=now,
        reported_by=reporter,
        patient_ids=tuple(dict.fromkeys(patient_ids)),
        affected_count=affected_count,
        vendor_id=vendor_id,
        dedupe_key=dedupe_key,
    )
    if incident.discovered_at > now:
        raise ValidationFailed(fields=[{"path": "discovered_at", "type": "in_future"}])
    alert = Put(
        {
            "pk": "ALERTS",
            "sk": f"{to_rfc3339(now)}#{incident.id}",
            "kind": "incident_opened",
            "incident_id": incident.id,
            "reason": source.value,
            "time": to_rfc3339(now),
        }
    )
    repo = IncidentRepository(store, runtime.cipher)
    fields = {
        "action": OPEN_ACTION,
        "resource_kind": KIND,
        "resource_id": incident.id,
        "reason_code": source.value,
    }
    event = (
        AuditEvent.for_principal(actor, **fields)
        if isinstance(actor, Principal)
        else AuditEvent.for_system(actor, **fields)
    )
    return PreparedIncident(incident, [*repo.create_ops(incident), alert], event)


def open_incident(
    runtime: Runtime,
    store: PracticeStore,
    actor: Principal | SystemActor,
    *,
    source: IncidentSource,
    summary: str,
    details: str = "",
    reference: str | None = None,
    patient_ids: Sequence[str] = (),
    affected_count: int | None = None,
    vendor_id: str | None = None,
    discovered_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> Incident:
    """Opens an incident (see the module docstring). With `dedupe_key`, an incident already
    opened under that key is returned instead of a second one."""
    repo = IncidentRepository(store, runtime.cipher)
    if dedupe_key is not None:
        existing = repo.by_dedupe_key(dedupe_key)
        if existing is not None:
            return existing
    prepared = prepare_incident(
        runtime,
        store,
        actor,
        source=source,
        summary=summary,
        details=details,
        reference=reference,
        patient_ids=patient_ids,
        affected_count=affected_count,
        vendor_id=vendor_id,
        discovered_at=discovered_at,
        dedupe_key=dedupe_key,
    )
    try:
        try:
            runtime.audit.write_with_audit(store, lambda: list(prepared.operations), prepared.event)
        except AuditUnavailable:
            # The audit trail itself failed its check (it refuses every append until
            # someone investigates): the incident that tells the officer so cannot wait
            # for it. Recorded without its event; the alarm has fired too.
            store.transact(list(prepared.operations))
    except ConditionFailed:
        # Another reporter won the dedupe key in the meantime: theirs is the incident.
        if dedupe_key is not None:
            existing = repo.by_dedupe_key(dedupe_key)
            if existing is not None:
                return existing
        raise
    return prepared.incident


# ---- the compliance officer's work ------------------------------------------------------


@dataclass(frozen=True)
class IncidentEdit:
    summary: str | None = None
    details: str | None = None
    discovered_at: datetime | None = None
    patient_ids: tuple[str, ...] | None = None
    affected_count: int | None = None
    vendor_id: str | None = None


class IncidentService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.incidents = IncidentRepository(ctx.store, ctx.runtime.cipher)

    def report(
        self,
        *,
        summary: str,
        details: str,
        discovered_at: datetime | None,
        patient_ids: Sequence[str],
        affected_count: int | None,
        source: IncidentSource = IncidentSource.MANUAL,
        reference: str | None = None,
        vendor_id: str | None = None,
    ) -> Incident:
        """Any staff member reports an incident by hand (HIPAA expects the workforce to)."""
        ctx = self.ctx
        access = ctx.authorize("incident.report", resource_kind=KIND)
        prepared = prepare_incident(
            ctx.runtime,
            ctx.store,
            ctx.principal,
            source=source,
            summary=summary,
            details=details,
            reference=reference,
            patient_ids=patient_ids,
            affected_count=affected_count,
            vendor_id=vendor_id,
            discovered_at=discovered_at,
        )
        ctx.write(
            access,
            lambda: list(prepared.operations),
            KIND,
            prepared.incident.id,
            reason_code=prepared.incident.source.value,
        )
        return prepared.incident

    def list(
        self, limit: int, cursor: str | None, *, open_only: bool
    ) -> tuple[list[Incident], str | None]:
        ctx = self.ctx
        access = ctx.authorize("incident.read", resource_kind=KIND)
        items, next_cursor = self.incidents.page(limit, cursor, open_only=open_only)
        ctx.record(access, KIND, reason_code=f"count_{len(items)}")
        return items, next_cursor

    def get(self, incident_id: str) -> Incident:
        ctx = self.ctx
        access = ctx.authorize("incident.read", resource_kind=KIND, resource_id=incident_id)
        incident = self._load(incident_id)
        ctx.record(access, KIND, incident.id)
        return incident

    def edit(
        self, incident_id: str, version: int, edit: IncidentEdit, fields: set[str]
    ) -> Incident:
        ctx = self.ctx
        access = ctx.authorize("incident.manage", resource_kind=KIND, resource_id=incident_id)
        incident = self._current(incident_id, version)
        self._open(incident)
        changes = {name: getattr(edit, name) for name in fields}
        if "patient_ids" in changes:
            ids = changes["patient_ids"] or ()
            if not all(is_id(p, "pat") for p in ids):
                raise ValidationFailed(fields=[{"path": "body.patient_ids", "type": "invalid_id"}])
            changes["patient_ids"] = tuple(dict.fromkeys(ids))
        if "summary" in changes and not changes["summary"]:
            raise ValidationFailed(fields=[{"path": "body.summary", "type": "missing"}])
        discovered = changes.get("discovered_at")
        if discovered is not None and discovered > ctx.now():
            raise ValidationFailed(fields=[{"path": "body.discovered_at", "type": "in_future"}])
        if "discovered_at" in changes and discovered is None:
            del changes["discovered_at"]
        changed = Incident.model_validate(
            incident.model_dump() | changes | {"version": incident.version + 1}
        )
        return self._commit(access, changed, "edited")

    def assess(
        self,
        incident_id: str,
        version: int,
        factors: dict[str, RiskFactor],
        determination: Determination,
        rationale: str,
    ) -> Incident:
        ctx = self.ctx
        access = ctx.authorize("incident.manage", resource_kind=KIND, resource_id=incident_id)
        incident = self._current(incident_id, version)
        self._open(incident)
        assessment = RiskAssessment(
            **factors,
            determination=determination,
            rationale=rationale,
            assessed_by=ctx.principal.user_id,
            assessed_at=ctx.now(),
        )
        check_assessment(assessment)
        return self._commit(access, incident.bump(assessment=assessment), determination.value)

    def notify(
        self,
        incident_id: str,
        version: int,
        kind: NotificationKind,
        sent_on: date,
        recipients: int | None,
        method: str,
        notes: str,
    ) -> Incident:
        ctx = self.ctx
        access = ctx.authorize("incident.manage", resource_kind=KIND, resource_id=incident_id)
        incident = self._current(incident_id, version)
        self._open(incident)
        if incident.determination is not Determination.BREACH:
            raise InvalidIncidentState(reason="not_a_breach")
        if any(n.kind is kind for n in incident.notifications):
            raise InvalidIncidentState(reason="already_recorded")
        if sent_on < incident.discovered_at.date() or sent_on > ctx.now().date():
            raise ValidationFailed(fields=[{"path": "body.sent_on", "type": "out_of_range"}])
        record = NotificationRecord(
            kind=kind,
            sent_on=sent_on,
            recipients=recipients,
            method=method,
            notes=notes,
            recorded_by=ctx.principal.user_id,
            recorded_at=ctx.now(),
        )
        changed = incident.bump(notifications=(*incident.notifications, record))
        return self._commit(access, changed, f"notified_{kind.value}")

    def close(self, incident_id: str, version: int, reason: str) -> Incident:
        ctx = self.ctx
        access = ctx.authorize("incident.manage", resource_kind=KIND, resource_id=incident_id)
        incident = self._current(incident_id, version)
        problem = closing_problem(incident)
        if problem is not None:
            raise InvalidIncidentState(reason=problem)
        changed = incident.bump(
            status=IncidentStatus.CLOSED,
            closed_at=ctx.now(),
            closed_by=ctx.principal.user_id,
            close_reason=reason,
        )
        return self._commit(access, changed, "closed")

    # ---- helpers --------------------------------------------------------------------------

    def _load(self, incident_id: str) -> Incident:
        incident = self.incidents.get(incident_id) if is_id(incident_id, "inc") else None
        if incident is None:
            raise NotFound()
        return incident

    def _current(self, incident_id: str, version: int) -> Incident:
        incident = self._load(incident_id)
        if incident.version != version:
            raise VersionConflict(current_version=incident.version)
        return incident

    @staticmethod
    def _open(incident: Incident) -> None:
        if incident.status is IncidentStatus.CLOSED:
            raise InvalidIncidentState(reason="already_closed")

    def _commit(self, access: Access, changed: Incident, reason: str) -> Incident:
        op = self.incidents.update_op(changed)
        try:
            self.ctx.write(access, lambda: [op], KIND, changed.id, reason_code=reason)
        except ConditionFailed as exc:
            current = self.incidents.get(changed.id)
            raise VersionConflict(
                current_version=current.version if current else exc.current_version
            ) from exc
        return changed


def overdue(incident: Incident, today: date) -> list[str]:
    """The notices of this incident that are past their deadline (kinds)."""
    return [d.kind.value for d in deadlines(incident) if d.overdue(today)]
