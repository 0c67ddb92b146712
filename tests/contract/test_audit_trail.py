"""The audit trail on a real store: chain, concurrency, tamper detection, query, export.

Runs once per store adapter through conftest's `store` fixture. Tampering goes around
the adapter, straight into the database (an sqlite3 UPDATE of the JSON `data` column, or
a raw DynamoDB call), as an attacker with database access would.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from tpm.adapters.store import codec
from tpm.adapters.store.base import (
    SEPARATOR,
    Absent,
    ConditionFailed,
    Item,
    Operation,
    PracticeStore,
    Put,
    Store,
    TransactionConflict,
    iterate,
)
from tpm.adapters.store.dynamodb import DynamoStore
from tpm.adapters.store.sqlite import SqliteStore
from tpm.clock import FixedClock, to_rfc3339
from tpm.errors import AuditUnavailable, ValidationFailed
from tpm.security.audit import (
    AUDIT_PK,
    HEAD_SK,
    LAYOUT_ATTRS,
    AuditTrail,
    checkpoint_sk,
    event_item,
    event_sk,
    query_events,
    read_event_rows,
    read_head,
)
from tpm.security.audit_chain import (
    AUDIT_SETTINGS_CHANGED,
    AuditEvent,
    ChainedEvent,
    ChainWalker,
    Outcome,
    VerifyReport,
    chain,
    compute_hash,
)
from tpm.security.audit_checkpoints import LocalCheckpointSigner, LocalCheckpointSink, sign_head
from tpm.security.audit_verify import verify
from tpm.services.audit_export import EVENTS_CSV, EVENTS_JSONL, MANIFEST, export, verify_export

pytestmark = pytest.mark.contract

PRACTICE = "prac_audit"


# ---- going around the adapter ---------------------------------------------------------------


class Tamperer(Protocol):
    def snapshot(self, pk: str, sk: str) -> Any: ...
    def restore(self, snapshot: Any) -> None: ...
    def edit(self, pk: str, sk: str, change: Callable[[Item], None]) -> None: ...
    def remove(self, pk: str, sk: str) -> None: ...
    def insert(self, item: Item) -> None: ...


class SqliteTamperer:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)

    def _key(self, pk: str) -> str:
        return f"{PRACTICE}{SEPARATOR}{pk}"

    def snapshot(self, pk: str, sk: str) -> Any:
        return self.db.execute(
            "SELECT * FROM items WHERE pk = ? AND sk = ?", (self._key(pk), sk)
        ).fetchone()

    def restore(self, snapshot: Any) -> None:
        marks = ",".join("?" * len(snapshot))
        self.db.execute(f"INSERT OR REPLACE INTO items VALUES ({marks})", snapshot)  # noqa: S608

    def edit(self, pk: str, sk: str, change: Callable[[Item], None]) -> None:
        (data,) = self.db.execute(
            "SELECT data FROM items WHERE pk = ? AND sk = ?", (self._key(pk), sk)
        ).fetchone()
        item = json.loads(data)
        change(item)
        self.db.execute(
            "UPDATE items SET data = ? WHERE pk = ? AND sk = ?",
            (json.dumps(item), self._key(pk), sk),
        )

    def remove(self, pk: str, sk: str) -> None:
        self.db.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (self._key(pk), sk))

    def insert(self, item: Item) -> None:
        cols: dict[str, Any] = {a: item.get(a) for a in ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")}
        for a in ("gsi1pk", "gsi2pk"):
            cols[a] = self._key(cols[a]) if cols[a] else None
        self.db.execute(
            "INSERT INTO items (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, version, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._key(item["pk"]),
                item["sk"],
                *cols.values(),
                item.get("version"),
                codec.dumps(item),
            ),
        )


class DynamoTamperer:
    def __init__(self, store: DynamoStore) -> None:
        self.client, self.table = store.client, store.table_name
        self.ser, self.de = TypeSerializer(), TypeDeserializer()

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": f"{PRACTICE}{SEPARATOR}{pk}"}, "sk": {"S": sk}}

    def snapshot(self, pk: str, sk: str) -> Any:
        return self.client.get_item(TableName=self.table, Key=self._key(pk, sk))["Item"]

    def restore(self, snapshot: Any) -> None:
        self.client.put_item(TableName=self.table, Item=snapshot)

    def edit(self, pk: str, sk: str, change: Callable[[Item], None]) -> None:
        raw = self.snapshot(pk, sk)
        item = {k: self.de.deserialize(v) for k, v in raw.items()}
        change(item)
        self.restore({k: self.ser.serialize(v) for k, v in item.items()})

    def remove(self, pk: str, sk: str) -> None:
        self.client.delete_item(TableName=self.table, Key=self._key(pk, sk))

    def insert(self, item: Item) -> None:
        stored = dict(item)
        for a in ("pk", "gsi1pk", "gsi2pk"):
            if a in stored:
                stored[a] = f"{PRACTICE}{SEPARATOR}{stored[a]}"
        self.restore({k: self.ser.serialize(v) for k, v in stored.items()})


@pytest.fixture
def tamper(store: Store) -> Tamperer:
    if isinstance(store, SqliteStore):
        return SqliteTamperer(store.path)
    assert isinstance(store, DynamoStore)
    return DynamoTamperer(store)


# ---- fixtures and helpers ------------------------------------------------------------------


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


def ev(n: int = 0, *, user: str = "usr_1", patient: str | None = "pat_1", **kw: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "practice_id": PRACTICE,
        "actor_kind": "user",
        "actor_id": user,
        "roles": ("clinician",),
        "action": "patient.read",
        "resource_kind": "patient",
        "resource_id": f"res_{n}",
        "patient_id": patient,
        "source_ip": "198.51.100.4",
        "request_id": f"req-{n}",
    }
    return AuditEvent(**(fields | kw))


def append(trail: AuditTrail, ps: PracticeStore, clock: FixedClock, n: int) -> list[ChainedEvent]:
    out = []
    for i in range(n):
        out.append(trail.record(ps, ev(i)))
        clock.advance(seconds=1)
    return out


def check(ps: PracticeStore, signer: LocalCheckpointSigner, sink: LocalCheckpointSink) -> Any:
    report: VerifyReport = verify(ps, signer.public_keys(), sink)
    first = report.first_problem
    return None if first is None else (first.kind, first.seq)


# ---- the chain ---------------------------------------------------------------------------------


def test_intact_chain_verifies_with_checkpoints_sealed(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, signer: Any, sink: Any
) -> None:
    written = append(trail, ps, clock, 12)
    report = verify(ps, signer.public_keys(), sink)
    assert report.ok, report.summary()
    assert (report.events_checked, report.last_seq, report.head_seq) == (12, 12, 12)
    assert [c.seq for c in sink.read(PRACTICE)] == [5, 10]
    assert report.sealed_checkpoints_checked == report.checkpoints_checked == 2
    assert [e.seq for e in written] == list(range(1, 13))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(written))
    stored = ps.get(AUDIT_PK, event_sk(3))
    assert stored is not None
    assert "expires_at" not in stored


def test_business_write_and_event_commit_together(
    trail: AuditTrail, ps: PracticeStore, signer: Any, sink: Any
) -> None:
    note = {"pk": "PATIENT#pat_1", "sk": "NOTE#1", "version": 1}
    # append_ops in the caller's own transaction, as a service does
    ps.transact([Put(note, Absent()), *trail.append_ops(ps, ev(1, action="note.create"))])
    trail.publish_checkpoints(ps)
    assert ps.get("PATIENT#pat_1", "NOTE#1") is not None
    head = read_head(ps)
    assert head is not None
    assert head.seq == 1
    assert check(ps, signer, sink) is None


def test_audit_failure_leaves_the_business_write_unmade(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, signer: Any, sink: Any
) -> None:
    # GIVEN another writer that wins the chain race on every attempt
    def build_ops() -> list[Operation]:
        trail.record(ps, ev(99, user="usr_rival"))
        return [Put({"pk": "PATIENT#pat_1", "sk": "PROFILE", "version": 1}, Absent())]

    # WHEN the retries run out
    with pytest.raises(TransactionConflict):
        trail.write_with_audit(ps, build_ops, ev(1, action="patient.update"), retries=2)
    # THEN the change is not there either, and the chain holds only the rival's events
    assert ps.get("PATIENT#pat_1", "PROFILE") is None
    head = read_head(ps)
    assert head is not None
    assert head.seq == 3
    assert check(ps, signer, sink) is None


def test_business_conflict_is_raised_at_once_without_an_event(
    trail: AuditTrail, ps: PracticeStore
) -> None:
    ps.put({"pk": "PATIENT#pat_1", "sk": "PROFILE", "version": 4})
    calls = []

    def build_ops() -> list[Operation]:
        calls.append(1)
        return [Put({"pk": "PATIENT#pat_1", "sk": "PROFILE", "version": 5}, Absent())]

    with pytest.raises(ConditionFailed) as raised:
        trail.write_with_audit(ps, build_ops, ev(1, action="patient.update"))
    assert raised.value.index == 0
    assert calls == [1]
    assert read_head(ps) is None


def test_concurrent_appends_form_one_linear_chain(
    store: Store, trail: AuditTrail, signer: Any, sink: Any
) -> None:
    if isinstance(store, DynamoStore):
        # moto's in-memory backend is not thread-safe (it raises "dictionary changed size
        # during iteration" and misreports cancellation reasons under threads); real
        # DynamoDB serialises these transactions, and the single-writer tests cover the
        # conditions. Run this against a real table to exercise it there.
        pytest.skip("moto is not thread-safe")
    submitted = [ev(i, user=f"usr_{i}") for i in range(20)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def work(event: AuditEvent) -> None:
        ps = store.practice(PRACTICE)
        item = {"pk": f"THING#{event.resource_id}", "sk": "A", "version": 1}
        barrier.wait()
        try:
            trail.write_with_audit(ps, lambda: [Put(item, Absent())], event, retries=100)
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e,)) for e in submitted]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ps = store.practice(PRACTICE)
    assert errors == []
    stored = list(iterate(ps, AUDIT_PK, sk_prefix="EVT#"))
    assert [i["seq"] for i in stored] == list(range(1, 21))
    assert {i["event_id"] for i in stored} == {e.event_id for e in submitted}
    assert all(ps.get(f"THING#{e.resource_id}", "A") for e in submitted)
    assert check(ps, signer, sink) is None
    assert [c.seq for c in sink.read(PRACTICE)] == [5, 10, 15, 20]


# ---- tampering -------------------------------------------------------------------------------


def test_row_altered_in_the_database_is_pinpointed(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    append(trail, ps, clock, 12)
    tamper.edit(AUDIT_PK, event_sk(7), lambda item: item.update(outcome="denied"))
    report = verify(ps, signer.public_keys(), sink)
    assert report.as_dict()["first_problem"] == {
        "kind": "altered",
        "seq": 7,
        "detail": "event content does not match its hash",
    }
    assert report.summary().startswith("FAILED: altered at seq 7")


def test_index_keys_rewritten_to_hide_an_event_are_detected(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    append(trail, ps, clock, 4)
    tamper.edit(AUDIT_PK, event_sk(2), lambda item: item.update(gsi1pk=f"{PRACTICE}|AUDIT#PAT#x"))
    assert check(ps, signer, sink) == ("altered", 2)


def test_deleted_row_is_a_gap_at_its_seq(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    append(trail, ps, clock, 12)
    tamper.remove(AUDIT_PK, event_sk(8))
    assert check(ps, signer, sink) == ("gap", 8)


def test_row_inserted_after_the_head_is_detected(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    written = append(trail, ps, clock, 6)
    forged = chain(ev(7), seq=7, time=written[-1].time, prev_hash=written[-1].hash)
    tamper.insert(event_item(forged))  # a perfectly chained event, but the head never saw it
    assert check(ps, signer, sink) == ("inserted", 7)


def test_forged_replacement_in_the_middle_is_detected(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    written = append(trail, ps, clock, 8)
    forged = chain(
        ev(3, action="patient.export"), seq=3, time=written[2].time, prev_hash=written[1].hash
    )
    tamper.remove(AUDIT_PK, event_sk(3))
    tamper.insert(event_item(forged))
    report = verify(ps, signer.public_keys(), sink)
    # event 3 is self-consistent and links back; the cut shows where 4 points to the original
    assert [(p.kind, p.seq) for p in report.problems] == [("chain_break", 4)]


def test_truncation_with_an_old_head_restored_is_caught_by_the_sealed_checkpoints(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    # GIVEN 12 events with an old copy of the (validly signed) head taken at seq 12
    append(trail, ps, clock, 12)
    old_head = tamper.snapshot(AUDIT_PK, HEAD_SK)
    append(trail, ps, clock, 8)
    assert [c.seq for c in sink.read(PRACTICE)] == [5, 10, 15, 20]
    # WHEN the newest 8 events and the checkpoints that mention them are deleted and the
    # old head is put back, so the table on its own looks consistent
    for seq in range(13, 21):
        tamper.remove(AUDIT_PK, event_sk(seq))
    for seq in (15, 20):
        tamper.remove(AUDIT_PK, checkpoint_sk(seq))
    tamper.restore(old_head)
    # THEN the table alone verifies, but the sealed checkpoints show the cut
    assert verify(ps, signer.public_keys(), LocalCheckpointSink(sink.directory / "empty")).ok
    assert check(ps, signer, sink) == ("truncated", 13)


def test_newest_events_deleted_is_truncation_against_the_head(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    append(trail, ps, clock, 7)
    tamper.remove(AUDIT_PK, event_sk(7))
    tamper.remove(AUDIT_PK, event_sk(6))
    assert check(ps, signer, sink) == ("truncated", 6)


def test_head_row_edited_has_a_bad_signature(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    append(trail, ps, clock, 7)
    tamper.edit(AUDIT_PK, HEAD_SK, lambda item: item.update(time="2031-01-01T00:00:00.000Z"))
    assert check(ps, signer, sink) == ("bad_head_signature", 7)


def test_head_deleted_is_reported_and_appends_fail_closed(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
) -> None:
    append(trail, ps, clock, 3)
    tamper.remove(AUDIT_PK, HEAD_SK)
    assert check(ps, signer, sink) == ("missing_head", 1)
    with pytest.raises(AuditUnavailable):
        trail.record(ps, ev(4))


# ---- checkpoints on demand ---------------------------------------------------------------------


def test_checkpoint_on_demand_signs_and_seals_the_head_once(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, signer: Any, sink: Any
) -> None:
    assert trail.checkpoint(ps) is None  # nothing to sign yet
    append(trail, ps, clock, 7)
    cp = trail.checkpoint(ps)
    assert cp is not None
    assert cp.seq == 7
    assert trail.checkpoint(ps) == cp
    assert [c.seq for c in sink.read(PRACTICE)] == [5, 7]
    append(trail, ps, clock, 3)  # the next automatic checkpoint counts from 7
    assert [c.seq for c in sink.read(PRACTICE)] == [5, 7]
    assert check(ps, signer, sink) is None


def test_checkpoint_refuses_to_sign_a_head_that_disagrees_with_the_chain(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, tamper: Tamperer
) -> None:
    append(trail, ps, clock, 3)
    tamper.edit(AUDIT_PK, event_sk(3), lambda item: item.update(hash="f" * 64))
    with pytest.raises(AuditUnavailable):
        trail.checkpoint(ps)


def test_unsealed_checkpoints_are_sealed_by_the_next_publish(
    signer: Any, sink: Any, ps: PracticeStore, clock: FixedClock
) -> None:
    # GIVEN a sink that is down while checkpoints are made
    class DownSink(LocalCheckpointSink):
        def append(self, checkpoint: Any) -> None:
            raise OSError("sink unavailable")

    down = AuditTrail(signer, DownSink(sink.directory), clock=clock, checkpoint_every=2)
    append(down, ps, clock, 4)  # the writes still succeed
    assert sink.read(PRACTICE) == []
    # WHEN the sink is back
    up = AuditTrail(signer, sink, clock=clock, checkpoint_every=2)
    assert up.publish_checkpoints(ps) == 2
    assert [c.seq for c in sink.read(PRACTICE)] == [2, 4]
    assert up.publish_checkpoints(ps) == 0


# ---- query -----------------------------------------------------------------------------------


def test_query_by_patient_user_and_time(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock
) -> None:
    start = clock.now()
    for i in range(10):
        trail.record(ps, ev(i, user=f"usr_{i % 2}", patient=f"pat_{i % 3}"))
        clock.advance(minutes=1)
    trail.record(
        ps,
        ev(
            10,
            action=AUDIT_SETTINGS_CHANGED,
            resource_kind="practice_settings",
            resource_id="audit.record_non_phi_reads",
            reason_code="disabled",
            patient=None,
            user="usr_admin",
            roles=("owner",),
        ),
    )

    by_patient = query_events(ps, patient_id="pat_0")
    assert [e.seq for e in by_patient.events] == [1, 4, 7, 10]
    by_user = query_events(ps, user_id="usr_1", limit=2)
    assert [e.seq for e in by_user.events] == [2, 4]
    more = query_events(ps, user_id="usr_1", limit=10, cursor=by_user.next_cursor)
    assert [e.seq for e in more.events] == [6, 8, 10]
    lo, hi = start + timedelta(minutes=3), start + timedelta(minutes=6)
    assert [e.seq for e in query_events(ps, start=lo, end=hi).events] == [4, 5, 6]
    assert [e.seq for e in query_events(ps, patient_id="pat_0", start=lo, end=hi).events] == [4]
    assert [e.seq for e in query_events(ps, user_id="usr_1", end=hi).events] == [2, 4, 6]
    assert query_events(ps, patient_id="pat_0", start=hi, end=lo).events == []
    assert [e.seq for e in query_events(ps, newest_first=True, limit=2).events] == [11, 10]
    settings_change = query_events(ps, start=start + timedelta(minutes=10)).events
    assert [(e.action, e.reason_code) for e in settings_change] == [
        (AUDIT_SETTINGS_CHANGED, "disabled")
    ]
    assert query_events(ps, start=start + timedelta(days=1)).events == []
    with pytest.raises(ValidationFailed):
        query_events(ps, patient_id="pat_0", user_id="usr_1")
    with pytest.raises(ValidationFailed):
        query_events(ps, patient_id="PAT#x|y")


# ---- export ----------------------------------------------------------------------------------


def test_export_and_verify_export(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, tmp_path: Path, signer: Any
) -> None:
    start = clock.now()
    for i in range(12):
        trail.record(
            ps,
            ev(
                i,
                outcome=Outcome.DENIED if i == 4 else Outcome.ALLOWED,
                user_agent="=cmd|' /C calc'!A0",
            ),
        )
        clock.advance(minutes=1)
    out = tmp_path / "export"
    manifest = export(
        ps, start + timedelta(minutes=2), start + timedelta(minutes=9), out, signer=signer
    )
    assert (manifest.count, manifest.first_seq, manifest.last_seq) == (7, 3, 9)
    assert manifest.prev_hash == query_events(ps, limit=2).events[1].hash
    assert [c.seq for c in manifest.checkpoints_in_range] == [5]
    assert manifest.latest_checkpoint is not None
    assert manifest.latest_checkpoint.seq == 10
    assert (manifest.head_seq, sorted(manifest.files)) == (
        12,
        [EVENTS_CSV, EVENTS_JSONL, "public_keys.json"],
    )
    assert "'=cmd" in (out / EVENTS_CSV).read_text()  # no spreadsheet formula
    report = verify_export(out, signer.public_keys())
    assert report.ok, report.summary()
    assert report.events_checked == 7


def test_verify_export_detects_edits_even_with_a_recomputed_manifest(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, tmp_path: Path, signer: Any
) -> None:
    append(trail, ps, clock, 8)
    out = tmp_path / "export"
    export(ps, None, None, out, signer=signer)
    lines = (out / EVENTS_JSONL).read_text().splitlines()
    lines[3] = lines[3].replace('"outcome":"allowed"', '"outcome":"denied"')
    (out / EVENTS_JSONL).write_text("\n".join(lines) + "\n")
    assert verify_export(out).first_problem is not None
    assert ("altered", 0) in [(p.kind, p.seq) for p in verify_export(out).problems]
    # an editor who also fixes the manifest's SHA-256 is still caught by the chain
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"][EVENTS_JSONL] = hashlib.sha256((out / EVENTS_JSONL).read_bytes()).hexdigest()
    (out / MANIFEST).write_text(json.dumps(manifest))
    kinds = [(p.kind, p.seq) for p in verify_export(out, signer.public_keys()).problems]
    assert kinds[0] == ("altered", 0)  # the CSV no longer agrees
    assert ("altered", 4) in kinds


def test_verify_export_detects_a_dropped_line(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, tmp_path: Path, signer: Any
) -> None:
    append(trail, ps, clock, 6)
    out = tmp_path / "export"
    export(ps, None, None, out, signer=signer)
    lines = (out / EVENTS_JSONL).read_text().splitlines()
    (out / EVENTS_JSONL).write_text("\n".join(lines[:-1]) + "\n")
    kinds = [p.kind for p in verify_export(out).problems]
    assert "truncated" in kinds


def test_export_refuses_a_non_empty_directory(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, tmp_path: Path, signer: Any
) -> None:
    append(trail, ps, clock, 2)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "old.txt").write_text("x")
    with pytest.raises(ValidationFailed):
        export(ps, None, None, tmp_path / "export", signer=signer)


def test_time_stamps_never_go_backwards_along_the_chain(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock
) -> None:
    first = trail.record(ps, ev(1))
    clock.advance(seconds=-30)  # a writer with a slow clock
    second = trail.record(ps, ev(2))
    assert second.time == first.time == to_rfc3339(clock.now() + timedelta(seconds=30))


# ---- forgery: nothing is ever signed or sealed over an unverified head ---------------------


def forge_from(tamper: Tamperer, ps: PracticeStore, first: int, last: int) -> str:
    """Rewrites events first..last as someone with table access but not the signing key
    would: new content, every hash and link recomputed. Returns the forged newest hash."""
    prev = ps.get(AUDIT_PK, event_sk(first - 1))
    prev_hash = prev["hash"] if prev else "0" * 64
    for seq in range(first, last + 1):

        def rewrite(item: Item, prev_hash: str = prev_hash) -> None:
            item["resource_id"] = "res_forged"
            item["prev_hash"] = prev_hash
            fields = {
                k: codec.number(v) if isinstance(v, Decimal) else v  # DynamoDB's numbers
                for k, v in item.items()
                if k not in LAYOUT_ATTRS and k != "hash"
            }
            item["hash"] = compute_hash(fields)

        tamper.edit(AUDIT_PK, event_sk(seq), rewrite)
        prev_hash = ps.get(AUDIT_PK, event_sk(seq))["hash"]  # type: ignore[index]
    return prev_hash


def refused(
    trail: AuditTrail,
    ps: PracticeStore,
    sink: LocalCheckpointSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Appending, recording a denial and sealing are all refused, and nothing moves."""
    before = ps.get(AUDIT_PK, HEAD_SK)
    sealed = [c.seq for c in sink.read(PRACTICE)]
    capsys.readouterr()
    with pytest.raises(AuditUnavailable):
        trail.record(ps, ev(100))
    with pytest.raises(AuditUnavailable):
        trail.write_with_audit(ps, lambda: [Put({"pk": "BIZ", "sk": "1"})], ev(101))
    with pytest.raises(AuditUnavailable):
        trail.checkpoint(ps)
    assert ps.get(AUDIT_PK, HEAD_SK) == before  # never re-signed
    assert ps.get("BIZ", "1") is None  # the change was not made without its event
    assert [c.seq for c in sink.read(PRACTICE)] == sealed  # never sealed
    # the failure is a metric (alarmed in template.yaml), once per refusal
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert [m["AuditChainUnverified"] for m in metrics] == [1, 1, 1]


def test_forged_events_with_a_stale_head_are_refused_never_signed_or_sealed(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    signer: Any,
    sink: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN events 6 and 7 (after the checkpoint at 5) rewritten with recomputed hashes,
    # and the head pointed at the forgery while keeping its old signature
    append(trail, ps, clock, 7)
    forged = forge_from(tamper, ps, 6, 7)
    tamper.edit(AUDIT_PK, HEAD_SK, lambda item: item.update(hash=forged))
    assert check(ps, signer, sink) == ("bad_head_signature", 7)
    # WHEN the next ordinary request and the hourly job come THEN both are refused
    refused(trail, ps, sink, capsys)
    # AND verify still says what it said right after the edit
    assert check(ps, signer, sink) == ("bad_head_signature", 7)


def test_forged_events_behind_an_untouched_head_are_refused(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    sink: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    append(trail, ps, clock, 7)
    forge_from(tamper, ps, 6, 7)  # the head still names the real newest hash
    refused(trail, ps, sink, capsys)


def test_the_newest_event_edited_in_place_is_refused(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    sink: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    append(trail, ps, clock, 7)
    tamper.edit(AUDIT_PK, event_sk(7), lambda item: item.update(resource_id="res_other"))
    refused(trail, ps, sink, capsys)


def test_the_newest_event_deleted_is_refused(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    sink: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    append(trail, ps, clock, 7)
    tamper.remove(AUDIT_PK, event_sk(7))
    refused(trail, ps, sink, capsys)


def test_a_head_signed_with_a_key_that_is_not_published_is_refused(
    trail: AuditTrail,
    ps: PracticeStore,
    clock: FixedClock,
    tamper: Tamperer,
    sink: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an attacker's own signing key (its public half is nowhere trusted)
    append(trail, ps, clock, 7)
    forged = forge_from(tamper, ps, 6, 7)
    mine = LocalCheckpointSigner(tmp_path / "attacker")
    head = read_head(ps)
    assert head is not None
    fields = head.model_dump(exclude={"key_id", "signature"}) | {"hash": forged}
    resigned = sign_head(mine, **fields)
    tamper.edit(AUDIT_PK, HEAD_SK, lambda item: item.update(resigned.model_dump(mode="json")))
    refused(trail, ps, sink, capsys)


def test_an_intact_chain_is_not_refused_and_pays_one_extra_read(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, store: Store
) -> None:
    append(trail, ps, clock, 3)
    store.calls.reset()
    trail.record(ps, ev(9))
    calls = store.calls.reset()
    assert calls["transact"] == 1
    assert calls["get"] == 2  # the head, and the newest event it names


# ---- history keeps verifying across model changes ---------------------------------------


class FutureEvent(ChainedEvent):
    """The event model as a later version might have it: one more defaulted field."""

    channel: str = "web"


def test_a_defaulted_field_added_to_the_model_does_not_change_history(
    trail: AuditTrail, ps: PracticeStore, clock: FixedClock, tmp_path: Path, signer: Any
) -> None:
    append(trail, ps, clock, 7)
    rows = [dict(r) for r in read_event_rows(ps, 1, 7)]
    # The old way — hashing today's model of the row — would call every event altered...
    assert not any(FutureEvent.model_validate(r).hash_is_valid() for r in rows)
    # ...hashing the stored fields keeps the whole chain intact under the new model.
    walker = ChainWalker(model=FutureEvent)
    for row in rows:
        walker.feed(row)
    assert walker.problems == []
    assert walker.count == 7
    # And an export written today verifies the same way.
    out = tmp_path / "export"
    export(ps, None, None, out, clock=clock, signer=signer)
    assert json.loads((out / EVENTS_JSONL).read_text().splitlines()[0]) == rows[0]
    assert verify_export(out).ok
