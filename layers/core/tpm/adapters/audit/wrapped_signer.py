"""The checkpoint signing key for deployments without a disk: an Ed25519 key kept in the
table, its private half encrypted under a data key from the practice's master key (KMS).

Someone who can write the table but cannot use the KMS key cannot sign: they can replace
the public key row, but verification also trusts only keys published (write-once) in the
external sink when the report is meant for an auditor.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tpm.adapters.keys.base import MasterKey
from tpm.adapters.store.base import (
    SYSTEM_PRACTICE,
    Absent,
    ConditionFailed,
    Item,
    Store,
    VersionIs,
)
from tpm.errors import IntegrityError
from tpm.security.audit_checkpoints import key_id_for, public_key_from_pem

_PK, _SK = "AUDIT_SIGNING_KEY", "CURRENT"
_KIND = "audit-signing"


class WrappedKeySigner:
    def __init__(
        self,
        store: Store,
        master: MasterKey,
        publish: Callable[[str, bytes], None] | None = None,
        published: Callable[[], dict[str, Ed25519PublicKey]] | None = None,
    ) -> None:
        self._system = store.practice(SYSTEM_PRACTICE)
        self._master = master
        self._publish = publish
        self._published = published
        self._lock = threading.Lock()
        self._key: Ed25519PrivateKey | None = None
        self._key_id = ""

    @property
    def key_id(self) -> str:
        self._load()
        return self._key_id

    def sign(self, message: bytes) -> bytes:
        return self._load().sign(message)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every key ever used, as published write-once outside the table (what
        verification trusts); without a publication place, the table's current key."""
        if self._published is not None:
            return self._published()
        item = self._system.get(_PK, _SK)
        if item is None:
            return {}
        key = serialization.load_pem_public_key(bytes(item["public_pem"]))
        if not isinstance(key, Ed25519PublicKey):
            raise IntegrityError("the audit signing key is not an Ed25519 key")
        return {key_id_for(key): key}

    def trust_key(self, key_id: str, public_pem: bytes) -> None:
        """Publishes another stack's public key write-once beside this stack's own, so a
        restored chain's old signatures verify here."""
        public_key_from_pem(key_id, public_pem)
        if self._publish is None:
            raise IntegrityError("this deployment has no place to publish trusted keys")
        self._publish(key_id, public_pem)

    def _load(self) -> Ed25519PrivateKey:
        with self._lock:
            if self._key is None:
                item = self._system.get(_PK, _SK) or self._create()
                key = self._open(item)
                if self._publish is not None:
                    # Once per process: a key whose first publication was lost (a crash
                    # between the row and the S3 object) is published before it signs
                    # anything; verification trusts only published keys.
                    self._publish(key_id_for(key.public_key()), bytes(item["public_pem"]))
                self._key = key
                self._key_id = key_id_for(key.public_key())
            return self._key

    def rotate(self) -> str:
        """Replaces the signing key with a new one, published before it is used; returns
        its id. Signatures by the old key keep verifying: its published copy stays."""
        with self._lock:
            current = self._system.get(_PK, _SK)
            item = self._new_item()
            if self._publish is not None:
                self._publish(str(item["key_id"]), bytes(item["public_pem"]))
            if current is None:
                self._system.put(item | {"version": 1}, Absent())
            else:
                version = current.get("version")
                if isinstance(version, int):
                    self._system.put(item | {"version": version + 1}, VersionIs(version))
                else:  # a row from before rows carried a version
                    self._system.put(item | {"version": 1})
            self._key = None
        return self.key_id

    def _new_item(self) -> Item:
        private = Ed25519PrivateKey.generate()
        kid = key_id_for(private.public_key())
        data_key, wrapped = self._master.generate_data_key(self._context(kid))
        nonce = secrets.token_bytes(12)
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "pk": _PK,
            "sk": _SK,
            "key_id": kid,
            "public_pem": public_pem,
            "wrapped_data_key": wrapped,
            "nonce": nonce,
            "sealed_private": AESGCM(data_key).encrypt(nonce, raw, kid.encode()),
        }

    def _create(self) -> Item:
        item = self._new_item() | {"version": 1}
        try:
            self._system.put(item, Absent())
        except ConditionFailed:
            existing = self._system.get(_PK, _SK)  # another cold start won the race
            if existing is None:
                raise
            return existing
        if self._publish is not None:
            self._publish(str(item["key_id"]), bytes(item["public_pem"]))
        return item

    def _open(self, item: Item) -> Ed25519PrivateKey:
        kid = str(item["key_id"])
        data_key = self._master.unwrap(bytes(item["wrapped_data_key"]), self._context(kid))
        try:
            raw = AESGCM(data_key).decrypt(
                bytes(item["nonce"]), bytes(item["sealed_private"]), kid.encode()
            )
        except Exception as exc:  # InvalidTag: the row was tampered with
            raise IntegrityError("the audit signing key failed its integrity check") from exc
        key = Ed25519PrivateKey.from_private_bytes(raw)
        if key_id_for(key.public_key()) != kid:
            raise IntegrityError("the audit signing key does not match its id")
        return key

    @staticmethod
    def _context(kid: str) -> dict[str, str]:
        return {"practice": SYSTEM_PRACTICE, "kind": _KIND, "dk": kid}
