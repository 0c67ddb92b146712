"""Driving `tpm …` in-process against a real local data directory (SQLite, local keys,
local audit signing key and sealed checkpoints), seeded like `tpm dev` seeds it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tpm.adapters.store.base import PracticeStore
from tpm.cli import main
from tpm.config import get_settings
from tpm.local.bootstrap import ensure_demo_practice, local_settings, prepare_data_dir
from tpm.runtime import Runtime, build_runtime, set_runtime
from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import ChainedEvent

# What the CLI writes into os.environ (tpm.local.bootstrap.export_settings).
_ENV_NAMES = (
    "TPM_STORE",
    "TPM_KEYS",
    "TPM_IDENTITY",
    "TPM_AUDIT",
    "TPM_FILES",
    "TPM_NOTIFY",
    "TPM_WORKFLOWS",
    "TPM_DATA_DIR",
    "TPM_ENV",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
)


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


@dataclass
class OperatorCli:
    data_dir: Path
    practice_id: str  # the demo practice
    capsys: pytest.CaptureFixture[str]

    @property
    def db_file(self) -> Path:
        return self.data_dir / "tpm.db"

    def __call__(self, *args: str) -> CliResult:
        self.capsys.readouterr()
        code = main([*args, "--data-dir", str(self.data_dir)])
        out, err = self.capsys.readouterr()
        return CliResult(code, out, err)

    @contextmanager
    def runtime(self) -> Iterator[Runtime]:
        runtime = build_runtime(local_settings(self.data_dir))
        try:
            yield runtime
        finally:
            runtime.store.close()

    @contextmanager
    def practice(self, practice_id: str | None = None) -> Iterator[tuple[Runtime, PracticeStore]]:
        with self.runtime() as runtime:
            yield runtime, runtime.store.practice(practice_id or self.practice_id)

    def events(self, practice_id: str | None = None) -> list[ChainedEvent]:
        with self.practice(practice_id) as (_, store):
            head = read_head(store)
            return list(read_events(store, 1, head.seq)) if head else []


@contextmanager
def operator_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[OperatorCli]:
    """A data dir with the demo practice. The CLI exports its settings into os.environ and
    clears the settings cache; monkeypatch records the originals so they come back, and
    the cache and the runtime global are reset on the way out."""
    for name in _ENV_NAMES:
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TPM_ENV", "local")
    get_settings.cache_clear()
    set_runtime(None)
    data_dir = tmp_path / "data"
    prepare_data_dir(data_dir)
    runtime = build_runtime(local_settings(data_dir))
    try:
        demo = ensure_demo_practice(runtime, with_working_data=False)  # counts start at zero
    finally:
        runtime.store.close()
    try:
        yield OperatorCli(data_dir, demo.practice_id, capsys)
    finally:
        get_settings.cache_clear()
        set_runtime(None)
