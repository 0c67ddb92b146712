"""The scheduled export of every practice's audit trail to the write-once archive.

Each run appends, per practice and per shard (tpm.security.audit), one segment holding
every event of that shard since its last segment:

  <practice id>/<first seq:012d>-<last seq:012d>/events.jsonl          (shard 0)
                                                /events.csv
                                                /public_keys.json
                                                /manifest.json   (signed; written last)
  <practice id>/s<shard:02d>/<first seq:012d>-<last seq:012d>/...      (shards 1..)

in the archive (tpm.adapters.archive: Object Lock COMPLIANCE in the audit export bucket,
kept the practice's audit `retention_years`, at least 6). A segment is an export
(tpm.services.audit_export), so `tpm audit verify-export` checks it offline, and
consecutive segments of a shard join: each starts at the seq after the one before and its
`prev_hash` is the one before's last hash. The practice keeps a cursor row per shard
(`AUDIT_ARCHIVE` / `CURSOR`, `CURSOR#<shard:02d>`: last seq and hash archived) written
with the segment's audit event (`audit.archive`, system actor) in one transaction.

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
from typing import NoReturn

from tpm.adapters.store.base import Absent, PracticeStore, Put, VersionIs
from tpm.errors import IntegrityError
from tpm.runtime import Runtime
from tpm.security.audit_chain import GENESIS_HASH, AuditEvent, ChainWalker
from tpm.security.audit_layout import read_head, shard_count
from tpm.security.principal import SystemActor
from tpm.services.agreements import AgreementGuard
from tpm.services.audit_export import (
    DATA_FILES,
    EVENTS_JSONL,
    MANIFEST,
    ExportBundle,
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
    key: str  # <practice>/[s<shard>/]<first>-<last>
    first_seq: int
    last_seq: int
    count: int
    shard: int = 0


@dataclass(frozen=True)
class Cursor:
    last_seq: int
    last_hash: str
    version: int


def cursor_key(shard: int) -> tuple[str, str]:
    return CURSOR if shard == 0 else (CURSOR[0], f"{CURSOR[1]}#{shard:02d}")


def read_cursor(store: PracticeStore, shard: int = 0) -> Cursor:
    item = store.get(*cursor_key(shard))
    if item is None:
        return Cursor(0, GENESIS_HASH, 0)
    return Cursor(int(item["last_seq"]), str(item["last_hash"]), int(item["version"]))


def segment_prefix(practice_id: str, first: int, last: int, shard: int = 0) -> str:
    folder = practice_id if shard == 0 else f"{practice_id}/s{shard:02d}"
    return f"{folder}/{first:012d}-{last:012d}"


def retain_until(now: datetime, years: int) -> datetime:
    try:
        return now.replace(year=now.year + years)
    except ValueError:  # 29 February
        return now.replace(year=now.year + years, day=28)


def archive_practice(runtime: Runtime, practice_id: str, actor: SystemActor) -> list[Segment]:
    """Archives every event not archived yet (one or more segments per shard)."""
    store = runtime.store.practice(practice_id)
    practice = get_practice(runtime.store, practice_id)
    guard = AgreementGuard(runtime, store, actor)
    keep_until = retain_until(runtime.clock.now(), practice.settings.audit.retention_years)
    shards = shard_count(store)
    segments: list[Segment] = []
    for shard in range(shards):
        head = read_head(store, shard)
        # Up to the head as it is now: each segment's own audit event goes into the next run.
        end = head.seq if head is not None else 0
        while (cursor := read_cursor(store, shard)).last_seq < end:
            first = cursor.last_seq + 1
            last = min(end, cursor.last_seq + MAX_SEGMENT_EVENTS)
            bundle = build_export(
                store,
                (first, last),
                signer=runtime.audit.signer,
                clock=runtime.clock,
                shard=shard,
                shards=shards,
            )
            manifest = _checked(runtime, store, actor, bundle, cursor, shard, (first, last))
            prefix = segment_prefix(practice_id, first, last, shard)
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
            segments.append(Segment(prefix, first, last, manifest.count, shard))
    return segments


def _checked(
    runtime: Runtime,
    store: PracticeStore,
    actor: SystemActor,
    bundle: ExportBundle,
    cursor: Cursor,
    shard: int,
    seqs: tuple[int, int],
) -> ExportManifest:
    """The segment's manifest, once its events are whole and join what was archived."""
    first, last = seqs
    manifest = bundle.manifest
    if (
        manifest.first_seq != first
        or manifest.last_seq != last
        or manifest.count != (last - first + 1)
    ):
        _broken(runtime, store, actor, first, "events are missing from the chain", shard)
    if manifest.prev_hash != cursor.last_hash:
        _broken(runtime, store, actor, first, "the chain no longer joins the archive", shard)
    walker = ChainWalker(expected_seq=first, prev_hash=cursor.last_hash, shard=shard)
    walk_lines(walker, bundle.files[EVENTS_JSONL].decode("utf-8").splitlines())
    if walker.problems:
        bad = walker.problems[0]
        _broken(runtime, store, actor, bad.seq, f"{bad.kind}: {bad.detail}", shard)
    return manifest


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
    pk, sk = cursor_key(manifest.shard)
    row = {
        "pk": pk,
        "sk": sk,
        "last_seq": manifest.last_seq,
        "last_hash": manifest.last_hash,
        "version": cursor.version + 1,
    }
    condition = VersionIs(cursor.version) if cursor.version else Absent()
    event = AuditEvent.for_system(
        actor,
        action=ARCHIVED,
        resource_kind="audit_event",
        resource_id=_where(manifest.shard, f"seq:{manifest.first_seq}-{manifest.last_seq}"),
        reason_code="archived",
    )
    runtime.audit.write_with_audit(store, lambda: [Put(row, condition)], event)


def _where(shard: int, seqs: str) -> str:
    return seqs if shard == 0 else f"shard:{shard}:{seqs}"


def _broken(
    runtime: Runtime,
    store: PracticeStore,
    actor: SystemActor,
    seq: int,
    what: str,
    shard: int = 0,
) -> NoReturn:
    from tpm.domain.incidents import IncidentSource
    from tpm.services.incidents import open_incident

    open_incident(
        runtime,
        store,
        actor,
        source=IncidentSource.AUDIT_VERIFICATION,
        summary=f"Audit archive stopped at {_where(shard, f'seq {seq}')}: {what}",
        details="Run `tpm audit verify` and compare with the archived segments"
        " (docs/operations.md, 'When tpm audit verify fails').",
        reference=_where(shard, f"seq:{seq}"),
        dedupe_key=f"audit-archive:{seq}" if shard == 0 else f"audit-archive:{shard}:{seq}",
    )
    raise IntegrityError(f"audit archive stopped at {_where(shard, f'seq {seq}')}")
