"""Sealed checkpoint copies as write-once S3 objects (the bucket has Object Lock in
COMPLIANCE mode, so not even the account root can shorten their life or rewrite them).

  <prefix>/<practice id>/<seq, 12 digits>.json   one object per checkpoint
  <prefix>/keys/<key id>.pem                     each signing public key, written once
  <prefix>/restores/<practice id>/<name>.json    each "restore acknowledged" record, once
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tpm.errors import DependencyUnavailable, IntegrityError
from tpm.security.audit_checkpoints import Checkpoint, key_id_for
from tpm.security.audit_restores import RestoreAcknowledgement

_TRANSIENT = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"}


class S3CheckpointSink:
    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "audit-checkpoints",
        kms_key_id: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.kms_key_id = kms_key_id
        self._client = client
        self.restores = S3RestoreLedger(self)

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def append(self, checkpoint: Checkpoint) -> None:
        key = f"{self.prefix}/{checkpoint.practice_id}/{checkpoint.seq:012d}.json"
        body = checkpoint.record_json().encode()
        if not self._put_once(key, body):
            existing = Checkpoint.model_validate_json(self._get(key))
            if existing != checkpoint:
                raise IntegrityError("a different checkpoint for this seq is already sealed")

    def publish_key(self, key_id: str, public_pem: bytes) -> None:
        """Writes the public key once; a key already there is never replaced."""
        self._put_once(self._key_path(key_id), public_pem)

    def published_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every public key ever published (write-once objects: the table cannot change
        them). An object whose key does not match its name is not trusted."""
        keys: dict[str, Ed25519PublicKey] = {}
        for name in self._list(f"{self.prefix}/keys/"):
            try:
                key = serialization.load_pem_public_key(self._get(name))
            except ValueError:
                continue
            if not isinstance(key, Ed25519PublicKey):
                continue
            key_id = key_id_for(key)
            if self._key_path(key_id) == name:
                keys[key_id] = key
        return keys

    def _key_path(self, key_id: str) -> str:
        return f"{self.prefix}/keys/{key_id.replace(':', '_')}.pem"

    def read(self, practice_id: str) -> list[Checkpoint]:
        return [Checkpoint.model_validate_json(self._get(k)) for k in self._keys(practice_id)]

    def latest(self, practice_id: str) -> Checkpoint | None:
        keys = self._keys(practice_id)
        return Checkpoint.model_validate_json(self._get(keys[-1])) if keys else None

    # ---- S3 ---------------------------------------------------------------------------

    def _put_once(self, key: str, body: bytes) -> bool:
        """Creates the object unless it exists; False when it already did."""
        extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms"}
        if self.kms_key_id:
            extra["SSEKMSKeyId"] = self.kms_key_id
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*", **extra)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise _mapped(exc) from exc
        return True

    def _get(self, key: str) -> bytes:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError as exc:
            raise _mapped(exc) from exc

    def _keys(self, practice_id: str) -> list[str]:
        return self._list(f"{self.prefix}/{practice_id}/")

    def _list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys += [obj["Key"] for obj in page.get("Contents", [])]
        except ClientError as exc:
            raise _mapped(exc) from exc
        return sorted(keys)


class S3RestoreLedger:
    """ "Restore acknowledged" records as write-once objects in the sink's bucket, the way
    public keys are published (tpm.security.audit_restores)."""

    def __init__(self, sink: S3CheckpointSink) -> None:
        self.sink = sink

    def acknowledge_restore(self, ack: RestoreAcknowledgement) -> None:
        if not self.sink._put_once(
            self._folder(ack.practice_id) + ack.name, ack.model_dump_json().encode()
        ):
            raise IntegrityError("this restore acknowledgement is already recorded")

    def restore_acknowledgements(self, practice_id: str) -> list[RestoreAcknowledgement]:
        return [
            RestoreAcknowledgement.model_validate_json(self.sink._get(name))
            for name in self.sink._list(self._folder(practice_id))
            if name.endswith(".json")
        ]

    def _folder(self, practice_id: str) -> str:
        return f"{self.sink.prefix}/restores/{practice_id}/"


def _mapped(exc: ClientError) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "")
    if code in _TRANSIENT:
        return DependencyUnavailable()
    return exc
