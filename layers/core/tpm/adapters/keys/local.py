"""Master keys in local files, for `tpm dev` and single-machine installs.

<dir>/master-<id>.key holds 32 random bytes (mode 0600, directory 0700); <dir>/active names
the key new data keys are wrapped under. Old keys stay so rotation can re-wrap, and so data
keys wrapped before a rotation still open.

Wrapped blob: 0x01 | key-id length (1 byte) | key id (ASCII) | nonce (12) | AES-GCM(data
key) + tag (48). The AAD is the key id and the canonical JSON context, so a blob opens
only with the master key it names and the context it was made with.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections import Counter
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tpm.adapters.keys.base import (
    DATA_KEY_BYTES,
    Context,
    canonical_context,
    join_header,
    split_header,
)
from tpm.errors import IntegrityError, TpmError
from tpm.ids import new_id

FORMAT = 0x01
_NONCE = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # also keeps ids from naming other paths
_ACTIVE = "active"


class InsecureKeyFileError(TpmError):
    """A master key file or its directory can be read by other users of the machine."""

    code = "key_file_insecure"
    message = "A master key file is readable by other users; fix its permissions (0600)."


class LocalMasterKey:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.calls: Counter[str] = Counter()
        self._keys: dict[str, bytes] = {}
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)  # tightening is always safe; key files are checked strictly
        if not (self.directory / _ACTIVE).exists():
            self._claim_first_active(self.create_new_master(activate=False))

    # ---- the port ----------------------------------------------------------------------

    @property
    def key_id(self) -> str:
        # Read each time: a rotation run by the CLI changes it under a running server.
        return (self.directory / _ACTIVE).read_text(encoding="ascii").strip()

    def generate_data_key(self, context: Context) -> tuple[bytes, bytes]:
        self.calls["generate_data_key"] += 1
        plaintext = secrets.token_bytes(DATA_KEY_BYTES)
        return plaintext, self._wrap(self.key_id, plaintext, context)

    def unwrap(self, wrapped: bytes, context: Context) -> bytes:
        self.calls["unwrap"] += 1
        return self._unwrap(wrapped, context)

    def wrap(self, plaintext: bytes, context: Context) -> bytes:
        self.calls["wrap"] += 1
        if len(plaintext) != DATA_KEY_BYTES:
            raise IntegrityError("A data key must be 32 bytes.")
        return self._wrap(self.key_id, plaintext, context)

    def rewrap(self, wrapped: bytes, context: Context, to_key_id: str | None = None) -> bytes:
        self.calls["rewrap"] += 1
        plaintext = self._unwrap(wrapped, context)
        return self._wrap(to_key_id or self.key_id, plaintext, context)

    def wrapped_by(self, wrapped: bytes) -> str:
        return split_header(wrapped, FORMAT, 1)[0]

    def begin_rotation(self, to_key_id: str | None = None) -> str:
        if to_key_id is None:
            return self.create_new_master(activate=True)
        self._material(to_key_id)  # must exist and be readable before it becomes active
        self._write_active(to_key_id)
        return to_key_id

    # ---- key files ---------------------------------------------------------------------

    def create_new_master(self, *, activate: bool = True) -> str:
        """Write a new random master key (never overwriting one) and optionally activate it."""
        key_id = new_id("mk")
        material = secrets.token_bytes(DATA_KEY_BYTES)
        _write_private(self._path(key_id), material)
        self._keys[key_id] = material
        if activate:
            self._write_active(key_id)
        return key_id

    def master_key_ids(self) -> list[str]:
        return sorted(
            p.name[len("master-") : -len(".key")] for p in self.directory.glob("master-*.key")
        )

    def _claim_first_active(self, key_id: str) -> None:
        # Two processes starting at once: the first to create `active` wins; the loser's
        # unused key file is harmless.
        with contextlib.suppress(FileExistsError):
            _write_private(self.directory / _ACTIVE, key_id.encode("ascii"))

    def _write_active(self, key_id: str) -> None:
        tmp = self.directory / f".{_ACTIVE}.{secrets.token_hex(4)}"
        _write_private(tmp, key_id.encode("ascii"))
        os.replace(tmp, self.directory / _ACTIVE)  # atomic: readers see old or new, never half
        _fsync_dir(self.directory)

    def _path(self, key_id: str) -> Path:
        if not _KEY_ID.match(key_id):
            raise IntegrityError("The wrapped data key names an invalid master key.")
        return self.directory / f"master-{key_id}.key"

    def _material(self, key_id: str) -> bytes:
        if key_id not in self._keys:
            path = self._path(key_id)
            try:
                _check_private(path)
                material = path.read_bytes()
            except FileNotFoundError as exc:
                raise IntegrityError("The master key for this data key is not here.") from exc
            if len(material) != DATA_KEY_BYTES:
                raise IntegrityError("A master key file is damaged.")
            self._keys[key_id] = material
        return self._keys[key_id]

    # ---- wrapping ----------------------------------------------------------------------

    def _wrap(self, key_id: str, plaintext: bytes, context: Context) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        sealed = AESGCM(self._material(key_id)).encrypt(nonce, plaintext, _aad(key_id, context))
        return join_header(FORMAT, 1, key_id, nonce + sealed)

    def _unwrap(self, wrapped: bytes, context: Context) -> bytes:
        key_id, rest = split_header(wrapped, FORMAT, 1)
        if len(rest) != _NONCE + DATA_KEY_BYTES + 16:
            raise IntegrityError("The wrapped data key is truncated.")
        try:
            return AESGCM(self._material(key_id)).decrypt(
                rest[:_NONCE], rest[_NONCE:], _aad(key_id, context)
            )
        except InvalidTag as exc:
            raise IntegrityError("The data key does not open with this key and context.") from exc


def _aad(key_id: str, context: Context) -> bytes:
    return b"tpm-local-wrap\x00" + key_id.encode("ascii") + b"\x00" + canonical_context(context)


def _write_private(path: Path, data: bytes) -> None:
    """Create (never overwrite) a file readable by its owner only, durably."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # 0600 from birth
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_private(path: Path) -> None:
    if os.name != "posix":
        return
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise InsecureKeyFileError()
