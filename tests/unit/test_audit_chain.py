"""The audit event model, the hash chain rules and the signed records, without a store."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tpm.errors import IntegrityError
from tpm.security.audit_chain import (
    GENESIS_HASH,
    AuditEvent,
    AuditSettings,
    ChainedEvent,
    ChainWalker,
    Outcome,
    canonical_bytes,
    chain,
    compute_hash,
    safe_id,
)
from tpm.security.audit_checkpoints import (
    LocalCheckpointSigner,
    LocalCheckpointSink,
    load_public_keys,
    sign_checkpoint,
    sign_head,
    signature_ok,
)
from tpm.security.principal import Principal, Role, SystemActor

PRACTICE = "prac_1"


def event(n: int = 0, **overrides: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "practice_id": PRACTICE,
        "actor_kind": "user",
        "actor_id": "usr_1",
        "roles": ("clinician",),
        "action": "patient.read",
        "resource_kind": "patient",
        "resource_id": f"pat_{n}",
        "patient_id": f"pat_{n}",
    }
    return AuditEvent(**(fields | overrides))


def build_chain(n: int) -> list[ChainedEvent]:
    events: list[ChainedEvent] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        ev = chain(event(seq), seq=seq, time=f"2030-01-01T00:00:{seq:02d}.000Z", prev_hash=prev)
        events.append(ev)
        prev = ev.hash
    return events


def rows(events: list[ChainedEvent]) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json") for e in events]


def walk(data: list[dict[str, Any]]) -> ChainWalker:
    walker = ChainWalker()
    for row in data:
        walker.feed(row, key_seq=row.get("seq"))
    return walker


# ---- the event model -------------------------------------------------------------------------


def test_event_from_principal_carries_who_where_and_request() -> None:
    principal = Principal(
        user_id="usr_9",
        practice_id=PRACTICE,
        roles=frozenset({Role.SUPERVISOR, Role.CLINICIAN}),
        session_id="ses_1",
        auth_time=datetime(2030, 1, 1, tzinfo=UTC),
        mfa_authenticated=True,
        source_ip="203.0.113.7",
        user_agent="Mozilla/5.0",
        request_id="req-1",
    )
    ev = AuditEvent.for_principal(
        principal, action="note.read", resource_kind="note", resource_id="not_1", patient_id="p1"
    )
    assert (ev.actor_kind, ev.actor_id, ev.roles) == ("user", "usr_9", ("clinician", "supervisor"))
    assert (ev.source_ip, ev.user_agent, ev.request_id) == ("203.0.113.7", "Mozilla/5.0", "req-1")
    assert ev.event_id.startswith("aud_")
    assert ev.outcome is Outcome.ALLOWED
    assert ev.break_glass is False


def test_event_from_system_actor() -> None:
    actor = SystemActor(name="reminder-job", practice_id=PRACTICE, request_id="run-1")
    ev = AuditEvent.for_system(actor, action="reminder.send", resource_kind="appointment")
    assert (ev.actor_kind, ev.actor_id, ev.roles) == ("system", "reminder-job", ())


@pytest.mark.parametrize(
    "bad",
    [
        {"action": "Patient Read"},  # not a dotted code
        {"source_ip": "10.0.0.1; DROP TABLE"},
        {"reason_code": "patient said she was suicidal"},  # free text could be PHI
        {"outcome": "maybe"},
        {"diagnosis": "F32.1"},  # no room for extra (PHI) fields
    ],
)
def test_event_rejects_free_text_and_unknown_fields(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        event(**bad)


@pytest.mark.parametrize(
    "bad",
    [
        {"patient_id": "Jane Doe"},  # ids only, never names
        {"resource_id": "PAT#x|y"},  # would break index keys
    ],
)
def test_a_malformed_id_is_recorded_as_a_digest_never_as_given(bad: dict[str, Any]) -> None:
    # A refused request may carry anything where an id belongs; the refusal must still be
    # recorded (a ValidationError here used to turn it into a 500 with no event).
    ((field, raw),) = bad.items()
    ev = event(**bad)
    assert getattr(ev, field) == safe_id(raw)
    assert raw not in ev.model_dump_json()
    assert safe_id(raw).startswith("invalid:")
    assert len(safe_id(raw)) == 40


def test_events_are_immutable() -> None:
    ev = event()
    with pytest.raises(ValidationError):
        ev.action = "patient.update"  # type: ignore[misc]


def test_retention_cannot_go_below_six_years_and_phi_access_is_always_recorded() -> None:
    with pytest.raises(ValidationError):
        AuditSettings(retention_years=5)
    quiet = AuditSettings(record_non_phi_reads=False)
    assert quiet.must_record(touches_phi=True, is_read=True)
    assert quiet.must_record(touches_phi=False, is_read=False)
    assert not quiet.must_record(touches_phi=False, is_read=True)


# ---- hashing ---------------------------------------------------------------------------------


def test_canonical_form_is_sorted_compact_utf8() -> None:
    assert canonical_bytes({"b": 1, "a": "é", "c": None}) == '{"a":"é","b":1,"c":null}'.encode()


def test_hash_covers_every_field_including_seq_and_prev_hash() -> None:
    ev = build_chain(1)[0]
    assert ev.hash == compute_hash(ev.hash_fields())
    assert ev.hash_is_valid()
    for change in (
        {"seq": 2},
        {"prev_hash": "1" * 64},
        {"time": "2030-01-01T00:00:02.000Z"},
        {"actor_id": "usr_2"},
        {"outcome": Outcome.DENIED},
        {"break_glass": True},
    ):
        assert not ev.model_copy(update=change).hash_is_valid(), change


def test_same_event_same_hash() -> None:
    ev = event()
    args: dict[str, Any] = {"seq": 1, "time": "2030-01-01T00:00:00.000Z", "prev_hash": GENESIS_HASH}
    assert chain(ev, **args).hash == chain(ev, **args).hash


# ---- walking a chain -------------------------------------------------------------------------


def test_intact_chain_has_no_problems() -> None:
    walker = walk(rows(build_chain(6)))
    assert (walker.problems, walker.count, walker.last_seq) == ([], 6, 6)


def test_altered_event_is_pinpointed() -> None:
    data = rows(build_chain(6))
    data[2]["action"] = "patient.delete"
    walker = walk(data)
    assert [(p.kind, p.seq) for p in walker.problems] == [("altered", 3)]


def test_missing_event_is_a_gap_at_its_seq() -> None:
    data = rows(build_chain(6))
    del data[3]
    assert [(p.kind, p.seq) for p in walk(data).problems] == [("gap", 4)]


def test_forged_replacement_breaks_the_link_to_the_next_event() -> None:
    events = build_chain(6)
    forged = chain(event(99), seq=3, time=events[2].time, prev_hash=events[1].hash)
    data = rows(events)
    data[2] = forged.model_dump(mode="json")
    assert [(p.kind, p.seq) for p in walk(data).problems] == [("chain_break", 4)]


def test_row_under_a_foreign_seq_is_reported_as_inserted() -> None:
    data = rows(build_chain(4))
    walker = ChainWalker()
    for row in data[:2]:
        walker.feed(row, key_seq=row["seq"])
    walker.feed(data[0], key_seq=3)  # a copy of event 1 stored as event 3
    assert ("inserted", 3) in [(p.kind, p.seq) for p in walker.problems]


def test_unparseable_row_is_reported_and_the_walk_continues() -> None:
    data = rows(build_chain(4))
    data[1] = {"seq": 2, "garbage": True}
    walker = walk(data)
    assert [(p.kind, p.seq) for p in walker.problems] == [("altered", 2)]
    assert walker.last_seq == 4


def test_time_going_backwards_is_a_chain_break() -> None:
    events = build_chain(2)
    third = chain(event(3), seq=3, time="2029-12-31T00:00:00.000Z", prev_hash=events[1].hash)
    walker = walk(rows([*events, third]))
    assert [(p.kind, p.seq) for p in walker.problems] == [("chain_break", 3)]


# ---- signatures, the key file and the sink -----------------------------------------------------


def test_signer_key_file_is_private_and_reused(tmp_path: Path) -> None:
    first = LocalCheckpointSigner(tmp_path / "keys")
    again = LocalCheckpointSigner(tmp_path / "keys")
    assert first.key_id == again.key_id
    private = tmp_path / "keys" / "audit-ed25519.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert list(load_public_keys(tmp_path / "keys")) == [first.key_id]


def _head(signer: LocalCheckpointSigner, **changes: Any) -> Any:
    fields: dict[str, Any] = {
        "practice_id": PRACTICE,
        "seq": 3,
        "hash": "a" * 64,
        "time": "2030-01-01T00:00:00.000Z",
        "version": 3,
    }
    return sign_head(signer, **(fields | changes))


def test_head_signature_detects_edits_and_foreign_keys(tmp_path: Path) -> None:
    signer = LocalCheckpointSigner(tmp_path / "a")
    keys = signer.public_keys()
    head = _head(signer)
    assert signature_ok(head, keys)
    assert not signature_ok(head.model_copy(update={"seq": 2}), keys)
    assert not signature_ok(head.model_copy(update={"signature": "!!"}), keys)
    other = LocalCheckpointSigner(tmp_path / "b")
    assert not signature_ok(_head(other), keys)  # unknown key id
    forged = _head(other).model_copy(update={"key_id": signer.key_id})
    assert not signature_ok(forged, keys)


def test_head_signature_cannot_be_replayed_as_a_checkpoint(tmp_path: Path) -> None:
    signer = LocalCheckpointSigner(tmp_path)
    cp = sign_checkpoint(
        signer,
        practice_id=PRACTICE,
        seq=3,
        hash="a" * 64,
        time="2030-01-01T00:00:00.000Z",
        prev_checkpoint_hash=GENESIS_HASH,
    )
    assert signature_ok(cp, signer.public_keys())
    head = _head(signer)
    assert not signature_ok(
        cp.model_copy(update={"signature": head.signature}), signer.public_keys()
    )


def test_sink_appends_in_order_idempotently_and_refuses_rewrites(tmp_path: Path) -> None:
    signer = LocalCheckpointSigner(tmp_path / "keys")
    sink = LocalCheckpointSink(tmp_path / "sink")

    def cp(seq: int, h: str) -> Any:
        return sign_checkpoint(
            signer,
            practice_id=PRACTICE,
            seq=seq,
            hash=h * 64,
            time="2030-01-01T00:00:00.000Z",
            prev_checkpoint_hash=GENESIS_HASH,
        )

    sink.append(cp(5, "a"))
    sink.append(cp(5, "a"))  # a repeated publish is a no-op
    sink.append(cp(10, "b"))
    assert [c.seq for c in sink.read(PRACTICE)] == [5, 10]
    with pytest.raises(IntegrityError):
        sink.append(cp(5, "c"))  # a different statement about a sealed seq
    with pytest.raises(IntegrityError):
        sink.append(cp(7, "c"))  # out of order
    path = tmp_path / "sink" / f"{PRACTICE}.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [json.loads(line)["seq"] for line in path.read_text().splitlines()] == [5, 10]
    with pytest.raises(ValueError, match="file name"):
        sink.read("../etc")
