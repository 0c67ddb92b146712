"""The write-once audit archive on S3 (moto, a bucket with Object Lock like
AuditExportBucket): each object is locked in COMPLIANCE mode until the retention date,
SSE-KMS with the PHI key, written once, and nothing is written without an agreement with
AWS in the practice's register."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from support.outbound import RecordingGuard

from tpm.adapters.archive import open_archive
from tpm.adapters.archive.s3 import S3Archive
from tpm.domain.vendors import AgreementRequired
from tpm.errors import NotFound

BUCKET = "tpm-audit-archive-contract"
GUARD = RecordingGuard()


@pytest.fixture
def s3(aws_env: None) -> Iterator[tuple[Any, str]]:
    with mock_aws():
        key_arn = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        yield client, key_arn


def test_objects_are_locked_until_the_retention_date_and_written_once(s3: tuple[Any, str]) -> None:
    client, key_arn = s3
    archive = S3Archive(BUCKET, kms_key_id=key_arn, client=client)
    until = datetime(2033, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert archive.put(
        "prx_a/000000000001-000000000009/events.jsonl", b"x\n", retain_until=until, guard=GUARD
    )
    head = client.head_object(
        Bucket=BUCKET, Key="audit-exports/prx_a/000000000001-000000000009/events.jsonl"
    )
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].replace(tzinfo=UTC) == until
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_arn
    # written once: a second put of the same key changes nothing
    assert not archive.put(
        "prx_a/000000000001-000000000009/events.jsonl", b"other", retain_until=until, guard=GUARD
    )
    assert archive.get("prx_a/000000000001-000000000009/events.jsonl") == b"x\n"
    assert archive.keys("prx_a") == ["prx_a/000000000001-000000000009/events.jsonl"]
    with pytest.raises(NotFound):
        archive.get("prx_a/nothing")


def test_a_locked_object_version_cannot_be_deleted(s3: tuple[Any, str]) -> None:
    client, key_arn = s3
    archive = S3Archive(BUCKET, kms_key_id=key_arn, client=client)
    archive.put(
        "prx_a/seg/manifest.json",
        b"{}",
        retain_until=datetime.now(UTC) + timedelta(days=365 * 6),
        guard=GUARD,
    )
    key = "audit-exports/prx_a/seg/manifest.json"
    version = client.head_object(Bucket=BUCKET, Key=key)["VersionId"]
    with pytest.raises(client.exceptions.ClientError):
        client.delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    assert archive.get("prx_a/seg/manifest.json") == b"{}"


def test_nothing_is_archived_without_an_agreement_with_aws(s3: tuple[Any, str]) -> None:
    client, key_arn = s3
    refusing = RecordingGuard(refuse=frozenset({"aws"}))
    archive = S3Archive(BUCKET, kms_key_id=key_arn, client=client)
    with pytest.raises(AgreementRequired):
        archive.put("prx_a/seg/events.jsonl", b"x", retain_until=datetime.now(UTC), guard=refusing)
    assert refusing.asked == [("aws", True)]
    assert client.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_the_archive_follows_the_audit_url() -> None:
    archive = open_archive("aws://bucket-x?prefix=audit-checkpoints&kms_key=arn:k")
    assert isinstance(archive, S3Archive)
    assert (archive.bucket, archive.prefix, archive.kms_key_id) == (
        "bucket-x",
        "audit-exports",
        "arn:k",
    )
    with pytest.raises(ValueError, match="plain relative"):
        archive.get("../escape")
