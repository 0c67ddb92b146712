"""The daily compliance job (functions/compliance_daily; `tpm dev` runs it from the same
template schedule): warnings the compliance role must not have to go looking for.

Per practice:
- the whole audit chain is verified (tpm.services.audit_verification): an `audit.verify`
  event when intact; the AuditChainUnverified alarm and an incident when not;
- the audit trail since the last run is exported to the write-once archive
  (tpm.services.audit_archive; one signed segment per run);
- a business associate agreement reaching 60, 30, 7 or 0 days before it ends: an alert
  (GET /v1/security-alerts) and a short e-mail to each active owner and compliance
  officer, each once per agreement end date and threshold. The e-mail names the vendor,
  never a patient (carries_phi=False), and goes through the register like any send.
- an open incident whose breach-notification deadline is 14 days away or past: an alert,
  once per incident, notice kind and state (due soon, overdue).
- an open patient's-rights request (access, amendment, accounting) 7 days from its
  deadline or past it: an alert (`rights_request_due_soon` / `rights_request_overdue`),
  once per request, deadline and state (an extension arms it again).

Every alert row and e-mail is written with its audit event (system actor
`compliance-daily`). Counts only in logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from tpm.adapters.notify import DeliveryRejected
from tpm.adapters.store.base import Absent, ConditionFailed, Operation, PracticeStore, Put
from tpm.clock import to_rfc3339
from tpm.domain.incidents import deadlines
from tpm.domain.users import UserStatus
from tpm.domain.vendors import AgreementRequired, Vendor, days_left, warning_due
from tpm.errors import DependencyUnavailable
from tpm.ids import new_id
from tpm.observability import get_logger
from tpm.repositories.incidents import IncidentRepository
from tpm.repositories.users import UserRepository
from tpm.repositories.vendors import VendorRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import Role, SystemActor
from tpm.services.agreements import AgreementGuard
from tpm.services.practices import all_practice_ids, get_practice

log = get_logger("compliance-daily")
ACTOR = "compliance-daily"
DEADLINE_WARNING_DAYS = 14


@dataclass
class DailyReport:
    practices: int = 0
    agreement_warnings: int = 0
    emails: int = 0
    email_failures: int = 0
    deadline_warnings: int = 0
    archived_segments: int = 0
    archived_events: int = 0
    failed: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {
            "practices": self.practices,
            "agreement_warnings": self.agreement_warnings,
            "emails": self.emails,
            "email_failures": self.email_failures,
            "deadline_warnings": self.deadline_warnings,
            "archived_segments": self.archived_segments,
            "archived_events": self.archived_events,
            "failed": self.failed,
            **self.extra,
        }


PracticeStep = Callable[[Runtime, str, SystemActor, DailyReport], None]


def run_daily(
    runtime: Runtime,
    *,
    steps: tuple[PracticeStep, ...] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> DailyReport:
    report = DailyReport()
    for practice_id in all_practice_ids(runtime.store):
        if should_stop():
            break
        report.practices += 1
        actor = SystemActor(ACTOR, practice_id, request_id=new_id("run"))
        for step in steps or DAILY_STEPS:
            try:
                step(runtime, practice_id, actor, report)
            except Exception as exc:  # one practice's failure must not stop the others
                report.failed += 1
                log.error(
                    "compliance daily step failed",
                    extra={
                        "practice_id": practice_id,
                        "step": step.__name__,
                        "error_type": type(exc).__name__,
                    },
                )
    return report


# ---- agreements -----------------------------------------------------------------------------


def agreement_warnings(
    runtime: Runtime, practice_id: str, actor: SystemActor, report: DailyReport
) -> None:
    store = runtime.store.practice(practice_id)
    guard = AgreementGuard(runtime, store, actor)
    today = guard.today
    repo = VendorRepository(store, runtime.cipher)
    for vendor in repo.all():
        threshold = warning_due(vendor, today)
        if threshold is None:
            continue
        marker = f"{vendor.agreement.expires_on}#{threshold}"
        if repo.warned(vendor.id, marker):
            continue
        left = days_left(vendor, today)
        now = runtime.clock.now()
        alert = Put(
            {
                "pk": "ALERTS",
                "sk": f"{to_rfc3339(now)}#{vendor.id}#{threshold}",
                "kind": "agreement_expiring",
                "vendor_id": vendor.id,
                "vendor_key": vendor.key,
                "days_left": left,
                "ends_at": str(vendor.agreement.expires_on),
                "time": to_rfc3339(now),
            }
        )
        event = AuditEvent.for_system(
            actor,
            action="vendor.expiry_warning",
            resource_kind="vendor",
            resource_id=vendor.id,
            reason_code=f"days_{threshold}",
        )
        if not _write_once(runtime, store, [repo.warned_op(vendor.id, marker), alert], event):
            continue  # a concurrent run warned first
        report.agreement_warnings += 1
        _email_officers(runtime, practice_id, guard, vendor, left, report)


def _email_officers(
    runtime: Runtime,
    practice_id: str,
    guard: AgreementGuard,
    vendor: Vendor,
    left: int | None,
    report: DailyReport,
) -> None:
    store = runtime.store.practice(practice_id)
    practice = get_practice(runtime.store, practice_id)
    users = UserRepository(store, runtime.cipher)
    when = "has ended" if left is not None and left <= 0 else f"ends in {left} day(s)"
    subject = f"{practice.name}: a business associate agreement {when}"
    text = (
        f"The agreement with {vendor.name} ({vendor.key}) {when}"
        f" ({vendor.agreement.expires_on}). While it is not in effect, tpm sends no"
        " patient information to this vendor. Renew it and update the vendor register"
        " (Compliance > Vendors).\n"
    )
    cursor: str | None = None
    while True:
        page, cursor = users.page(100, cursor)
        for user in page:
            if user.status is not UserStatus.ACTIVE:
                continue
            if not user.roles & {Role.COMPLIANCE, Role.OWNER}:
                continue
            try:
                runtime.notifier.send_email(
                    user.email, subject, text, guard=guard, carries_phi=False
                )
            except (AgreementRequired, DeliveryRejected, DependencyUnavailable):
                report.email_failures += 1
                continue
            report.emails += 1
        if cursor is None:
            return


# ---- incident deadlines ---------------------------------------------------------------------


def incident_deadline_warnings(
    runtime: Runtime, practice_id: str, actor: SystemActor, report: DailyReport
) -> None:
    store = runtime.store.practice(practice_id)
    zone = get_practice(runtime.store, practice_id).zone
    today: date = runtime.clock.now().astimezone(zone).date()
    repo = IncidentRepository(store, runtime.cipher)
    cursor: str | None = None
    while True:
        incidents, cursor = repo.page(100, cursor, open_only=True)
        for incident in incidents:
            for deadline in deadlines(incident):
                if deadline.done_on is not None:
                    continue
                if deadline.overdue(today):
                    state = "overdue"
                elif deadline.due - today <= timedelta(days=DEADLINE_WARNING_DAYS):
                    state = "due_soon"
                else:
                    continue
                once = Put(
                    {
                        "pk": "ALERT_ONCE",
                        "sk": f"incident#{incident.id}#{deadline.kind.value}#{state}",
                    },
                    Absent(),
                )
                now = runtime.clock.now()
                alert = Put(
                    {
                        "pk": "ALERTS",
                        "sk": f"{to_rfc3339(now)}#{incident.id}#{deadline.kind.value}",
                        "kind": f"incident_{state}",
                        "incident_id": incident.id,
                        "reason": deadline.kind.value,
                        "ends_at": str(deadline.due),
                        "time": to_rfc3339(now),
                    }
                )
                event = AuditEvent.for_system(
                    actor,
                    action="incident.deadline_warning",
                    resource_kind="incident",
                    resource_id=incident.id,
                    reason_code=f"{deadline.kind.value}_{state}",
                )
                if _write_once(runtime, store, [once, alert], event):
                    report.deadline_warnings += 1
        if cursor is None:
            return


# ---- patients' rights deadlines ----------------------------------------------------------

RIGHTS_WARNING_DAYS = 7


def rights_deadline_warnings(
    runtime: Runtime, practice_id: str, actor: SystemActor, report: DailyReport
) -> None:
    from tpm.repositories.rights import REQUEST_KIND, RightsRepository

    store = runtime.store.practice(practice_id)
    zone = get_practice(runtime.store, practice_id).zone
    today: date = runtime.clock.now().astimezone(zone).date()
    repo = RightsRepository(store, runtime.cipher)
    cursor: str | None = None
    while True:
        requests, cursor = repo.page(100, cursor, open_only=True)  # by due date
        for request in requests:
            if request.overdue(today):
                state = "overdue"
            elif request.due_on - today <= timedelta(days=RIGHTS_WARNING_DAYS):
                state = "due_soon"
            else:
                return  # the rest are due later still
            once = Put(
                {"pk": "ALERT_ONCE", "sk": f"rights#{request.id}#{request.due_on}#{state}"},
                Absent(),
            )
            now = runtime.clock.now()
            alert = Put(
                {
                    "pk": "ALERTS",
                    "sk": f"{to_rfc3339(now)}#{request.id}#{state}",
                    "kind": f"rights_request_{state}",
                    "patient_id": request.patient_id,
                    "reason": request.kind.value,
                    "ends_at": str(request.due_on),
                    "time": to_rfc3339(now),
                }
            )
            event = AuditEvent.for_system(
                actor,
                action="rights.deadline_warning",
                resource_kind=REQUEST_KIND,
                resource_id=request.id,
                patient_id=request.patient_id,
                reason_code=f"{request.kind.value}_{state}",
            )
            if _write_once(runtime, store, [once, alert], event):
                report.extra["rights_warnings"] = report.extra.get("rights_warnings", 0) + 1
        if cursor is None:
            return


def _write_once(
    runtime: Runtime, store: PracticeStore, ops: list[Operation], event: AuditEvent
) -> bool:
    """Commits `ops` (the first of which is a write-once marker) with the event; False when
    the marker exists already (nothing written)."""
    try:
        runtime.audit.write_with_audit(store, lambda: list(ops), event)
    except ConditionFailed:
        return False
    return True


def archive_audit(
    runtime: Runtime, practice_id: str, actor: SystemActor, report: DailyReport
) -> None:
    from tpm.services.audit_archive import archive_practice

    segments = archive_practice(runtime, practice_id, actor)
    report.archived_segments += len(segments)
    report.archived_events += sum(s.count for s in segments)


def verify_audit(
    runtime: Runtime, practice_id: str, actor: SystemActor, report: DailyReport
) -> None:
    """The whole chain, daily (tpm.services.audit_verification): intact -> an
    `audit.verify` event; broken -> metric, alarm, incident, and this step fails."""
    from tpm.services.audit_verification import verify_whole_chain

    verify_whole_chain(runtime, practice_id, actor)
    report.extra["audit_verified"] = report.extra.get("audit_verified", 0) + 1


DAILY_STEPS: tuple[PracticeStep, ...] = (
    verify_audit,
    archive_audit,
    agreement_warnings,
    incident_deadline_warnings,
    rights_deadline_warnings,
)
