"""The scheduled export of every practice's audit trail to the write-once archive.

Each run appends one segment per practice holding every event since the last segment:

  <practice id>/<first seq:012d>-<last seq:012d>/events.jsonl
                                                /events.csv
                                                /public_keys.json
                                                /manifest.json   (signed; written last)

in the archive (tpm.adapters.archive: Object Lock COMPLIANCE in the audit export bucket,
kept the practice's audit `retention_years`, at least 6). A segment is an export
(tpm.services.audit_export), so `tpm audit verify-export` checks it offline, and
consecutive segments join: each starts at the seq after the one before and its
`prev_hash` is the one before's last hash. The practice keeps a cursor row
(`AUDIT_ARCHIVE` / `CURSOR`: last seq and hash archived) written with the run's audit
event (`audit.archive`, system actor) in one transaction.

Before archiving, the new events are checked to join the cursor: if the chain no longer
agrees with what was archived, nothing is archived and an incident is opened
(source `audit_verification`), once per break.

Crash safety: data files are deterministic for a seq range, so a run that died after
writing some of them finds identical bytes and carries on; a manifest already present for
the same range is adopted if it matches the chain. Nothing in the archive is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tpm.adapters.store.base import Absent, PracticeStore, Put, VersionIs
from tpm.errors import IntegrityError
from tpm.runtime import Runtime
from tpm.security.audit import read_head
from tpm.security.audit_chain import GENESIS_HASH, AuditEvent, ChainWalker
from tpm.security.principal import SystemActor
from tpm.services.agreements import AgreementGuard
from tpm.services.audit_export import (
    DATA_FILES,
    EVENTS_JSONL,
    MANIFEST,
    ExportManifest,
    build_export,
    walk_lines,
)
from tpm.services.practices import get_practice

CURSOR = ("AUDIT_ARCHIVE", "CURSOR")
ARCHIVED = "audit.archive"
MAX_SEGMENT_EVENTS = 50_000  # bounds a run's memory; a backlog takes several segments


@dataclass(frozen=True)
class Segment:
    key: str  # <practice>/<first>-<last>
    first_seq: int
    last_seq: int
    count: int


@dataclass(frozen=True)
class Cursor:
    last_seq: int
    last_hash: str
    version: int


def read_cursor(store: PracticeStore) -> Cursor:
    item = store.get(*CURSOR)
    if item is None:
        return Cursor(0, GENESIS_HASH, 0)
    return Cursor(int(item["last_seq"]), str(item["last_hash"]), int(item["version"]))


def segment_prefix(practice_id: str, first: int, last: int) -> str:
    return f"{practice_id}/{first:012d}-{last:012d}"


def retain_until(now: datetime, years: int) -> datetime:
    try:
        return now.replace(year=now.year + years)
    except ValueError:  # 29 February
        return now.replace(year=now.year + years, day=28)


def archive_practice(runtime: Runtime, practice_id: str, actor: SystemActor) -> list[Segment]:
    """Archives every event not archived yet (one or more segments)."""
    store = runtime.store.practice(practice_id)
    practice = get_practice(runtime.store, practice_id)
    guard = AgreementGuard(runtime, store, actor)
    keep_until = retain_until(runtime.clock.now(), practice.settings.audit.retention_years)
    segments: list[Segment] = []
    head = read_head(store)
    # Up to the head as it is now: each segment's own audit event goes into the next run.
    end = head.seq if head is not None else 0
    while True:
        cursor = read_cursor(store)
        if cursor.last_seq >= end:
            return segments
        first = cursor.last_seq + 1
        last = min(end, cursor.last_seq + MAX_SEGMENT_EVENTS)
        bundle = build_export(
            store, (first, last), signer=runtime.audit.signer, clock=runtime.clock
        )
        manifest = bundle.manifest
        if (
            manifest.first_seq != first
            or manifest.last_seq != last
            or manifest.count != (last - first + 1)
        ):
            _broken(runtime, store, actor, first, "events are missing from the chain")
        if manifest.prev_hash != cursor.last_hash:
            _broken(runtime, store, actor, first, "the chain no longer joins the archive")
        walker = ChainWalker(expected_seq=first, prev_hash=cursor.last_hash)
        walk_lines(walker, bundle.files[EVENTS_JSONL].decode("utf-8").splitlines())
        if walker.problems:
            bad = walker.problems[0]
            _broken(runtime, store, actor, bad.seq, f"{bad.kind}: {bad.detail}")
        prefix = segment_prefix(practice_id, first, last)
        for name in DATA_FILES:
            key = f"{prefix}/{name}"
            if (
                not runtime.archive.put(
                    key, bundle.files[name], retain_until=keep_until, guard=guard
                )
                and runtime.archive.get(key) != bundle.files[name]
            ):
                raise IntegrityError("an archived file differs from the chain it claims")
        manifest_key = f"{prefix}/{MANIFEST}"
        if not runtime.archive.put(
            manifest_key, bundle.files[MANIFEST], retain_until=keep_until, guard=guard
        ):
            manifest = _adopt(runtime.archive.get(manifest_key), manifest)
        _advance(runtime, store, actor, cursor, manifest)
        segments.append(Segment(prefix, first, last, manifest.count))


def _adopt(stored: bytes, fresh: ExportManifest) -> ExportManifest:
    """A manifest left by a run that died before moving the cursor: the same range and
    hashes, or the archive disagrees with the chain."""
    existing = ExportManifest.model_validate_json(stored)
    same = ("first_seq", "last_seq", "count", "prev_hash", "last_hash", "files")
    if any(getattr(existing, f) != getattr(fresh, f) for f in same):
        raise IntegrityError("an archived manifest differs from the chain it claims")
    return existing


def _advance(
    runtime: Runtime,
    store: PracticeStore,
    actor: SystemActor,
    cursor: Cursor,
    manifest: ExportManifest,
) -> None:
    assert manifest.last_seq is not None
    assert manifest.last_hash is not None
    row = {
        "pk": CURSOR[0],
        "sk": CURSOR[1],
        "last_seq": manifest.last_seq,
        "last_hash": manifest.last_hash,
        "version": cursor.version + 1,
    }
    condition = VersionIs(cursor.version) if cursor.version else Absent()
    event = AuditEvent.for_system(
        actor,
        action=ARCHIVED,
        resource_kind="audit_event",
        resource_id=f"seq:{manifest.first_seq}-{manifest.last_seq}",
        reason_code="archived",
    )
    runtime.audit.write_with_audit(store, lambda: [Put(row, condition)], event)


def _broken(
    runtime: Runtime, store: PracticeStore, actor: SystemActor, seq: int, what: str
) -> None:
    from tpm.domain.incidents import IncidentSource
    from tpm.services.incidents import open_incident

    open_incident(
        runtime,
        store,
        actor,
        source=IncidentSource.AUDIT_VERIFICATION,
        summary=f"Audit archive stopped at seq {seq}: {what}",
        details="Run `tpm audit verify` and compare with the archived segments"
        " (docs/operations.md, 'When tpm audit verify fails').",
        reference=f"seq:{seq}",
        dedupe_key=f"audit-archive:{seq}",
    )
    raise IntegrityError(f"audit archive stopped at seq {seq}")
