"""The master-key port: wraps and unwraps the data keys that encrypt PHI fields.

A master key never leaves its home (a key file on the laptop, a KMS CMK in the practice's
AWS account); only 32-byte data keys travel, and only wrapped when stored. Every call
carries an encryption context (practice, record kind, data-key id) that is bound into the
wrapping, so a wrapped key copied to another practice or kind does not unwrap.

Errors are part of the contract:
  IntegrityError         wrong key, wrong context, tampered or unknown blob (fail loudly)
  DependencyUnavailable  the key service is unreachable or throttling (503, retryable)
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Protocol

from tpm.errors import IntegrityError

Context = dict[str, str]
DATA_KEY_BYTES = 32  # AES-256


class MasterKey(Protocol):
    calls: Counter[str]
    """How many times each operation reached the master key (tests assert cache hits)."""

    @property
    def key_id(self) -> str:
        """The active master key: new data keys are wrapped under it."""
        ...

    def generate_data_key(self, context: Context) -> tuple[bytes, bytes]:
        """A fresh data key: (32 plaintext bytes, wrapped blob to store)."""
        ...

    def unwrap(self, wrapped: bytes, context: Context) -> bytes: ...

    def wrap(self, plaintext: bytes, context: Context) -> bytes:
        """An existing data key wrapped under the active key (a restored practice's keys
        arrive from an archive, already made; nothing else wraps a key it did not make)."""
        ...

    def rewrap(self, wrapped: bytes, context: Context, to_key_id: str | None = None) -> bytes:
        """The same data key wrapped under `to_key_id` (default: the active key)."""
        ...

    def wrapped_by(self, wrapped: bytes) -> str:
        """The master key id a blob names (canonical form, comparable with
        `begin_rotation`'s result). It is not verified here; `unwrap` verifies."""
        ...

    def begin_rotation(self, to_key_id: str | None = None) -> str:
        """Make `to_key_id` (or, where the adapter can create keys, a new one) the active
        key for this process and return its canonical id. Old keys stay usable."""
        ...


def canonical_context(context: Context) -> bytes:
    """One byte string per context, whatever the dict order (used as AES-GCM AAD)."""
    if not context or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in context.items()
    ):
        raise ValueError("an encryption context is a non-empty dict of strings")
    return json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def split_header(wrapped: bytes, version: int, len_bytes: int) -> tuple[str, bytes]:
    """Parse `version | key-id length | key id | rest` (the shape both adapters use)."""
    head = 1 + len_bytes
    if len(wrapped) < head or wrapped[0] != version:
        raise IntegrityError("The wrapped data key has an unknown format.")
    size = int.from_bytes(wrapped[1:head], "big")
    if size == 0 or len(wrapped) < head + size:
        raise IntegrityError("The wrapped data key is truncated.")
    try:
        key_id = wrapped[head : head + size].decode("ascii")
    except UnicodeDecodeError as exc:
        raise IntegrityError("The wrapped data key names an invalid master key.") from exc
    return key_id, wrapped[head + size :]


def join_header(version: int, len_bytes: int, key_id: str, rest: bytes) -> bytes:
    raw = key_id.encode("ascii")
    return bytes([version]) + len(raw).to_bytes(len_bytes, "big") + raw + rest
