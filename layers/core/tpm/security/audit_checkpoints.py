"""Signed statements about the audit chain, in the spirit of CloudTrail digest files.

Two signed records exist:
- the chain HEAD row (re-signed on every append): the newest seq and hash. Editing it
  without the signing key breaks its signature.
- CHECKPOINTS, every N events and on demand: {seq, hash, time, prev_checkpoint_hash},
  signed, linked to the previous checkpoint, stored in the table AND appended to an
  external append-only sink (a JSON Lines file per practice locally; S3 Object Lock in
  AWS). Someone who can rewrite the database can delete the newest events and put back an
  older, validly signed head; the sink still holds a checkpoint past the cut, and that
  is how truncation is caught.

Signatures are Ed25519 over `canonical_bytes` of the record's other fields plus a `type`
tag, so a head signature can never be replayed as a checkpoint's.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from tpm.errors import IntegrityError
from tpm.security.audit_chain import GENESIS_HASH, MAX_SHARDS, canonical_bytes, compute_hash

PublicKeys = Mapping[str, Ed25519PublicKey]
_HASH = r"^[0-9a-f]{64}$"


def _without_defaults(data: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Drops the sharding fields while they hold their defaults: a one-shard practice's
    records (and everything signed before shards existed) are byte for byte what they
    always were, so their signatures and hashes never change."""
    return {k: v for k, v in data.items() if k not in defaults or v != defaults[k]}


class ChainHead(BaseModel):
    """The newest point of one of a practice's chains (shards), as kept in its head row.
    Shard 0's head also says how many shards the practice has (`shards`) and links the
    checkpoints (`last_checkpoint_*`); the other shards' heads leave those at defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    practice_id: str
    shard: int = Field(default=0, ge=0, lt=MAX_SHARDS)
    shards: int = Field(default=1, ge=1, le=MAX_SHARDS)
    seq: int = Field(ge=0)
    hash: str = Field(pattern=_HASH)
    time: str  # the newest event's time: later events never carry an earlier one
    version: int = Field(ge=1)  # the store's optimistic-concurrency counter
    last_checkpoint_seq: int = Field(default=0, ge=0)
    last_checkpoint_hash: str = Field(default=GENESIS_HASH, pattern=_HASH)
    key_id: str
    signature: str

    def signed_fields(self) -> dict[str, Any]:
        unsigned = self.model_dump(mode="json", exclude={"signature"})
        return _without_defaults(unsigned, _HEAD_DEFAULTS) | {"type": "tpm.audit.head"}

    def record(self) -> dict[str, Any]:
        """The fields as stored in the head row."""
        return _without_defaults(self.model_dump(mode="json"), _HEAD_DEFAULTS)


_HEAD_DEFAULTS = {"shard": 0, "shards": 1}


class ShardMark(BaseModel):
    """One shard's point (seq and chain hash) as a checkpoint commits it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shard: int = Field(ge=0, lt=MAX_SHARDS)
    seq: int = Field(ge=0)
    hash: str = Field(pattern=_HASH)


class Checkpoint(BaseModel):
    """A signed statement of where the practice's chains were, linked to the one before.

    One shard: `seq` and `hash` are the chain's (as before shards existed; `shards` is
    empty). Several: `shards` commits every shard's head (shard 0..n-1, in order), `seq` is
    the sum of their seqs (it grows with every event, so it numbers the checkpoints) and
    `hash` is the hash of the `shards` list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    practice_id: str
    seq: int = Field(ge=1)
    hash: str = Field(pattern=_HASH)  # the chain hash of event `seq` (one shard)
    time: str  # when the checkpoint was made
    prev_checkpoint_hash: str = Field(pattern=_HASH)
    shards: tuple[ShardMark, ...] = ()
    key_id: str
    signature: str

    def signed_fields(self) -> dict[str, Any]:
        return _without_defaults(
            self.model_dump(mode="json", exclude={"signature"}), _CHECKPOINT_DEFAULTS
        ) | {"type": "tpm.audit.checkpoint"}

    def record(self) -> dict[str, Any]:
        """The fields as stored and sealed."""
        return _without_defaults(self.model_dump(mode="json"), _CHECKPOINT_DEFAULTS)

    @property
    def checkpoint_hash(self) -> str:
        """What the next checkpoint links to (covers the signature too)."""
        return compute_hash(self.record())

    def record_json(self) -> str:
        return json.dumps(self.record(), separators=(",", ":"), ensure_ascii=False)

    def marks(self) -> dict[int, tuple[int, str]]:
        """shard -> (seq, hash) of every shard this checkpoint commits."""
        if not self.shards:
            return {0: (self.seq, self.hash)}
        return {m.shard: (m.seq, m.hash) for m in self.shards}


_CHECKPOINT_DEFAULTS: dict[str, Any] = {"shards": []}


def marks_hash(marks: Sequence[ShardMark]) -> str:
    return compute_hash({"shards": [m.model_dump(mode="json") for m in marks]})


# ---- ports ------------------------------------------------------------------------------


class CheckpointSigner(Protocol):
    """Signs heads and checkpoints. Local: an Ed25519 key file; AWS: the lead's choice."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every public key whose signatures should verify (old ones stay after rotation)."""
        ...


@runtime_checkable
class KeyTrust(Protocol):
    """A signer that can add an outside public key to what verification trusts (a
    restored practice's chain was signed by the old stack's keys). Only the whole-practice
    import calls it, after the archive's own integrity check."""

    def trust_key(self, key_id: str, public_pem: bytes) -> None: ...


def public_key_from_pem(key_id: str, public_pem: bytes) -> Ed25519PublicKey:
    """The Ed25519 key in `public_pem`, which must be the one `key_id` names."""
    try:
        key = serialization.load_pem_public_key(public_pem)
    except ValueError as exc:
        raise IntegrityError("an audit public key is unreadable") from exc
    if not isinstance(key, Ed25519PublicKey) or key_id_for(key) != key_id:
        raise IntegrityError("an audit public key does not match its id")
    return key


class CheckpointSink(Protocol):
    """An append-only place outside the database. `append` is idempotent for a
    checkpoint already there and refuses anything that would rewrite history."""

    def append(self, checkpoint: Checkpoint) -> None: ...

    def read(self, practice_id: str) -> list[Checkpoint]: ...

    def latest(self, practice_id: str) -> Checkpoint | None: ...


# ---- signing and checking -----------------------------------------------------------------


def sign_head(signer: CheckpointSigner, **fields: Any) -> ChainHead:
    unsigned = ChainHead(**fields, key_id=signer.key_id, signature="")
    return unsigned.model_copy(update={"signature": _sign(signer, unsigned.signed_fields())})


def sign_checkpoint(signer: CheckpointSigner, **fields: Any) -> Checkpoint:
    unsigned = Checkpoint(**fields, key_id=signer.key_id, signature="")
    return unsigned.model_copy(update={"signature": _sign(signer, unsigned.signed_fields())})


def signature_ok(record: ChainHead | Checkpoint, keys: PublicKeys) -> bool:
    key = keys.get(record.key_id)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(record.signature, validate=True), _message(record))
    except (InvalidSignature, ValueError):
        return False
    return True


def _message(record: ChainHead | Checkpoint) -> bytes:
    return canonical_bytes(record.signed_fields())


def _sign(signer: CheckpointSigner, fields: Mapping[str, Any]) -> str:
    return base64.b64encode(signer.sign(canonical_bytes(fields))).decode("ascii")


# ---- local adapters -----------------------------------------------------------------------

_PRIVATE = "audit-ed25519.pem"
_PUBLIC_GLOB = "audit-ed25519-*.pub.pem"


def key_id_for(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


class LocalCheckpointSigner:
    """An Ed25519 key in `directory` (0700), private key file 0600, created on first use.
    Public keys are kept beside it, one file per key id, so old signatures still verify
    after the private key is replaced (rotation = move the private key file away)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._key = self._load_or_create()
        self._public = self._key.public_key()
        self._key_id = key_id_for(self._public)
        public_path = self.directory / f"audit-ed25519-{self._key_id[8:]}.pub.pem"
        if not public_path.exists():
            public_path.write_bytes(
                self._public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return load_public_keys(self.directory)

    def trust_key(self, key_id: str, public_pem: bytes) -> None:
        public_key_from_pem(key_id, public_pem)
        path = self.directory / f"audit-ed25519-{key_id.removeprefix('ed25519:')}.pub.pem"
        if not path.exists():
            path.write_bytes(public_pem)

    def _load_or_create(self) -> Ed25519PrivateKey:
        path = self.directory / _PRIVATE
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            # Write a private temp file, then link: another process racing us either
            # wins (we load its key) or loses; nobody reads a half-written key.
            tmp = self.directory / f".{_PRIVATE}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise IntegrityError("audit signing key is not an Ed25519 key")
        return key


def load_public_keys(directory: str | Path) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for path in sorted(Path(directory).glob(_PUBLIC_GLOB)):
        key = serialization.load_pem_public_key(path.read_bytes())
        if isinstance(key, Ed25519PublicKey):
            keys[key_id_for(key)] = key
    return keys


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class LocalCheckpointSink:
    """One JSON Lines file per practice in a directory outside the database. Appends
    take an exclusive flock, so threads and processes can publish at the same time."""

    def __init__(self, directory: str | Path) -> None:
        from tpm.security.audit_restores import LocalRestoreLedger

        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # "Restore acknowledged" records, written once beside the sealed checkpoints.
        self.restores = LocalRestoreLedger(self.directory / "restores")

    def append(self, checkpoint: Checkpoint) -> None:
        fd = os.open(self._path(checkpoint.practice_id), os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
            existing = [Checkpoint.model_validate_json(line) for line in f if line.strip()]
            same = [c for c in existing if c.seq == checkpoint.seq]
            if same:
                if same[0] != checkpoint:
                    raise IntegrityError("a different checkpoint for this seq is already sealed")
                return
            if existing and existing[-1].seq > checkpoint.seq:
                raise IntegrityError("checkpoints must be sealed in seq order")
            f.seek(0, os.SEEK_END)
            f.write(checkpoint.record_json() + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read(self, practice_id: str) -> list[Checkpoint]:
        path = self._path(practice_id)
        if not path.exists():
            return []
        with path.open(encoding="utf-8") as f:
            return [Checkpoint.model_validate_json(line) for line in f if line.strip()]

    def latest(self, practice_id: str) -> Checkpoint | None:
        sealed = self.read(practice_id)
        return sealed[-1] if sealed else None

    def _path(self, practice_id: str) -> Path:
        if not _SAFE_NAME.match(practice_id):
            raise ValueError("practice id is not usable as a file name")
        return self.directory / f"{practice_id}.jsonl"
