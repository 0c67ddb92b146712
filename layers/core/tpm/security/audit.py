"""The audit trail on the item store: append in the caller's transaction, query, verify.

Layout (all in the practice's "AUDIT" partition; the adapter adds the practice prefix):
  EVT#<seq:012d>  one event; written with Absent, never updated or deleted, no expires_at
                  gsi1 AUDIT#PAT#<patient_id> / <time>#<seq>   (events about a patient)
                  gsi2 AUDIT#USR#<user_id>    / <time>#<seq>   (events by a user)
  HEAD            the signed chain head {seq, hash, time, last checkpoint}; its `version`
                  is the optimistic-concurrency counter every append conditions on
  CKP#<seq:012d>  a signed checkpoint (also sealed in the external sink)

Why the head and the retry: two requests that read the same head would both compute
seq N+1 with the same prev_hash. Each writes EVT#N+1 with Absent and the HEAD with
VersionIs(v), so exactly one transaction commits and the other fails as a whole, business
writes included: the chain can never fork or silently lose an event. The loser re-reads
the head and rebuilds everything (`write_with_audit`), because its event's seq, prev_hash
and time all depend on the head it read. If the audit ops still cannot commit after the
retries, the business change is not made either.

Event times never go backwards along the chain (time = max(now, head.time)), so a time
range is a contiguous seq range and is found by binary search on the main partition.
There is deliberately no way to delete or edit an event; see tpm.security.audit_chain.
Verification lives in tpm.security.audit_verify, export in tpm.services.audit_export.
"""

from __future__ import annotations

import logging
import re
import secrets
import time as time_module
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from tpm.adapters.store.base import (
    MAX_PAGE,
    MAX_TRANSACTION_ITEMS,
    Absent,
    ConditionFailed,
    IndexName,
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
    sign_checkpoint,
    sign_head,
    signature_ok,
)

log = logging.getLogger(__name__)

AUDIT_PK = "AUDIT"
HEAD_SK = "HEAD"
EVENT_PREFIX = "EVT#"
CHECKPOINT_PREFIX = "CKP#"
AUDIT_OPS_MAX = 3  # event + head + checkpoint: a caller's transaction may add 97 more
LAYOUT_ATTRS = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "type"})
_MAX_SEQ = 10**12 - 1


def event_sk(seq: int) -> str:
    return f"{EVENT_PREFIX}{seq:012d}"


def checkpoint_sk(seq: int) -> str:
    return f"{CHECKPOINT_PREFIX}{seq:012d}"


def index_keys(event: ChainedEvent) -> dict[str, str]:
    keys: dict[str, str] = {}
    order = f"{event.time}#{event.seq:012d}"
    if event.patient_id:
        keys |= {"gsi1pk": f"AUDIT#PAT#{event.patient_id}", "gsi1sk": order}
    if event.actor_kind == "user":
        keys |= {"gsi2pk": f"AUDIT#USR#{event.actor_id}", "gsi2sk": order}
    return keys


def event_item(event: ChainedEvent) -> Item:
    return {
        "pk": AUDIT_PK,
        "sk": event_sk(event.seq),
        "type": "audit_event",
        **index_keys(event),
        **event.model_dump(mode="json"),
    }


def event_from_item(item: Item) -> ChainedEvent:
    return ChainedEvent.model_validate(record_fields(item))


def record_fields(item: Item) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in LAYOUT_ATTRS}


def read_head(store: PracticeStore) -> ChainHead | None:
    item = store.get(AUDIT_PK, HEAD_SK)
    if item is None:
        return None
    try:
        return ChainHead.model_validate(record_fields(item))
    except ValueError as exc:
        raise IntegrityError("the audit chain head is unreadable") from exc


def _head_item(head: ChainHead) -> Item:
    return {"pk": AUDIT_PK, "sk": HEAD_SK, "type": "audit_head", **head.model_dump(mode="json")}


def _checkpoint_item(cp: Checkpoint) -> Item:
    return {
        "pk": AUDIT_PK,
        "sk": checkpoint_sk(cp.seq),
        "type": "audit_checkpoint",
        **cp.model_dump(mode="json"),
    }


@dataclass(frozen=True)
class PreparedAppend:
    """The operations that append some events (in order) and move the head once."""

    operations: list[Operation]
    events: list[ChainedEvent]
    checkpoints: list[Checkpoint]

    @property
    def event(self) -> ChainedEvent:
        return self.events[0]

    @property
    def checkpoint(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None


def audit_ops_needed(events: int, checkpoint_every: int) -> int:
    """Upper bound of the operations `events` events add to a transaction."""
    return events + 1 + events // max(checkpoint_every, 1) + 1


UNVERIFIED_METRIC = "AuditChainUnverified"


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
        self.contention_retries = 0  # commits rebuilt after losing on the head (observable)

    # ---- trust --------------------------------------------------------------------------

    def trusted_keys(self) -> PublicKeys:
        """Every trusted public key, freshly read (for `verify`)."""
        self._trusted = dict(self._load_trusted_keys())
        return self._trusted

    def _key_known(self, key_id: str) -> PublicKeys:
        if key_id not in self._trusted:  # a key published since we last looked
            self.trusted_keys()
        return self._trusted

    def verified_head(self, store: PracticeStore) -> ChainHead | None:
        """The chain head, checked before anything is signed on top of it: its signature
        is by a trusted key, and the newest event it names is there and hashes to it.
        Otherwise nothing is appended or sealed — `AuditUnavailable` (503), an error log
        and the `AuditChainUnverified` metric (alarmed in template.yaml). Never sign over
        a head that does not verify: that would launder an edit made without the key."""
        try:
            head = read_head(store)
            if head is None and store.get(AUDIT_PK, event_sk(1)) is not None:
                # A concurrent first append may have landed since the read: read again
                # before concluding the head is missing.
                head = read_head(store)
                if head is None:
                    self._refuse(store, "missing_head")
        except IntegrityError:
            self._refuse(store, "unreadable_head")
        if head is None:
            return None
        if head.practice_id != store.practice_id or not signature_ok(
            head, self._key_known(head.key_id)
        ):
            self._refuse(store, "bad_head_signature")
        newest = store.get(AUDIT_PK, event_sk(head.seq))
        fields = record_fields(newest) if newest is not None else {}
        if (
            newest is None
            or fields.get("seq") != head.seq
            or fields.get("hash") != head.hash
            or not stored_hash_ok(fields)
        ):
            self._refuse(store, "head_mismatch")
        return head

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

    def prepare(self, store: PracticeStore, events: Sequence[AuditEvent]) -> PreparedAppend:
        """Chains `events` in order after the current head (seq N+1..N+k, each linking to
        the one before), signing a checkpoint wherever one falls due, and moves the head
        once. k single appends would produce exactly the same rows."""
        if not events:
            raise StoreMisuse("nothing to append")
        if any(e.practice_id != store.practice_id for e in events):
            raise StoreMisuse("audit event belongs to another practice")
        head = self.verified_head(store)
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
            chained = chain(event, seq=seq, time=at, prev_hash=prev_hash)
            ops.append(Put(event_item(chained), Absent()))
            chained_events.append(chained)
            prev_hash = chained.hash
            if seq - last_cp_seq >= self.checkpoint_every:
                checkpoint = sign_checkpoint(
                    self.signer,
                    practice_id=store.practice_id,
                    seq=seq,
                    hash=chained.hash,
                    time=now,
                    prev_checkpoint_hash=last_cp_hash,
                )
                ops.append(Put(_checkpoint_item(checkpoint), Absent()))
                checkpoints.append(checkpoint)
                last_cp_seq, last_cp_hash = seq, checkpoint.checkpoint_hash
        new_head = sign_head(
            self.signer,
            practice_id=store.practice_id,
            seq=seq,
            hash=prev_hash,
            time=at,
            version=head.version + 1 if head else 1,
            last_checkpoint_seq=last_cp_seq,
            last_checkpoint_hash=last_cp_hash,
        )
        ops.append(Put(_head_item(new_head), VersionIs(head.version) if head else Absent()))
        return PreparedAppend(ops, chained_events, checkpoints)

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
        real 409); contention on the audit ops is retried with jittered backoff, and when
        the retries run out TransactionConflict (409, retryable) is raised with nothing
        written."""
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
        for attempt in range(retries + 1):
            if attempt:
                self.contention_retries += 1
                _backoff(attempt)
            prepared = self.prepare(store, events)
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
                if prepared.checkpoints:
                    self._publish_quietly(store)
                return prepared.events
        raise TransactionConflict(attempts=retries + 1) from last

    def record(self, store: PracticeStore, event: AuditEvent, retries: int = 5) -> ChainedEvent:
        """Appends an event on its own (reads, denials, logins)."""
        return self.write_with_audit(store, list, event, retries)

    # ---- checkpoints ----------------------------------------------------------------------

    def checkpoint(self, store: PracticeStore, retries: int = 5) -> Checkpoint | None:
        """Signs the current head as a checkpoint (unless it already is one) and seals it in
        the sink. For the scheduled job and the CLI. None when the chain is empty."""
        last: Exception | None = None
        for attempt in range(retries + 1):
            if attempt:
                _backoff(attempt)
            head = self.verified_head(store)
            if head is None:
                return None
            if head.last_checkpoint_seq == head.seq:
                self.publish_checkpoints(store)
                return _read_checkpoint(store, head.seq)
            cp = sign_checkpoint(
                self.signer,
                practice_id=store.practice_id,
                seq=head.seq,
                hash=head.hash,
                time=to_rfc3339(self.clock.now()),
                prev_checkpoint_hash=head.last_checkpoint_hash,
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
                        Put(_checkpoint_item(cp), Absent()),
                        Put(_head_item(new_head), VersionIs(head.version)),
                    ]
                )
            except (ConditionFailed, TransactionConflict) as exc:
                last = exc
                continue
            self.publish_checkpoints(store)
            return cp
        raise TransactionConflict(attempts=retries + 1) from last

    def publish_checkpoints(self, store: PracticeStore) -> int:
        """Seals, in order, every stored checkpoint the sink does not hold yet; returns how
        many. Idempotent, so a crash between commit and seal is repaired by the next call."""
        sealed = self.sink.latest(store.practice_id)
        after = sealed.seq if sealed else 0
        count = 0
        for item in iterate(
            store, AUDIT_PK, sk_between=(checkpoint_sk(after + 1), checkpoint_sk(_MAX_SEQ))
        ):
            self.sink.append(Checkpoint.model_validate(record_fields(item)))
            count += 1
        return count

    def _publish_quietly(self, store: PracticeStore) -> None:
        # The change is committed; failing the request now would misreport it. The
        # checkpoint stays in the table and the next publish seals it.
        try:
            self.publish_checkpoints(store)
        except Exception:
            log.warning("audit checkpoint not sealed yet", extra={"practice": store.practice_id})


def _read_checkpoint(store: PracticeStore, seq: int) -> Checkpoint | None:
    item = store.get(AUDIT_PK, checkpoint_sk(seq))
    return None if item is None else Checkpoint.model_validate(record_fields(item))


def _backoff(attempt: int) -> None:
    # Full jitter, capped: contenders spread out instead of colliding again in step.
    cap_ms = min(10 * 2**attempt, 400)
    time_module.sleep(secrets.randbelow(cap_ms + 1) / 1000)


# ---- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventPage:
    events: list[ChainedEvent]
    next_cursor: str | None = None


def query_events(
    store: PracticeStore,
    *,
    patient_id: str | None = None,
    user_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 25,
    cursor: str | None = None,
    newest_first: bool = False,
) -> EventPage:
    """Events about one patient, by one user, or all; optionally in [start, end)."""
    if patient_id is not None and user_id is not None:
        raise ValidationFailed(
            fields=[
                {"path": "query.patient_id", "type": "choose_one_filter"},
                {"path": "query.user_id", "type": "choose_one_filter"},
            ]
        )
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(fields=[{"path": "query.limit", "type": "less_than_equal"}])
    for name, value in (("patient_id", patient_id), ("user_id", user_id)):
        if value is not None and not _is_key_safe(value):
            raise ValidationFailed(fields=[{"path": f"query.{name}", "type": "invalid_id"}])
    paging: dict[str, Any] = {"limit": limit, "cursor": cursor, "descending": newest_first}
    if patient_id is not None or user_id is not None:
        if start is not None or end is not None:
            # index sort keys are "<time>#<seq>": "0" sorts before every time, "~" after
            # all of them, and a bare `end` time sorts before "<end>#…", so end is excluded
            lo = to_rfc3339(start) if start else "0"
            hi = to_rfc3339(end) if end else "~"
            if lo >= hi:
                return EventPage([])
            paging["sk_between"] = (lo, hi)
        index: IndexName = "gsi1" if patient_id else "gsi2"
        pk = f"AUDIT#PAT#{patient_id}" if patient_id else f"AUDIT#USR#{user_id}"
        page = store.query(pk, index=index, **paging)
    else:
        seqs = seq_range(store, start, end)
        if seqs is None:
            return EventPage([])
        page = store.query(AUDIT_PK, sk_between=(event_sk(seqs[0]), event_sk(seqs[1])), **paging)
    try:
        return EventPage([event_from_item(i) for i in page.items], page.next_cursor)
    except ValueError as exc:
        raise IntegrityError("an audit event is unreadable") from exc


def seq_range(
    store: PracticeStore, start: datetime | None, end: datetime | None
) -> tuple[int, int] | None:
    """The seqs of the first and last events in [start, end), or None if there are none."""
    head = read_head(store)
    if head is None:
        return None
    first = _first_seq_at(store, to_rfc3339(start), head.seq) if start else 1
    last = _first_seq_at(store, to_rfc3339(end), head.seq) - 1 if end else head.seq
    return (first, last) if first <= last else None


def _first_seq_at(store: PracticeStore, moment: str, head_seq: int) -> int:
    """Binary search for the first seq whose time is >= moment (head_seq + 1 if none)."""
    lo, hi = 1, head_seq + 1
    while lo < hi:
        mid = (lo + hi) // 2
        item = store.get(AUDIT_PK, event_sk(mid))
        if item is None or not isinstance(item.get("time"), str):
            raise IntegrityError("the audit chain has a gap; run verify")
        if item["time"] < moment:
            lo = mid + 1
        else:
            hi = mid
    return lo


def read_events(store: PracticeStore, first_seq: int, last_seq: int) -> Iterator[ChainedEvent]:
    """Every stored event with first_seq <= seq <= last_seq, in order (export, CLI)."""
    for fields in read_event_rows(store, first_seq, last_seq):
        yield ChainedEvent.model_validate(fields)


def read_event_rows(
    store: PracticeStore, first_seq: int, last_seq: int
) -> Iterator[dict[str, Any]]:
    """The same events as stored (no index keys): the exact fields their hashes cover."""
    for item in iterate(store, AUDIT_PK, sk_between=(event_sk(first_seq), event_sk(last_seq))):
        yield record_fields(item)


def _is_key_safe(value: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9_.:@-]{1,128}", value) is not None
