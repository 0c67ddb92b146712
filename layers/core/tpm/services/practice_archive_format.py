"""The whole-practice archive file: one zip of separately encrypted entries.

  tpm-archive.json  plaintext header: format, archive id, practice id, creation time and
                    the key derivation's parameters (scrypt salt, n, r, p). No PHI.
  manifest.bin      nonce | AES-256-GCM(manifest JSON); AAD = "tpm-archive-manifest" and
                    the header's exact bytes, so an edited header (salt, practice, id)
                    fails to open the manifest
  <name>.bin        every entry: nonce | AES-256-GCM(zlib(content)); AAD = archive id and
                    entry name, so an entry renamed, swapped or taken from another archive
                    fails

The key is scrypt(passphrase, salt): it comes from the operator's passphrase, never from
either stack's master key, so a stack in another account (or `tpm dev`) can read what any
stack wrote. The manifest lists every entry with the SHA-256 and size of its stored bytes.
Reading checks that the zip holds exactly those entries, each hashing to its line and
opening under the key; anything else (a wrong passphrase, an edited byte, a truncated
file, a missing or extra entry) is `ArchiveRefused`, naming what failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tpm.errors import Conflict

FORMAT = "tpm-practice-archive/1"
HEADER = "tpm-archive.json"
MANIFEST = "manifest.bin"
MIN_PASSPHRASE = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # ~32 MiB and ~0.1 s per derivation
_NONCE = 12
_MANIFEST_AAD = b"tpm-archive-manifest\x00"


class ArchiveRefused(Conflict):
    """The archive cannot be trusted or used here; nothing was read into any store.
    Operator commands only (no API route raises it)."""

    code = "archive_refused"
    message = "The archive failed its integrity check."


def check_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE:
        raise ArchiveRefused(
            f"The archive passphrase must be at least {MIN_PASSPHRASE} characters."
        )
    return passphrase


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> AESGCM:
    key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    return AESGCM(key)


def _entry_aad(archive_id: str, name: str) -> bytes:
    return b"tpm-archive-entry\x00" + archive_id.encode("ascii") + b"\x00" + name.encode("utf-8")


class ArchiveWriter:
    """Writes `<path>.partial`, renamed to `path` only by `finish`: a failed export never
    leaves a file that looks complete. Owner-only (0600) from the moment it exists."""

    def __init__(self, path: Path, *, practice_id: str, created_at: str, passphrase: str) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.archive_id = "arc_" + secrets.token_hex(12)
        salt = secrets.token_bytes(16)
        self.header = json.dumps(
            {
                "format": FORMAT,
                "archive_id": self.archive_id,
                "practice_id": practice_id,
                "created_at": created_at,
                "kdf": {
                    "name": "scrypt",
                    "salt": base64.b64encode(salt).decode("ascii"),
                    "n": SCRYPT_N,
                    "r": SCRYPT_R,
                    "p": SCRYPT_P,
                },
                "cipher": "AES-256-GCM",
            },
            sort_keys=True,
        ).encode("utf-8")
        self._aead = _derive(check_passphrase(passphrase), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        if path.exists():
            raise ArchiveRefused(f"{path} already exists; choose a new file name.")
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._zip = zipfile.ZipFile(os.fdopen(fd, "wb"), "w", zipfile.ZIP_STORED)
        self._zip.writestr(HEADER, self.header)
        self._entries: list[dict[str, Any]] = []

    def add(self, name: str, content: bytes, *, kind: str, count: int = 1) -> None:
        if name in (HEADER, MANIFEST) or any(e["name"] == name for e in self._entries):
            raise ValueError(f"duplicate archive entry {name}")
        nonce = secrets.token_bytes(_NONCE)
        stored = nonce + self._aead.encrypt(
            nonce, zlib.compress(content, 6), _entry_aad(self.archive_id, name)
        )
        self._zip.writestr(name, stored)
        digest = hashlib.sha256(stored).hexdigest()
        self._entries.append(
            {"name": name, "kind": kind, "count": count, "size": len(stored), "sha256": digest}
        )

    def finish(self, summary: dict[str, Any]) -> int:
        """Seals the manifest, closes and publishes the file; returns its size in bytes."""
        manifest = json.dumps(
            {"archive_id": self.archive_id, "entries": self._entries, "summary": summary},
            sort_keys=True,
        ).encode("utf-8")
        nonce = secrets.token_bytes(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, manifest, _MANIFEST_AAD + self.header)
        self._zip.writestr(MANIFEST, sealed)
        self._zip.close()
        with self.partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.partial, self.path)
        return self.path.stat().st_size

    def abandon(self) -> None:
        self._zip.close()
        self.partial.unlink(missing_ok=True)


class ArchiveReader:
    """Opens an archive and checks its frame: header, passphrase, manifest, and that the
    zip holds exactly the manifest's entries. `read` checks each entry's hash and seal."""

    def __init__(self, path: Path, passphrase: str) -> None:
        try:
            self._zip = zipfile.ZipFile(path, "r")
        except FileNotFoundError as exc:
            raise ArchiveRefused(f"no archive at {path}") from exc
        except (zipfile.BadZipFile, OSError) as exc:
            raise ArchiveRefused(
                "The archive is truncated or is not a tpm practice archive."
            ) from exc
        try:
            self._open(passphrase)
        except BaseException:
            self._zip.close()
            raise

    def _open(self, passphrase: str) -> None:
        names = self._zip.namelist()
        if HEADER not in names or MANIFEST not in names:
            raise ArchiveRefused("The archive is truncated: its header or manifest is missing.")
        raw_header = self._raw(HEADER)
        try:
            header = json.loads(raw_header)
            kdf = header["kdf"]
            salt = base64.b64decode(kdf["salt"], validate=True)
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            self.archive_id = str(header["archive_id"])
            self.practice_id = str(header["practice_id"])
            self.created_at = str(header["created_at"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveRefused("The archive's header is unreadable.") from exc
        if header.get("format") != FORMAT or kdf.get("name") != "scrypt":
            raise ArchiveRefused("The archive has an unknown format.")
        if not (2**14 <= n <= 2**20 and n & (n - 1) == 0 and r == 8 and 1 <= p <= 4):
            raise ArchiveRefused("The archive's key derivation parameters are out of range.")
        self._aead = _derive(passphrase, salt, n, r, p)
        sealed = self._raw(MANIFEST)
        try:
            manifest = json.loads(
                self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _MANIFEST_AAD + raw_header)
            )
        except InvalidTag as exc:
            raise ArchiveRefused(
                "The passphrase is wrong, or the archive's header or manifest was altered."
            ) from exc
        self.entries: dict[str, dict[str, Any]] = {e["name"]: e for e in manifest["entries"]}
        self.summary: dict[str, Any] = manifest["summary"]
        if manifest.get("archive_id") != self.archive_id:
            raise ArchiveRefused("The archive's manifest belongs to another archive.")
        present = set(names) - {HEADER, MANIFEST}
        missing = sorted(set(self.entries) - present)
        if missing:
            raise ArchiveRefused(f"The archive is missing entry {missing[0]} (truncated or cut).")
        extra = sorted(present - set(self.entries))
        if extra:
            raise ArchiveRefused(f"The archive holds entry {extra[0]}, which its manifest lacks.")
        if len(names) != len(set(names)):
            raise ArchiveRefused("The archive holds an entry twice.")

    def names(self, kind: str) -> list[str]:
        return [name for name, entry in self.entries.items() if entry["kind"] == kind]

    def read(self, name: str) -> bytes:
        entry = self.entries.get(name)
        if entry is None:
            raise ArchiveRefused(f"The archive has no entry {name}.")
        stored = self._raw(name)
        if len(stored) != entry["size"] or hashlib.sha256(stored).hexdigest() != entry["sha256"]:
            raise ArchiveRefused(f"Entry {name} does not match its manifest line (altered).")
        try:
            packed = self._aead.decrypt(
                stored[:_NONCE], stored[_NONCE:], _entry_aad(self.archive_id, name)
            )
            return zlib.decompress(packed)
        except (InvalidTag, zlib.error) as exc:
            raise ArchiveRefused(f"Entry {name} failed its integrity check.") from exc

    def lines(self, name: str) -> Iterator[bytes]:
        yield from (line for line in self.read(name).split(b"\n") if line)

    def _raw(self, name: str) -> bytes:
        try:
            return self._zip.read(name)
        except (zipfile.BadZipFile, OSError, zlib.error) as exc:
            raise ArchiveRefused(f"Entry {name} is damaged or cut off.") from exc

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
