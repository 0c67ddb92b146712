"""The audit trail on the item store: append in the caller's transaction, checkpoint.

A practice's trail is one or more hash chains ("shards", tpm.security.audit_layout for
the keys). Each shard has its own head row and seq; an appended event goes to ONE shard,
so a request commits exactly one head, and concurrent requests on different shards never
meet. A signed checkpoint commits every shard's head together (tpm.security.audit_checkpoints),
so truncating, rolling back or dropping any shard is still caught by the sealed copies.
Every practice starts with one shard (shard 0, the layout that existed before shards:
nothing was rewritten); `open_shards` raises the count (tpm audit shards), never lowers it.

Why the head and the retry: two requests that read the same head of a shard would both
compute seq N+1 with the same prev_hash. Each writes the event with Absent and the head
with VersionIs(v), so exactly one transaction commits and the other fails as a whole,
business writes included: a chain can never fork or silently lose an event. The loser
rebuilds everything (`write_with_audit`) on another shard when there is one (a hash of the
request id picks the first; a retry picks one not tried yet), with jittered backoff only
once every shard has been tried. If the audit ops still cannot commit after the retries,
the business change is not made either.

Event times never go backwards along a shard (time = max(now, head.time)), so a time
range is a contiguous seq range per shard (tpm.security.audit_query). There is
deliberately no way to delete or edit an event; see tpm.security.audit_chain.
Verification lives in tpm.security.audit_verify, export in tpm.services.audit_export.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time as time_module
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from tpm.adapters.store.base import (
    MAX_TRANSACTION_ITEMS,
    Absent,
    ConditionFailed,
    Item,
    Operation,
    PracticeStore,
    Put,
    StoreMisuse,
    TransactionConflict,
    VersionIs,
    iterate,
)
from tpm.clock import Clock, SystemClock, to_rfc3339
from tpm.errors import AuditUnavailable, IntegrityError, ValidationFailed
from tpm.observability import alarm_metric
from tpm.security.audit_chain import (
    GENESIS_HASH,
    MAX_SHARDS,
    AuditEvent,
    ChainedEvent,
    chain,
    stored_hash_ok,
)
from tpm.security.audit_checkpoints import (
    ChainHead,
    Checkpoint,
    CheckpointSigner,
    CheckpointSink,
    PublicKeys,
    ShardMark,
    marks_hash,
    sign_checkpoint,
    sign_head,
    signature_ok,
)
from tpm.security.audit_layout import (
    AUDIT_PK,
    CHECKPOINT_PREFIX,
    EVENT_PREFIX,
    HEAD_SK,
    LAYOUT_ATTRS,
    MAX_SEQ,
    checkpoint_item,
    checkpoint_sk,
    event_from_item,
    event_item,
    event_sk,
    head_item,
    head_sk,
    index_keys,
    latest_checkpoint,
    parse_head,
    read_checkpoint,
    read_head,
    read_head_rows,
    record_fields,
)
from tpm.security.audit_query import (
    EventPage,
    events_between,
    query_events,
    read_event_rows,
    read_events,
    seq_range,
)
from tpm.security.audit_restores import lost_to_acknowledged_restore

__all__ = [
    "AUDIT_OPS_MAX",
    "AUDIT_PK",
    "CHECKPOINT_PREFIX",
    "EVENT_PREFIX",
    "HEAD_SK",
    "LAYOUT_ATTRS",
    "UNVERIFIED_METRIC",
    "AuditTrail",
    "EventPage",
    "PreparedAppend",
    "audit_ops_needed",
    "checkpoint_sk",
    "event_from_item",
    "event_item",
    "event_sk",
    "events_between",
    "index_keys",
    "query_events",
    "read_event_rows",
    "read_events",
    "read_head",
    "record_fields",
    "seq_range",
]

log = logging.getLogger(__name__)

AUDIT_OPS_MAX = 3  # event + head + checkpoint: a caller's transaction may add 97 more
UNVERIFIED_METRIC = "AuditChainUnverified"


@dataclass(frozen=True)
class PreparedAppend:
    """The operations that append some events (in order) to one shard and move its head
    once."""

    operations: list[Operation]
    events: list[ChainedEvent]
    checkpoints: list[Checkpoint]
    shard: int = 0
    shards: int = 1  # how many the practice has

    @property
    def event(self) -> ChainedEvent:
        return self.events[0]

    @property
    def checkpoint(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None


def audit_ops_needed(events: int, checkpoint_every: int) -> int:
    """Upper bound of the operations `events` events add to a transaction."""
    return events + 1 + events // max(checkpoint_every, 1) + 1


def first_shard(event: AuditEvent, shards: int) -> int:
    """The shard a request tries first: a hash of its request id (its event id when it
    has none), so concurrent requests spread evenly and a request's events stay together."""
    if shards == 1:
        return 0
    key = (event.request_id or event.event_id).encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % shards


def next_shard(event: AuditEvent, shards: int, tried: Collection[int]) -> int:
    """The first shard for a new request; after losing a race, one not tried yet (at
    random), or any when every shard has been tried."""
    if not tried:
        return first_shard(event, shards)
    untried = [k for k in range(shards) if k not in tried]
    return secrets.choice(untried or list(range(shards)))


class AuditTrail:
    """`trusted_keys` returns the public keys verification may trust: only keys published
    where the database cannot rewrite them (key files locally, write-once S3 objects in
    AWS), every one ever used, so signatures made before a rotation still verify. It
    defaults to the signer's own `public_keys()` (right for the local key-file signer)."""

    def __init__(
        self,
        signer: CheckpointSigner,
        sink: CheckpointSink,
        *,
        clock: Clock | None = None,
        checkpoint_every: int = 100,
        trusted_keys: Callable[[], PublicKeys] | None = None,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.signer = signer
        self.sink = sink
        self.clock: Clock = clock or SystemClock()
        self.checkpoint_every = checkpoint_every
        self._load_trusted_keys = trusted_keys or signer.public_keys
        self._trusted: dict[str, Any] = {}
        self.contention_retries = 0  # commits rebuilt after losing on a head (observable)

    # ---- trust --------------------------------------------------------------------------

    def trusted_keys(self) -> PublicKeys:
        """Every trusted public key, freshly read (for `verify`)."""
        self._trusted = dict(self._load_trusted_keys())
        return self._trusted

    def _key_known(self, key_id: str) -> PublicKeys:
        if key_id not in self._trusted:  # a key published since we last looked
            self.trusted_keys()
        return self._trusted

    def verified_head(
        self, store: PracticeStore, shard: int = 0, row: Item | None = None
    ) -> ChainHead | None:
        """A shard's head (read now unless its `row` is given), checked before anything is
        signed on top of it: its signature is by a trusted key, it is this practice's and
        this shard's, and the newest event it names is there and hashes to it. Otherwise
        nothing is appended or sealed — `AuditUnavailable` (503), an error log and the
        `AuditChainUnverified` metric (alarmed in template.yaml). Never sign over a head
        that does not verify: that would launder an edit made without the key."""
        try:
            if row is None:
                head = read_head(store, shard)
                if head is None and store.get(AUDIT_PK, event_sk(1, shard)) is not None:
                    # A concurrent first append may have landed since the read: read again
                    # before concluding the head is missing.
                    head = read_head(store, shard)
                    if head is None:
                        self._refuse(store, "missing_head")
            else:
                head = parse_head(row)
        except IntegrityError:
            self._refuse(store, "unreadable_head")
        if head is None:
            return None
        self._check_signed(store, head, shard)
        if head.seq == 0:  # an opened shard with no event yet
            return head
        newest = store.get(AUDIT_PK, event_sk(head.seq, shard))
        fields = record_fields(newest) if newest is not None else {}
        if (
            newest is None
            or fields.get("seq") != head.seq
            or fields.get("hash") != head.hash
            or fields.get("shard", 0) != shard
            or not stored_hash_ok(fields)
        ):
            self._refuse(store, "head_mismatch")
        return head

    def _check_signed(self, store: PracticeStore, head: ChainHead, shard: int) -> None:
        if (
            head.practice_id != store.practice_id
            or head.shard != shard
            or (shard != 0 and head.shards != 1)
            or not signature_ok(head, self._key_known(head.key_id))
        ):
            self._refuse(store, "bad_head_signature")

    def _shard_count(self, store: PracticeStore, head0_row: Item | None) -> int:
        """How many shards the practice has: shard 0's head says (signed; 1 with none)."""
        if head0_row is None:
            return 1
        try:
            head0 = parse_head(head0_row)
        except IntegrityError:
            self._refuse(store, "unreadable_head")
        if head0.shards > 1:  # trusted only once its signature is checked
            self._check_signed(store, head0, 0)
        return head0.shards

    def _all_heads(self, store: PracticeStore) -> tuple[int, dict[int, Item]]:
        """The shard count and every shard's head row; all of them must be there."""
        rows = read_head_rows(store)
        if 0 not in rows and rows:
            self._refuse(store, "missing_head")
        shards = self._shard_count(store, rows.get(0))
        if rows and any(k not in rows for k in range(shards)):
            self._refuse(store, "missing_head")
        return shards, rows

    def _refuse(self, store: PracticeStore, problem: str) -> NoReturn:
        log.error(
            "audit chain failed its check; refusing to append or seal",
            extra={"practice_id": store.practice_id, "problem": problem},
        )
        alarm_metric(UNVERIFIED_METRIC)
        raise AuditUnavailable()

    # ---- appending ------------------------------------------------------------------------

    def append_ops(self, store: PracticeStore, event: AuditEvent) -> list[Operation]:
        """The operations that append `event`; put them in the same transact() as the
        change they describe. On ConditionFailed at one of these ops or TransactionConflict,
        rebuild and retry the whole unit (that is what `write_with_audit` does). After a
        commit, call `publish_checkpoints` (a cheap no-op unless a checkpoint was due)."""
        return self.prepare(store, [event]).operations

    def prepare(
        self, store: PracticeStore, events: Sequence[AuditEvent], tried: Collection[int] = ()
    ) -> PreparedAppend:
        """Chains `events` in order after the head of one shard (seq N+1..N+k, each linking
        to the one before) and moves that head once; with one shard, signs a checkpoint
        wherever one falls due (k single appends would produce exactly the same rows).
        The shard: see `next_shard` (`tried`: shards this unit already lost a race on)."""
        if not events:
            raise StoreMisuse("nothing to append")
        if any(e.practice_id != store.practice_id for e in events):
            raise StoreMisuse("audit event belongs to another practice")
        head0_row = store.get(AUDIT_PK, HEAD_SK)
        shards = self._shard_count(store, head0_row)
        shard = next_shard(events[0], shards, tried)
        row = head0_row if shard == 0 else store.get(AUDIT_PK, head_sk(shard))
        if shard != 0 and row is None:
            self._refuse(store, "missing_head")
        head = self.verified_head(store, shard, row)
        now = to_rfc3339(self.clock.now())
        seq = head.seq if head else 0
        prev_hash = head.hash if head else GENESIS_HASH
        at = max(now, head.time) if head else now
        last_cp_seq = head.last_checkpoint_seq if head else 0
        last_cp_hash = head.last_checkpoint_hash if head else GENESIS_HASH
        ops: list[Operation] = []
        chained_events: list[ChainedEvent] = []
        checkpoints: list[Checkpoint] = []
        for event in events:
            seq += 1
            chained = chain(event, seq=seq, time=at, prev_hash=prev_hash, shard=shard)
            ops.append(Put(event_item(chained), Absent()))
            chained_events.append(chained)
            prev_hash = chained.hash
            if shards == 1 and seq - last_cp_seq >= self.checkpoint_every:
                checkpoint = sign_checkpoint(
                    self.signer,
                    practice_id=store.practice_id,
                    seq=seq,
                    hash=chained.hash,
                    time=now,
                    prev_checkpoint_hash=last_cp_hash,
                )
                ops.append(Put(checkpoint_item(checkpoint), Absent()))
                checkpoints.append(checkpoint)
                last_cp_seq, last_cp_hash = seq, checkpoint.checkpoint_hash
        new_head = sign_head(
            self.signer,
            practice_id=store.practice_id,
            shard=shard,
            shards=shards if shard == 0 else 1,
            seq=seq,
            hash=prev_hash,
            time=at,
            version=head.version + 1 if head else 1,
            last_checkpoint_seq=last_cp_seq,
            last_checkpoint_hash=last_cp_hash,
        )
        ops.append(Put(head_item(new_head), VersionIs(head.version) if head else Absent()))
        return PreparedAppend(ops, chained_events, checkpoints, shard, shards)

    def write_with_audit(
        self,
        store: PracticeStore,
        build_ops: Callable[[], list[Operation]],
        event: AuditEvent,
        retries: int = 5,
    ) -> ChainedEvent:
        """Commits `build_ops()` and the audit event in one transaction, or neither.

        `build_ops` runs once per attempt, after the head is read, so it can re-read its
        own records. A ConditionFailed on the caller's own ops is re-raised at once (a
        real 409); contention on the audit ops is retried — on another shard while there
        is one not tried yet, then with jittered backoff — and when the retries run out
        TransactionConflict (409, retryable) is raised with nothing written. With several
        shards, every shard gets a try before the `retries` are counted."""
        return self.write_many_with_audit(store, build_ops, [event], retries)[0]

    def write_many_with_audit(
        self,
        store: PracticeStore,
        build_ops: Callable[[], list[Operation]],
        events: Sequence[AuditEvent],
        retries: int = 5,
    ) -> list[ChainedEvent]:
        """As `write_with_audit`, for several events in one transaction: a job that
        finishes many small units (the reminder sweep) pays one commit, not one each."""
        last: Exception | None = None
        tried: list[int] = []
        shards = 1
        attempt = 0
        while attempt <= retries + shards - 1:
            if attempt:
                self.contention_retries += 1
                if len(set(tried)) >= shards:  # every shard lost once: wait a little
                    _backoff(attempt - shards + 1)
            attempt += 1
            prepared = self.prepare(store, events, tried)
            tried.append(prepared.shard)
            shards = prepared.shards
            business = list(build_ops())
            if len(business) + len(prepared.operations) > MAX_TRANSACTION_ITEMS:
                raise StoreMisuse(f"at most {MAX_TRANSACTION_ITEMS} items in a transaction")
            try:
                store.transact([*business, *prepared.operations])
            except ConditionFailed as exc:
                if exc.index < len(business):
                    raise
                last = exc
            except TransactionConflict as exc:
                last = exc
            else:
                self._after_commit(store, prepared)
                return prepared.events
        raise TransactionConflict(attempts=attempt) from last

    def record(self, store: PracticeStore, event: AuditEvent, retries: int = 5) -> ChainedEvent:
        """Appends an event on its own (reads, denials, logins)."""
        return self.write_with_audit(store, list, event, retries)

    def _after_commit(self, store: PracticeStore, prepared: PreparedAppend) -> None:
        # The change is committed; failing the request now would misreport it. A
        # checkpoint left unsealed (or unmade) is sealed (or made) by the next call or
        # the hourly job.
        every = self.checkpoint_every
        try:
            if prepared.checkpoints:
                self.publish_checkpoints(store)
            elif prepared.shards > 1 and any(e.seq % every == 0 for e in prepared.events):
                self.checkpoint(store, retries=1)
        except Exception:
            log.warning("audit checkpoint not sealed yet", extra={"practice": store.practice_id})

    # ---- shards ---------------------------------------------------------------------------

    def open_shards(self, store: PracticeStore, count: int, event: AuditEvent) -> int:
        """Raises the practice's number of shards to `count` (never lowers it): signs an
        empty head for each new shard and re-signs shard 0's head with the new count,
        with `event` appended to shard 0, all in one transaction. Returns the count."""
        if not 1 <= count <= MAX_SHARDS:
            raise ValidationFailed(fields=[{"path": "shards", "type": "out_of_range"}])
        for attempt in range(6):
            if attempt:
                _backoff(attempt)
            current, _ = self._all_heads(store)
            if count < current:
                raise ValidationFailed(fields=[{"path": "shards", "type": "cannot_decrease"}])
            if count == current:
                return current
            prepared = self.prepare(store, [event], tried=range(1, MAX_SHARDS))
            assert prepared.shard == 0
            *ops, head_put = prepared.operations
            assert isinstance(head_put, Put)
            head0 = parse_head(head_put.item)
            fields = head0.model_dump(exclude={"key_id", "signature", "shards"})
            reopened = sign_head(self.signer, **fields, shards=count)
            now = to_rfc3339(self.clock.now())
            new_heads = [
                Put(head_item(self._empty_head(store, k, now)), Absent())
                for k in range(current, count)
            ]
            try:
                store.transact([*ops, Put(head_item(reopened), head_put.condition), *new_heads])
            except (ConditionFailed, TransactionConflict):
                continue
            self._after_commit(store, prepared)
            return count
        raise TransactionConflict(attempts=6)

    def _empty_head(self, store: PracticeStore, shard: int, now: str) -> ChainHead:
        return sign_head(
            self.signer,
            practice_id=store.practice_id,
            shard=shard,
            seq=0,
            hash=GENESIS_HASH,
            time=now,
            version=1,
        )

    # ---- checkpoints ----------------------------------------------------------------------

    def checkpoint(self, store: PracticeStore, retries: int = 5) -> Checkpoint | None:
        """Signs the current heads as a checkpoint (unless it already is one) and seals it
        in the sink. For the scheduled job and the CLI. None when the chain is empty."""
        last: Exception | None = None
        for attempt in range(retries + 1):
            if attempt:
                _backoff(attempt)
            shards, rows = self._all_heads(store)
            head = self.verified_head(store, 0, rows.get(0))
            if head is None:
                return None
            if shards == 1:
                if head.last_checkpoint_seq == head.seq:
                    self.publish_checkpoints(store)
                    return read_checkpoint(store, head.seq)
                cp = sign_checkpoint(
                    self.signer,
                    practice_id=store.practice_id,
                    seq=head.seq,
                    hash=head.hash,
                    time=to_rfc3339(self.clock.now()),
                    prev_checkpoint_hash=head.last_checkpoint_hash,
                )
            else:
                try:
                    marks = self._marks(store, rows, shards, head)
                except _StaleHead as exc:
                    if attempt == retries:
                        self._refuse(store, "checkpoint_mismatch")
                    last = exc
                    continue
                total = sum(m.seq for m in marks)
                if head.last_checkpoint_seq == total:
                    self.publish_checkpoints(store)
                    return read_checkpoint(store, total)
                cp = sign_checkpoint(
                    self.signer,
                    practice_id=store.practice_id,
                    seq=total,
                    hash=marks_hash(marks),
                    time=to_rfc3339(self.clock.now()),
                    prev_checkpoint_hash=head.last_checkpoint_hash,
                    shards=marks,
                )
            fields = head.model_dump(exclude={"key_id", "signature"})
            new_head = sign_head(
                self.signer,
                **fields
                | {
                    "version": head.version + 1,
                    "last_checkpoint_seq": cp.seq,
                    "last_checkpoint_hash": cp.checkpoint_hash,
                },
            )
            try:
                store.transact(
                    [
                        Put(checkpoint_item(cp), Absent()),
                        Put(head_item(new_head), VersionIs(head.version)),
                    ]
                )
            except (ConditionFailed, TransactionConflict) as exc:
                last = exc
                continue
            self.publish_checkpoints(store)
            return cp
        raise TransactionConflict(attempts=retries + 1) from last

    def _marks(
        self, store: PracticeStore, rows: dict[int, Item], shards: int, head0: ChainHead
    ) -> tuple[ShardMark, ...]:
        """Every shard's verified head, refusing when any is behind the last checkpoint
        (a shard rolled back or dropped since) or no longer passes through the point it
        committed (a shard forked since). `_StaleHead` when a newer checkpoint than the
        one shard 0's head links to exists: a checkpoint made meanwhile (retry), or shard
        0's head rolled back (refused once the retries run out)."""
        marks = [ShardMark(shard=0, seq=head0.seq, hash=head0.hash)]
        for k in range(1, shards):
            head = self.verified_head(store, k, rows.get(k))
            if head is None:
                self._refuse(store, "missing_head")
            marks.append(ShardMark(shard=k, seq=head.seq, hash=head.hash))
        newest = latest_checkpoint(store)
        sealed = self.sink.latest(store.practice_id)
        if (
            sealed is not None
            and sealed.seq > head0.last_checkpoint_seq
            and lost_to_acknowledged_restore(
                self.sink, store.practice_id, self.trusted_keys(), sealed
            )
        ):
            # Sealed before a point-in-time restore an operator acknowledged (signed,
            # write-once): the lost span's seal, not a head rolled back behind it.
            sealed = None
        if max(newest.seq if newest else 0, sealed.seq if sealed else 0) > (
            head0.last_checkpoint_seq
        ):
            raise _StaleHead()
        previous = read_checkpoint(store, head0.last_checkpoint_seq)
        if head0.last_checkpoint_seq and (
            previous is None
            or previous.checkpoint_hash != head0.last_checkpoint_hash
            or not signature_ok(previous, self._key_known(previous.key_id))
        ):
            self._refuse(store, "checkpoint_mismatch")
        for k, (seq, hash_) in previous.marks().items() if previous else ():
            if k >= shards or marks[k].seq < seq:
                self._refuse(store, "truncated")
            if seq and not _event_is(store, k, seq, hash_):
                self._refuse(store, "checkpoint_mismatch")  # the shard forked since
        return tuple(marks)

    def publish_checkpoints(self, store: PracticeStore) -> int:
        """Seals, in order, every stored checkpoint the sink does not hold yet; returns how
        many. Idempotent, so a crash between commit and seal is repaired by the next call."""
        sealed = self.sink.latest(store.practice_id)
        after = sealed.seq if sealed else 0
        count = 0
        for item in iterate(
            store, AUDIT_PK, sk_between=(checkpoint_sk(after + 1), checkpoint_sk(MAX_SEQ))
        ):
            self.sink.append(Checkpoint.model_validate(record_fields(item)))
            count += 1
        return count


class _StaleHead(Exception):
    """Shard 0's head links to an older checkpoint than the newest one stored or sealed."""


def _event_is(store: PracticeStore, shard: int, seq: int, hash_: str) -> bool:
    item = store.get(AUDIT_PK, event_sk(seq, shard))
    fields = record_fields(item) if item is not None else {}
    return fields.get("hash") == hash_ and stored_hash_ok(fields)


def _backoff(attempt: int) -> None:
    # Full jitter, capped: contenders spread out instead of colliding again in step.
    cap_ms = min(10 * 2**attempt, 400)
    time_module.sleep(secrets.randbelow(cap_ms + 1) / 1000)
