"""Sealed files as S3 objects '<practice>/<file id>' in the documents bucket.

Every put names SSE-KMS and the PHI key: the bucket policy refuses uploads without them
(DenyUploadsNotEncryptedWithKms / DenyUploadsWithAnotherKmsKey in template.yaml). Puts are
conditional (If-None-Match: *), so a document's object is written exactly once.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tpm.errors import AlreadyExists, DependencyUnavailable, NotFound

_TRANSIENT = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "Throttling",
    "KMS.ThrottlingException",
}
_EXISTS = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Blobs:
    vendor: str | None = "aws"  # covered by the practice's agreement with AWS

    def __init__(
        self, bucket: str, *, kms_key_id: str, region: str | None = None, client: Any = None
    ) -> None:
        self.bucket = bucket
        self.kms_key_id = kms_key_id
        self.region = region
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:  # created at first use, not at import (cold start)
            import boto3

            self._client = boto3.client("s3", region_name=self.region)
        return self._client

    def write(self, key: str, body: bytes) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                IfNoneMatch="*",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self.kms_key_id,
                ContentType="application/octet-stream",
            )
        except ClientError as exc:
            raise _mapped(exc) from exc

    def read(self, key: str) -> bytes:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError as exc:
            raise _mapped(exc) from exc

    def names(self, practice_id: str) -> list[str]:
        prefix = f"{practice_id}/"
        found: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                found += [obj["Key"][len(prefix) :] for obj in page.get("Contents", [])]
        except ClientError as exc:
            raise _mapped(exc) from exc
        return sorted(found)


def _mapped(exc: ClientError) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in _EXISTS:
        return AlreadyExists()
    if code in _MISSING:
        return NotFound()
    if code in _TRANSIENT:
        return DependencyUnavailable()
    return exc
