"""SNS message signatures (tpm.security.sns) against a locally made certificate: only a
message SNS signed (version 2) for the stack's topic, with its certificate on the SNS host
of the topic's region, is accepted; the certificate is fetched once and kept."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from support.sns_signing import CERT_URL, TOPIC, LocalSigner

from tpm.security.sns import SnsSignatureInvalid, SnsVerifier

RECORD = {"originationNumber": "+15555550177", "destinationNumber": "+15555550100",
          "messageBody": "STOP"}  # fmt: skip


@pytest.fixture(scope="module")
def signer() -> LocalSigner:
    return LocalSigner()


def verifier(signer: LocalSigner, topic: str = TOPIC) -> SnsVerifier:
    return SnsVerifier(topic, fetch=signer.fetch)


def test_a_message_signed_for_the_topic_is_accepted_and_the_certificate_kept(
    signer: LocalSigner,
) -> None:
    signer.fetched.clear()
    check = verifier(signer)
    assert check.verify(signer.notification(RECORD)) == "Notification"
    assert check.verify(signer.notification(RECORD, Subject="hello")) == "Notification"
    assert signer.fetched == [CERT_URL]  # once, then from the cache


@pytest.mark.parametrize(
    "change",
    [
        {"TopicArn": "arn:aws:sns:us-east-1:123456789012:someone-else"},
        {"SignatureVersion": "1"},
        {"SigningCertURL": "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem"},
        {"SigningCertURL": "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem"},
        {"SigningCertURL": "http://sns.us-east-1.amazonaws.com/cert.pem"},
        {"SigningCertURL": "https://sns.us-east-1.amazonaws.com:8443/cert.pem"},
        {"SigningCertURL": "https://user@sns.us-east-1.amazonaws.com/cert.pem"},
        {"SigningCertURL": "https://sns.eu-west-1.amazonaws.com/cert.pem"},
        {"SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem?x=1"},
        {"Type": "Whatever"},
    ],
    ids=lambda c: f"{next(iter(c))}={next(iter(c.values()))}",
)
def test_anything_but_sns_for_our_topic_is_refused_without_fetching(
    signer: LocalSigner, change: dict[str, Any]
) -> None:
    signer.fetched.clear()
    # signed correctly over the changed fields: only the rules can refuse it
    message = signer.notification(RECORD, **change)
    with pytest.raises(SnsSignatureInvalid):
        verifier(signer).verify(message)
    assert signer.fetched == []


def test_an_altered_or_unsigned_message_is_refused(signer: LocalSigner) -> None:
    good = signer.notification(RECORD)
    altered = {**good, "Message": good["Message"].replace("+15555550177", "+15555550178")}
    other_key = LocalSigner().signed({k: v for k, v in good.items() if k != "Signature"})
    unsigned = {k: v for k, v in good.items() if k != "Signature"}
    garbage = {**good, "Signature": "not base64!"}
    truncated = {**good, "Signature": base64.b64encode(b"x" * 10).decode()}
    for message in (altered, other_key, unsigned, garbage, truncated):
        with pytest.raises(SnsSignatureInvalid):
            verifier(signer).verify(message)


def test_without_a_configured_topic_nothing_is_accepted(signer: LocalSigner) -> None:
    with pytest.raises(SnsSignatureInvalid):
        verifier(signer, topic="").verify(signer.notification(RECORD))


def test_an_unreachable_certificate_refuses_the_message(signer: LocalSigner) -> None:
    def down(url: str) -> bytes:
        raise OSError("unreachable")

    with pytest.raises(SnsSignatureInvalid):
        SnsVerifier(TOPIC, fetch=down).verify(signer.notification(RECORD))
