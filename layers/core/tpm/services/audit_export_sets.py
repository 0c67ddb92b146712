"""Exporting a practice whose trail has several shards, and checking such exports offline.

An export of a practice with one shard is one folder (tpm.services.audit_export). With
several, it is a folder of parts, one export per shard:

  <out>/shard-00/  events.jsonl, events.csv, public_keys.json, manifest.json
  <out>/shard-01/  ...

Every part's signed manifest names its shard, how many shards the practice had and the
export it is part of (`part_of`, one id per export). Checking (`check_sets`) verifies each
part as any export, then that each export is whole: every shard 0..n-1 present once. A
part removed, or one from another export slipped in, shows; so does a manifest edited to
hide that, because only the signing key makes a valid one.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path

from tpm.adapters.store.base import PracticeStore
from tpm.clock import Clock
from tpm.errors import ValidationFailed
from tpm.ids import new_id
from tpm.security.audit_chain import Problem, VerifyReport
from tpm.security.audit_checkpoints import CheckpointSigner, PublicKeys
from tpm.security.audit_layout import shard_count
from tpm.services.audit_export import (
    MANIFEST,
    ExportCheck,
    ExportManifest,
    export,
    verify_exports,
)

PART_DIR = "shard-{:02d}"


def export_all(
    store: PracticeStore,
    start: datetime | None,
    end: datetime | None,
    out_dir: str | Path,
    *,
    signer: CheckpointSigner,
    clock: Clock | None = None,
) -> list[ExportManifest]:
    """Writes the events in [start, end) of every shard to a new (or empty) directory:
    as one export with one shard, as one part per shard with several."""
    out = Path(out_dir)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ValidationFailed(fields=[{"path": "out_dir", "type": "not_empty"}])
    shards = shard_count(store)
    if shards == 1:
        return [export(store, start, end, out, signer=signer, clock=clock)]
    part_of = new_id("aex")
    return [
        export(
            store,
            start,
            end,
            out / PART_DIR.format(shard),
            signer=signer,
            clock=clock,
            shard=shard,
            shards=shards,
            part_of=part_of,
        )
        for shard in range(shards)
    ]


def export_folders(paths: list[Path]) -> list[Path]:
    """The export folders in `paths`: a folder holding a manifest as it is, a folder of
    shard parts as its parts (in shard order)."""
    found: list[Path] = []
    for path in paths:
        parts = sorted(p for p in path.glob("shard-[0-9][0-9]") if p.is_dir())
        found += [path] if (path / MANIFEST).is_file() or not parts else parts
    return found


def check_sets(
    folders: list[Path], *, trusted: PublicKeys | None = None
) -> tuple[VerifyReport, list[ExportCheck]]:
    """`verify_exports` over the folders (see `export_folders`), and every export with
    several shards whole."""
    report, checks = verify_exports(folders, trusted=trusted)
    groups: dict[str, list[ExportManifest]] = defaultdict(list)
    for check in checks:
        if check.manifest is not None and check.manifest.part_of is not None:
            groups[check.manifest.part_of].append(check.manifest)
    problems = list(report.problems)
    for part_of, manifests in groups.items():
        problems += _whole(part_of, manifests)
    problems.sort(key=lambda p: (p.shard, p.seq))
    report.problems = problems
    report.shards = max((m.shards for ms in groups.values() for m in ms), default=1)
    return report, checks


def _whole(part_of: str, manifests: list[ExportManifest]) -> list[Problem]:
    counts = {m.shards for m in manifests}
    if len(counts) != 1:
        return [Problem("altered", 0, f"the parts of {part_of} disagree on the shard count")]
    (shards,) = counts
    present = [m.shard for m in manifests]
    problems = [
        Problem("truncated", 0, f"export {part_of} has no part for shard {k}", k)
        for k in range(shards)
        if k not in present
    ]
    problems += [
        Problem("inserted", 0, f"export {part_of} has shard {k} more than once", k)
        for k in sorted(set(present))
        if present.count(k) > 1
    ]
    return problems
