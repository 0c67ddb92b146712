"""Several audit events in ONE transaction with the changes they describe.

`AuditTrail.write_with_audit` appends one event per transaction (the chain head is
written once per transaction). A job that finishes many small units — the reminder sweep
records one event per message — would pay one durable commit per event; here n events
are chained in order (seq N+1..N+n, each linking to the one before) and the head moves
once, so n messages cost one commit. The chain is exactly what n single appends would
have produced (same layout, same signatures, same checkpoint rule); tests check it with
the audit verifier.

TODO(lead): this belongs in tpm.security.audit as AuditTrail.write_many_with_audit; it
uses that module's row builders so the layout cannot drift.
"""

from __future__ import annotations

import logging
import secrets
import time as time_module
from collections.abc import Sequence

from tpm.adapters.store.base import (
    MAX_TRANSACTION_ITEMS,
    Absent,
    ConditionFailed,
    Operation,
    PracticeStore,
    Put,
    StoreMisuse,
    TransactionConflict,
    VersionIs,
)
from tpm.clock import to_rfc3339
from tpm.errors import IntegrityError
from tpm.security.audit import (
    AUDIT_PK,
    AuditTrail,
    _checkpoint_item,
    _head_item,
    event_item,
    event_sk,
    read_head,
)
from tpm.security.audit_chain import GENESIS_HASH, AuditEvent, chain
from tpm.security.audit_checkpoints import sign_checkpoint, sign_head

log = logging.getLogger(__name__)


def prepare_many(
    trail: AuditTrail, store: PracticeStore, events: Sequence[AuditEvent]
) -> tuple[list[Operation], bool]:
    """The ops that append `events` in order; and whether a checkpoint is among them."""
    if not events:
        return [], False
    if any(e.practice_id != store.practice_id for e in events):
        raise StoreMisuse("audit event belongs to another practice")
    head = read_head(store)
    if head is None and store.get(AUDIT_PK, event_sk(1)) is not None:
        head = read_head(store)
        if head is None:
            raise IntegrityError("the audit chain head is missing")
    now = to_rfc3339(trail.clock.now())
    seq = head.seq if head else 0
    prev_hash = head.hash if head else GENESIS_HASH
    at = max(now, head.time) if head else now
    last_cp_seq = head.last_checkpoint_seq if head else 0
    last_cp_hash = head.last_checkpoint_hash if head else GENESIS_HASH
    ops: list[Operation] = []
    checkpointed = False
    for event in events:
        seq += 1
        chained = chain(event, seq=seq, time=at, prev_hash=prev_hash)
        ops.append(Put(event_item(chained), Absent()))
        prev_hash = chained.hash
        if seq - last_cp_seq >= trail.checkpoint_every:
            checkpoint = sign_checkpoint(
                trail.signer,
                practice_id=store.practice_id,
                seq=seq,
                hash=chained.hash,
                time=now,
                prev_checkpoint_hash=last_cp_hash,
            )
            ops.append(Put(_checkpoint_item(checkpoint), Absent()))
            last_cp_seq, last_cp_hash = seq, checkpoint.checkpoint_hash
            checkpointed = True
    new_head = sign_head(
        trail.signer,
        practice_id=store.practice_id,
        seq=seq,
        hash=prev_hash,
        time=at,
        version=head.version + 1 if head else 1,
        last_checkpoint_seq=last_cp_seq,
        last_checkpoint_hash=last_cp_hash,
    )
    ops.append(Put(_head_item(new_head), VersionIs(head.version) if head else Absent()))
    return ops, checkpointed


def audit_ops_needed(events: int, checkpoint_every: int) -> int:
    """Upper bound of the audit ops `events` events add to a transaction."""
    return events + 1 + events // max(checkpoint_every, 1) + 1


def write_many_with_audit(
    trail: AuditTrail,
    store: PracticeStore,
    business: Sequence[Operation],
    events: Sequence[AuditEvent],
    retries: int = 5,
) -> None:
    """Commits `business` and `events` together or not at all. A ConditionFailed on a
    business op is re-raised (the caller decides); contention on the chain is retried."""
    if not events:
        store.transact(list(business))
        return
    last: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            time_module.sleep(secrets.randbelow(min(10 * 2**attempt, 400) + 1) / 1000)
        audit_ops, checkpointed = prepare_many(trail, store, events)
        operations = [*business, *audit_ops]
        if len(operations) > MAX_TRANSACTION_ITEMS:
            raise StoreMisuse(f"at most {MAX_TRANSACTION_ITEMS} items in a transaction")
        try:
            store.transact(operations)
        except ConditionFailed as exc:
            if exc.index < len(business):
                raise
            last = exc
        except TransactionConflict as exc:
            last = exc
        else:
            if checkpointed:
                try:
                    trail.publish_checkpoints(store)
                except Exception:  # committed: the next publish seals it
                    log.warning("audit checkpoint not sealed yet")
            return
    raise TransactionConflict(attempts=retries + 1) from last
