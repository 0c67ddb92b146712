"""The restore drill on the AWS adapters (moto): a practice on stack A (DynamoDB table,
KMS key, documents bucket, audit bucket with the wrapped signing key) is exported and
imported into stack B, a second table, KMS key and pair of buckets, as a provider change
or a new account would have it. The restored chain verifies on B against B's published
keys and sealed checkpoints; every item and file reads back identical; the data keys are
wrapped by B's KMS key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from support.template_resources import create_table

from tpm.adapters.audit import open_audit
from tpm.adapters.files import SealedFiles
from tpm.adapters.files.s3 import S3Blobs
from tpm.adapters.keys.kms import KmsMasterKey
from tpm.adapters.store.dynamodb import DynamoStore
from tpm.local.bootstrap import local_settings
from tpm.local.demo import seed_demo_people
from tpm.repositories.patients import PatientRepository
from tpm.runtime import Runtime, build_runtime
from tpm.security.audit import AUDIT_PK, HEAD_SK, AuditTrail
from tpm.security.audit_verify import verify
from tpm.security.envelope import KEYRING_PK, FieldCipher
from tpm.security.principal import SystemActor
from tpm.services.practice_archive import export_practice, import_practice
from tpm.services.practice_archive_format import ArchiveRefused
from tpm.services.practices import create_practice

REGION = "us-east-1"
PASSPHRASE = "harbour-violet-kettle-58"
PDF = b"%PDF-1.4\n% a synthetic consent form\n" + bytes(range(256)) * 8


class _Allow:
    def require(self, vendor: str, *, carries_phi: bool) -> None:
        return None


@dataclass
class Stacks:
    a: Runtime
    b: Runtime
    key_b: str


def _stack(name: str, local: Runtime) -> tuple[Runtime, str]:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_table(dynamodb, f"tpm-{name}")
    kms = boto3.client("kms", region_name=REGION)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=f"tpm-{name}-documents")
    s3.create_bucket(Bucket=f"tpm-{name}-audit", ObjectLockEnabledForBucket=True)
    store = DynamoStore(f"tpm-{name}", client=dynamodb, clock=local.clock)
    master = KmsMasterKey(key_arn, client=kms)
    cipher = FieldCipher(master, store, local.clock)
    signer, sink, trusted = open_audit(f"aws://tpm-{name}-audit", store, master)
    runtime = replace(
        local,
        store=store,
        master_key=master,
        cipher=cipher,
        audit=AuditTrail(signer, sink, clock=local.clock, trusted_keys=trusted),
        files=SealedFiles(cipher, S3Blobs(f"tpm-{name}-documents", kms_key_id=key_arn, client=s3)),
    )
    return runtime, key_arn


@pytest.fixture
def stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stacks]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    local = build_runtime(local_settings(tmp_path / "local", environment="test"))
    with mock_aws():
        a, _ = _stack("a", local)
        b, key_b = _stack("b", local)
        yield Stacks(a, b, key_b)
    local.store.close()


def _items(runtime: Runtime, practice_id: str) -> dict[tuple[str, str], Any]:
    return {(i["pk"], i["sk"]): i for i in runtime.store.dump_practice(practice_id)}


def test_restore_drill_from_one_aws_stack_to_another(stacks: Stacks, tmp_path: Path) -> None:
    a, b = stacks.a, stacks.b
    # GIVEN a practice on stack A: people, a patient, the vendor register, a document file
    practice = create_practice(
        a.store, a.clock, name="Harbour (synthetic)", slug="harbour", timezone="America/Chicago"
    )
    seed_demo_people(a, practice.id, register=True)
    a.files.put(practice.id, "doc_consent", PDF, guard=_Allow())
    archive = tmp_path / "harbour.tpmx"
    actor = SystemActor("operator-cli", practice.id, "test-aws-drill")
    exported = export_practice(a, practice.id, archive, PASSPHRASE, actor)
    assert exported.chain["ok"] is True
    assert exported.files == 1
    source = _items(a, practice.id)
    # WHEN it is imported into stack B (another table, KMS key and buckets)
    restored = import_practice(
        b, archive, PASSPHRASE, lambda pid: SystemActor("operator-cli", pid, "test-import")
    )
    # THEN B's own verification of the chain passes (A's key published in B's archive)
    store = b.store.practice(practice.id)
    report = verify(store, b.audit.trusted_keys(), b.audit.sink)
    assert report.ok, report.summary()
    assert restored.chain["ok"] is True
    # AND every item is identical but the data keys' wrapping, now by B's KMS key
    after = _items(b, practice.id)
    for key, item in source.items():
        if key == (AUDIT_PK, HEAD_SK):
            continue
        if key[0] == KEYRING_PK and key[1].startswith("DK#"):
            assert b.master_key.wrapped_by(after[key]["wrapped"]) == stacks.key_b
            assert after[key]["dk_id"] == item["dk_id"]
        else:
            assert after[key] == item, key
    # AND records and files open on B and read back identical
    old = PatientRepository(a.store.practice(practice.id), a.cipher).page(100, None)
    assert PatientRepository(store, b.cipher).page(100, None) == old
    assert b.files.get(practice.id, "doc_consent") == PDF
    assert b.store.practice("_system").get("PRACTICE_SLUG", "harbour") is not None
    # AND a second import into B is refused, changing nothing
    with pytest.raises(ArchiveRefused, match="already holds data here"):
        import_practice(b, archive, PASSPHRASE, lambda pid: SystemActor("x", pid, "again"))
    assert _items(b, practice.id) == after
