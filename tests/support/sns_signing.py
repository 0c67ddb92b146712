"""SNS-style signed messages from a locally made certificate (tpm.security.sns): what SNS
would post to the webhook, signed with a key we hold instead of Amazon's."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tpm.security.sns import canonical_string

TOPIC = "arn:aws:sns:us-east-1:123456789012:tpm-inbound-sms"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-local-test.pem"


class LocalSigner:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = cert.public_bytes(serialization.Encoding.PEM)
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        """Stands in for the HTTPS GET of the certificate (the only network call)."""
        self.fetched.append(url)
        if url != CERT_URL:
            raise OSError("no such certificate")
        return self.pem

    def notification(self, record: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": "6f4c9e1b-0d6f-5b7e-9a55-3c2f1f0e9a11",
            "TopicArn": TOPIC,
            "Message": json.dumps(record),
            "Timestamp": "2026-12-07T02:00:00.000Z",
            "SignatureVersion": "2",
            "SigningCertURL": CERT_URL,
        }
        message.update(overrides)
        return self.signed(message)

    def signed(self, message: dict[str, Any]) -> dict[str, Any]:
        signature = self.key.sign(canonical_string(message), padding.PKCS1v15(), hashes.SHA256())
        return {**message, "Signature": base64.b64encode(signature).decode()}
