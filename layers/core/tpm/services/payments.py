"""Card payments: a hosted checkout for an amount (no PHI leaves tpm), and the
processor's signed webhooks (payment completed -> a patient payment in the ledger;
payout paid -> a payout to reconcile against the bank).

The checkout row links the processor's opaque checkout id to the patient; the processor
sees only the amount, the currency and that opaque reference. Webhooks are verified,
stored raw and idempotent by event id: the same event twice changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tpm.adapters.payments import CardProcessor, InvalidSignature, LocalProcessor
from tpm.adapters.store.base import Absent, ConditionFailed, Operation, Put
from tpm.domain.billing.ledger import LedgerEntry
from tpm.errors import NotFound, TpmError, Unauthenticated, ValidationFailed
from tpm.ids import new_id
from tpm.repositories.billing import LedgerRepository
from tpm.repositories.patients import PatientRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import SystemActor
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice

ACTOR = "card-processor"
_PROCESSORS: dict[str, CardProcessor] = {}


class PhiToProcessor(TpmError):
    """A programming guard: a processor that may receive PHI is never used for cards."""

    code = "processor_receives_phi"


def processor_of(runtime: Runtime) -> CardProcessor:
    """The deployment's processor. Locally: the local processor, its webhook secret
    derived from the deployment's keys (stable across restarts, never stored)."""
    key = runtime.settings.store_url
    if key not in _PROCESSORS:
        secret = runtime.cipher.blind_index("_system", "card-processor-webhook", "local")
        _PROCESSORS[key] = LocalProcessor(secret.encode())
    processor = _PROCESSORS[key]
    if processor.receives_phi:
        raise PhiToProcessor()
    return processor


@dataclass(frozen=True)
class CheckoutStarted:
    checkout_id: str
    url: str
    amount: Decimal


class PaymentService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def checkout(self, patient_id: str, amount: Decimal) -> CheckoutStarted:
        ctx = self.ctx
        access = ctx.authorize(
            "ledger.payment.card",
            resource_kind="payment",
            resource_id=patient_id,
            patient_id=patient_id,
        )
        if PatientRepository(ctx.store, ctx.runtime.cipher).get(patient_id) is None:
            raise NotFound()
        reference = new_id("pay")
        processor = processor_of(ctx.runtime)
        # Amount, currency and an opaque reference: nothing else goes to the processor.
        checkout = processor.create_checkout(
            amount_cents=int(amount * 100),
            currency="usd",
            reference=reference,
            idempotency_key=reference,
            guard=ctx.outbound,
        )
        row = {
            "pk": f"CHECKOUT#{checkout.id}",
            "sk": "CHECKOUT",
            "reference": reference,
            "patient_id": patient_id,
            "amount": str(amount),
            "status": "open",
            "created_at": ctx.now().isoformat(),
            "created_by": ctx.principal.user_id,
        }
        ctx.write(
            access,
            lambda: [Put(row, Absent())],
            "payment",
            reference,
            patient_id=patient_id,
            reason_code="checkout",
        )
        return CheckoutStarted(checkout.id, checkout.url, amount)


def handle_webhook(runtime: Runtime, body: bytes, signature: str) -> str:
    """Verify, dedupe and apply one processor event; returns what happened (a code)."""
    processor = processor_of(runtime)
    try:
        event = processor.verify_event(body, signature)
    except InvalidSignature:
        raise Unauthenticated("The webhook signature does not verify.") from None
    obj: dict[str, Any] = event.get("data", {}).get("object", {})
    practice_id = str(obj.get("metadata", {}).get("practice", ""))
    event_id = str(event.get("id", ""))
    if not practice_id or not event_id:
        raise ValidationFailed(fields=[{"path": "body", "type": "unknown_event"}])
    try:
        get_practice(runtime.store, practice_id)
    except NotFound:
        raise ValidationFailed(fields=[{"path": "body", "type": "unknown_event"}]) from None
    store = runtime.store.practice(practice_id)
    now = runtime.clock.now()
    raw = {
        "pk": f"PAYMENT_EVENT#{event_id}",
        "sk": "EVENT",
        "type": str(event.get("type")),
        "received_at": now.isoformat(),
        "body": json.dumps(event),
    }
    ops: list[Operation] = [Put(raw, Absent())]
    patient_id: str | None = None
    outcome = "ignored"
    if event.get("type") == "checkout.session.completed":
        checkout = store.get(f"CHECKOUT#{obj.get('id')}", "CHECKOUT")
        if checkout is None or checkout.get("reference") != obj.get("metadata", {}).get(
            "reference"
        ):
            outcome = "unmatched_checkout"
        else:
            patient_id = str(checkout["patient_id"])
            amount = Decimal(int(obj.get("amount_total", 0))) / 100
            entry = LedgerEntry(
                id=new_id("led"),
                patient_id=patient_id,
                at=now,
                kind="patient_payment",
                bucket="patient",
                amount=-amount,
                reason="card",
                source=str(obj.get("payment_intent") or obj.get("id")),
                created_by=ACTOR,
            )
            ops.append(LedgerRepository.entry_op(entry))
            ops.append(Put({**checkout, "status": "paid", "entry_id": entry.id}))
            outcome = "payment_posted"
    elif event.get("type") == "payout.paid":
        payout = {
            "pk": "PAYOUTS",
            "sk": f"{obj.get('arrival_date')}#{obj.get('id')}",
            "payout_id": str(obj.get("id")),
            "amount": str(Decimal(int(obj.get("amount", 0))) / 100),
            "arrival_date": str(obj.get("arrival_date")),
        }
        ops.append(Put(payout, Absent()))
        outcome = "payout_recorded"
    audit = AuditEvent.for_system(
        SystemActor(ACTOR, practice_id),
        action="payment.webhook",
        resource_kind="payment",
        resource_id=event_id[:128],
        patient_id=patient_id,
        reason_code=outcome,
    )
    try:
        runtime.audit.write_with_audit(store, lambda: list(ops), audit)
    except ConditionFailed:
        return "duplicate"
    return outcome
