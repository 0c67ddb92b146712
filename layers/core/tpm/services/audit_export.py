"""Exporting a slice of a practice's audit trail for an auditor, and checking an export.

An export directory holds:
  events.jsonl   one event per line, canonical JSON (the exact bytes that were hashed,
                 plus the `hash` field); the authoritative copy
  events.csv     the same events for spreadsheets (roles joined with ","; a cell that
                 starts with = + - @ is prefixed with ' so it cannot run as a formula)
  manifest.json  count, first/last seq and hash, the chain hash just before the slice,
                 the head at export time, the latest checkpoint and every checkpoint inside
                 the slice, and the SHA-256 of each file

The manifest alone proves nothing (anyone can recompute SHA-256s); the trust anchors are
the Ed25519-signed checkpoints in it, which `verify_export` checks against the exported
events when given the public keys, and the live chain, which `verify` checks.
Recording the export itself (action AUDIT_EXPORTED) is the caller's job.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tpm.adapters.store.base import PracticeStore, iterate
from tpm.clock import Clock, SystemClock, to_rfc3339
from tpm.errors import ValidationFailed
from tpm.security.audit import (
    AUDIT_PK,
    checkpoint_sk,
    read_events,
    read_head,
    record_fields,
    seq_range,
)
from tpm.security.audit_chain import (
    ChainedEvent,
    ChainWalker,
    Problem,
    VerifyReport,
    canonical_bytes,
)
from tpm.security.audit_checkpoints import Checkpoint, PublicKeys, signature_ok

EXPORT_FORMAT = "tpm-audit-export-1"
EVENTS_JSONL, EVENTS_CSV, MANIFEST = "events.jsonl", "events.csv", "manifest.json"
CSV_COLUMNS: tuple[str, ...] = tuple(ChainedEvent.model_fields)


class ExportManifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = EXPORT_FORMAT
    practice_id: str
    start: str | None
    end: str | None
    exported_at: str
    count: int
    first_seq: int | None
    last_seq: int | None
    first_hash: str | None
    last_hash: str | None
    prev_hash: str | None  # the chain hash just before first_seq (GENESIS for seq 1)
    head_seq: int | None
    head_hash: str | None
    latest_checkpoint: Checkpoint | None
    checkpoints_in_range: list[Checkpoint]
    files: dict[str, str]  # file name -> SHA-256 hex


def export(
    store: PracticeStore,
    start: datetime | None,
    end: datetime | None,
    out_dir: str | Path,
    *,
    clock: Clock | None = None,
) -> ExportManifest:
    """Writes the events in [start, end) to a new directory (or an empty one)."""
    out = Path(out_dir)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ValidationFailed(fields=[{"path": "out_dir", "type": "not_empty"}])
    head = read_head(store)  # read before the events: the slice can only be older
    seqs = seq_range(store, start, end)
    events: Iterator[ChainedEvent] = read_events(store, *seqs) if seqs else iter(())
    summary, digests = _write_event_files(out, events)
    in_range: list[Checkpoint] = []
    if seqs:
        rows = iterate(store, AUDIT_PK, sk_between=(checkpoint_sk(seqs[0]), checkpoint_sk(seqs[1])))
        in_range = [Checkpoint.model_validate(record_fields(i)) for i in rows]
    latest = None
    if head and head.last_checkpoint_seq:
        item = store.get(AUDIT_PK, checkpoint_sk(head.last_checkpoint_seq))
        latest = Checkpoint.model_validate(record_fields(item)) if item else None
    manifest = ExportManifest(
        practice_id=store.practice_id,
        start=to_rfc3339(start) if start else None,
        end=to_rfc3339(end) if end else None,
        exported_at=to_rfc3339((clock or SystemClock()).now()),
        head_seq=head.seq if head else None,
        head_hash=head.hash if head else None,
        latest_checkpoint=latest,
        checkpoints_in_range=in_range,
        files=digests,
        **summary,
    )
    _write_new(out / MANIFEST, manifest.model_dump_json(indent=2).encode() + b"\n")
    return manifest


def verify_export(directory: str | Path, public_keys: PublicKeys | None = None) -> VerifyReport:
    """Re-checks file hashes, the internal chain of the slice, the CSV against the JSON
    Lines, and (with `public_keys`) the signatures of the checkpoints in the manifest."""
    root = Path(directory)
    try:
        manifest = ExportManifest.model_validate_json((root / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return VerifyReport(problems=[Problem("altered", 0, "manifest missing or unreadable")])
    problems: list[Problem] = []
    if set(manifest.files) != {EVENTS_JSONL, EVENTS_CSV}:
        problems.append(Problem("altered", 0, "manifest lists unexpected files"))
    for name, digest in manifest.files.items():
        path = root / name
        if not path.is_file() or _sha256(path) != digest:
            problems.append(Problem("altered", 0, f"{name} does not match the manifest"))

    if not (root / EVENTS_JSONL).is_file() or not (root / EVENTS_CSV).is_file():
        return VerifyReport(problems=problems)
    cps = manifest.checkpoints_in_range
    walker = ChainWalker(
        expected_seq=manifest.first_seq or 1,
        prev_hash=manifest.prev_hash,
        wanted=frozenset(c.seq for c in cps),
    )
    expected_rows: list[list[str]] = []
    with (root / EVENTS_JSONL).open(encoding="utf-8") as f:
        for line in f:
            try:
                data = json.loads(line)
            except ValueError:
                data = {}
            event = walker.feed(data)
            if event is not None:
                expected_rows.append(_csv_row(event))
    problems.extend(walker.problems)
    _check_totals(manifest, walker, problems)
    with (root / EVENTS_CSV).open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(rows[0]) != CSV_COLUMNS or rows[1:] != expected_rows:
        problems.append(Problem("altered", 0, "events.csv differs from events.jsonl"))
    if public_keys is not None:
        extra = [manifest.latest_checkpoint] if manifest.latest_checkpoint else []
        for cp in [*cps, *extra]:
            if cp.practice_id != manifest.practice_id or not signature_ok(cp, public_keys):
                problems.append(Problem("bad_checkpoint_signature", cp.seq, "not valid"))
    for cp in cps:
        if walker.hashes_at.get(cp.seq) != cp.hash:
            problems.append(Problem("checkpoint_mismatch", cp.seq, "chain hash differs"))
    problems.sort(key=lambda p: p.seq)
    return VerifyReport(
        events_checked=walker.count,
        last_seq=walker.last_seq,
        head_seq=manifest.head_seq,
        checkpoints_checked=len(cps),
        problems=problems,
    )


def _check_totals(manifest: ExportManifest, walker: ChainWalker, problems: list[Problem]) -> None:
    if walker.count < manifest.count or walker.last_seq < (manifest.last_seq or 0):
        problems.append(Problem("truncated", walker.last_seq + 1, "fewer events than manifest"))
    elif walker.count > manifest.count:
        problems.append(Problem("inserted", walker.last_seq, "more events than manifest"))
    elif manifest.count and walker.last_hash != manifest.last_hash:
        problems.append(Problem("altered", walker.last_seq, "last hash differs from manifest"))


def _write_event_files(
    out: Path, events: Iterator[ChainedEvent]
) -> tuple[dict[str, Any], dict[str, str]]:
    jsonl_hash, csv_hash = hashlib.sha256(), hashlib.sha256()
    first: ChainedEvent | None = None
    last: ChainedEvent | None = None
    count = 0
    with _open_new(out / EVENTS_JSONL) as jf, _open_new(out / EVENTS_CSV) as cf:
        header = _csv_bytes(list(CSV_COLUMNS))
        cf.write(header)
        csv_hash.update(header)
        for event in events:
            line = canonical_bytes(event.model_dump(mode="json")) + b"\n"
            row = _csv_bytes(_csv_row(event))
            jf.write(line)
            cf.write(row)
            jsonl_hash.update(line)
            csv_hash.update(row)
            first = first or event
            last = event
            count += 1
        for f in (jf, cf):
            f.flush()
            os.fsync(f.fileno())
    summary = {
        "count": count,
        "first_seq": first.seq if first else None,
        "last_seq": last.seq if last else None,
        "first_hash": first.hash if first else None,
        "last_hash": last.hash if last else None,
        "prev_hash": first.prev_hash if first else None,
    }
    return summary, {EVENTS_JSONL: jsonl_hash.hexdigest(), EVENTS_CSV: csv_hash.hexdigest()}


def _csv_row(event: ChainedEvent) -> list[str]:
    data = event.model_dump(mode="json")
    return [_csv_cell(data[column]) for column in CSV_COLUMNS]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = ",".join(value)
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_bytes(row: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue().encode("utf-8")


def _open_new(path: Path) -> io.BufferedWriter:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _write_new(path: Path, data: bytes) -> None:
    with _open_new(path) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()
