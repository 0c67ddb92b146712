"""Master key in AWS KMS: a customer-managed key in the practice's own account.

KMS makes and wraps the data keys (GenerateDataKey, KeySpec AES_256); the plaintext data
key exists only in our memory. The encryption context goes with every call, so it is
bound into the ciphertext and appears in the CloudTrail event of every Decrypt.

Wrapped blob: 0x01 | key-ARN length (2 bytes) | key ARN (ASCII) | KMS CiphertextBlob.
The ARN lets Decrypt name its KeyId (KMS then refuses a blob made under another key) and
lets rotation see which blobs still need a ReEncrypt. Which keys a function may use at
all is decided by IAM and the key policy, not by this blob.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import (
    ClientError,
    ConnectionError,
    HTTPClientError,
    ParamValidationError,
)

from tpm.adapters.keys.base import DATA_KEY_BYTES, Context, join_header, split_header
from tpm.errors import DependencyUnavailable, IntegrityError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

FORMAT = 0x01
# KMS errors that say "the service or the key is not available right now", not "this
# blob is wrong": they become 503 so the caller retries.
_UNAVAILABLE = frozenset(
    {
        "ThrottlingException",
        "LimitExceededException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
        "DisabledException",
        "KMSInvalidStateException",
        "ServiceUnavailableException",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class KmsMasterKey:
    def __init__(self, key_id_or_alias: str, client: KMSClient | None = None) -> None:
        if not key_id_or_alias:
            raise ValueError("a KMS key id, ARN or alias is required")
        self._key_id = key_id_or_alias
        self._client = client
        self.calls: Counter[str] = Counter()

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def client(self) -> KMSClient:
        # Created on first use, once per process: a handler that never touches PHI never
        # pays for it at cold start.
        if self._client is None:
            import boto3

            self._client = boto3.client("kms")
        return self._client

    # ---- the port ----------------------------------------------------------------------

    def generate_data_key(self, context: Context) -> tuple[bytes, bytes]:
        self.calls["generate_data_key"] += 1
        with _kms_errors(wrong_blob=False):
            out = self.client.generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context
            )
        plaintext = out["Plaintext"]
        if len(plaintext) != DATA_KEY_BYTES:
            raise IntegrityError("The key service returned a data key of the wrong size.")
        return plaintext, join_header(FORMAT, 2, out["KeyId"], out["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, context: Context) -> bytes:
        self.calls["unwrap"] += 1
        key_arn, blob = split_header(wrapped, FORMAT, 2)
        with _kms_errors(wrong_blob=True):
            out = self.client.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=key_arn)
        # The header is ours, not KMS's: insist that the key KMS used is the one it names.
        if out.get("KeyId") != key_arn:
            raise IntegrityError("The wrapped data key names the wrong master key.")
        plaintext = out["Plaintext"]
        if len(plaintext) != DATA_KEY_BYTES:
            raise IntegrityError("The wrapped data key is not a data key.")
        return plaintext

    def wrap(self, plaintext: bytes, context: Context) -> bytes:
        """KMS Encrypt of an existing data key: the blob opens with Decrypt exactly like
        one GenerateDataKey made (same key, same context in CloudTrail)."""
        self.calls["wrap"] += 1
        if len(plaintext) != DATA_KEY_BYTES:
            raise IntegrityError("A data key must be 32 bytes.")
        with _kms_errors(wrong_blob=False):
            out = self.client.encrypt(
                KeyId=self._key_id, Plaintext=plaintext, EncryptionContext=context
            )
        return join_header(FORMAT, 2, out["KeyId"], out["CiphertextBlob"])

    def rewrap(self, wrapped: bytes, context: Context, to_key_id: str | None = None) -> bytes:
        self.calls["rewrap"] += 1
        key_arn, blob = split_header(wrapped, FORMAT, 2)
        # The plaintext key never leaves KMS during a re-encrypt.
        with _kms_errors(wrong_blob=True):
            out = self.client.re_encrypt(
                CiphertextBlob=blob,
                SourceEncryptionContext=context,
                SourceKeyId=key_arn,
                DestinationKeyId=to_key_id or self._key_id,
                DestinationEncryptionContext=context,
            )
        if out.get("SourceKeyId") != key_arn:
            raise IntegrityError("The wrapped data key names the wrong master key.")
        return join_header(FORMAT, 2, out["KeyId"], out["CiphertextBlob"])

    def wrapped_by(self, wrapped: bytes) -> str:
        return split_header(wrapped, FORMAT, 2)[0]

    def begin_rotation(self, to_key_id: str | None = None) -> str:
        """Resolve the target CMK (an alias that now points elsewhere counts) to its ARN
        and make it active here; KMS keys are created by the template, never by us."""
        self.calls["describe_key"] += 1
        with _kms_errors(wrong_blob=False):
            meta = self.client.describe_key(KeyId=to_key_id or self._key_id)["KeyMetadata"]
        arn = meta["Arn"]
        self._key_id = arn
        return arn


@contextmanager
def _kms_errors(*, wrong_blob: bool) -> Iterator[None]:
    """Translate botocore failures into the port's two errors. `wrong_blob` calls take a
    stored blob, so any refusal that is not an outage means "this blob does not open here"."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _UNAVAILABLE:
            raise DependencyUnavailable(service="kms", error=code) from exc
        if wrong_blob:
            # InvalidCiphertext, IncorrectKey, AccessDenied or NotFound for the key the blob
            # names, a different context: fail loudly, never return a wrong key.
            raise IntegrityError(
                "The data key does not open with this key and context.", error=code
            ) from exc
        raise  # configuration errors (unknown key, no permission) stay visible as bugs
    except (ConnectionError, HTTPClientError) as exc:  # unreachable, timeouts
        raise DependencyUnavailable(service="kms", error=type(exc).__name__) from exc
    except ParamValidationError as exc:
        if wrong_blob:  # a tampered header can name a key id KMS would not even accept
            raise IntegrityError("The wrapped data key names an invalid master key.") from exc
        raise
