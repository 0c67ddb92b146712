"""The archive as a local folder (`tpm dev`, operator laptops): write-once files, 0400."""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import datetime
from pathlib import Path

from tpm.adapters.archive import check_key
from tpm.adapters.outbound import OutboundGuard
from tpm.errors import NotFound


class LocalArchive:
    vendor: str | None = None  # nothing leaves this machine

    def __init__(self, directory: str | Path) -> None:
        self.root = Path(directory)

    def put(self, key: str, body: bytes, *, retain_until: datetime, guard: OutboundGuard) -> bool:
        target = self.root / check_key(key)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, target)
            except FileExistsError:
                return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        return True

    def get(self, key: str) -> bytes:
        try:
            return (self.root / check_key(key)).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound() from exc

    def keys(self, prefix: str) -> list[str]:
        base = self.root / check_key(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.root))
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
