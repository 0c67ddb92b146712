"""The archive in the audit export bucket: Object Lock (COMPLIANCE) per object, SSE-KMS."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tpm.adapters.archive import check_key
from tpm.adapters.outbound import OutboundGuard
from tpm.errors import DependencyUnavailable, NotFound

_TRANSIENT = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"}
_EXISTS = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


class S3Archive:
    vendor: str | None = "aws"  # covered by the practice's agreement with AWS

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "audit-exports",
        kms_key_id: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.kms_key_id = kms_key_id
        self.region = region
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:  # at first use, not at import (cold start)
            import boto3

            self._client = boto3.client("s3", region_name=self.region)
        return self._client

    def put(self, key: str, body: bytes, *, retain_until: datetime, guard: OutboundGuard) -> bool:
        guard.require("aws", carries_phi=True)  # the trail says who opened which record
        extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms"}
        if self.kms_key_id:
            extra["SSEKMSKeyId"] = self.kms_key_id
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=f"{self.prefix}/{check_key(key)}",
                Body=body,
                IfNoneMatch="*",
                ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=retain_until,
                ChecksumAlgorithm="SHA256",
                ContentType="application/octet-stream",
                **extra,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _EXISTS:
                return False
            raise _mapped(exc) from exc
        return True

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=f"{self.prefix}/{check_key(key)}"
            )
        except ClientError as exc:
            raise _mapped(exc) from exc
        return bytes(response["Body"].read())

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        full = f"{self.prefix}/{check_key(prefix.rstrip('/'))}/"
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            ):
                found += [o["Key"][len(self.prefix) + 1 :] for o in page.get("Contents", [])]
        except ClientError as exc:
            raise _mapped(exc) from exc
        return sorted(found)


def _mapped(exc: ClientError) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in ("NoSuchKey", "404", "NotFound"):
        return NotFound()
    if code in _TRANSIENT:
        return DependencyUnavailable()
    return exc
