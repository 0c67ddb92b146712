"""The audit trail as deployed in AWS: signing key wrapped by KMS in DynamoDB, sealed
checkpoints as write-once objects in an Object Lock bucket (all through moto)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tpm.adapters.audit import open_audit
from tpm.adapters.audit.s3_sink import S3CheckpointSink
from tpm.adapters.audit.wrapped_signer import WrappedKeySigner
from tpm.adapters.keys.kms import KmsMasterKey
from tpm.adapters.store.base import SYSTEM_PRACTICE, Delete, Put
from tpm.adapters.store.dynamodb import DynamoStore
from tpm.clock import FixedClock
from tpm.errors import AuditUnavailable, IntegrityError
from tpm.security.audit import AUDIT_PK, AuditTrail, event_sk, read_head
from tpm.security.audit_chain import AuditEvent
from tpm.security.audit_verify import verify

PRACTICE = "prx_01aws"
BUCKET = "tpm-audit-export"


@pytest.fixture
def aws(dynamo_store: DynamoStore, clock: FixedClock) -> dict[str, Any]:
    kms = boto3.client("kms", region_name="us-east-1")
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    master = KmsMasterKey(key_arn, client=kms)
    return {"store": dynamo_store, "master": master, "s3": s3, "key_arn": key_arn, "clock": clock}


def trail_for(aws: dict[str, Any]) -> AuditTrail:
    signer, sink, trusted = open_audit(
        f"aws://{BUCKET}?kms_key={aws['key_arn']}", aws["store"], aws["master"]
    )
    assert isinstance(signer, WrappedKeySigner)
    assert isinstance(sink, S3CheckpointSink)
    sink._client = aws["s3"]
    return AuditTrail(signer, sink, clock=aws["clock"], checkpoint_every=3, trusted_keys=trusted)


def event(n: int) -> AuditEvent:
    return AuditEvent(
        practice_id=PRACTICE,
        actor_kind="system",
        actor_id="test",
        action="patient.read",
        resource_kind="patient",
        resource_id=f"pat_{n:02d}",
    )


def test_chain_with_kms_wrapped_key_and_s3_sink_verifies(aws: dict[str, Any]) -> None:
    trail = trail_for(aws)
    store = aws["store"].practice(PRACTICE)
    for n in range(7):
        trail.record(store, event(n))
    report = verify(store, trail.trusted_keys(), trail.sink)
    assert report.ok, report.summary()
    assert report.sealed_checkpoints_checked == 2  # seq 3 and 6
    objects = aws["s3"].list_objects_v2(Bucket=BUCKET)["Contents"]
    keys = sorted(o["Key"] for o in objects)
    assert f"audit-checkpoints/{PRACTICE}/000000000003.json" in keys
    assert any(k.startswith("audit-checkpoints/keys/") for k in keys)
    # The private key is stored only encrypted; no plaintext PEM anywhere in the row.
    row = aws["store"].practice(SYSTEM_PRACTICE).get("AUDIT_SIGNING_KEY", "CURRENT")
    assert b"PRIVATE KEY" not in bytes(row["sealed_private"])


def test_a_second_cold_start_reuses_the_same_signing_key(aws: dict[str, Any]) -> None:
    first = trail_for(aws)
    second = trail_for(aws)
    assert first.signer.key_id == second.signer.key_id
    assert aws["master"].calls["generate_data_key"] == 1


def test_truncation_is_caught_by_the_s3_copies(aws: dict[str, Any]) -> None:
    trail = trail_for(aws)
    store = aws["store"].practice(PRACTICE)
    for n in range(4):
        trail.record(store, event(n))
    old_head = read_head(store)
    assert old_head is not None
    for n in range(4, 7):
        trail.record(store, event(n))
    # GIVEN someone with table access deletes the newest events and restores the old head
    ops: list[Any] = [Delete(AUDIT_PK, event_sk(seq)) for seq in range(5, 8)]
    ops.append(Delete(AUDIT_PK, "CKP#000000000006"))
    store.transact(ops)
    head_item = aws["store"].practice(PRACTICE).get(AUDIT_PK, "HEAD")
    assert head_item is not None
    restored = {
        **head_item,
        **{k: v for k, v in old_head.model_dump(mode="json").items() if k in head_item},
    }
    store.put(Put(restored).item)
    # THEN the table alone might look fine, but the sealed copy at seq 6 says otherwise
    report = verify(store, trail.trusted_keys(), trail.sink)
    assert not report.ok
    assert any(p.kind == "truncated" for p in report.problems), report.summary()


def test_a_sealed_checkpoint_cannot_be_rewritten(aws: dict[str, Any]) -> None:
    trail = trail_for(aws)
    store = aws["store"].practice(PRACTICE)
    for n in range(3):
        trail.record(store, event(n))
    sealed = trail.sink.latest(PRACTICE)
    assert sealed is not None
    forged = sealed.model_copy(update={"hash": "f" * 64})
    with pytest.raises(IntegrityError):
        trail.sink.append(forged)
    trail.sink.append(sealed)  # the same checkpoint again is a no-op


def test_a_tampered_key_row_fails_loudly(aws: dict[str, Any]) -> None:
    trail_for(aws).signer.sign(b"x")
    system = aws["store"].practice(SYSTEM_PRACTICE)
    row = system.get("AUDIT_SIGNING_KEY", "CURRENT")
    sealed = bytearray(bytes(row["sealed_private"]))
    sealed[0] ^= 1
    system.put({**row, "sealed_private": bytes(sealed)})
    with pytest.raises(IntegrityError):
        trail_for(aws).signer.sign(b"x")


def test_old_checkpoints_verify_after_the_signing_key_is_rotated(aws: dict[str, Any]) -> None:
    trail = trail_for(aws)
    store = aws["store"].practice(PRACTICE)
    for n in range(4):
        trail.record(store, event(n))  # checkpoint at 3 under the first key
    first_key = trail.signer.key_id
    assert isinstance(trail.signer, WrappedKeySigner)
    second_key = trail.signer.rotate()
    assert second_key != first_key
    later = trail_for(aws)  # a cold start after the rotation
    for n in range(4, 8):
        later.record(store, event(n))  # checkpoint at 6 under the second key
    assert later.signer.key_id == second_key
    report = verify(store, later.trusted_keys(), later.sink)
    assert report.ok, report.summary()
    assert {c.key_id for c in later.sink.read(PRACTICE)} == {first_key, second_key}


def test_a_key_planted_in_the_table_is_not_trusted(aws: dict[str, Any]) -> None:
    # GIVEN someone with table access (not KMS) replaces the key row's public half with
    # their own key and re-signs the head with it
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tpm.security.audit_checkpoints import key_id_for, sign_head

    trail = trail_for(aws)
    store = aws["store"].practice(PRACTICE)
    for n in range(2):
        trail.record(store, event(n))
    mine = Ed25519PrivateKey.generate()

    class Planted:
        key_id = key_id_for(mine.public_key())

        def sign(self, message: bytes) -> bytes:
            return mine.sign(message)

    system = aws["store"].practice(SYSTEM_PRACTICE)
    row = system.get("AUDIT_SIGNING_KEY", "CURRENT")
    pem = mine.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    system.put({**row, "public_pem": pem, "key_id": Planted.key_id})
    head = read_head(store)
    assert head is not None
    fields = head.model_dump(exclude={"key_id", "signature"}) | {"time": "2031-01-01T00:00:00.000Z"}
    store.put(
        {"pk": AUDIT_PK, "sk": "HEAD", "type": "audit_head"}
        | sign_head(Planted(), **fields).model_dump(mode="json")
    )  # type: ignore[arg-type]
    # THEN verification does not trust it (keys come from the write-once sink only) ...
    report = verify(store, trail_for(aws).trusted_keys(), trail.sink)
    assert [p.kind for p in report.problems] == ["bad_head_signature"]
    # ... and nothing is appended on top of it
    with pytest.raises(AuditUnavailable):
        trail_for(aws).record(store, event(9))


def test_a_key_whose_publication_was_lost_is_published_before_it_signs(
    aws: dict[str, Any],
) -> None:
    trail = trail_for(aws)
    trail.signer.sign(b"x")  # creates and publishes the key
    key_object = f"audit-checkpoints/keys/{trail.signer.key_id.replace(':', '_')}.pem"
    # GIVEN the published copy never made it (a crash between the row and the object)
    aws["s3"].delete_object(Bucket=BUCKET, Key=key_object)
    assert trail.sink.published_keys() == {}  # type: ignore[attr-defined]
    # WHEN a new process loads the key THEN it publishes it before signing anything
    fresh = trail_for(aws)
    fresh.record(aws["store"].practice(PRACTICE), event(1))
    assert set(fresh.sink.published_keys()) == {trail.signer.key_id}  # type: ignore[attr-defined]


def test_a_restore_acknowledgement_is_a_write_once_s3_object_that_verify_reads(
    aws: dict[str, Any],
) -> None:
    from tpm.adapters.store.base import iterate
    from tpm.security.principal import SystemActor
    from tpm.services.audit_restore import acknowledge_restore

    trail = trail_for(aws)
    store = aws["store"].practice(PRACTICE)
    for n in range(4):
        trail.record(store, event(n))
    at_point = list(iterate(store, AUDIT_PK))
    point = aws["clock"].now()
    for n in range(4, 7):
        trail.record(store, event(n))
    # GIVEN the table restored to the point (every audit row as it stood then)
    store.transact([Delete(i["pk"], i["sk"]) for i in iterate(store, AUDIT_PK)])
    store.transact([Put(i) for i in at_point])
    assert not verify(store, trail.trusted_keys(), trail.sink).ok
    # WHEN the operator acknowledges it THEN it is an object beside the sealed checkpoints
    actor = SystemActor("operator-cli", PRACTICE, "req-ack")
    ack = acknowledge_restore(trail, store, actor, by="ops:sam", restore_point=point)
    names = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert f"audit-checkpoints/restores/{PRACTICE}/{ack.name}" in names
    with pytest.raises(IntegrityError):
        trail.sink.restores.acknowledge_restore(ack)  # type: ignore[attr-defined]
    report = verify(store, trail.trusted_keys(), trail.sink)
    assert report.ok, report.summary()
    assert report.status == "intact_with_acknowledged_restores"
    assert report.acknowledged_restores[0]["sealed_checkpoints_set_aside"] == [6]
