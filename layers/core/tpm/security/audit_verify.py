"""Checking a practice's stored audit trail end to end, every shard.

Walks every event of every shard from seq 1 (hash, seq, link, shard, index keys), then
holds the result against each shard's signed head and against every signed checkpoint,
both the copies in the table and the sealed copies in the external sink. The sink is what
catches truncation: deleting a shard's newest events and restoring an older signed head
leaves a sealed checkpoint beyond its end. A checkpoint commits every shard: one that
leaves out a shard an earlier one committed, or has a shard behind where an earlier one
had it, is a problem too.

A point-in-time restore of the table cuts the chains behind their sealed checkpoints
legitimately: only an operator's signed, write-once "restore acknowledged" record
(tpm.security.audit_restores) sets the sealed checkpoints of the lost span aside, and the
report then names that span.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from tpm.adapters.store.base import Item, PracticeStore, iterate
from tpm.errors import IntegrityError
from tpm.security.audit_chain import (
    GENESIS_HASH,
    ChainWalker,
    Problem,
    ProblemKind,
    VerifyReport,
)
from tpm.security.audit_checkpoints import (
    ChainHead,
    Checkpoint,
    CheckpointSink,
    PublicKeys,
    marks_hash,
    signature_ok,
)
from tpm.security.audit_layout import (
    AUDIT_PK,
    CHECKPOINT_PREFIX,
    EVENT_PREFIX,
    checkpoint_sk,
    event_sk,
    index_keys,
    parse_head,
    record_fields,
    seq_of,
    shard_of_head,
)
from tpm.security.audit_restores import (
    RestoreAcknowledgement,
    acknowledgement_ok,
    read_acknowledgements,
)

_INDEX_ATTRS = ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
Marks = Mapping[int, tuple[int, str]]  # shard -> (seq, hash)


@dataclass
class _Rows:
    """One pass over the AUDIT partition, sorted out by kind."""

    heads: dict[int, ChainHead] = field(default_factory=dict)
    stored: list[Checkpoint] = field(default_factory=list)
    walkers: dict[int, ChainWalker] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def verify(store: PracticeStore, public_keys: PublicKeys, sink: CheckpointSink) -> VerifyReport:
    problems: list[Problem] = []
    sealed = _read_sealed(store, sink, problems)
    sealed, lost, acks = _set_aside(store.practice_id, sink, public_keys, sealed, problems)
    wanted: dict[int, set[int]] = {}
    for cp in sealed:
        for k, (seq, _) in cp.marks().items():
            wanted.setdefault(k, set()).add(seq)
    for ack in acks:
        for mark in ack.after:
            wanted.setdefault(mark.shard, set()).add(mark.seq)
    rows = _read_rows(store, wanted)
    problems += rows.problems
    head0 = rows.heads.get(0)
    shards = max(head0.shards if head0 else 1, *(k + 1 for k in rows.walkers), 1)
    for k in range(shards):
        walker = rows.walkers.setdefault(k, ChainWalker(shard=k))
        problems += walker.problems
        head = rows.heads.get(k)
        if head is not None:
            _check_head(head, k, walker, store.practice_id, public_keys, problems)
        elif walker.count or (head0 is not None and k < head0.shards):
            problems.append(
                Problem("missing_head", 1, "events exist but the chain head is gone", k)
            )
    for k in sorted(set(rows.heads) - set(range(head0.shards if head0 else 1))):
        problems.append(Problem("inserted", 0, "a head for a shard the practice lacks", k))
    for ack in acks:
        for mark in ack.after:
            found = rows.walkers.get(mark.shard)
            if mark.seq and (found is None or found.hashes_at.get(mark.seq) != mark.hash):
                problems.append(
                    Problem(
                        "checkpoint_mismatch",
                        mark.seq,
                        "a restore acknowledgement's head differs from the chain",
                        mark.shard,
                    )
                )
    check_checkpoints(rows.stored, rows.walkers, store.practice_id, public_keys, problems)
    check_checkpoints(
        sealed,
        rows.walkers,
        store.practice_id,
        public_keys,
        problems,
        relinks=_relinks(rows.stored, sealed, lost),
    )
    _compare_copies(rows.stored, sealed, problems)

    problems.sort(key=lambda p: (p.shard, p.seq))  # stable: within a seq, walk order kept
    walkers = [rows.walkers[k] for k in range(shards)]
    return VerifyReport(
        events_checked=sum(w.count for w in walkers),
        last_seq=sum(w.last_seq for w in walkers),
        head_seq=sum(h.seq for h in rows.heads.values()) if rows.heads else None,
        checkpoints_checked=len(rows.stored),
        sealed_checkpoints_checked=len(sealed),
        problems=problems,
        shards=shards,
        acknowledged_restores=[_described(a, lost) for a in acks],
    )


def _set_aside(
    practice_id: str,
    sink: CheckpointSink,
    keys: PublicKeys,
    sealed: list[Checkpoint],
    problems: list[Problem],
) -> tuple[list[Checkpoint], list[Checkpoint], list[RestoreAcknowledgement]]:
    """(sealed checkpoints still checked, those set aside as lost, valid acknowledgements).
    A sealed checkpoint is set aside only when a validly signed acknowledgement covers it
    and it was sealed before the acknowledgement was made."""
    try:
        found = read_acknowledgements(sink, practice_id)
    except ValueError:
        found = []
        problems.append(
            Problem("checkpoint_mismatch", 0, "a restore acknowledgement is unreadable")
        )
    acks: list[RestoreAcknowledgement] = []
    for ack in found:
        if ack.practice_id != practice_id or not acknowledgement_ok(ack, keys):
            problems.append(
                Problem(
                    "bad_checkpoint_signature",
                    ack.after_total + 1,
                    "a restore acknowledgement's signature is not valid",
                )
            )
        else:
            acks.append(ack)
    kept: list[Checkpoint] = []
    lost: list[Checkpoint] = []
    for cp in sealed:
        covered = any(a.covers(cp) and _at(cp.time) <= _at(a.acknowledged_at) for a in acks)
        (lost if covered else kept).append(cp)
    return kept, lost, acks


def _relinks(
    stored: list[Checkpoint], sealed: list[Checkpoint], lost: list[Checkpoint]
) -> dict[int, str]:
    """For a sealed checkpoint that follows a set-aside (lost) span: the link the table's
    own checkpoint chain gives it (checkpoints made after the restore, inside the lost
    span, are never sealed: the sink already holds those seqs). The table chain is checked
    in full, so the sealed chain may continue from it there."""
    if not lost:
        return {}
    ordered = sorted(stored, key=lambda c: c.seq)
    found: dict[int, str] = {}
    for cp in sealed:
        if any(x.seq < cp.seq for x in lost):
            earlier = [c for c in ordered if c.seq < cp.seq]
            found[cp.seq] = earlier[-1].checkpoint_hash if earlier else GENESIS_HASH
    return found


def _described(ack: RestoreAcknowledgement, lost: list[Checkpoint]) -> dict[str, object]:
    return {
        "restore_point": ack.restore_point,
        "acknowledged_by": ack.acknowledged_by,
        "acknowledged_at": ack.acknowledged_at,
        "lost_from_seq": ack.after_total + 1,
        "lost_to_seq": ack.before_total,
        "heads_after": {m.shard: m.seq for m in ack.after},
        "heads_before": {m.shard: m.seq for m in ack.before},
        "sealed_checkpoints_set_aside": [c.seq for c in lost if ack.covers(c)],
    }


def _at(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _read_sealed(
    store: PracticeStore, sink: CheckpointSink, problems: list[Problem]
) -> list[Checkpoint]:
    try:
        return sink.read(store.practice_id)
    except ValueError:
        problems.append(
            Problem("checkpoint_mismatch", 0, "the sealed checkpoint log is unreadable")
        )
        return []


def _read_rows(store: PracticeStore, wanted: dict[int, set[int]]) -> _Rows:
    rows = _Rows()
    stored_wanted: dict[int, set[int]] = {}
    items = iterate(store, AUDIT_PK)
    for item in items:
        sk = str(item["sk"])
        if sk.startswith(CHECKPOINT_PREFIX):
            cp = _stored_checkpoint(item, rows.problems)
            if cp is not None:
                rows.stored.append(cp)
                for k, (seq, _) in cp.marks().items():
                    stored_wanted.setdefault(k, set()).add(seq)
        elif sk.startswith("EVT"):
            _feed_event(item, sk, rows, wanted, stored_wanted)
        elif (shard := shard_of_head(sk)) is not None:
            try:
                rows.heads[shard] = parse_head(item)
            except IntegrityError:
                rows.problems.append(
                    Problem("bad_head_signature", 0, "the head row is unreadable", shard)
                )
        else:
            rows.problems.append(Problem("inserted", 0, "a row with a malformed audit key"))
    return rows


def _feed_event(
    item: Item,
    sk: str,
    rows: _Rows,
    wanted: dict[int, set[int]],
    stored_wanted: dict[int, set[int]],
) -> None:
    shard, key_seq = _event_key(sk)
    if shard is None or key_seq is None:
        rows.problems.append(Problem("inserted", 0, "a row with a malformed event key"))
        return
    walker = rows.walkers.get(shard)
    if walker is None:
        # checkpoints sort before events (CKP# < EVT), so every table copy is known here
        seqs = wanted.get(shard, set()) | stored_wanted.get(shard, set())
        walker = rows.walkers[shard] = ChainWalker(shard=shard, wanted=frozenset(seqs))
    event = walker.feed(record_fields(item), key_seq)
    if event is not None and {a: item.get(a) for a in _INDEX_ATTRS} != {
        a: index_keys(event).get(a) for a in _INDEX_ATTRS
    }:
        rows.problems.append(
            Problem("altered", event.seq, "index keys do not match the event", shard)
        )


def _event_key(sk: str) -> tuple[int | None, int | None]:
    if sk.startswith(EVENT_PREFIX):
        return 0, seq_of(sk, EVENT_PREFIX)
    digits = sk[3:5]
    if len(sk) > 6 and sk[5] == "#" and digits.isdigit() and 0 < int(digits) < 32:
        return int(digits), seq_of(sk, sk[:6])
    return None, None


def _stored_checkpoint(item: Item, problems: list[Problem]) -> Checkpoint | None:
    seq = seq_of(str(item["sk"]), CHECKPOINT_PREFIX) or 0
    try:
        cp = Checkpoint.model_validate(record_fields(item))
    except ValueError:
        problems.append(Problem("checkpoint_mismatch", seq, "checkpoint row is unreadable"))
        return None
    if cp.seq != seq:
        problems.append(Problem("checkpoint_mismatch", seq, "checkpoint stored under wrong seq"))
        return None
    return cp


def _check_head(
    head: ChainHead,
    shard: int,
    walker: ChainWalker,
    practice_id: str,
    keys: PublicKeys,
    problems: list[Problem],
) -> None:
    def problem(kind: ProblemKind, seq: int, detail: str) -> None:
        problems.append(Problem(kind, seq, detail, shard))

    if head.practice_id != practice_id or head.shard != shard or not signature_ok(head, keys):
        problem("bad_head_signature", head.seq, "head signature is not valid")
    if walker.last_seq > head.seq:
        problem("inserted", head.seq + 1, "events exist beyond the signed head")
    elif walker.last_seq < head.seq:
        problem("truncated", walker.last_seq + 1, f"chain ends before head seq {head.seq}")
    elif head.hash != walker.last_hash:
        problem("head_mismatch", head.seq, "head hash differs from last event")


def check_checkpoints(
    checkpoints: list[Checkpoint],
    walkers: Mapping[int, ChainWalker],
    practice_id: str,
    keys: PublicKeys,
    problems: list[Problem],
    *,
    prev_hash: str = GENESIS_HASH,
    prev_marks: Marks | None = None,
    relinks: Mapping[int, str] | None = None,
) -> None:
    """Each checkpoint: signature, link to the one before, its own form, that it keeps
    every shard the one before committed (never behind it), and that each shard's chain
    hashes to it there (or, for a shard whose walk ends before, `truncated`). `relinks`:
    the other link a sealed checkpoint past an acknowledged restore may have (see
    `_relinks`)."""
    previous: Marks = prev_marks or {}
    for cp in checkpoints:
        link = (relinks or {}).get(cp.seq)
        if cp.practice_id != practice_id or not signature_ok(cp, keys):
            problems.append(Problem("bad_checkpoint_signature", cp.seq, "signature not valid"))
        elif cp.prev_checkpoint_hash not in (prev_hash, link):
            problems.append(
                Problem("checkpoint_mismatch", cp.seq, "not linked to the previous checkpoint")
            )
        else:
            _check_marks(cp, previous, walkers, problems)
        prev_hash, previous = cp.checkpoint_hash, cp.marks()


def _check_marks(
    cp: Checkpoint, previous: Marks, walkers: Mapping[int, ChainWalker], problems: list[Problem]
) -> None:
    marks = cp.marks()
    if cp.shards and (
        [m.shard for m in cp.shards] != list(range(len(cp.shards)))
        or cp.hash != marks_hash(cp.shards)
        or cp.seq != sum(m.seq for m in cp.shards)
    ):
        problems.append(Problem("checkpoint_mismatch", cp.seq, "malformed shard list"))
        return
    for k, (seq, _) in previous.items():
        if k not in marks:
            problems.append(
                Problem("checkpoint_mismatch", cp.seq, f"shard {k} dropped from the checkpoint", k)
            )
        elif marks[k][0] < seq:
            problems.append(
                Problem("truncated", marks[k][0] + 1, "shard behind an earlier checkpoint", k)
            )
    for k, (seq, hash_) in marks.items():
        walker = walkers.get(k)
        last = walker.last_seq if walker else 0
        if seq > last:
            problems.append(
                Problem("truncated", last + 1, f"a signed checkpoint covers seq {seq}", k)
            )
        elif seq == 0:
            if hash_ != GENESIS_HASH:
                problems.append(Problem("checkpoint_mismatch", 0, "chain hash differs", k))
        elif walker is None or walker.hashes_at.get(seq) != hash_:
            problems.append(Problem("checkpoint_mismatch", seq, "chain hash differs", k))


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


def verify_span(
    store: PracticeStore,
    public_keys: PublicKeys,
    sink: CheckpointSink,
    after: Marks,
    after_hash: str = "",
) -> VerifyReport:
    """The events after a point already verified (`after`: each shard's seq and hash
    there; {} for none) up to the newest sealed checkpoint: each event's hash and link,
    and every sealed checkpoint in the span — its signature, its link to the sealed
    checkpoint before it, its shards, its table copy, and that each chain hashes to it
    there. What the scheduled job runs after every checkpoint: its cost is the span, not
    the whole chain (the daily job walks it all with `verify`). `last_seq` of the report
    is the newest sealed checkpoint's seq (the point verified up to)."""
    del after_hash
    problems: list[Problem] = []
    sealed = _read_sealed(store, sink, problems)
    sealed, lost, acks = _set_aside(store.practice_id, sink, public_keys, sealed, problems)
    after_total = sum(seq for seq, _ in after.values())
    before = [cp for cp in sealed if cp.seq <= after_total]
    span = [cp for cp in sealed if cp.seq > after_total]
    end: Marks = span[-1].marks() if span else after
    walkers: dict[int, ChainWalker] = {}
    for k, (last, _) in end.items():
        first, first_hash = after.get(k, (0, GENESIS_HASH))
        walker = walkers[k] = ChainWalker(
            expected_seq=first + 1,
            prev_hash=first_hash,
            shard=k,
            wanted=frozenset(cp.marks()[k][0] for cp in span if k in cp.marks()),
        )
        walker.last_seq, walker.last_hash = first, first_hash
        if last > first:
            span_keys = (event_sk(first + 1, k), event_sk(last, k))
            for item in iterate(store, AUDIT_PK, sk_between=span_keys):
                walker.feed(record_fields(item), _event_key(str(item["sk"]))[1])
        problems += walker.problems
    previous = before[-1] if before else None
    check_checkpoints(
        span,
        walkers,
        store.practice_id,
        public_keys,
        problems,
        prev_hash=previous.checkpoint_hash if previous else GENESIS_HASH,
        prev_marks=after,
        relinks={
            cp.seq: _table_link(store, cp.seq) for cp in span if any(x.seq < cp.seq for x in lost)
        },
    )
    for cp in span:
        row = store.get(AUDIT_PK, checkpoint_sk(cp.seq))
        try:
            stored = Checkpoint.model_validate(record_fields(row)) if row is not None else None
        except ValueError:
            stored = None
        if stored != cp:
            problems.append(
                Problem("checkpoint_mismatch", cp.seq, "table copy missing or differs from seal")
            )
    problems.sort(key=lambda p: (p.shard, p.seq))
    return VerifyReport(
        events_checked=sum(w.count for w in walkers.values()),
        last_seq=span[-1].seq if span else after_total,
        head_seq=None,
        checkpoints_checked=len(span),
        sealed_checkpoints_checked=len(span),
        problems=problems,
        shards=len(end) or 1,
        acknowledged_restores=[_described(a, lost) for a in acks],
    )


def _table_link(store: PracticeStore, seq: int) -> str:
    """The checkpoint hash of the table's newest checkpoint before `seq` (see _relinks)."""
    link = GENESIS_HASH
    for item in iterate(store, AUDIT_PK, sk_between=(checkpoint_sk(1), checkpoint_sk(seq - 1))):
        try:
            link = Checkpoint.model_validate(record_fields(item)).checkpoint_hash
        except ValueError:
            continue
    return link
