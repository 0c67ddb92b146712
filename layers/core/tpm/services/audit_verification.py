"""The audit trail verified on a schedule, not only when someone asks.

- After every scheduled checkpoint (functions/audit_checkpoint, hourly): the span from the
  last verified point to the newest sealed checkpoint (`verify_span`: hashes, links,
  checkpoint signatures, table copy against seal). The practice keeps a cursor row
  (`AUDIT_VERIFY` / `CURSOR`: the last verified seq and its hash), advanced in the same
  transaction as the result's audit event, so each run costs the events since the last.
- Daily (the compliance daily job): the whole chain (`verify`, as `tpm audit verify` and
  POST /v1/audit/verify run it), head and every checkpoint included.

An intact result is recorded as an `audit.verify` event (system actor, reason
`scheduled_span` or `scheduled_full`). A failed one cannot be: appending to a chain that
fails its check would build on the evidence (and the trail refuses appends once the head
fails). So a failure raises the `AuditChainUnverified` metric (its alarm pages the
operator), opens an incident for the privacy officer (source `audit_verification`, once
per first problem; an incident is recorded even while the trail refuses appends) and
raises, so the job's own Errors alarm fires as well. Logs carry kinds and seqs, never
event content.
"""

from __future__ import annotations

from tpm.adapters.store.base import Absent, Operation, PracticeStore, Put, VersionIs
from tpm.errors import IntegrityError
from tpm.observability import alarm_metric, get_logger
from tpm.runtime import Runtime
from tpm.security.audit import UNVERIFIED_METRIC, read_events
from tpm.security.audit_chain import AUDIT_VERIFIED, GENESIS_HASH, AuditEvent, VerifyReport
from tpm.security.audit_verify import verify, verify_span
from tpm.security.principal import SystemActor

log = get_logger("audit-verification")
CURSOR = ("AUDIT_VERIFY", "CURSOR")
SPAN = "scheduled_span"
FULL = "scheduled_full"


class AuditVerificationFailed(IntegrityError):
    code = "integrity_error"


def verify_after_checkpoint(runtime: Runtime, practice_id: str, actor: SystemActor) -> VerifyReport:
    """The span since the last verified point; advances the cursor when intact."""
    store = runtime.store.practice(practice_id)
    trail = runtime.audit
    cursor = store.get(*CURSOR)
    after_seq = int(cursor["last_seq"]) if cursor else 0
    after_hash = str(cursor["last_hash"]) if cursor else GENESIS_HASH
    report = verify_span(store, trail.trusted_keys(), trail.sink, after_seq, after_hash)
    if not report.ok:
        _failed(runtime, practice_id, actor, report, "span")
    version = int(cursor["version"]) if cursor else 0
    ops: list[Operation] = []
    if report.last_seq > after_seq:
        last = next(c for c in reversed(trail.sink.read(practice_id)) if c.seq == report.last_seq)
        row = {
            "pk": CURSOR[0],
            "sk": CURSOR[1],
            "last_seq": last.seq,
            "last_hash": last.hash,
            "version": version + 1,
        }
        ops.append(Put(row, VersionIs(version) if version else Absent()))
    if not ops:
        return report  # nothing sealed since the last run: nothing to say
    if _only_our_own_result(store, after_seq, report.last_seq):
        # The span is just the previous run's `audit.verify` event (sealed by this hour's
        # checkpoint): verified, but recording that would add an event, hence a checkpoint
        # and a span, every hour for ever in a quiet practice. The cursor moves silently.
        store.transact(ops)
        return report
    event = AuditEvent.for_system(
        actor,
        action=AUDIT_VERIFIED,
        resource_kind="audit_event",
        resource_id=f"seq:{after_seq + 1}-{report.last_seq}",
        reason_code=SPAN,
    )
    trail.write_with_audit(store, lambda: list(ops), event)
    return report


def _only_our_own_result(store: PracticeStore, after_seq: int, last_seq: int) -> bool:
    if last_seq != after_seq + 1:
        return False
    (event,) = read_events(store, last_seq, last_seq)
    return event.action == AUDIT_VERIFIED and event.reason_code == SPAN


def verify_whole_chain(runtime: Runtime, practice_id: str, actor: SystemActor) -> VerifyReport:
    """Every event, the head and every checkpoint (daily)."""
    store = runtime.store.practice(practice_id)
    trail = runtime.audit
    report = verify(store, trail.trusted_keys(), trail.sink)
    if not report.ok:
        _failed(runtime, practice_id, actor, report, "full")
    event = AuditEvent.for_system(
        actor, action=AUDIT_VERIFIED, resource_kind="audit_event", reason_code=FULL
    )
    trail.write_with_audit(store, lambda: [], event)
    return report


def _failed(
    runtime: Runtime, practice_id: str, actor: SystemActor, report: VerifyReport, scope: str
) -> None:
    from tpm.domain.incidents import IncidentSource
    from tpm.services.incidents import open_incident

    first = report.first_problem
    assert first is not None
    alarm_metric(UNVERIFIED_METRIC)
    log.error(
        "scheduled audit verification failed",
        extra={
            "practice_id": practice_id,
            "scope": scope,
            "problems": len(report.problems),
            "first_kind": first.kind,
            "first_seq": first.seq,
        },
    )
    open_incident(
        runtime,
        runtime.store.practice(practice_id),
        actor,
        source=IncidentSource.AUDIT_VERIFICATION,
        summary=f"Scheduled audit verification failed: {first.kind} at seq {first.seq}",
        details="Run `tpm audit verify` and compare with the archived segments"
        " (docs/operations.md, 'When tpm audit verify fails'). Copy the data before any"
        " repair; the trail refuses appends while its head fails the check.",
        reference=f"seq:{first.seq}",
        dedupe_key=f"audit-verify:{first.kind}:{first.seq}",
    )
    raise AuditVerificationFailed(f"audit verification failed at seq {first.seq} ({first.kind})")
