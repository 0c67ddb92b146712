"""Amazon SNS message signatures, for the one webhook SNS calls (POST /v1/sms/inbound).

Anyone can POST to a public URL; only SNS can sign. A message is accepted only when:

- it names exactly the stack's topic (`TopicArn` == settings.sms_topic_arn; none
  configured: nothing is accepted);
- it is signed with `SignatureVersion` 2 (RSA, SHA-256; version 1's SHA-1 is refused);
- its `SigningCertURL` is `https://sns.<the topic's region>.amazonaws.com/....pem` —
  nothing else is ever fetched (no other host, port, user info or query), so a forged
  message cannot point us at a certificate of its choosing;
- the certificate's RSA key verifies the signature over SNS's canonical string
  (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).

Certificates are fetched once per URL and kept (bounded) for the life of the process:
SNS rotates them under a new URL. `fetch_certificate` is the only network call.
"""

from __future__ import annotations

import base64
import binascii
import threading
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from tpm.errors import Forbidden

MESSAGE_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_FIELDS["UnsubscribeConfirmation"] = _SIGNED_FIELDS["SubscriptionConfirmation"]
_CACHE_SIZE = 16
_MAX_CERT_BYTES = 16_384


class SnsSignatureInvalid(Forbidden):
    message = "The message is not signed by this deployment's SNS topic."


def fetch_certificate(url: str) -> bytes:
    """The certificate at an already checked SNS URL (5 s, at most 16 KB)."""
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - https, SNS host only
        data: bytes = response.read(_MAX_CERT_BYTES + 1)
    if len(data) > _MAX_CERT_BYTES:
        raise SnsSignatureInvalid()
    return data


def canonical_string(message: Mapping[str, Any]) -> bytes:
    """SNS's string to sign: each signed field present, as `name\\nvalue\\n`, in order."""
    fields = _SIGNED_FIELDS.get(str(message.get("Type")), _SIGNED_FIELDS["Notification"])
    return "".join(
        f"{name}\n{message[name]}\n" for name in fields if message.get(name) is not None
    ).encode("utf-8")


def certificate_url_ok(url: str, region: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and parts.netloc == f"sns.{region}.amazonaws.com"  # no port, no user info
        and parts.path.endswith(".pem")
        and not parts.query
        and not parts.fragment
    )


class SnsVerifier:
    def __init__(self, topic_arn: str, fetch: Callable[[str], bytes] | None = None) -> None:
        self.topic_arn = topic_arn
        self.region = topic_arn.split(":")[3] if topic_arn else ""
        self._fetch = fetch
        self._keys: OrderedDict[str, RSAPublicKey] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, message: Mapping[str, Any]) -> str:
        """The message's Type when it is SNS's, signed for our topic; SnsSignatureInvalid
        (403) otherwise."""
        kind = message.get("Type")
        if not self.topic_arn or kind not in MESSAGE_TYPES:
            raise SnsSignatureInvalid()
        if message.get("TopicArn") != self.topic_arn or message.get("SignatureVersion") != "2":
            raise SnsSignatureInvalid()
        required = [f for f in _SIGNED_FIELDS[str(kind)] if f != "Subject"]
        if any(not isinstance(message.get(f), str) for f in required):
            raise SnsSignatureInvalid()
        url, signature = message.get("SigningCertURL"), message.get("Signature")
        if not isinstance(url, str) or not isinstance(signature, str):
            raise SnsSignatureInvalid()
        if not certificate_url_ok(url, self.region):
            raise SnsSignatureInvalid()
        try:
            raw = base64.b64decode(signature, validate=True)
        except (ValueError, binascii.Error):
            raise SnsSignatureInvalid() from None
        try:
            self._key(url).verify(
                raw, canonical_string(message), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise SnsSignatureInvalid() from None
        return str(kind)

    def _key(self, url: str) -> RSAPublicKey:
        with self._lock:
            key = self._keys.get(url)
            if key is not None:
                self._keys.move_to_end(url)
                return key
        fetch = self._fetch or fetch_certificate
        try:
            cert = x509.load_pem_x509_certificate(fetch(url))
        except SnsSignatureInvalid:
            raise
        except Exception:  # unreachable, not a certificate: the message cannot be trusted
            raise SnsSignatureInvalid() from None
        public = cert.public_key()
        if not isinstance(public, RSAPublicKey):
            raise SnsSignatureInvalid()
        with self._lock:
            self._keys[url] = public
            while len(self._keys) > _CACHE_SIZE:
                self._keys.popitem(last=False)
        return public


_VERIFIERS: dict[str, SnsVerifier] = {}


def verifier_for(topic_arn: str) -> SnsVerifier:
    """One verifier (and certificate cache) per topic per process."""
    found = _VERIFIERS.get(topic_arn)
    if found is None:
        found = _VERIFIERS.setdefault(topic_arn, SnsVerifier(topic_arn))
    return found
