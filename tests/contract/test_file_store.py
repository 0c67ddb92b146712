"""One suite over both document file backends: a local folder and S3 (moto). Both go
through SealedFiles, so the bytes at rest are the PHI envelope, never the file."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from support.outbound import RecordingGuard

from tpm.adapters.files import FileStore, SealedFiles, blob_key, open_files
from tpm.adapters.files.local import LocalBlobs
from tpm.adapters.files.s3 import S3Blobs
from tpm.adapters.keys.local import LocalMasterKey
from tpm.adapters.store.sqlite import SqliteStore
from tpm.clock import FixedClock
from tpm.domain.vendors import AgreementRequired
from tpm.errors import AlreadyExists, DependencyUnavailable, IntegrityError, NotFound
from tpm.security.envelope import FieldCipher

PRACTICE, OTHER = "prx_files", "prx_other"
BUCKET = "tpm-documents-contract"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"
GUARD = RecordingGuard()


@pytest.fixture
def cipher(tmp_path: Path, clock: FixedClock) -> Iterator[FieldCipher]:
    store = SqliteStore(tmp_path / "tpm.db", clock=clock)
    yield FieldCipher(LocalMasterKey(tmp_path / "keys"), store, clock)
    store.close()


@pytest.fixture
def s3(aws_env: None) -> Iterator[tuple[Any, str]]:
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        key_arn = kms.create_key()["KeyMetadata"]["Arn"]
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client, key_arn


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Any]:
    if request.param == "local":
        return "local", LocalBlobs(tmp_path / "files")
    client, key_arn = request.getfixturevalue("s3")
    return "s3", S3Blobs(BUCKET, kms_key_id=key_arn, client=client)


@pytest.fixture
def files(cipher: FieldCipher, backend: tuple[str, Any]) -> FileStore:
    return SealedFiles(cipher, backend[1])


def stored_bytes(backend: tuple[str, Any], key: str) -> bytes:
    return bytes(backend[1].read(key))


def test_bytes_round_trip_and_rest_sealed(files: FileStore, backend: tuple[str, Any]) -> None:
    files.put(PRACTICE, "doc_a", PDF, guard=GUARD)
    assert files.get(PRACTICE, "doc_a") == PDF
    at_rest = stored_bytes(backend, "prx_files/doc_a")
    assert at_rest.startswith(b"tpm1:")
    assert b"%PDF" not in at_rest


def test_a_practices_files_are_listed_and_move_sealed(
    files: FileStore, backend: tuple[str, Any]
) -> None:
    """What the whole-practice export and restore use: the ids of one practice's files,
    and the sealed bytes read and written as they are (a restore writes each once)."""
    assert files.file_ids(PRACTICE) == []
    for file_id in ("doc_b", "doc_a"):
        files.put(PRACTICE, file_id, PDF, guard=GUARD)
    files.put(OTHER, "doc_c", PDF, guard=GUARD)
    assert files.file_ids(PRACTICE) == ["doc_a", "doc_b"]
    sealed = files.read_sealed(PRACTICE, "doc_a")
    assert sealed == stored_bytes(backend, "prx_files/doc_a")
    files.write_sealed(PRACTICE, "doc_copy", sealed)
    with pytest.raises(AlreadyExists):
        files.write_sealed(PRACTICE, "doc_copy", sealed)
    assert files.file_ids(PRACTICE) == ["doc_a", "doc_b", "doc_copy"]


def test_files_are_written_once(files: FileStore) -> None:
    files.put(PRACTICE, "doc_once", PDF, guard=GUARD)
    with pytest.raises(AlreadyExists):
        files.put(PRACTICE, "doc_once", b"%PDF-replacement", guard=GUARD)
    assert files.get(PRACTICE, "doc_once") == PDF


def test_a_missing_file_is_not_found(files: FileStore) -> None:
    with pytest.raises(NotFound):
        files.get(PRACTICE, "doc_never")


def test_a_file_moved_to_another_id_or_practice_does_not_open(
    files: FileStore, backend: tuple[str, Any]
) -> None:
    # GIVEN two sealed files; WHEN one's bytes are copied under another id / practice
    files.put(PRACTICE, "doc_one", PDF, guard=GUARD)
    files.put(PRACTICE, "doc_two", b"%PDF-other", guard=GUARD)
    sealed = stored_bytes(backend, "prx_files/doc_one")
    backend[1].write("prx_files/doc_copy", sealed)
    backend[1].write("prx_other/doc_one", sealed)
    # THEN they fail their integrity check instead of opening as another document
    with pytest.raises(IntegrityError):
        files.get(PRACTICE, "doc_copy")
    with pytest.raises(IntegrityError):
        files.get(OTHER, "doc_one")


def test_a_changed_byte_fails_the_integrity_check(
    files: FileStore, backend: tuple[str, Any]
) -> None:
    files.put(PRACTICE, "doc_t", PDF, guard=GUARD)
    sealed = bytearray(stored_bytes(backend, "prx_files/doc_t"))
    sealed[40] = ord("A") if sealed[40] != ord("A") else ord("B")
    backend[1].write("prx_files/doc_tampered", bytes(sealed))
    with pytest.raises(IntegrityError):
        files.get(PRACTICE, "doc_tampered")


def test_ids_that_could_name_a_path_are_refused() -> None:
    for bad in ("../etc", "a/b", "", "doc id", "x" * 65):
        with pytest.raises(ValueError, match="plain identifiers"):
            blob_key(PRACTICE, bad)
    with pytest.raises(ValueError, match="plain identifiers"):
        blob_key("../x", "doc_a")


def test_local_files_are_private(cipher: FieldCipher, tmp_path: Path) -> None:
    files = SealedFiles(cipher, LocalBlobs(tmp_path / "files"))
    files.put(PRACTICE, "doc_mode", PDF, guard=GUARD)
    path = tmp_path / "files" / PRACTICE / "doc_mode"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["doc_mode"]  # no temporary left


def test_s3_objects_use_sse_kms_with_the_phi_key(cipher: FieldCipher, s3: tuple[Any, str]) -> None:
    client, key_arn = s3
    files = SealedFiles(cipher, S3Blobs(BUCKET, kms_key_id=key_arn, client=client))
    files.put(PRACTICE, "doc_kms", PDF, guard=GUARD)
    head = client.head_object(Bucket=BUCKET, Key="prx_files/doc_kms")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_arn


@pytest.mark.parametrize(
    ("code", "expected"),
    [("SlowDown", DependencyUnavailable), ("ServiceUnavailable", DependencyUnavailable)],
)
def test_s3_throttling_is_a_retryable_503(
    cipher: FieldCipher, aws_env: None, code: str, expected: type[Exception]
) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    files = SealedFiles(cipher, S3Blobs(BUCKET, kms_key_id="arn:key", client=client))
    with Stubber(client) as stub:
        stub.add_client_error("put_object", service_error_code=code, http_status_code=503)
        stub.add_client_error("get_object", service_error_code=code, http_status_code=503)
        with pytest.raises(expected):
            files.put(PRACTICE, "doc_slow", PDF, guard=GUARD)
        with pytest.raises(expected):
            files.get(PRACTICE, "doc_slow")


def test_access_denied_is_not_hidden(cipher: FieldCipher, aws_env: None) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    files = SealedFiles(cipher, S3Blobs(BUCKET, kms_key_id="arn:key", client=client))
    with Stubber(client) as stub:
        stub.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(Exception, match="AccessDenied"):
            files.put(PRACTICE, "doc_denied", PDF, guard=GUARD)


def test_open_files_chooses_the_backend_from_the_url(cipher: FieldCipher, tmp_path: Path) -> None:
    local = open_files(f"local:///{tmp_path / 'f'}", cipher)
    assert isinstance(local, SealedFiles)
    assert isinstance(local.blobs, LocalBlobs)
    remote = open_files(f"s3://{BUCKET}?kms_key=arn:aws:kms:us-east-1:1:key/k", cipher)
    assert isinstance(remote, SealedFiles)
    assert isinstance(remote.blobs, S3Blobs)
    assert remote.blobs.kms_key_id == "arn:aws:kms:us-east-1:1:key/k"
    with pytest.raises(ValueError, match="kms_key"):
        open_files(f"s3://{BUCKET}", cipher)
    with pytest.raises(ValueError, match="TPM_FILES"):
        open_files("ftp://somewhere", cipher)


def test_the_setting_accepts_only_the_two_schemes() -> None:
    from pydantic import ValidationError

    from tpm.config import settings_from_env

    chosen = settings_from_env({"TPM_FILES": f"s3://{BUCKET}?kms_key=arn:k"})
    assert chosen.files_url == f"s3://{BUCKET}?kms_key=arn:k"
    with pytest.raises(ValidationError, match="TPM_FILES"):
        settings_from_env({"TPM_FILES": "file:///tmp/files"})


def test_s3_asks_the_register_and_stores_nothing_when_it_refuses(
    cipher: FieldCipher, s3: tuple[Any, str]
) -> None:
    client, key_arn = s3
    files = SealedFiles(cipher, S3Blobs(BUCKET, kms_key_id=key_arn, client=client))
    # GIVEN the practice has no agreement in effect with AWS
    refusing = RecordingGuard(refuse=frozenset({"aws"}))
    # WHEN a file is put THEN it is refused before anything reaches the bucket
    with pytest.raises(AgreementRequired) as caught:
        files.put(PRACTICE, "doc_no_baa", PDF, guard=refusing)
    assert caught.value.details == {"vendor": "aws", "reason": "agreement_expired"}
    assert refusing.asked == [("aws", True)]
    assert client.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_the_local_folder_sends_nothing_out_and_asks_nobody(
    cipher: FieldCipher, tmp_path: Path
) -> None:
    asked = RecordingGuard(refuse=frozenset({"aws"}))
    SealedFiles(cipher, LocalBlobs(tmp_path / "files")).put(PRACTICE, "doc_l", PDF, guard=asked)
    assert asked.asked == []
