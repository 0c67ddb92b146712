"""Checking a practice's stored audit trail end to end.

Walks every event from seq 1 (hash, seq, link, index keys), then holds the result against
the signed head and against every signed checkpoint, both the copies in the table and the
sealed copies in the external sink. The sink is what catches truncation: deleting the
newest events and restoring an older signed head leaves a sealed checkpoint beyond the end.
"""

from __future__ import annotations

from tpm.adapters.store.base import PracticeStore, iterate
from tpm.errors import IntegrityError
from tpm.security.audit import (
    AUDIT_PK,
    CHECKPOINT_PREFIX,
    EVENT_PREFIX,
    index_keys,
    read_head,
    record_fields,
)
from tpm.security.audit_chain import GENESIS_HASH, ChainWalker, Problem, VerifyReport
from tpm.security.audit_checkpoints import (
    ChainHead,
    Checkpoint,
    CheckpointSink,
    PublicKeys,
    signature_ok,
)

_INDEX_ATTRS = ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")


def verify(store: PracticeStore, public_keys: PublicKeys, sink: CheckpointSink) -> VerifyReport:
    problems: list[Problem] = []
    head = _load_head(store, problems)
    stored = _load_stored_checkpoints(store, problems)
    try:
        sealed = sink.read(store.practice_id)
    except ValueError:
        sealed = []
        problems.append(
            Problem("checkpoint_mismatch", 0, "the sealed checkpoint log is unreadable")
        )

    wanted = {c.seq for c in stored} | {c.seq for c in sealed}
    walker = ChainWalker(wanted=frozenset(wanted))
    for item in iterate(store, AUDIT_PK, sk_prefix=EVENT_PREFIX):
        key_seq = _seq_of(item["sk"], EVENT_PREFIX)
        if key_seq is None:
            problems.append(Problem("inserted", 0, "a row with a malformed event key"))
            continue
        event = walker.feed(record_fields(item), key_seq)
        if event is not None and {a: item.get(a) for a in _INDEX_ATTRS} != {
            a: index_keys(event).get(a) for a in _INDEX_ATTRS
        }:
            problems.append(Problem("altered", event.seq, "index keys do not match the event"))
    problems.extend(walker.problems)

    if head is not None:
        _check_head(head, walker, store.practice_id, public_keys, problems)
    elif walker.count:
        problems.append(Problem("missing_head", 1, "events exist but the chain head is gone"))
    for cps in (stored, sealed):
        _check_checkpoints(cps, walker, store.practice_id, public_keys, problems)
    _compare_copies(stored, sealed, problems)

    problems.sort(key=lambda p: p.seq)  # stable: within a seq, walk order is kept
    return VerifyReport(
        events_checked=walker.count,
        last_seq=walker.last_seq,
        head_seq=head.seq if head else None,
        checkpoints_checked=len(stored),
        sealed_checkpoints_checked=len(sealed),
        problems=problems,
    )


def _load_head(store: PracticeStore, problems: list[Problem]) -> ChainHead | None:
    try:
        return read_head(store)
    except IntegrityError:
        problems.append(Problem("bad_head_signature", 0, "the chain head row is unreadable"))
        return None


def _load_stored_checkpoints(store: PracticeStore, problems: list[Problem]) -> list[Checkpoint]:
    found: list[Checkpoint] = []
    for item in iterate(store, AUDIT_PK, sk_prefix=CHECKPOINT_PREFIX):
        seq = _seq_of(item["sk"], CHECKPOINT_PREFIX) or 0
        try:
            cp = Checkpoint.model_validate(record_fields(item))
        except ValueError:
            problems.append(Problem("checkpoint_mismatch", seq, "checkpoint row is unreadable"))
            continue
        if cp.seq != seq:
            problems.append(
                Problem("checkpoint_mismatch", seq, "checkpoint stored under wrong seq")
            )
            continue
        found.append(cp)
    return found


def _check_head(
    head: ChainHead,
    walker: ChainWalker,
    practice_id: str,
    keys: PublicKeys,
    problems: list[Problem],
) -> None:
    if head.practice_id != practice_id or not signature_ok(head, keys):
        problems.append(Problem("bad_head_signature", head.seq, "head signature is not valid"))
    if walker.last_seq > head.seq:
        problems.append(Problem("inserted", head.seq + 1, "events exist beyond the signed head"))
    elif walker.last_seq < head.seq:
        problems.append(
            Problem("truncated", walker.last_seq + 1, f"chain ends before head seq {head.seq}")
        )
    elif head.hash != walker.last_hash:
        problems.append(Problem("head_mismatch", head.seq, "head hash differs from last event"))


def _check_checkpoints(
    checkpoints: list[Checkpoint],
    walker: ChainWalker,
    practice_id: str,
    keys: PublicKeys,
    problems: list[Problem],
) -> None:
    prev = GENESIS_HASH
    for cp in checkpoints:
        if cp.practice_id != practice_id or not signature_ok(cp, keys):
            problems.append(Problem("bad_checkpoint_signature", cp.seq, "signature not valid"))
        elif cp.prev_checkpoint_hash != prev:
            problems.append(
                Problem("checkpoint_mismatch", cp.seq, "not linked to the previous checkpoint")
            )
        elif cp.seq > walker.last_seq:
            problems.append(
                Problem(
                    "truncated",
                    walker.last_seq + 1,
                    f"a signed checkpoint covers seq {cp.seq} beyond the chain's end",
                )
            )
        elif walker.hashes_at.get(cp.seq) != cp.hash:
            problems.append(Problem("checkpoint_mismatch", cp.seq, "chain hash differs"))
        prev = cp.checkpoint_hash


def _compare_copies(
    stored: list[Checkpoint], sealed: list[Checkpoint], problems: list[Problem]
) -> None:
    # A stored checkpoint not sealed yet is normal (sealing follows the commit); a sealed
    # one missing from, or different in, the table is not.
    by_seq = {c.seq: c for c in stored}
    for cp in sealed:
        if by_seq.get(cp.seq) != cp:
            problems.append(
                Problem("checkpoint_mismatch", cp.seq, "table copy missing or differs from seal")
            )


def _seq_of(sk: str, prefix: str) -> int | None:
    digits = sk.removeprefix(prefix)
    return int(digits) if sk.startswith(prefix) and digits.isdigit() and len(digits) == 12 else None


def verify_span(
    store: PracticeStore,
    public_keys: PublicKeys,
    sink: CheckpointSink,
    after_seq: int,
    after_hash: str,
) -> VerifyReport:
    """The events after a point already verified (`after_seq`, whose hash was `after_hash`;
    0 and GENESIS_HASH for none) up to the newest sealed checkpoint: each event's hash and
    link, and every sealed checkpoint in the span — its signature, its link to the sealed
    checkpoint before it, its table copy, and that the chain hashes to it there. What the
    scheduled job runs after every checkpoint: its cost is the span, not the whole chain
    (the daily job walks it all with `verify`)."""
    problems: list[Problem] = []
    try:
        sealed = sink.read(store.practice_id)
    except ValueError:
        sealed = []
        problems.append(
            Problem("checkpoint_mismatch", 0, "the sealed checkpoint log is unreadable")
        )
    prev_cp = GENESIS_HASH
    span: list[Checkpoint] = []
    for cp in sealed:
        if cp.seq > after_seq:
            if cp.practice_id != store.practice_id or not signature_ok(cp, public_keys):
                problems.append(Problem("bad_checkpoint_signature", cp.seq, "signature not valid"))
            elif cp.prev_checkpoint_hash != prev_cp:
                problems.append(
                    Problem("checkpoint_mismatch", cp.seq, "not linked to the previous checkpoint")
                )
            span.append(cp)
        prev_cp = cp.checkpoint_hash
    end = span[-1].seq if span else after_seq
    walker = ChainWalker(
        expected_seq=after_seq + 1,
        prev_hash=after_hash,
        wanted=frozenset(c.seq for c in span),
    )
    if end > after_seq:
        for item in iterate(
            store,
            AUDIT_PK,
            sk_between=(f"{EVENT_PREFIX}{after_seq + 1:012d}", f"{EVENT_PREFIX}{end:012d}"),
        ):
            walker.feed(record_fields(item), _seq_of(item["sk"], EVENT_PREFIX))
    problems.extend(walker.problems)
    if end > after_seq and walker.last_seq < end:
        problems.append(
            Problem("truncated", walker.last_seq + 1, f"a sealed checkpoint covers seq {end}")
        )
    for cp in span:
        row = store.get(AUDIT_PK, f"{CHECKPOINT_PREFIX}{cp.seq:012d}")
        try:
            stored = Checkpoint.model_validate(record_fields(row)) if row is not None else None
        except ValueError:
            stored = None
        if stored != cp:
            problems.append(
                Problem("checkpoint_mismatch", cp.seq, "table copy missing or differs from seal")
            )
        elif cp.seq in walker.hashes_at and walker.hashes_at[cp.seq] != cp.hash:
            problems.append(Problem("checkpoint_mismatch", cp.seq, "chain hash differs"))
    problems.sort(key=lambda p: p.seq)
    return VerifyReport(
        events_checked=walker.count,
        last_seq=walker.last_seq if walker.count else after_seq,
        head_seq=None,
        checkpoints_checked=len(span),
        sealed_checkpoints_checked=len(span),
        problems=problems,
    )
