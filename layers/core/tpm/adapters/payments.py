"""The card processor behind one port.

Card data never reaches tpm: the patient pays on the processor's hosted checkout page
(PCI SAQ A). A processor doing payment processing is not a business associate and signs
no BAA, so it receives **no PHI**: amounts, currency and opaque ids only — never a name,
a service, a diagnosis or a description (`receives_phi = False`, checked by the service
before every call). Its events reach us as signed webhooks, verified here.

`LocalProcessor` (tpm dev and tests) keeps no state: a checkout is an opaque id and a URL,
and `pay()` / `payout()` produce the signed events a real processor would send, in the
Stripe signature format (`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`). A Stripe
adapter goes behind the same methods (not built yet).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from tpm.adapters.outbound import OutboundGuard

TOLERANCE_SECONDS = 300


class InvalidSignature(ValueError):
    """The webhook's signature does not verify (or is too old)."""


@dataclass(frozen=True)
class Checkout:
    id: str
    url: str


class CardProcessor(Protocol):
    vendor: str
    receives_phi: bool

    def create_checkout(
        self,
        *,
        amount_cents: int,
        currency: str,
        reference: str,
        idempotency_key: str,
        guard: OutboundGuard,
    ) -> Checkout: ...

    def verify_event(self, body: bytes, signature: str) -> dict[str, Any]: ...


def sign(secret: bytes, body: bytes, at: int) -> str:
    mac = hmac.new(secret, f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def verify(secret: bytes, body: bytes, header: str, now: float | None = None) -> dict[str, Any]:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        at = int(parts["t"])
    except (KeyError, ValueError):
        raise InvalidSignature("no timestamp") from None
    expected = sign(secret, body, at).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise InvalidSignature("signature mismatch")
    if abs((now if now is not None else time.time()) - at) > TOLERANCE_SECONDS:
        raise InvalidSignature("too old")
    try:
        event: dict[str, Any] = json.loads(body)
    except ValueError:
        raise InvalidSignature("not JSON") from None
    return event


@dataclass
class LocalProcessor:
    secret: bytes
    vendor: str = "card-processor"  # its key in the business associate register
    receives_phi: bool = False

    def create_checkout(
        self,
        *,
        amount_cents: int,
        currency: str,
        reference: str,
        idempotency_key: str,
        guard: OutboundGuard,
    ) -> Checkout:
        # Amount, currency and an opaque reference: no PHI, so no agreement is needed; the
        # register is still asked so the place that sends is marked (docs/compliance.md).
        guard.require(self.vendor, carries_phi=False)
        checkout_id = "cs_local_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return Checkout(checkout_id, f"/local-processor/checkout/{checkout_id}")

    def verify_event(self, body: bytes, signature: str) -> dict[str, Any]:
        return verify(self.secret, body, signature)

    def _event(self, kind: str, data: dict[str, Any], at: int | None = None) -> tuple[bytes, str]:
        at = at if at is not None else int(time.time())
        body = json.dumps(
            {
                "id": "evt_local_" + secrets.token_hex(12),
                "type": kind,
                "created": at,
                "data": {"object": data},
            },
            separators=(",", ":"),
        ).encode()
        return body, sign(self.secret, body, at)

    def pay(
        self, checkout_id: str, amount_cents: int, reference: str, practice_id: str
    ) -> tuple[bytes, str]:
        """What the processor sends when the patient completes the hosted checkout."""
        return self._event(
            "checkout.session.completed",
            {
                "id": checkout_id,
                "amount_total": amount_cents,
                "currency": "usd",
                "payment_intent": "pi_local_" + secrets.token_hex(10),
                "metadata": {"reference": reference, "practice": practice_id},
            },
        )

    def payout(self, amount_cents: int, arrival: date, practice_id: str) -> tuple[bytes, str]:
        """What the processor sends when it pays the practice's bank account."""
        return self._event(
            "payout.paid",
            {
                "id": "po_local_" + secrets.token_hex(10),
                "amount": amount_cents,
                "currency": "usd",
                "arrival_date": arrival.isoformat(),
                "metadata": {"practice": practice_id},
            },
        )


def local_processor(secret: bytes) -> LocalProcessor:
    return LocalProcessor(secret)
