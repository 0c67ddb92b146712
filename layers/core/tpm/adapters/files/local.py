"""Sealed files in a local folder (tpm dev): <dir>/<practice>/<file id>, mode 0600 in
0700 directories. Written to a temporary file, synced, then hard-linked into place, so a
reader never sees half a file and an existing file is never replaced."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from tpm.errors import AlreadyExists, NotFound


class LocalBlobs:
    vendor: str | None = None  # nothing leaves this machine

    def __init__(self, directory: str | Path) -> None:
        self.root = Path(directory)

    def write(self, key: str, body: bytes) -> None:
        target = self._path(key)
        for folder in (self.root, target.parent):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, target)
            except FileExistsError as exc:
                raise AlreadyExists() from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound() from exc

    def names(self, practice_id: str) -> list[str]:
        folder = self.root / practice_id
        if not folder.is_dir():
            return []
        # Dot files are a writer's temporaries, never a stored file.
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))

    def _path(self, key: str) -> Path:
        practice, _, name = key.partition("/")
        return self.root / practice / name
