"""The audit trail with several chains (shards) per practice, on both store adapters:
appends spread over shards and retry on another one, checkpoints commit every shard,
and verification catches what a forger with table access (but no signing key) can do to
one shard: edit + stale head + append, move an event to another shard, roll a shard's
head back, drop a shard from what the checkpoints commit.
"""

from __future__ import annotations

import itertools
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.store_tamper import Tamperer, tamperer

from tpm.adapters.store import codec
from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, Store, iterate
from tpm.adapters.store.dynamodb import DynamoStore
from tpm.clock import FixedClock
from tpm.errors import AuditUnavailable, ValidationFailed
from tpm.security.audit import (
    AUDIT_PK,
    LAYOUT_ATTRS,
    AuditTrail,
    checkpoint_sk,
    event_sk,
    first_shard,
    query_events,
    read_event_rows,
    read_events,
)
from tpm.security.audit_chain import (
    AuditEvent,
    ChainedEvent,
    ChainWalker,
    Problem,
    compute_hash,
)
from tpm.security.audit_checkpoints import (
    LocalCheckpointSigner,
    LocalCheckpointSink,
    ShardMark,
    marks_hash,
    sign_checkpoint,
)
from tpm.security.audit_layout import head_sk, latest_checkpoint, read_head, read_heads
from tpm.security.audit_verify import verify
from tpm.services.audit_export import verify_export
from tpm.services.audit_export_sets import check_sets, export_all, export_folders

pytestmark = pytest.mark.contract

PRACTICE = "prac_shards"


@pytest.fixture
def signer(tmp_path: Path) -> LocalCheckpointSigner:
    return LocalCheckpointSigner(tmp_path / "audit-keys")


@pytest.fixture
def sink(tmp_path: Path) -> LocalCheckpointSink:
    return LocalCheckpointSink(tmp_path / "audit-sink")


@pytest.fixture
def trail(
    signer: LocalCheckpointSigner, sink: LocalCheckpointSink, clock: FixedClock
) -> AuditTrail:
    return AuditTrail(signer, sink, clock=clock, checkpoint_every=5)


@pytest.fixture
def ps(store: Store) -> PracticeStore:
    return store.practice(PRACTICE)


@pytest.fixture
def tamper(store: Store) -> Tamperer:
    return tamperer(store, PRACTICE)


_ids = itertools.count(1000)


def ev(n: int | None = None, *, request_id: str | None = None, **kw: Any) -> AuditEvent:
    n = next(_ids) if n is None else n
    fields: dict[str, Any] = {
        "practice_id": PRACTICE,
        "actor_kind": "user",
        "actor_id": "usr_1",
        "roles": ("clinician",),
        "action": "patient.read",
        "resource_kind": "patient",
        "resource_id": f"res_{n}",
        "patient_id": "pat_1",
        "request_id": request_id or f"req-{n}",
    }
    return AuditEvent(**(fields | kw))


def ev_on(shard: int, shards: int, **kw: Any) -> AuditEvent:
    """An event whose request id makes it try `shard` first."""
    for n in _ids:
        if first_shard(ev(n), shards) == shard:
            return ev(n, **kw)
    raise AssertionError  # pragma: no cover


def open_shards(trail: AuditTrail, ps: PracticeStore, count: int) -> None:
    event = ev(action="audit.settings.update", resource_kind="practice", resource_id="shards")
    assert trail.open_shards(ps, count, event) == count


def spread(trail: AuditTrail, ps: PracticeStore, clock: FixedClock, n: int) -> list[ChainedEvent]:
    out = []
    for _ in range(n):
        out.append(trail.record(ps, ev()))
        clock.advance(seconds=1)
    return out


def problems(ps: PracticeStore, signer: Any, sink: Any) -> list[tuple[str, int, int]]:
    report = verify(ps, signer.public_keys(), sink)
    return [(p.kind, p.shard, p.seq) for p in report.problems]


def shard_events(ps: PracticeStore, shard: int) -> list[ChainedEvent]:
    head = read_head(ps, shard)
    assert head is not None
    return list(read_events(ps, 1, head.seq, shard)) if head.seq else []


# ---- spreading and committing ------------------------------------------------------------------


def test_events_spread_over_shards_and_a_checkpoint_commits_them_all(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, signer: Any, sink: Any
) -> None:
    open_shards(trail, ps, 4)
    for n in range(30):  # fixed request ids: the same spread every run
        trail.record(ps, ev(n))
    heads = read_heads(ps)
    assert sorted(heads) == [0, 1, 2, 3]
    assert all(h.seq > 0 for h in heads.values())  # every shard took some
    assert sum(h.seq for h in heads.values()) == 31  # and the opening event
    cp = trail.checkpoint(ps)
    assert cp is not None
    assert cp.marks() == {k: (h.seq, h.hash) for k, h in heads.items()}
    assert cp.seq == 31
    assert sink.latest(PRACTICE) == cp
    report = verify(ps, signer.public_keys(), sink)
    assert report.ok, report.summary()
    assert (report.shards, report.events_checked, report.last_seq) == (4, 31, 31)
    assert trail.checkpoint(ps) == cp  # nothing new: the same checkpoint


def test_a_single_chain_keeps_verifying_as_shard_0_when_shards_are_opened(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    signer: Any,
    sink: Any,
    tamper: Tamperer,
) -> None:
    # GIVEN a practice's one chain, with a checkpoint sealed in the old form
    spread(trail, ps, clock, 7)
    before = {sk: tamper.snapshot(AUDIT_PK, sk) for sk in tamper.keys(AUDIT_PK) if sk != "HEAD"}
    assert [c.shards for c in sink.read(PRACTICE)] == [()]
    # WHEN shards are opened and used
    open_shards(trail, ps, 3)
    spread(trail, ps, clock, 12)
    trail.checkpoint(ps)
    # THEN nothing written before was rewritten, and the whole trail verifies
    assert {sk: tamper.snapshot(AUDIT_PK, sk) for sk in before} == before
    assert problems(ps, signer, sink) == []
    assert sink.read(PRACTICE)[-1].marks().keys() == {0, 1, 2}
    # AND shards never decrease
    with pytest.raises(ValidationFailed):
        trail.open_shards(ps, 2, ev())
    assert read_head(ps) is not None
    assert read_head(ps).shards == 3  # type: ignore[union-attr]


def test_a_request_that_loses_the_race_on_its_shard_succeeds_on_another(
    trail: AuditTrail, ps: PracticeStore, signer: Any, sink: Any
) -> None:
    open_shards(trail, ps, 4)
    mine = ev_on(2, 4)
    rival = ev(request_id=mine.request_id)  # same request id: same first shard
    calls = []

    def build_ops() -> list[Any]:
        if not calls:
            trail.record(ps, rival)  # commits on shard 2 between our read and our commit
        calls.append(1)
        return [Put({"pk": "THING#1", "sk": "A", "version": 1}, Absent())]

    retries = trail.contention_retries
    written = trail.write_with_audit(ps, build_ops, mine, retries=0)
    assert len(calls) == 2
    assert trail.contention_retries == retries + 1
    assert written.shard != 2
    assert [e.event_id for e in shard_events(ps, 2)][-1] == rival.event_id
    assert ps.get("THING#1", "A") is not None
    trail.checkpoint(ps)
    assert problems(ps, signer, sink) == []


def test_concurrent_requests_all_succeed_on_some_shard(
    store: Store, trail: AuditTrail, clock: FixedClock, signer: Any, sink: Any
) -> None:
    if isinstance(store, DynamoStore):
        pytest.skip("moto is not thread-safe (see test_audit_trail)")
    ps = store.practice(PRACTICE)
    open_shards(trail, ps, 4)
    submitted = [ev() for _ in range(32)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(submitted))

    def work(event: AuditEvent) -> None:
        item = {"pk": f"THING#{event.resource_id}", "sk": "A", "version": 1}
        barrier.wait()
        try:
            trail.write_with_audit(store.practice(PRACTICE), lambda: [Put(item, Absent())], event)
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e,)) for e in submitted]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = [e for k in range(4) for e in shard_events(ps, k)]
    assert {e.event_id for e in submitted} <= {e.event_id for e in stored}
    trail.checkpoint(ps)
    assert problems(ps, signer, sink) == []


def test_listing_all_events_merges_the_shards_by_time_page_by_page(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock
) -> None:
    open_shards(trail, ps, 3)
    written = spread(trail, ps, clock, 17)
    for newest_first in (False, True):
        seen: list[ChainedEvent] = []
        cursor = None
        while True:
            page = query_events(ps, limit=4, cursor=cursor, newest_first=newest_first)
            seen += page.events
            cursor = page.next_cursor
            if cursor is None:
                break
        order = [(e.time, e.shard, e.seq) for e in seen]
        assert order == sorted(order, reverse=newest_first)
        assert [e.event_id for e in seen if e.action == "patient.read"] == [
            e.event_id for e in (reversed(written) if newest_first else written)
        ]
    start, end = (datetime.fromisoformat(e.time) for e in (written[3], written[9]))
    page = query_events(ps, start=start, end=end, limit=100)
    assert [e.event_id for e in page.events] == [e.event_id for e in written[3:9]]


# ---- forgery on one shard ------------------------------------------------------------------------


def forge(tamper: Tamperer, ps: PracticeStore, shard: int, first: int, last: int) -> str:
    """Rewrites a shard's events first..last with every hash and link recomputed."""
    prev = ps.get(AUDIT_PK, event_sk(first - 1, shard))
    prev_hash = prev["hash"] if prev else "0" * 64
    for seq in range(first, last + 1):

        def rewrite(item: Item, prev_hash: str = prev_hash) -> None:
            item["resource_id"] = "res_forged"
            item["prev_hash"] = prev_hash
            fields = {
                k: codec.number(v) if isinstance(v, Decimal) else v
                for k, v in item.items()
                if k not in LAYOUT_ATTRS and k != "hash"
            }
            item["hash"] = compute_hash(fields)

        tamper.edit(AUDIT_PK, event_sk(seq, shard), rewrite)
        prev_hash = ps.get(AUDIT_PK, event_sk(seq, shard))["hash"]  # type: ignore[index]
    return prev_hash


def refused_everywhere(trail: AuditTrail, ps: PracticeStore, sink: Any, shards: int) -> None:
    """Appends that go to the damaged shard and the checkpoint are refused; nothing is
    sealed."""
    sealed = [c.seq for c in sink.read(PRACTICE)]
    with pytest.raises(AuditUnavailable):
        trail.checkpoint(ps)
    assert [c.seq for c in sink.read(PRACTICE)] == sealed


def test_edit_stale_head_and_append_on_a_shard_is_refused_and_never_sealed(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    open_shards(trail, ps, 3)
    for _ in range(3):
        trail.record(ps, ev_on(1, 3))
    trail.checkpoint(ps)
    for _ in range(2):
        trail.record(ps, ev_on(1, 3))
    # GIVEN shard 1's last two events rewritten and its head pointed at the forgery with
    # its old signature
    forged = forge(tamper, ps, 1, 4, 5)
    tamper.edit(AUDIT_PK, head_sk(1), lambda item: item.update(hash=forged))
    assert ("bad_head_signature", 1, 5) in problems(ps, signer, sink)
    head_before = ps.get(AUDIT_PK, head_sk(1))
    # WHEN a request lands on shard 1 THEN it is refused; the checkpoint too
    with pytest.raises(AuditUnavailable):
        trail.record(ps, ev_on(1, 3), retries=0)
    refused_everywhere(trail, ps, sink, 3)
    assert ps.get(AUDIT_PK, head_sk(1)) == head_before  # never re-signed
    assert ("bad_head_signature", 1, 5) in problems(ps, signer, sink)


def test_an_event_moved_to_another_shard_is_detected(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    open_shards(trail, ps, 3)
    for _ in range(3):
        trail.record(ps, ev_on(2, 3))
    trail.checkpoint(ps)
    newest = read_head(ps, 1)
    assert newest is not None
    # GIVEN shard 2's event 2 moved to the end of shard 1, hash and all
    tamper.move(AUDIT_PK, event_sk(2, 2), event_sk(newest.seq + 1, 1))
    found = problems(ps, signer, sink)
    assert ("inserted", 1, newest.seq + 1) in found  # it says it belongs to shard 2
    assert ("gap", 2, 2) in found  # and shard 2 misses it


def test_a_shard_head_rolled_back_is_refused_and_detected(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    open_shards(trail, ps, 2)
    trail.record(ps, ev_on(1, 2))
    old_head = tamper.snapshot(AUDIT_PK, head_sk(1))  # signed, valid, at seq 1
    for _ in range(3):
        trail.record(ps, ev_on(1, 2))
    cp = trail.checkpoint(ps)
    assert cp is not None
    assert cp.marks()[1][0] == 4
    # GIVEN shard 1 cut back to seq 1 with its old signed head put back
    for seq in (2, 3, 4):
        tamper.remove(AUDIT_PK, event_sk(seq, 1))
    tamper.restore(old_head)
    # THEN verify shows the cut against the sealed checkpoint
    assert ("truncated", 1, 2) in problems(ps, signer, sink)
    # AND the checkpoint is refused, even after new events take the shard past the cut
    refused_everywhere(trail, ps, sink, 2)
    for _ in range(4):
        trail.record(ps, ev_on(1, 2))
    refused_everywhere(trail, ps, sink, 2)
    assert ("checkpoint_mismatch", 1, 4) in problems(ps, signer, sink)


def test_a_shard_dropped_from_the_trail_is_refused_and_detected(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    open_shards(trail, ps, 3)
    for _ in range(2):
        trail.record(ps, ev_on(2, 3))
    trail.checkpoint(ps)
    # GIVEN shard 2 deleted entirely: its events and its head
    for seq in (1, 2):
        tamper.remove(AUDIT_PK, event_sk(seq, 2))
    tamper.remove(AUDIT_PK, head_sk(2))
    # THEN a request that lands on it is refused, nothing is sealed without it, and
    # verify says so
    with pytest.raises(AuditUnavailable):
        trail.record(ps, ev_on(2, 3), retries=0)
    refused_everywhere(trail, ps, sink, 3)
    found = problems(ps, signer, sink)
    assert ("missing_head", 2, 1) in found
    assert ("truncated", 2, 1) in found


def test_a_checkpoint_that_drops_a_shard_is_detected(
    ps: PracticeStore, clock: FixedClock, signer: Any, sink: Any
) -> None:
    trail = AuditTrail(signer, sink, clock=clock, checkpoint_every=1000)
    open_shards(trail, ps, 3)
    for shard in (0, 1, 2, 2):
        trail.record(ps, ev_on(shard, 3))
    first = trail.checkpoint(ps)
    assert first is not None
    assert first.marks()[2][0] > 0
    for _ in range(first.marks()[2][0] + 1):
        trail.record(ps, ev_on(0, 3))
    # GIVEN a validly signed checkpoint (a faulty signer) that leaves shard 2 out
    heads = read_heads(ps)
    marks = tuple(ShardMark(shard=k, seq=heads[k].seq, hash=heads[k].hash) for k in (0, 1))
    bad = sign_checkpoint(
        signer,
        practice_id=PRACTICE,
        seq=sum(m.seq for m in marks),
        hash=marks_hash(marks),
        time=first.time,
        prev_checkpoint_hash=first.checkpoint_hash,
        shards=marks,
    )
    sink.append(bad)
    found = verify(ps, signer.public_keys(), sink).problems
    assert any(
        p.kind == "checkpoint_mismatch" and p.shard == 2 and "dropped" in p.detail for p in found
    )


def test_shard_chains_hash_their_stored_fields(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock
) -> None:
    class FutureEvent(ChainedEvent):
        channel: str = "web"

    open_shards(trail, ps, 2)
    for _ in range(3):
        trail.record(ps, ev_on(1, 2))
    rows = [dict(r) for r in read_event_rows(ps, 1, 3, 1)]
    assert all(r["shard"] == 1 for r in rows)  # the hash covers the shard
    walker = ChainWalker(model=FutureEvent, shard=1)
    for row in rows:
        walker.feed(row)
    assert (walker.problems, walker.count) == ([], 3)
    assert ChainWalker(shard=0).feed(rows[0]) is not None
    wrong = ChainWalker(shard=0)
    wrong.feed(rows[0])
    assert wrong.problems == [
        Problem("inserted", 1, "event of shard 1 in this shard", 0),
    ]


def test_signatures_from_before_a_key_rotation_still_verify_on_shards(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tmp_path: Path,
    sink: Any,
) -> None:
    open_shards(trail, ps, 2)
    spread(trail, ps, clock, 6)
    trail.checkpoint(ps)
    keys = tmp_path / "audit-keys"
    (keys / "audit-ed25519.pem").rename(tmp_path / "retired.pem")  # rotation
    rotated = LocalCheckpointSigner(keys)
    new_trail = AuditTrail(rotated, sink, clock=clock, checkpoint_every=5)
    spread(new_trail, ps, clock, 6)
    cp = new_trail.checkpoint(ps)
    assert cp is not None
    assert cp.key_id == rotated.key_id
    assert len(rotated.public_keys()) == 2
    assert verify(ps, rotated.public_keys(), sink).ok


def _all_rows(ps: PracticeStore) -> Iterator[Item]:
    return iterate(ps, AUDIT_PK)


def test_checkpoints_are_numbered_by_the_sum_of_shard_seqs(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock
) -> None:
    open_shards(trail, ps, 2)
    spread(trail, ps, clock, 3)
    cp = trail.checkpoint(ps)
    assert cp is not None
    assert ps.get(AUDIT_PK, checkpoint_sk(cp.seq)) is not None
    assert latest_checkpoint(ps) == cp
    assert json.loads(cp.record_json())["shards"][0]["shard"] == 0
    assert len([i for i in _all_rows(ps) if str(i["sk"]).startswith("HEAD")]) == 2


def test_an_export_has_a_part_per_shard_and_a_missing_part_is_caught(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    signer: Any,
    sink: Any,
    tmp_path: Path,
) -> None:
    open_shards(trail, ps, 3)
    spread(trail, ps, clock, 12)
    trail.checkpoint(ps)
    out = tmp_path / "export"
    manifests = export_all(ps, None, None, out, signer=signer, clock=clock)
    assert [(m.shard, m.shards) for m in manifests] == [(0, 3), (1, 3), (2, 3)]
    assert sum(m.count for m in manifests) == 13
    assert all(m.checkpoints_in_range for m in manifests if m.count)
    report, _ = check_sets(export_folders([out]), trusted=signer.public_keys())
    assert report.ok, report.summary()
    # WHEN one shard's part is removed THEN the export is incomplete
    shutil.rmtree(out / "shard-02")
    report, _ = check_sets(export_folders([out]))
    assert [(p.kind, p.shard) for p in report.problems] == [("truncated", 2)]
    # AND one shard's part on its own is still a valid export of that shard
    assert verify_export(out / "shard-01").ok


def test_shard_0_head_rolled_back_behind_the_last_checkpoint_is_refused(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    open_shards(trail, ps, 2)
    trail.record(ps, ev_on(0, 2))
    old_head = tamper.snapshot(AUDIT_PK, head_sk(0))  # signed, links to no checkpoint
    newest = trail.record(ps, ev_on(0, 2))
    assert trail.checkpoint(ps) is not None
    # GIVEN shard 0 cut back by one event with its older signed head put back: the head
    # is consistent with its chain, but links to an older checkpoint than the sealed one
    tamper.remove(AUDIT_PK, event_sk(newest.seq, 0))
    tamper.restore(old_head)
    sealed = [c.seq for c in sink.read(PRACTICE)]
    with pytest.raises(AuditUnavailable):
        trail.checkpoint(ps, retries=1)
    assert [c.seq for c in sink.read(PRACTICE)] == sealed
    assert ("truncated", 0, newest.seq) in problems(ps, signer, sink)
