"""Recording a "restore acknowledged" record after a point-in-time restore of the table
(`tpm audit acknowledge-restore`; see tpm.security.audit_restores for what it means to
verification, and docs/operations.md for when to run it).

Every shard's head in the restored table must verify (signature, and the newest event
hashes to it): a table that fails that is not a clean restore and is never acknowledged.
`before` is the newest checkpoint sealed past the restored heads — the last point of the
lost chains that anything outside the database vouches for (a checkpoint commits every
shard). The record is signed, written once outside the database, and the acknowledgement
is itself an event in the chain.
"""

from __future__ import annotations

from datetime import datetime

from tpm.adapters.store.base import PracticeStore
from tpm.clock import to_rfc3339
from tpm.errors import ValidationFailed
from tpm.security.audit import AuditTrail
from tpm.security.audit_chain import AuditEvent
from tpm.security.audit_checkpoints import ShardMark
from tpm.security.audit_layout import read_head_rows
from tpm.security.audit_restores import (
    RestoreAcknowledgement,
    RestoreLedger,
    sign_acknowledgement,
)
from tpm.security.principal import SystemActor

RESTORE_ACKNOWLEDGED = "audit.restore_acknowledged"


def _refused(field: str, kind: str) -> ValidationFailed:
    return ValidationFailed(fields=[{"path": field, "type": kind}])


def acknowledge_restore(
    trail: AuditTrail,
    store: PracticeStore,
    actor: SystemActor,
    *,
    by: str,
    restore_point: datetime,
) -> RestoreAcknowledgement:
    ledger: RestoreLedger | None = getattr(trail.sink, "restores", None)
    if ledger is None:
        raise _refused("sink", "no_restore_ledger")
    now = trail.clock.now()
    if restore_point.tzinfo is None:
        raise _refused("restore_point", "needs_offset")
    if restore_point > now:
        raise _refused("restore_point", "in_future")
    # Every shard's head verifies, or nothing is recorded (AuditUnavailable, 503).
    rows = read_head_rows(store)
    head0 = trail.verified_head(store, 0, rows.get(0))
    if head0 is None:
        raise _refused("head", "empty_chain")
    after = [ShardMark(shard=0, seq=head0.seq, hash=head0.hash)]
    for k in range(1, head0.shards):
        head = trail.verified_head(store, k, rows.get(k))
        if head is None:
            raise _refused("head", "missing_head")
        after.append(ShardMark(shard=k, seq=head.seq, hash=head.hash))
    restored = {m.shard: m.seq for m in after}
    beyond = [
        c
        for c in trail.sink.read(store.practice_id)
        if any(seq > restored.get(k, 0) for k, (seq, _) in c.marks().items())
    ]
    if not beyond:
        # Nothing outside the database shows a lost tail: there is no gap to explain.
        raise _refused("before", "nothing_sealed_beyond_head")
    newest = beyond[-1].marks()
    before = [ShardMark(shard=k, seq=seq, hash=h) for k, (seq, h) in sorted(newest.items())]
    if len(before) < len(after):  # a shard opened after that checkpoint: it lost nothing
        before += after[len(before) :]
    if sum(m.seq for m in before) <= sum(m.seq for m in after):
        raise _refused("before", "not_after_restored_head")
    ack = sign_acknowledgement(
        trail.signer,
        practice_id=store.practice_id,
        acknowledged_by=by,
        acknowledged_at=to_rfc3339(now),
        restore_point=to_rfc3339(restore_point),
        before=tuple(before),
        after=tuple(after),
    )
    ledger.acknowledge_restore(ack)
    trail.record(
        store,
        AuditEvent.for_system(
            actor,
            action=RESTORE_ACKNOWLEDGED,
            resource_kind="audit_event",
            resource_id=f"seq:{ack.after_total + 1}-{ack.before_total}",
            reason_code="restore_acknowledged",
        ),
    )
    return ack
