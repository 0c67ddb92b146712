"""Secure messaging's main path on the AWS adapters (all through moto): DynamoDB built from
template.yaml's table, field envelopes under a KMS key, attachments as SSE-KMS objects in
S3, the "message waiting" notice by SES. A patient writes with an attachment; the
clinician's inbox is one DynamoDB Query; the clinician reads, downloads and answers; the
sweep sends the notices; nothing readable is stored."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tpm.adapters.audit import open_audit
from tpm.adapters.files import SealedFiles
from tpm.adapters.files.s3 import S3Blobs
from tpm.adapters.keys.kms import KmsMasterKey
from tpm.adapters.notify.aws import AwsNotifier
from tpm.adapters.notify.ses import SesNotifier
from tpm.adapters.notify.sns import SnsSmsNotifier
from tpm.adapters.store.dynamodb import DynamoStore
from tpm.clock import FixedClock
from tpm.domain.messaging import ThreadKind
from tpm.domain.patients import Patient
from tpm.domain.users import User, UserStatus
from tpm.ids import new_id
from tpm.local.bootstrap import local_settings
from tpm.local.demo import demo_vendors
from tpm.repositories.patients import PatientRepository
from tpm.repositories.relationships import StoreRelationships
from tpm.repositories.users import UserRepository
from tpm.repositories.vendors import VendorRepository
from tpm.runtime import Runtime, build_runtime
from tpm.security.audit import AuditTrail
from tpm.security.envelope import FieldCipher
from tpm.security.principal import Principal, Role
from tpm.services.context import ServiceContext
from tpm.services.message_append import NewAttachment
from tpm.services.messaging import MessagingService, NewThread
from tpm.services.messaging_sweep import MessagingSweep
from tpm.services.practices import create_practice

REGION = "us-east-1"
BUCKET = "tpm-documents"
SENDER = "no-reply@clinic.example"
PORTAL = "https://portal.clinic.example/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SUBJECT = "About the new schedule"
BODY = "Waking at 3am since Tuesday."


@pytest.fixture
def runtime(
    dynamo_store: DynamoStore, clock: FixedClock, tmp_path: Path, dynamo_operations: list[str]
) -> Runtime:
    kms = boto3.client("kms", region_name=REGION)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
    master = KmsMasterKey(key_arn, client=kms)
    cipher = FieldCipher(master, dynamo_store, clock)
    signer, sink, trusted = open_audit(f"local://{tmp_path}/audit", dynamo_store, master)
    # The local runtime for what this test does not exercise (identity, video), with every
    # adapter messaging uses swapped for its AWS one.
    local = build_runtime(
        local_settings(tmp_path, environment="test", portal_url=PORTAL), clock=clock
    )
    return replace(
        local,
        store=dynamo_store,
        master_key=master,
        cipher=cipher,
        audit=AuditTrail(signer, sink, clock=clock, trusted_keys=trusted),
        notifier=AwsNotifier(SesNotifier(SENDER, region=REGION), SnsSmsNotifier(region=REGION)),
        files=SealedFiles(cipher, S3Blobs(BUCKET, kms_key_id=key_arn, client=s3)),
    )


def seed(runtime: Runtime) -> tuple[str, Principal, Principal]:
    practice = create_practice(
        runtime.store, runtime.clock, name="AWS Practice", slug="aws", timezone="America/Chicago"
    )
    store = runtime.store.practice(practice.id)
    users = UserRepository(store, runtime.cipher)
    now = runtime.clock.now()
    clinician = User(
        id=new_id("usr"),
        email="clinician@clinic.example",
        display_name="Casey Clinician",
        roles=frozenset({Role.CLINICIAN}),
        status=UserStatus.ACTIVE,
        created_at=now,
    )
    patient = Patient(
        id=new_id("pat"),
        legal_first_name="Pat",
        legal_last_name="Example",
        date_of_birth=date(1990, 1, 1),
        email="pat@example.test",
        created_at=now,
        created_by="test",
    )
    account = clinician.model_copy(
        update={
            "id": new_id("usr"),
            "email": "pat@example.test",
            "display_name": "Pat Example",
            "roles": frozenset({Role.PATIENT}),
            "patient_id": patient.id,
        }
    )
    # The business associate register: AWS (SES here) under an executed agreement, or the
    # notifier refuses to send.
    vendors = demo_vendors(now.date(), "test", now)
    store.transact(
        [
            *[op for v in vendors for op in VendorRepository.create_ops(v)],
            *users.create_ops(clinician),
            *users.create_ops(account),
            PatientRepository(store, runtime.cipher).create_op(patient),
            PatientRepository.portal_link_op(patient.id, account.id, "accepted", 1),
            StoreRelationships.add_member_op(patient.id, clinician.id, now),
        ]
    )

    def principal(user: User) -> Principal:
        return Principal(
            user_id=user.id,
            practice_id=practice.id,
            roles=user.roles,
            session_id="ses_test",
            auth_time=now,
            mfa_authenticated=False,
            patient_id=user.patient_id,
            display_name=user.display_name,
        )

    return practice.id, principal(account), principal(clinician)


def test_the_main_path_on_dynamodb_kms_s3_and_ses(
    runtime: Runtime, dynamo_operations: list[str]
) -> None:
    practice_id, patient, clinician = seed(runtime)
    # GIVEN the patient writes with an attachment
    sent = MessagingService(ServiceContext(runtime, patient)).start(
        NewThread(
            patient_id=None,
            kind=ThreadKind.PATIENT,
            subject=SUBJECT,
            body=BODY,
            attachments=(NewAttachment("log.png", "image/png", PNG),),
        )
    )
    # WHEN the clinician lists their inbox: one DynamoDB Query for the page
    service = MessagingService(ServiceContext(runtime, clinician))
    dynamo_operations.clear()
    entries, _ = service.inbox(25, None)
    assert [(e.thread_id, e.subject, e.unread) for e in entries] == [(sent.thread.id, SUBJECT, 1)]
    assert dynamo_operations.count("Query") == 1
    # AND reads the thread and the file, and answers
    page = service.thread(sent.thread.id, 50, None)
    assert page.messages[0].body == BODY
    attachment_id = page.messages[0].attachments[0].id
    _, data = service.attachment(attachment_id)
    assert data == PNG
    service.reply(sent.thread.id, "Let us talk on Tuesday.")
    # THEN the sweep sends both notices by SES, without content
    report = MessagingSweep(runtime).sweep_practice(practice_id)
    assert report.sent == 2
    mails = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert sorted(m.destinations["ToAddresses"][0] for m in mails) == [
        "clinician@clinic.example",
        "pat@example.test",
    ]
    for mail in mails:
        assert SUBJECT not in mail.subject + mail.body
        assert "Waking" not in mail.body
        assert PORTAL in mail.body
    # AND nothing readable is at rest: the table and the object hold ciphertext only
    raw = _raw_items(runtime)
    assert BODY not in raw
    assert SUBJECT not in raw
    s3 = runtime.files.blobs.client  # type: ignore[attr-defined]
    stored = s3.get_object(Bucket=BUCKET, Key=f"{practice_id}/{attachment_id}")
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert PNG not in stored["Body"].read()


def _raw_items(runtime: Runtime) -> str:
    """Every item as stored, read by the test with its own client (the app never scans,
    and the fixture's no-Scan check watches the app's client only)."""
    store: Any = runtime.store
    inspector = boto3.client("dynamodb", region_name=REGION)
    return str(inspector.scan(TableName=store.table_name)["Items"])
