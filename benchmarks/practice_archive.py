"""practice_archive — `tpm practice export` and `import` of the demo practice (people and
all working data: notes, measures, files, billing, intake, rights; about 520 items, 10
files, 130 audit events) on the local adapters: the time to write the encrypted archive
(scan, unwrap the data keys, seal each entry, then read it all back and verify the chain),
the time to restore it into an empty data dir (check everything, re-wrap the data keys,
write, verify the restored chain), and the archive's size.

Baseline (same run, same data): a plain copy of the data dir as docs/operations.md's
backup does it — SQLite's online backup of `tpm.db` plus a copy of the file folder. That
is the cheapest backup there is, and it is neither encrypted as a whole, nor per practice,
nor restorable on another stack; the ratio is the price of those.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure, Options, Outcome, Stats
from tpm.local.bootstrap import ensure_demo_practice, local_settings
from tpm.runtime import build_runtime
from tpm.security.principal import SystemActor
from tpm.services.practice_archive import export_practice, import_practice

NAME = "practice_archive"
PASSPHRASE = "benchmark-passphrase-not-secret"  # noqa: S105 - synthetic


def _actor(practice_id: str) -> SystemActor:
    return SystemActor("operator-cli", practice_id, "benchmark")


def _plain_copy(source: Path, target: Path) -> None:
    target.mkdir()
    with sqlite3.connect(source / "tpm.db") as src, sqlite3.connect(target / "tpm.db") as dst:
        src.backup(dst)
    shutil.copytree(source / "files", target / "files")


def benchmark(options: Options) -> Outcome:
    outcome = Outcome(NAME)
    rounds = 1 if options.quick else 5
    with tempfile.TemporaryDirectory(prefix="tpm-bench-archive-") as scratch:
        root = Path(scratch)
        source = build_runtime(local_settings(root / "source", environment="test"))
        try:
            practice_id = ensure_demo_practice(source).practice_id
            export_ms: list[float] = []
            import_ms: list[float] = []
            copy_ms: list[float] = []
            size = items = files = 0
            for n in range(rounds):
                t0 = time.perf_counter()
                _plain_copy(root / "source", root / f"copy-{n}")
                t1 = time.perf_counter()
                archive = root / f"demo-{n}.tpmx"
                summary = export_practice(
                    source, practice_id, archive, PASSPHRASE, _actor(practice_id)
                )
                t2 = time.perf_counter()
                target = build_runtime(local_settings(root / f"restored-{n}", environment="test"))
                t3 = time.perf_counter()
                try:
                    import_practice(target, archive, PASSPHRASE, _actor)
                    t4 = time.perf_counter()
                finally:
                    target.store.close()
                copy_ms.append((t1 - t0) * 1000)
                export_ms.append((t2 - t1) * 1000)
                import_ms.append((t4 - t3) * 1000)
                size, items, files = summary.archive_bytes, summary.items, summary.files
        finally:
            source.store.close()
    baseline = Stats.of(copy_ms)
    name = "copy of tpm.db (online backup) + files"
    outcome.figures.append(
        Figure("export (write + verify)", "ms", Stats.of(export_ms), baseline, name)
    )
    outcome.figures.append(
        Figure("import (check + restore + verify)", "ms", Stats.of(import_ms), baseline, name)
    )
    outcome.details = {"archive_bytes": size, "items": items, "files": files}
    outcome.notes.append(
        f"demo practice: {items} items, {files} files -> archive {size // 1024} KB"
        " (each export derives the passphrase key twice: scrypt, ~0.1 s each)"
    )
    return outcome
