"""Field-level envelope encryption of PHI, and blind indexes for searching it.

Each (practice, record kind) has a current data key (AES-256). Data keys are stored only
wrapped by the master key, in the practice's own keyring partition:

  pk "KEYRING", sk "DK#<kind>#<dk id>"   the wrapped data key, its master key id, version
  pk "KEYRING", sk "CURRENT#<kind>"      which data key encrypts new values of that kind

A field's ciphertext is "tpm1:" + base64url(no padding) of
  0x01 | dk-id length (1) | dk id (ASCII) | nonce (12) | AES-GCM ciphertext + tag (16)
with AAD = b"tpm-field" | 0x00 | the header above | 0x00 | canonical JSON of
{practice, kind, record, field}. A value copied to another field, record, kind or
practice, or changed in any byte, fails with IntegrityError; it never decrypts to junk.

Plaintext data keys stay in a bounded LRU cache for a limited time, so the master key
(KMS) is called once per data key per cache period, not once per field.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tpm.adapters.keys.base import Context, MasterKey
from tpm.adapters.store.base import (
    Absent,
    ConditionFailed,
    Item,
    PracticeStore,
    Put,
    Store,
    VersionIs,
    iterate,
)
from tpm.clock import Clock, to_rfc3339
from tpm.errors import IntegrityError
from tpm.ids import new_id

PREFIX = "tpm1:"
FORMAT = 0x01
NONCE_BYTES = 12
TAG_BYTES = 16
BLIND_INDEX_KIND = "blind-index"
KEYRING_PK = "KEYRING"
_KIND = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_DK_ID = re.compile(r"^dk_[0-9a-z]{26}$")
_MAX_CREATE_ATTEMPTS = 3


# ---- keyring rows (shared with services.key_rotation) -----------------------------------


def data_key_sk(kind: str, dk_id: str) -> str:
    return f"DK#{kind}#{dk_id}"


def current_sk(kind: str) -> str:
    return f"CURRENT#{kind}"


def data_key_context(practice_id: str, kind: str, dk_id: str) -> Context:
    """The master-key encryption context of a data key (visible in CloudTrail; no PHI)."""
    return {"practice": practice_id, "kind": kind, "dk": dk_id}


def data_key_rows(practice: PracticeStore) -> Iterator[Item]:
    """Every wrapped data key of a practice (rotation, audits); not for request paths."""
    return iterate(practice, KEYRING_PK, sk_prefix="DK#")


def check_kind(kind: str) -> str:
    if not _KIND.match(kind):
        raise ValueError("a record kind is lowercase letters, digits and '-'")
    return kind


# ---- the cache ----------------------------------------------------------------------------

K = TypeVar("K")
V = TypeVar("V")


class TtlLru(Generic[K, V]):
    """At most `size` entries, each dropped `seconds` after it was stored (not after last
    use: a key in constant use still goes back to the master key once per period)."""

    def __init__(self, size: int, seconds: float, clock: Clock) -> None:
        if size < 1 or seconds <= 0:
            raise ValueError("cache size and seconds must be positive")
        self.size, self.ttl, self.clock = size, timedelta(seconds=seconds), clock
        self._entries: OrderedDict[K, tuple[datetime, V]] = OrderedDict()
        self._lock = threading.Lock()  # the local server runs handlers in threads

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.clock.now() >= entry[0]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = (self.clock.now() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class _DataKey:
    dk_id: str
    created_at: datetime
    material: bytes = dataclass_field(repr=False)  # a plaintext key never reaches a log
    aead: AESGCM = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once per cached key, not once per field.
        object.__setattr__(self, "aead", AESGCM(self.material))


# ---- the cipher ---------------------------------------------------------------------------


class FieldCipher:
    def __init__(
        self,
        master: MasterKey,
        store: Store,
        clock: Clock,
        *,
        cache_size: int = 256,
        cache_seconds: float = 300,
        data_key_max_age_days: int = 30,
    ) -> None:
        self.master, self.store, self.clock = master, store, clock
        self.max_age = timedelta(days=data_key_max_age_days)
        # (practice, kind, dk id) -> plaintext data key; (practice, kind) -> current key.
        self._keys: TtlLru[tuple[str, str, str], _DataKey] = TtlLru(
            cache_size, cache_seconds, clock
        )
        self._current: TtlLru[tuple[str, str], _DataKey] = TtlLru(cache_size, cache_seconds, clock)

    # ---- fields -------------------------------------------------------------------------

    def encrypt_bytes(
        self, practice_id: str, kind: str, record_id: str, field: str, plaintext: bytes
    ) -> str:
        key = self._current_key(practice_id, check_kind(kind))
        header = _header(key.dk_id)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = key.aead.encrypt(
            nonce, plaintext, _aad(header, practice_id, kind, record_id, field)
        )
        return PREFIX + base64.urlsafe_b64encode(header + nonce + sealed).decode().rstrip("=")

    def decrypt_bytes(
        self, practice_id: str, kind: str, record_id: str, field: str, ciphertext: str
    ) -> bytes:
        header, dk_id, nonce, sealed = _parse(ciphertext)
        key = self._key(practice_id, check_kind(kind), dk_id)
        try:
            return key.aead.decrypt(
                nonce, sealed, _aad(header, practice_id, kind, record_id, field)
            )
        except InvalidTag as exc:
            raise IntegrityError("An encrypted field failed its integrity check.") from exc

    def encrypt_text(
        self, practice_id: str, kind: str, record_id: str, field: str, text: str
    ) -> str:
        return self.encrypt_bytes(practice_id, kind, record_id, field, text.encode("utf-8"))

    def decrypt_text(
        self, practice_id: str, kind: str, record_id: str, field: str, ciphertext: str
    ) -> str:
        raw = self.decrypt_bytes(practice_id, kind, record_id, field, ciphertext)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:  # encrypted as bytes, read as text
            raise IntegrityError("An encrypted field is not text.") from exc

    # ---- blind index --------------------------------------------------------------------

    def blind_index(self, practice_id: str, purpose: str, value: str) -> str:
        """A keyed, deterministic token for equality search (name, DOB, phone) without
        storing the value. Same practice + purpose + value -> same token; another
        practice or purpose -> unrelated token. Normalise `value` before calling.

        The blind-index data key is never replaced by age: its tokens must stay stable.
        """
        if not purpose or not purpose.isascii():
            raise ValueError("a blind-index purpose is a non-empty ASCII label")
        key = self._current_key(practice_id, BLIND_INDEX_KIND)
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"tpm-blind-index\x00" + purpose.encode("ascii"),
        ).derive(key.material)
        digest = hmac.new(derived, value.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    # ---- data keys ----------------------------------------------------------------------

    def _current_key(self, practice_id: str, kind: str) -> _DataKey:
        cached = self._current.get((practice_id, kind))
        if cached is not None and not self._too_old(kind, cached):
            return cached
        practice = self.store.practice(practice_id)
        for _ in range(_MAX_CREATE_ATTEMPTS):
            pointer = practice.get(KEYRING_PK, current_sk(kind))
            if pointer is None:
                key = self._create_current(practice, kind, replacing=None)
            else:
                key = self._key(practice_id, kind, str(pointer["dk_id"]))
                if self._too_old(kind, key):
                    key = self._create_current(practice, kind, replacing=pointer)
            if key is not None:
                self._current.put((practice_id, kind), key)
                return key
        raise IntegrityError("The keyring kept changing while choosing a data key.")

    def _too_old(self, kind: str, key: _DataKey) -> bool:
        return kind != BLIND_INDEX_KIND and self.clock.now() - key.created_at >= self.max_age

    def _create_current(
        self, practice: PracticeStore, kind: str, replacing: Item | None
    ) -> _DataKey | None:
        """Make a new data key current. Returns None when another process changed the
        pointer first (the caller re-reads it, so concurrent cold starts share one key)."""
        dk_id = new_id("dk")
        now = self.clock.now()
        material, wrapped = self.master.generate_data_key(
            data_key_context(practice.practice_id, kind, dk_id)
        )
        created = to_rfc3339(now)
        row: Item = {
            "pk": KEYRING_PK,
            "sk": data_key_sk(kind, dk_id),
            "kind": kind,
            "dk_id": dk_id,
            "wrapped": wrapped,
            "master_key_id": self.master.wrapped_by(wrapped),
            "created_at": created,
            "version": 1,
        }
        pointer: Item = {
            "pk": KEYRING_PK,
            "sk": current_sk(kind),
            "dk_id": dk_id,
            "created_at": created,
            "version": 1 if replacing is None else int(replacing["version"]) + 1,
        }
        condition = Absent() if replacing is None else VersionIs(int(replacing["version"]))
        try:
            practice.transact([Put(row, Absent()), Put(pointer, condition)])
        except ConditionFailed:
            return None
        key = _DataKey(dk_id, _parse_time(created), material)
        self._keys.put((practice.practice_id, kind, dk_id), key)
        return key

    def _key(self, practice_id: str, kind: str, dk_id: str) -> _DataKey:
        cache_key = (practice_id, kind, dk_id)
        cached = self._keys.get(cache_key)
        if cached is not None:
            return cached
        row = self.store.practice(practice_id).get(KEYRING_PK, data_key_sk(kind, dk_id))
        if row is None:
            # Moved from another practice or kind, or the keyring lost a row: never guess.
            raise IntegrityError("An encrypted field names a data key this practice lacks.")
        material = self.master.unwrap(
            bytes(row["wrapped"]), data_key_context(practice_id, kind, dk_id)
        )
        key = _DataKey(dk_id, _parse_time(str(row["created_at"])), material)
        self._keys.put(cache_key, key)
        return key


# ---- format helpers -----------------------------------------------------------------------


def _header(dk_id: str) -> bytes:
    raw = dk_id.encode("ascii")
    return bytes([FORMAT, len(raw)]) + raw


def _aad(header: bytes, practice_id: str, kind: str, record_id: str, field: str) -> bytes:
    if not record_id or not field:
        raise ValueError("record id and field name are required")
    context = {"practice": practice_id, "kind": kind, "record": record_id, "field": field}
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return b"tpm-field\x00" + header + b"\x00" + canonical.encode("ascii")


def _parse(ciphertext: str) -> tuple[bytes, str, bytes, bytes]:
    """Split a field ciphertext into (header, dk id, nonce, sealed) or fail loudly."""
    if not isinstance(ciphertext, str) or not ciphertext.startswith(PREFIX):
        raise IntegrityError("An encrypted field has an unknown format.")
    body = ciphertext[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError as exc:
        raise IntegrityError("An encrypted field is not valid base64.") from exc
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != body:
        raise IntegrityError("An encrypted field is not canonical base64.")
    if len(raw) < 2 or raw[0] != FORMAT:
        raise IntegrityError("An encrypted field has an unknown format version.")
    end = 2 + raw[1]
    if len(raw) < end + NONCE_BYTES + TAG_BYTES:
        raise IntegrityError("An encrypted field is truncated.")
    try:
        dk_id = raw[2:end].decode("ascii")
    except UnicodeDecodeError as exc:
        raise IntegrityError("An encrypted field names an invalid data key.") from exc
    if not _DK_ID.match(dk_id):
        raise IntegrityError("An encrypted field names an invalid data key.")
    return raw[:end], dk_id, raw[end : end + NONCE_BYTES], raw[end + NONCE_BYTES :]


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
