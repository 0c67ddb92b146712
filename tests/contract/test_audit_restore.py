"""A point-in-time restore of the table and its "restore acknowledged" record (issue 10,
item 1), on each store adapter (conftest's `store`).

The restore is simulated as the table itself would be restored: every audit row is put
back exactly as it stood at the restore point (events, head, checkpoints), while the
write-once sink keeps what was sealed meanwhile. Until an operator acknowledges it, that
is indistinguishable from truncation; afterwards verification names the lost span (never
a silent "intact") and still catches tampering everywhere else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tpm.adapters.store.base import Delete, Item, PracticeStore, Put, Store, iterate
from tpm.clock import FixedClock, to_rfc3339
from tpm.errors import AuditUnavailable, IntegrityError, ValidationFailed
from tpm.security.audit import AUDIT_PK, AuditTrail, event_sk, read_events
from tpm.security.audit_chain import AuditEvent
from tpm.security.audit_checkpoints import LocalCheckpointSigner, LocalCheckpointSink, ShardMark
from tpm.security.audit_restores import sign_acknowledgement
from tpm.security.audit_verify import verify, verify_span
from tpm.security.principal import SystemActor
from tpm.services.audit_restore import RESTORE_ACKNOWLEDGED, acknowledge_restore

pytestmark = pytest.mark.contract

PRACTICE = "prac_restore"
ACTOR = SystemActor("operator-cli", PRACTICE, "req-restore")


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


def append(trail: AuditTrail, ps: PracticeStore, clock: FixedClock, n: int) -> None:
    for i in range(n):
        trail.record(
            ps,
            AuditEvent(
                practice_id=PRACTICE,
                actor_kind="user",
                actor_id="usr_1",
                roles=("clinician",),
                action="patient.read",
                resource_kind="patient",
                resource_id=f"res_{i}",
                patient_id="pat_1",
                request_id=f"req-{i}",
            ),
        )
        clock.advance(seconds=1)


def audit_rows(ps: PracticeStore) -> list[Item]:
    return list(iterate(ps, AUDIT_PK))


def restore(ps: PracticeStore, rows: list[Item]) -> None:
    """The audit partition exactly as it was in `rows` (a point-in-time restore)."""
    for item in audit_rows(ps):
        ps.transact([Delete(item["pk"], item["sk"])])
    for item in rows:
        ps.transact([Put(item)])


@pytest.fixture
def restored(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, sink: LocalCheckpointSink
) -> FixedClock:
    """12 events (sealed at 5 and 10); the table restored to that point after 8 more
    events were written and sealed (15 and 20). Returns the clock at the restore point."""
    append(trail, ps, clock, 12)
    at_point = audit_rows(ps)
    point = FixedClock(clock.now())
    append(trail, ps, clock, 8)
    assert [c.seq for c in sink.read(PRACTICE)] == [5, 10, 15, 20]
    restore(ps, at_point)
    clock.advance(minutes=30)
    return point


def kinds(report: Any) -> list[tuple[str, int]]:
    return [(p.kind, p.seq) for p in report.problems]


def test_unacknowledged_restore_looks_like_truncation(
    restored: FixedClock, ps: PracticeStore, signer: Any, sink: Any
) -> None:
    report = verify(ps, signer.public_keys(), sink)
    assert ("truncated", 13) in kinds(report)
    assert report.status == "failed"


def test_acknowledged_restore_is_reported_as_such_and_the_chain_goes_on(
    restored: FixedClock,
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    signer: Any,
    sink: Any,
) -> None:
    ack = acknowledge_restore(trail, ps, ACTOR, by="ops:alex", restore_point=restored.now())
    assert (ack.after_total, ack.before_total, ack.acknowledged_by) == (12, 20, "ops:alex")
    report = verify(ps, signer.public_keys(), sink)
    assert report.ok, report.summary()
    assert report.status == "intact_with_acknowledged_restores"
    [described] = report.acknowledged_restores
    assert described["lost_from_seq"] == 13
    assert described["lost_to_seq"] == 20
    assert described["sealed_checkpoints_set_aside"] == [15, 20]
    assert described["restore_point"] == to_rfc3339(restored.now())
    assert "OK WITH ACKNOWLEDGED RESTORE" in report.summary()
    assert "events 13-20 lost" in report.summary()
    # the acknowledgement is itself in the chain
    [last] = list(read_events(ps, 13, 13))
    assert (last.action, last.resource_id) == (RESTORE_ACKNOWLEDGED, "seq:13-20")
    # WHEN the practice carries on past the old end (its checkpoints in the lost span
    # stay in the table only; the next one past it is sealed and links to them)
    append(trail, ps, clock, 14)
    trail.checkpoint(ps)
    assert [c.seq for c in sink.read(PRACTICE)][-1] > 20
    report = verify(ps, signer.public_keys(), sink)
    assert report.ok, report.summary()
    assert report.status == "intact_with_acknowledged_restores"
    # and the scheduled span check from the start agrees
    span = verify_span(ps, signer.public_keys(), sink, {})
    assert span.ok, span.summary()


def test_tampering_is_still_caught_with_an_acknowledged_restore(
    restored: FixedClock, trail: AuditTrail, ps: PracticeStore, signer: Any, sink: Any
) -> None:
    acknowledge_restore(trail, ps, ACTOR, by="ops:alex", restore_point=restored.now())
    ps.transact([Delete(AUDIT_PK, event_sk(3))])
    report = verify(ps, signer.public_keys(), sink)
    assert ("gap", 3) in kinds(report)
    assert report.status == "failed"


def test_an_acknowledgement_not_signed_by_a_published_key_explains_nothing(
    restored: FixedClock, ps: PracticeStore, signer: Any, sink: Any, tmp_path: Path
) -> None:
    stranger = LocalCheckpointSigner(tmp_path / "someone-else")
    forged = sign_acknowledgement(
        stranger,
        practice_id=PRACTICE,
        acknowledged_by="ops:mallory",
        acknowledged_at=to_rfc3339(restored.now() + timedelta(hours=1)),
        restore_point=to_rfc3339(restored.now()),
        before=(ShardMark(shard=0, seq=20, hash="a" * 64),),
        after=(ShardMark(shard=0, seq=12, hash="b" * 64),),
    )
    sink.restores.acknowledge_restore(forged)
    report = verify(ps, signer.public_keys(), sink)
    assert ("bad_checkpoint_signature", 13) in kinds(report)
    assert ("truncated", 13) in kinds(report)
    assert report.acknowledged_restores == []


def test_acknowledgements_are_write_once_and_refused_without_a_lost_tail(
    restored: FixedClock,
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    sink: Any,
) -> None:
    ack = acknowledge_restore(trail, ps, ACTOR, by="ops:alex", restore_point=restored.now())
    with pytest.raises(IntegrityError):
        sink.restores.acknowledge_restore(ack)
    assert sink.restores.restore_acknowledgements(PRACTICE) == [ack]
    # nothing sealed past the head now (the chain moved on past 20): nothing to explain
    append(trail, ps, clock, 10)
    with pytest.raises(ValidationFailed):
        acknowledge_restore(trail, ps, ACTOR, by="ops:alex", restore_point=restored.now())
    with pytest.raises(ValidationFailed):
        acknowledge_restore(
            trail, ps, ACTOR, by="ops:alex", restore_point=clock.now() + timedelta(days=1)
        )


def test_a_restored_table_that_fails_its_head_check_is_never_acknowledged(
    restored: FixedClock, trail: AuditTrail, ps: PracticeStore
) -> None:
    ps.transact([Delete(AUDIT_PK, event_sk(12))])  # the newest event the head names
    with pytest.raises(AuditUnavailable):
        acknowledge_restore(trail, ps, ACTOR, by="ops:alex", restore_point=restored.now())


def test_with_several_shards_every_head_before_and_after_is_recorded(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    signer: Any,
    sink: Any,
) -> None:
    opened = AuditEvent(
        practice_id=PRACTICE,
        actor_kind="system",
        actor_id="test",
        action="audit.shards_opened",
        resource_kind="audit_event",
    )
    assert trail.open_shards(ps, 3, opened) == 3
    append(trail, ps, clock, 9)
    trail.checkpoint(ps)
    at_point = audit_rows(ps)
    point = FixedClock(clock.now())
    append(trail, ps, clock, 9)
    trail.checkpoint(ps)
    sealed_before = [c.seq for c in sink.read(PRACTICE)]
    restore(ps, at_point)
    clock.advance(minutes=30)
    assert not verify(ps, signer.public_keys(), sink).ok
    ack = acknowledge_restore(trail, ps, ACTOR, by="ops:alex", restore_point=point.now())
    assert [m.shard for m in ack.after] == [0, 1, 2]
    assert [m.shard for m in ack.before] == [0, 1, 2]
    assert ack.before_total == sealed_before[-1]
    report = verify(ps, signer.public_keys(), sink)
    assert report.ok, report.summary()
    assert report.status == "intact_with_acknowledged_restores"
    [described] = report.acknowledged_restores
    assert described["lost_to_seq"] == sealed_before[-1]
    assert described["sealed_checkpoints_set_aside"]
    # the practice carries on past the old end, and both checks agree
    append(trail, ps, clock, 30)
    trail.checkpoint(ps)
    assert sink.read(PRACTICE)[-1].seq > sealed_before[-1]
    report = verify(ps, signer.public_keys(), sink)
    assert report.ok, report.summary()
    span = verify_span(ps, signer.public_keys(), sink, {})
    assert span.ok, span.summary()
