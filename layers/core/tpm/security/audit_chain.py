"""The audit event model and the pure rules of the per-practice hash chain (no I/O).

Each event records who did what to which resource, never a PHI value: ids and codes only.
The chain: event N's `hash` is SHA-256 over the canonical form of every other field of
event N, including `seq` and `prev_hash` (= event N-1's hash; GENESIS_HASH for N = 1).
Canonical form = JSON with keys sorted by code point, no whitespace, UTF-8, no floats
(`canonical_bytes`). Anyone can re-check a chain with these two functions; the same
`ChainWalker` checks the store (tpm.security.audit) and an export (tpm.services.audit_export).

Retention: events are kept at least `AuditSettings.retention_years` (HIPAA: 6 years) and
nothing in tpm deletes them: there is no delete API and events never carry `expires_at`
(no TTL). Expiry beyond retention is an export + archival job, not a row deletion.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from tpm.ids import new_id
from tpm.security.principal import Principal, SystemActor

GENESIS_HASH = "0" * 64
MAX_SHARDS = 32  # chains per practice (tpm.security.audit)

# Actions about the audit trail itself. A change to any audit setting is recorded with
# AUDIT_SETTINGS_CHANGED (resource_id = the setting's name, reason_code = enabled/disabled/
# changed) in the same transaction as the settings write.
AUDIT_SETTINGS_CHANGED = "audit.settings.update"
AUDIT_EXPORTED = "audit.export"
AUDIT_VERIFIED = "audit.verify"
AUDIT_QUERIED = "audit.read"

_ID_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"  # no '#' or '|': ids go into index keys
_CODE_PATTERN = r"^[a-z0-9_]{1,64}$"
_SOURCE_TOKEN = re.compile(r"[A-Za-z0-9.:_-]{1,64}")
_SAFE_ID = re.compile(_ID_PATTERN[1:-1])
INVALID_ID_PREFIX = "invalid:"


def safe_id(raw: str) -> str:
    """How an id that is not a well-formed id appears in the trail: `invalid:<sha256/128>`
    of its UTF-8 bytes (lone surrogates escaped), never the value itself."""
    digest = hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return INVALID_ID_PREFIX + digest


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    ERROR = "error"


class AuditSettings(BaseModel):
    """The practice's audit settings. None of them can stop PHI access being recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    retention_years: int = Field(default=6, ge=6, le=100)
    checkpoint_every: int = Field(default=100, ge=1, le=10_000)
    # Reads that touch no PHI (e.g. free/busy views) may be left out of the trail.
    record_non_phi_reads: bool = True

    def must_record(self, *, touches_phi: bool, is_read: bool) -> bool:
        return touches_phi or not is_read or self.record_non_phi_reads


class AuditEvent(BaseModel):
    """What a caller describes; the trail adds seq, time and the chain hashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(default_factory=lambda: new_id("aud"), pattern=_ID_PATTERN)
    practice_id: str = Field(pattern=_ID_PATTERN)
    actor_kind: Literal["user", "system", "anonymous"]
    actor_id: str = Field(pattern=_ID_PATTERN)
    roles: tuple[str, ...] = ()
    action: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", max_length=64)
    resource_kind: str = Field(pattern=_CODE_PATTERN)
    resource_id: str = Field(default="", pattern=r"^[A-Za-z0-9_.:@-]{0,128}$")
    patient_id: str | None = Field(default=None, pattern=_ID_PATTERN)
    outcome: Outcome = Outcome.ALLOWED
    source_ip: str = ""
    user_agent: str = Field(default="", max_length=512)
    request_id: str = Field(default="", max_length=128)
    break_glass: bool = False
    reason_code: str | None = Field(default=None, pattern=_CODE_PATTERN)

    @field_validator("resource_id", "patient_id", mode="before")
    @classmethod
    def _safe_id(cls, v: Any) -> Any:
        # A refused request may carry any string where an id belongs (a path segment, a
        # body field). The refusal must still be recorded, and the raw value never is (it
        # may be anything, even PHI): it is kept as a digest an investigator can match.
        if isinstance(v, str) and v and not _SAFE_ID.fullmatch(v):
            return safe_id(v)
        return v

    @field_validator("roles")
    @classmethod
    def _sorted_roles(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(v)))

    @field_validator("source_ip")
    @classmethod
    def _ip(cls, v: str) -> str:
        # An address, or a short token a test client or proxy may give instead
        # ("testclient", "unknown"); never free text. Bad metadata must not block audit.
        if v and not _SOURCE_TOKEN.fullmatch(v):
            ipaddress.ip_address(v)  # ValueError -> ValidationError
        return v

    @classmethod
    def for_principal(cls, principal: Principal, **fields: Any) -> AuditEvent:
        """An event by a signed-in user; `fields` holds action, resource_kind, ...."""
        return cls(
            practice_id=principal.practice_id,
            actor_kind="user",
            actor_id=principal.user_id,
            roles=tuple(r.value for r in principal.roles),
            source_ip=principal.source_ip,
            user_agent=principal.user_agent,
            request_id=principal.request_id,
            **fields,
        )

    @classmethod
    def for_system(cls, actor: SystemActor, **fields: Any) -> AuditEvent:
        return cls(
            practice_id=actor.practice_id,
            actor_kind="system",
            actor_id=actor.name,
            request_id=actor.request_id,
            **fields,
        )


class ChainedEvent(AuditEvent):
    """An event as stored: its place in the chain (shard and seq) and its hash. Events of
    shard 0 do not store `shard` (as before shards existed); the others do, so the hash
    covers which chain an event belongs to and an event moved to another shard shows."""

    shard: int = Field(default=0, ge=0, lt=MAX_SHARDS)
    seq: int = Field(ge=1)
    time: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # UTC, sortable
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")

    @model_serializer(mode="wrap")
    def _omit_shard_zero(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("shard") == 0:
            del data["shard"]
        return data

    def hash_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.stored_fields().items() if k != "hash"}

    def stored_fields(self) -> dict[str, Any]:
        """The fields as stored (and exported): the hash covers exactly these."""
        return self.model_dump(mode="json")

    def hash_is_valid(self) -> bool:
        return compute_hash(self.hash_fields()) == self.hash


def canonical_bytes(value: Mapping[str, Any]) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def compute_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


def stored_hash_ok(stored: Mapping[str, Any]) -> bool:
    """Whether a stored event's fields (as stored: no index keys) hash to its `hash`.

    The hash is over exactly the fields the row holds, never over a model's idea of
    them: a field added to the model later (with a default) is not in old rows, so it
    cannot change their hash, and history keeps verifying across model changes."""
    claimed = stored.get("hash")
    fields = {k: v for k, v in stored.items() if k != "hash"}
    try:
        return isinstance(claimed, str) and compute_hash(fields) == claimed
    except (TypeError, ValueError):  # a value canonical JSON refuses (NaN, bytes): altered
        return False


def chain(
    event: AuditEvent, *, seq: int, time: str, prev_hash: str, shard: int = 0
) -> ChainedEvent:
    fields = event.model_dump(mode="json") | {"seq": seq, "time": time, "prev_hash": prev_hash}
    if shard:
        fields["shard"] = shard
    return ChainedEvent.model_validate(fields | {"hash": compute_hash(fields)})


# ---- checking a chain -----------------------------------------------------------------------

ProblemKind = Literal[
    "altered",  # an event's content no longer matches its hash (or its index keys)
    "gap",  # an event is missing: seq is where the first missing one belongs
    "inserted",  # an event that the chain or head does not account for
    "chain_break",  # an event does not link to the one before it (a forged replacement)
    "missing_head",  # events exist but the signed head row does not
    "bad_head_signature",  # the head row was edited without the signing key
    "head_mismatch",  # the head's seq/hash disagree with the last event
    "bad_checkpoint_signature",
    "checkpoint_mismatch",  # a signed checkpoint disagrees with the chain or another copy
    "truncated",  # the newest events were cut off (head or a checkpoint shows more)
]


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    seq: int
    detail: str
    shard: int = 0  # which of the practice's chains (0 when there is one)

    @property
    def where(self) -> str:
        return f"shard {self.shard} seq {self.seq}" if self.shard else f"seq {self.seq}"


@dataclass
class ChainWalker:
    """Feeds events in seq order and records problems; resynchronises after each one so
    a single report shows every damaged place, the first one first."""

    expected_seq: int = 1
    prev_hash: str | None = GENESIS_HASH
    prev_time: str = ""
    count: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    problems: list[Problem] = field(default_factory=list)
    hashes_at: dict[int, str] = field(default_factory=dict)  # filled for `wanted` seqs
    wanted: frozenset[int] = frozenset()
    model: type[ChainedEvent] = ChainedEvent  # how rows are parsed (not how they hash)
    shard: int = 0  # the chain being walked: every event must say it belongs to it

    def feed(self, data: Mapping[str, Any], key_seq: int | None = None) -> ChainedEvent | None:
        """`data` is the event as stored (or exported): its hash is checked over exactly
        those fields (`stored_hash_ok`), then it is parsed with `model` for the rest."""
        where = key_seq if key_seq is not None else self.expected_seq
        try:
            event = self.model.model_validate(dict(data))
        except ValidationError:
            self._problem("altered", where, "event row does not parse as an audit event")
            self.expected_seq, self.prev_hash = where + 1, None
            return None
        self.count += 1
        if key_seq is not None and key_seq != event.seq:
            self._problem("inserted", key_seq, "row is stored under a seq it does not carry")
        if not stored_hash_ok(data):
            self._problem("altered", event.seq, "event content does not match its hash")
        if event.shard != self.shard:
            self._problem("inserted", event.seq, f"event of shard {event.shard} in this shard")
        if event.seq > self.expected_seq:
            self._problem("gap", self.expected_seq, f"events up to {event.seq - 1} missing")
        elif event.seq < self.expected_seq:
            self._problem("inserted", event.seq, "seq repeats or goes backwards")
        elif self.prev_hash is not None and event.prev_hash != self.prev_hash:
            self._problem("chain_break", event.seq, "event does not link to the previous one")
        elif event.time < self.prev_time:
            self._problem("chain_break", event.seq, "event time goes backwards")
        if event.seq in self.wanted:
            self.hashes_at[event.seq] = event.hash
        self.expected_seq, self.prev_hash, self.prev_time = event.seq + 1, event.hash, event.time
        self.last_seq, self.last_hash = event.seq, event.hash
        return event

    def _problem(self, kind: ProblemKind, seq: int, detail: str) -> None:
        if len(self.problems) < 1000:  # a wrecked chain should not exhaust memory
            self.problems.append(Problem(kind, seq, detail, self.shard))


@dataclass
class VerifyReport:
    """The outcome of checking a chain (store or export). `problems` are ordered by seq,
    so `first_problem` is the earliest damaged place."""

    events_checked: int = 0
    last_seq: int = 0
    head_seq: int | None = None
    checkpoints_checked: int = 0
    sealed_checkpoints_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    shards: int = 1  # chains checked; with several, last_seq and head_seq are sums
    # Spans lost to a point-in-time restore that an operator acknowledged (signed,
    # write-once; tpm.security.audit_restores): said explicitly, never a silent "intact".
    acknowledged_restores: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def status(self) -> str:
        if self.problems:
            return "failed"
        return "intact_with_acknowledged_restores" if self.acknowledged_restores else "intact"

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def as_dict(self) -> dict[str, Any]:
        """For `--json` CLI output and the scheduled job's alert (ids and counts only)."""
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "last_seq": self.last_seq,
            "head_seq": self.head_seq,
            "checkpoints_checked": self.checkpoints_checked,
            "sealed_checkpoints_checked": self.sealed_checkpoints_checked,
            "shards": self.shards,
            "first_problem": _problem_dict(self.problems[0]) if self.problems else None,
            "problem_count": len(self.problems),
            "status": self.status,
            "acknowledged_restores": self.acknowledged_restores,
        }

    def summary(self) -> str:
        counts = (
            f"{self.events_checked} events, {self.checkpoints_checked} checkpoints,"
            f" {self.sealed_checkpoints_checked} sealed checkpoints"
            + (f", {self.shards} shards" if self.shards > 1 else "")
        )
        first = self.first_problem
        if first is None and self.acknowledged_restores:
            spans = "; ".join(
                f"events {r['lost_from_seq']}-{r['lost_to_seq']} lost to the restore to"
                f" {r['restore_point']},"
                f" acknowledged by {r['acknowledged_by']} at {r['acknowledged_at']}"
                for r in self.acknowledged_restores
            )
            return (
                f"OK WITH ACKNOWLEDGED RESTORE: audit chain intact apart from {spans}"
                f" ({counts}; last seq {self.last_seq})"
            )
        if first is None:
            return f"OK: audit chain intact ({counts}; last seq {self.last_seq})"
        return (
            f"FAILED: {first.kind} at {first.where}: {first.detail}"
            f" ({len(self.problems)} problem(s); {counts})"
        )


def _problem_dict(problem: Problem) -> dict[str, Any]:
    data = asdict(problem)
    return data if problem.shard else {k: v for k, v in data.items() if k != "shard"}
