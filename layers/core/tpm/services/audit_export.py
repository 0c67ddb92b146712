"""Exporting a slice of a practice's audit trail for an auditor, and checking an export
offline (no database, no keys but the public ones).

An export (a directory, or one segment of the write-once archive) holds:
  events.jsonl      one event per line, canonical JSON (the exact bytes that were hashed,
                    plus the `hash` field); the authoritative copy
  events.csv        the same events for spreadsheets (roles joined with ","; a cell that
                    starts with = + - @ is prefixed with ' so it cannot run as a formula)
  public_keys.json  every audit signing public key (key id -> PEM)
  manifest.json     count, first/last seq and hash, the chain hash just before the slice,
                    the head at export time, the latest checkpoint and every checkpoint
                    inside the slice, the SHA-256 of each other file, and an Ed25519
                    signature over all of that by the practice's audit signing key

`verify_export(dir)` re-checks, without the database: each file against its SHA-256, the
manifest's signature, the hash chain of the events (each hash, each link to the one
before, from the manifest's `prev_hash`), the count and last hash against the manifest
(a truncated or padded file), the CSV against the JSON Lines, and the signature of every
checkpoint against the events it covers. An edited, deleted, inserted or cut-off event
shows, and so does an edited manifest: only the signing key can make a consistent one.
The public keys travel with the export; pass `trusted` (keys obtained another way, e.g.
the fingerprints published in the archive or printed by `tpm audit keys`) so a forger who
replaced public_keys.json is caught too. `verify_exports(dirs)` also checks that
consecutive segments join (the archive). Recording an export (AUDIT_EXPORTED) is the
caller's job.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import itertools
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict

from tpm.adapters.store.base import PracticeStore, iterate
from tpm.clock import Clock, SystemClock, to_rfc3339
from tpm.errors import ValidationFailed
from tpm.security.audit_chain import (
    ChainedEvent,
    ChainWalker,
    Problem,
    VerifyReport,
    canonical_bytes,
)
from tpm.security.audit_checkpoints import (
    ChainHead,
    Checkpoint,
    CheckpointSigner,
    PublicKeys,
    key_id_for,
    signature_ok,
)
from tpm.security.audit_layout import (
    AUDIT_PK,
    MAX_SEQ,
    checkpoint_sk,
    read_head,
    record_fields,
    shard_count,
)
from tpm.security.audit_query import read_event_rows, seq_range

EXPORT_FORMAT = "tpm-audit-export-2"
EVENTS_JSONL, EVENTS_CSV, MANIFEST = "events.jsonl", "events.csv", "manifest.json"
PUBLIC_KEYS = "public_keys.json"
DATA_FILES = (EVENTS_JSONL, EVENTS_CSV, PUBLIC_KEYS)
# The shard is the export's (manifest), not a column: CSVs keep the columns they had.
CSV_COLUMNS: tuple[str, ...] = tuple(f for f in ChainedEvent.model_fields if f != "shard")


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
    key_id: str = ""
    signature: str = ""
    # With several shards: which shard this is, how many the practice had, and the
    # export every shard's part belongs to (tpm.services.audit_export_sets).
    shard: int = 0
    shards: int = 1
    part_of: str | None = None

    def signed_fields(self) -> dict[str, Any]:
        # Sharding fields at their defaults are left out, so manifests signed before
        # shards existed still verify.
        data = self.model_dump(mode="json", exclude={"signature"})
        kept = {
            k: v for k, v in data.items() if k not in _SHARD_DEFAULTS or v != _SHARD_DEFAULTS[k]
        }
        return kept | {"type": "tpm.audit.export"}


_SHARD_DEFAULTS: dict[str, Any] = {"shard": 0, "shards": 1, "part_of": None}


def export(
    store: PracticeStore,
    start: datetime | None,
    end: datetime | None,
    out_dir: str | Path,
    *,
    signer: CheckpointSigner,
    clock: Clock | None = None,
    shard: int = 0,
    shards: int = 1,
    part_of: str | None = None,
) -> ExportManifest:
    """Writes the events in [start, end) to a new directory (or an empty one). A practice
    with several shards is exported with `audit_export_sets.export_all` (one directory
    per shard); this writes one shard's part (`shard`, of `shards`, in export `part_of`)."""
    out = Path(out_dir)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ValidationFailed(fields=[{"path": "out_dir", "type": "not_empty"}])
    if shards == 1 and shard_count(store) > 1:
        raise ValidationFailed(fields=[{"path": "out_dir", "type": "practice_has_shards"}])
    head = read_head(store, shard)  # read before the events: the slice can only be older
    seqs = seq_range(store, start, end, shard)
    bundle = build_export(
        store,
        seqs,
        signer=signer,
        clock=clock,
        head=head,
        start=start,
        end=end,
        shard=shard,
        shards=shards,
        part_of=part_of,
    )
    for name in (*DATA_FILES, MANIFEST):
        _write_new(out / name, bundle.files[name])
    return bundle.manifest


@dataclass(frozen=True)
class ExportBundle:
    """An export's files in memory (for the archive), with its manifest."""

    manifest: ExportManifest
    files: dict[str, bytes]


def build_export(
    store: PracticeStore,
    seqs: tuple[int, int] | None,
    *,
    signer: CheckpointSigner,
    clock: Clock | None = None,
    head: ChainHead | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    shard: int = 0,
    shards: int = 1,
    part_of: str | None = None,
) -> ExportBundle:
    """The files of an export of one shard's events seqs[0]..seqs[1] (none when `seqs` is
    None), with every checkpoint that commits that shard at a seq inside the slice."""
    head = head if head is not None else read_head(store, shard)
    rows: Iterator[dict[str, Any]] = read_event_rows(store, *seqs, shard) if seqs else iter(())
    summary, files = _event_files(rows)
    files[PUBLIC_KEYS] = _public_keys_json(signer)
    digests = {name: hashlib.sha256(files[name]).hexdigest() for name in DATA_FILES}
    in_range: list[Checkpoint] = []
    if seqs:
        # a checkpoint's number is the sum of the seqs it commits: never below this shard's
        last = checkpoint_sk(seqs[1] if shards == 1 else MAX_SEQ)
        items = iterate(store, AUDIT_PK, sk_between=(checkpoint_sk(seqs[0]), last))
        for row in items:
            cp = Checkpoint.model_validate(record_fields(row))
            mark = cp.marks().get(shard)
            if mark is not None and seqs[0] <= mark[0] <= seqs[1]:
                in_range.append(cp)
    latest = None
    head0 = head if shard == 0 else read_head(store)
    if head0 and head0.last_checkpoint_seq:
        item = store.get(AUDIT_PK, checkpoint_sk(head0.last_checkpoint_seq))
        latest = Checkpoint.model_validate(record_fields(item)) if item else None
    unsigned = ExportManifest(
        practice_id=store.practice_id,
        start=to_rfc3339(start) if start else None,
        end=to_rfc3339(end) if end else None,
        exported_at=to_rfc3339((clock or SystemClock()).now()),
        head_seq=head.seq if head else None,
        head_hash=head.hash if head else None,
        latest_checkpoint=latest,
        checkpoints_in_range=in_range,
        files=digests,
        key_id=signer.key_id,
        shard=shard,
        shards=shards,
        part_of=part_of,
        **summary,
    )
    signature = base64.b64encode(signer.sign(canonical_bytes(unsigned.signed_fields())))
    manifest = unsigned.model_copy(update={"signature": signature.decode("ascii")})
    files[MANIFEST] = manifest.model_dump_json(indent=2).encode() + b"\n"
    return ExportBundle(manifest, files)


@dataclass(frozen=True)
class ExportCheck:
    """What verifying one export found, and which signing keys vouched for it."""

    report: VerifyReport
    manifest: ExportManifest | None
    signed_by: str | None  # the key id whose signature on the manifest verified


def verify_export(
    directory: str | Path,
    public_keys: PublicKeys | None = None,
    *,
    trusted: PublicKeys | None = None,
) -> VerifyReport:
    """Checks one export offline (see the module docstring). Keys: `public_keys` if given
    (e.g. the live signer's), else the export's own public_keys.json; with `trusted`, only
    keys that are also trusted count."""
    return check_export(directory, public_keys, trusted=trusted).report


def check_export(
    directory: str | Path,
    public_keys: PublicKeys | None = None,
    *,
    trusted: PublicKeys | None = None,
) -> ExportCheck:
    root = Path(directory)
    try:
        manifest = ExportManifest.model_validate_json((root / MANIFEST).read_bytes())
    except (OSError, ValueError):
        problem = Problem("altered", 0, "manifest missing or unreadable")
        return ExportCheck(VerifyReport(problems=[problem]), None, None)
    problems: list[Problem] = []
    if manifest.format != EXPORT_FORMAT:
        problems.append(Problem("altered", 0, f"unknown export format {manifest.format!r}"))
    if set(manifest.files) != set(DATA_FILES):
        problems.append(Problem("altered", 0, "manifest lists unexpected files"))
    for name, digest in manifest.files.items():
        path = root / name
        if not path.is_file() or _sha256(path) != digest:
            problems.append(Problem("altered", 0, f"{name} does not match the manifest"))
    keys = _choose_keys(root, public_keys, trusted, problems)
    signed_by = manifest.key_id if _manifest_signature_ok(manifest, keys) else None
    if signed_by is None:
        problems.append(Problem("altered", 0, "the manifest's signature is not valid"))

    if not (root / EVENTS_JSONL).is_file() or not (root / EVENTS_CSV).is_file():
        problems.sort(key=lambda p: p.seq)
        return ExportCheck(VerifyReport(problems=problems), manifest, signed_by)
    cps = manifest.checkpoints_in_range
    marks = [c.marks().get(manifest.shard) for c in cps]
    walker = ChainWalker(
        expected_seq=manifest.first_seq or 1,
        prev_hash=manifest.prev_hash,
        wanted=frozenset(m[0] for m in marks if m is not None),
        shard=manifest.shard,
    )
    with (root / EVENTS_JSONL).open(encoding="utf-8") as f:
        expected_rows = walk_lines(walker, f)
    problems.extend(walker.problems)
    _check_totals(manifest, walker, problems)
    with (root / EVENTS_CSV).open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(rows[0]) != CSV_COLUMNS or rows[1:] != expected_rows:
        problems.append(Problem("altered", 0, "events.csv differs from events.jsonl"))
    extra = [manifest.latest_checkpoint] if manifest.latest_checkpoint else []
    for cp in [*cps, *extra]:
        if cp.practice_id != manifest.practice_id or not signature_ok(cp, keys):
            problems.append(Problem("bad_checkpoint_signature", cp.seq, "not valid"))
    for cp, mark in zip(cps, marks, strict=True):
        if mark is None or walker.hashes_at.get(mark[0]) != mark[1]:
            seq = mark[0] if mark else cp.seq
            problems.append(
                Problem("checkpoint_mismatch", seq, "chain hash differs", manifest.shard)
            )
    problems.sort(key=lambda p: p.seq)
    report = VerifyReport(
        events_checked=walker.count,
        last_seq=walker.last_seq,
        head_seq=manifest.head_seq,
        checkpoints_checked=len(cps),
        problems=problems,
    )
    return ExportCheck(report, manifest, signed_by)


def verify_exports(
    directories: list[Path], *, trusted: PublicKeys | None = None
) -> tuple[VerifyReport, list[ExportCheck]]:
    """Checks several exports of one practice (archive segments) and that they join:
    each starts where the one before ended (seq and hash), with no gap or overlap."""
    checks = [check_export(d, trusted=trusted) for d in directories]
    problems = [p for c in checks for p in c.report.problems]
    readable = sorted(
        (c.manifest for c in checks if c.manifest is not None and c.manifest.count),
        key=lambda m: (m.shard, m.first_seq or 0),
    )
    if len({m.practice_id for m in readable}) > 1:
        problems.append(Problem("inserted", 0, "the exports are of different practices"))
    for before, after in itertools.pairwise(readable):
        if before.shard != after.shard:
            continue  # each shard's exports join up on their own
        assert before.last_seq is not None
        assert after.first_seq is not None
        if after.first_seq > before.last_seq + 1:
            problems.append(
                Problem(
                    "gap", before.last_seq + 1, f"no export holds seq up to {after.first_seq - 1}"
                )
            )
        elif after.first_seq <= before.last_seq:
            problems.append(Problem("inserted", after.first_seq, "exports overlap"))
        elif after.prev_hash != before.last_hash:
            problems.append(
                Problem("chain_break", after.first_seq, "export does not join the one before")
            )
    problems.sort(key=lambda p: p.seq)
    report = VerifyReport(
        events_checked=sum(c.report.events_checked for c in checks),
        last_seq=max((m.last_seq or 0 for m in readable), default=0),
        checkpoints_checked=sum(c.report.checkpoints_checked for c in checks),
        problems=problems,
    )
    return report, checks


def _choose_keys(
    root: Path,
    given: PublicKeys | None,
    trusted: PublicKeys | None,
    problems: list[Problem],
) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = dict(given) if given is not None else {}
    if given is None:
        try:
            keys = load_keys_json((root / PUBLIC_KEYS).read_bytes())
        except (OSError, ValueError):
            problems.append(Problem("altered", 0, f"{PUBLIC_KEYS} missing or unreadable"))
    if trusted is not None:
        keys = {kid: key for kid, key in keys.items() if kid in trusted}
    return keys


def _manifest_signature_ok(manifest: ExportManifest, keys: PublicKeys) -> bool:
    key = keys.get(manifest.key_id)
    if key is None or not manifest.signature:
        return False
    try:
        key.verify(
            base64.b64decode(manifest.signature, validate=True),
            canonical_bytes(manifest.signed_fields()),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def _public_keys_json(signer: CheckpointSigner) -> bytes:
    pems = {
        kid: key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")
        for kid, key in sorted(signer.public_keys().items())
    }
    return json.dumps(pems, indent=2, sort_keys=True).encode() + b"\n"


def load_keys_json(data: bytes) -> dict[str, Ed25519PublicKey]:
    """public_keys.json -> keys; a key whose id does not match its bytes is dropped."""
    keys: dict[str, Ed25519PublicKey] = {}
    for kid, pem in dict(json.loads(data)).items():
        key = serialization.load_pem_public_key(str(pem).encode("ascii"))
        if isinstance(key, Ed25519PublicKey) and key_id_for(key) == kid:
            keys[kid] = key
    return keys


def walk_lines(walker: ChainWalker, lines: Iterable[str]) -> list[list[str]]:
    """Feeds JSON Lines events to `walker`; returns the CSV rows they should have."""
    rows: list[list[str]] = []
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:
            data = {}
        event = walker.feed(data if isinstance(data, dict) else {})
        if event is not None:
            rows.append(_csv_row(event))
    return rows


def _check_totals(manifest: ExportManifest, walker: ChainWalker, problems: list[Problem]) -> None:
    if walker.count < manifest.count or walker.last_seq < (manifest.last_seq or 0):
        problems.append(Problem("truncated", walker.last_seq + 1, "fewer events than manifest"))
    elif walker.count > manifest.count:
        problems.append(Problem("inserted", walker.last_seq, "more events than manifest"))
    elif manifest.count and walker.last_hash != manifest.last_hash:
        problems.append(Problem("altered", walker.last_seq, "last hash differs from manifest"))


def _event_files(rows: Iterator[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Each event exactly as stored — the fields its hash covers, not a model's re-dump of
    them, so an export verifies whatever fields later versions add — and its CSV row."""
    jsonl, table = io.BytesIO(), io.BytesIO()
    first: ChainedEvent | None = None
    last: ChainedEvent | None = None
    count = 0
    table.write(_csv_bytes(list(CSV_COLUMNS)))
    for stored in rows:
        event = ChainedEvent.model_validate(stored)
        jsonl.write(canonical_bytes(stored) + b"\n")
        table.write(_csv_bytes(_csv_row(event)))
        first = first or event
        last = event
        count += 1
    summary = {
        "count": count,
        "first_seq": first.seq if first else None,
        "last_seq": last.seq if last else None,
        "first_hash": first.hash if first else None,
        "last_hash": last.hash if last else None,
        "prev_hash": first.prev_hash if first else None,
    }
    return summary, {EVENTS_JSONL: jsonl.getvalue(), EVENTS_CSV: table.getvalue()}


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
