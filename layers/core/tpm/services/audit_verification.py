"""The audit trail verified on a schedule, not only when someone asks.

- After every scheduled checkpoint (functions/audit_checkpoint, hourly): the span from the
  last verified point to the newest sealed checkpoint (`verify_span`: hashes, links,
  checkpoint signatures and shards, table copy against seal). The practice keeps a cursor
  row (`AUDIT_VERIFY` / `CURSOR`: the last verified checkpoint's seq and hash and, with
  several shards, each shard's seq and hash there as `marks`), advanced in the same
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

from collections.abc import Mapping
from typing import Any

from tpm.adapters.store.base import Absent, Item, Operation, PracticeStore, Put, VersionIs
from tpm.errors import IntegrityError
from tpm.observability import alarm_metric, get_logger
from tpm.runtime import Runtime
from tpm.security.audit import UNVERIFIED_METRIC, read_events
from tpm.security.audit_chain import AUDIT_VERIFIED, AuditEvent, VerifyReport
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
    after = cursor_marks(cursor)
    report = verify_span(store, trail.trusted_keys(), trail.sink, after)
    if not report.ok:
        _failed(runtime, practice_id, actor, report, "span")
    after_total = sum(seq for seq, _ in after.values())
    version = int(cursor["version"]) if cursor else 0
    ops: list[Operation] = []
    end: dict[int, tuple[int, str]] = dict(after)
    if report.last_seq > after_total:
        last = next(c for c in reversed(trail.sink.read(practice_id)) if c.seq == report.last_seq)
        end = last.marks()
        row: dict[str, Any] = {
            "pk": CURSOR[0],
            "sk": CURSOR[1],
            "last_seq": last.seq,
            "last_hash": last.hash,
            "version": version + 1,
        }
        if last.shards:
            row["marks"] = {str(k): [seq, hash_] for k, (seq, hash_) in end.items()}
        ops.append(Put(row, VersionIs(version) if version else Absent()))
    if not ops:
        return report  # nothing sealed since the last run: nothing to say
    if _only_our_own_result(store, after, end):
        # The span is just the previous run's `audit.verify` event (sealed by this hour's
        # checkpoint): verified, but recording that would add an event, hence a checkpoint
        # and a span, every hour for ever in a quiet practice. The cursor moves silently.
        store.transact(ops)
        return report
    event = AuditEvent.for_system(
        actor,
        action=AUDIT_VERIFIED,
        resource_kind="audit_event",
        resource_id=f"seq:{after_total + 1}-{report.last_seq}",
        reason_code=SPAN,
    )
    trail.write_with_audit(store, lambda: list(ops), event)
    return report


def cursor_marks(cursor: Item | None) -> dict[int, tuple[int, str]]:
    """Where the last verified span ended, per shard ({} before the first run)."""
    if cursor is None:
        return {}
    if "marks" in cursor:
        return {int(k): (int(v[0]), str(v[1])) for k, v in dict(cursor["marks"]).items()}
    return {0: (int(cursor["last_seq"]), str(cursor["last_hash"]))}


def _only_our_own_result(
    store: PracticeStore, after: Mapping[int, tuple[int, str]], end: Mapping[int, tuple[int, str]]
) -> bool:
    moved = [k for k, (seq, _) in end.items() if seq != after.get(k, (0, ""))[0]]
    if len(moved) != 1:
        return False
    (shard,) = moved
    last_seq = end[shard][0]
    if last_seq != after.get(shard, (0, ""))[0] + 1:
        return False
    (event,) = read_events(store, last_seq, last_seq, shard)
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
    where = f"shard:{first.shard}:seq:{first.seq}" if first.shard else f"seq:{first.seq}"
    alarm_metric(UNVERIFIED_METRIC)
    log.error(
        "scheduled audit verification failed",
        extra={
            "practice_id": practice_id,
            "scope": scope,
            "problems": len(report.problems),
            "first_kind": first.kind,
            "first_seq": first.seq,
            "first_shard": first.shard,
        },
    )
    open_incident(
        runtime,
        runtime.store.practice(practice_id),
        actor,
        source=IncidentSource.AUDIT_VERIFICATION,
        summary=f"Scheduled audit verification failed: {first.kind} at {first.where}",
        details="Run `tpm audit verify` and compare with the archived segments"
        " (docs/operations.md, 'When tpm audit verify fails'). Copy the data before any"
        " repair; the trail refuses appends while its head fails the check.",
        reference=where,
        dedupe_key=f"audit-verify:{first.kind}:{where.removeprefix('seq:')}",
    )
    raise AuditVerificationFailed(f"audit verification failed at {first.where} ({first.kind})")
