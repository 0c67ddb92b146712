"""Files from the clearinghouse and payers: 999, 277CA and 835.

Every file is stored raw first (sealed in the file store), then read. A 999 moves the
claims of the batch it names (GS06) to rejected, or leaves them submitted; a 277CA moves
each claim (TRN02 = our CLM01) to accepted, keeping the payer's claim number, or to
rejected. An 835 is posted:

  store raw -> parse -> balance -> dedupe (TRN03, TRN02, BPR02, BPR16) -> claims by CLP01
  -> lines by REF*6R (fallback: procedure + charge) -> ledger entries

Payments and CO/PI/OA adjustments reduce the insurance bucket; PR moves the amount to the
patient bucket; a denial moves the claim to the denied work queue with its CARC/RARC; a
reversal (CLP02 22) reverses the claim's earlier postings; PLB goes to the provider
ledger. Anything unmatched or out of balance goes to the exception queue: a file out of
balance posts nothing, a claim out of balance (or unknown) is held while the others post.
Nothing is dropped. One transaction per claim (its entries, the claim and its audit
event naming the patient).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.domain.billing.acks import read_277ca, read_999
from tpm.domain.billing.claims import ClaimEvent, ClaimRecord
from tpm.domain.billing.ledger import Bucket, EntryKind, LedgerEntry, cents, reversal_of
from tpm.domain.billing.remit835 import ClaimPayment, Remittance, balance, read_835
from tpm.domain.billing.x12 import X12SyntaxError, parse
from tpm.errors import Conflict, NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.billing import (
    BatchRepository,
    ClaimRepository,
    LedgerRepository,
    RemittanceRepository,
)
from tpm.security.policy import Access
from tpm.services import claim_workflow
from tpm.services.claims import deferred
from tpm.services.context import ServiceContext

ZERO = Decimal(0)
KIND = "remittance"


def audit_code(text: str) -> str:
    """A value fit for an audit reason code (lower case, digits, underscores)."""
    return re.sub(r"[^a-z0-9_]", "_", text.lower())[:64] or "unknown"


class DuplicateRemittance(Conflict):
    code = "duplicate_remittance"
    message = "This remittance was already received (same payer, trace, amount and date)."


class ExceptionResolved(Conflict):
    code = "exception_resolved"
    message = "This exception was already resolved."


# How a biller closes an exception; the note beside it holds codes and ids, never PHI.
RESOLUTIONS = (
    "posted_by_hand",
    "claim_corrected",
    "payer_contacted",
    "duplicate",
    "not_ours",
    "other",
)


@dataclass
class InboundResult:
    id: str
    kind: str
    status: str  # processed, posted, partially_posted, exception
    claims_updated: int = 0
    claims_posted: int = 0
    exceptions: int = 0
    balanced: bool | None = None
    notes: list[str] = field(default_factory=list)


class InboundFiles:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.claims = ClaimRepository(ctx.store)
        self.ledger = LedgerRepository(ctx.store)
        self.remits = RemittanceRepository(ctx.store)

    def receive(self, text: str) -> InboundResult:
        ctx = self.ctx
        access = ctx.authorize("remittance.post", resource_kind=KIND)
        try:
            segments = parse(text)
        except X12SyntaxError:
            raise ValidationFailed(fields=[{"path": "body.content", "type": "not_x12"}]) from None
        st = next((s for s in segments if s.id == "ST"), None)
        kind = st.get(1) if st else ""
        if kind not in ("999", "277", "835"):
            raise ValidationFailed(
                fields=[{"path": "body.content", "type": "unsupported_transaction"}]
            )
        remit_id = new_id("rmt")
        remittance = read_835(segments) if kind == "835" else None
        dedupe = None
        if remittance is not None:
            dedupe = hashlib.sha256(remittance.dedupe_key.encode()).hexdigest()
            if self.remits.seen(dedupe):
                raise DuplicateRemittance()
        ctx.runtime.files.put(ctx.practice_id, remit_id, text.encode("utf-8"), guard=ctx.outbound)
        record: dict[str, Any] = {
            "id": remit_id,
            "kind": "277CA" if kind == "277" else kind,
            "received_at": ctx.now().isoformat(),
            "received_by": ctx.principal.user_id,
        }
        if remittance is not None:
            record |= {
                "trace": remittance.trace,
                "total": str(cents(remittance.total)),
                "payment_date": remittance.payment_date.isoformat()
                if remittance.payment_date
                else None,
                "method": remittance.method,
                "payer_name": remittance.payer_name,
                "claim_count": len(remittance.claims),
            }
        try:
            ctx.write(
                access,
                deferred(list(self.remits.create_ops(record, dedupe))),
                KIND,
                remit_id,
                reason_code=audit_code(record["kind"]),
            )
        except ConditionFailed as exc:
            raise DuplicateRemittance() from exc
        if kind == "999":
            return self._ack_999(access, remit_id, segments)
        if kind == "277":
            return self._ack_277(access, remit_id, segments)
        assert remittance is not None
        return self.post(access, remit_id, remittance)

    # ---- acknowledgements -----------------------------------------------------------------

    def _move(
        self,
        access: Access,
        claim: ClaimRecord,
        status: str,
        event: str,
        detail: str,
        **changes: Any,
    ) -> None:
        ev = ClaimEvent(
            at=self.ctx.now(), by=self.ctx.principal.user_id, event=event, detail=detail
        )
        moved = claim.moved(status, ev, **changes)  # type: ignore[arg-type]
        self.ctx.write(
            access,
            lambda: [self.claims.update_op(moved)],
            "claim",
            claim.id,
            patient_id=claim.patient_id,
            reason_code=event,
        )
        claim_workflow.advance(self.ctx.runtime, self.ctx.practice_id, [claim.id])

    def _ack_999(self, access: Access, remit_id: str, segments: list[Any]) -> InboundResult:
        ack = read_999(segments)
        result = InboundResult(remit_id, "999", "processed")
        batch = BatchRepository(self.ctx.store).by_group_control(ack.group_control)
        if batch is None:
            self._exception(
                remit_id, "unmatched_acknowledgement", f"999 for unknown group {ack.group_control}"
            )
            result.exceptions += 1
            result.status = "exception"
            return result
        for t in ack.transactions:
            for claim_id in batch["claim_ids"]:
                claim = self.claims.get(claim_id)
                if claim is None or claim.status not in ("submitted", "batched"):
                    continue
                if t.accepted:
                    self._move(access, claim, claim.status, "999_accepted", remit_id)
                else:
                    codes = ",".join(e.code for e in t.errors) or ",".join(t.codes)
                    self._move(
                        access, claim, "rejected", "999_rejected", f"{remit_id} {codes}".strip()
                    )
                result.claims_updated += 1
        return result

    def _ack_277(self, access: Access, remit_id: str, segments: list[Any]) -> InboundResult:
        status = read_277ca(segments)
        result = InboundResult(remit_id, "277CA", "processed")
        for item in status.claims:
            claim = self.claims.by_pcn(item.claim_id)
            if claim is None:
                self._exception(
                    remit_id, "unmatched_claim", f"277CA for unknown claim {item.claim_id}"
                )
                result.exceptions += 1
                continue
            code = f"{item.category}:{item.status_code}"
            if item.accepted:
                self._move(
                    access,
                    claim,
                    "accepted",
                    "277ca_accepted",
                    f"{remit_id} {code}",
                    payer_claim_number=item.payer_claim_number or claim.payer_claim_number,
                )
            elif item.rejected:
                self._move(access, claim, "rejected", "277ca_rejected", f"{remit_id} {code}")
            else:
                self._move(access, claim, claim.status, "277ca_pending", f"{remit_id} {code}")
            result.claims_updated += 1
        return result

    # ---- 835 posting ----------------------------------------------------------------------------

    def post(self, access: Access, remit_id: str, r: Remittance) -> InboundResult:
        result = InboundResult(remit_id, "835", "posted")
        results = balance(r)
        file_ok = results[-1].ok
        result.balanced = all(x.ok for x in results)
        for problem in r.problems:
            self._exception(remit_id, "unreadable", problem)
            result.exceptions += 1
        if not file_ok:
            b = results[-1]
            self._exception(
                remit_id,
                "unbalanced_file",
                f"sum of payments less PLB {b.expected} does not equal BPR02 {b.actual}",
                amount=b.expected - b.actual,
            )
            result.exceptions += 1
            result.status = "exception"
            return result
        unbalanced_claims = {x.subject.split(" ")[0] for x in results[:-1] if not x.ok}
        for payment in r.claims:
            claim = self.claims.by_pcn(payment.claim_id)
            if claim is None:
                self._exception(
                    remit_id,
                    "unmatched_claim",
                    f"835 claim {payment.claim_id} matches no claim of ours",
                    claim_ref=payment.claim_id,
                    amount=payment.paid,
                )
                result.exceptions += 1
                continue
            if payment.claim_id in unbalanced_claims:
                self._exception(
                    remit_id,
                    "unbalanced_claim",
                    f"claim {payment.claim_id} does not balance",
                    claim_ref=payment.claim_id,
                    amount=payment.paid,
                )
                result.exceptions += 1
                continue
            unmatched = self._unmatched_lines(claim, payment)
            if unmatched:
                self._exception(
                    remit_id,
                    "unmatched_line",
                    f"claim {payment.claim_id}: {len(unmatched)} line(s) match no line of ours",
                    claim_ref=payment.claim_id,
                    amount=payment.paid,
                )
                result.exceptions += 1
                continue
            self._post_claim(access, remit_id, claim, payment, r)
            result.claims_posted += 1
        for plb in r.provider_adjustments:
            entry = {
                "id": new_id("plb"),
                "at": self.ctx.now().isoformat(),
                "remit_id": remit_id,
                "provider_id": plb.provider_id,
                "reason": plb.reason,
                "reference": plb.reference,
                "amount": str(plb.amount),
            }
            self.ctx.write(
                access,
                deferred([LedgerRepository.provider_op(entry)]),
                "provider_ledger",
                entry["id"],
                reason_code=audit_code(f"plb_{plb.reason}"),
            )
        if result.exceptions:
            result.status = "partially_posted" if result.claims_posted else "exception"
        return result

    def _unmatched_lines(self, claim: ClaimRecord, payment: ClaimPayment) -> list[int]:
        controls = {line.control_number for line in claim.lines}
        fallback = {(line.procedure, line.charge) for line in claim.lines}
        return [
            k
            for k, line in enumerate(payment.lines)
            if line.control_number not in controls and (line.procedure, line.charge) not in fallback
        ]

    def _post_claim(
        self,
        access: Access,
        remit_id: str,
        claim: ClaimRecord,
        payment: ClaimPayment,
        r: Remittance,
    ) -> None:
        ctx = self.ctx
        now = ctx.now()
        by = ctx.principal.user_id
        entries: list[LedgerEntry] = []

        def entry(
            kind: EntryKind, bucket: Bucket, amount: Decimal, control: str | None, reason: str = ""
        ) -> None:
            entries.append(
                LedgerEntry(
                    id=new_id("led"),
                    patient_id=claim.patient_id,
                    at=now,
                    kind=kind,
                    bucket=bucket,
                    amount=amount,
                    service_date=claim.service_date,
                    claim_id=claim.id,
                    line_control=control,
                    payer_ref=claim.payer_ref,
                    reason=reason[:200],
                    source=remit_id,
                    created_by=by,
                )
            )

        if payment.reversal:
            # Undo every earlier remittance posting for this claim (charges stay).
            posted = self.ledger.for_claim(claim.id)
            already = {e.reverses for e in posted if e.reverses}
            for earlier in posted:
                if earlier.kind not in ("charge", "reversal") and earlier.id not in already:
                    entries.append(
                        reversal_of(earlier, new_id("led"), now, by, f"CLP02-22 {remit_id}")
                    )
            status, event = "accepted", "835_reversal"
        elif payment.denied:
            carcs = ",".join(f"{a.group}-{a.reason}" for a in payment.all_adjustments)
            rarcs = ",".join([*payment.remarks, *(m for ln in payment.lines for m in ln.remarks)])
            status, event = "denied", "835_denied"
            moved = claim.moved(
                "denied",
                ClaimEvent(
                    at=now, by=by, event=event, detail=f"{remit_id} {carcs} {rarcs}".strip()
                ),
                payer_claim_number=payment.payer_claim_number or claim.payer_claim_number,
            )
            ctx.write(
                access,
                lambda: [self.claims.update_op(moved)],
                "claim",
                claim.id,
                patient_id=claim.patient_id,
                reason_code=event,
            )
            claim_workflow.advance(ctx.runtime, ctx.practice_id, [claim.id])
            return
        else:
            control_of = {(ln.procedure, ln.charge): ln.control_number for ln in claim.lines}
            for line in payment.lines:
                control = line.control_number or control_of.get((line.procedure, line.charge))
                if line.paid:
                    entry("insurance_payment", "insurance", -line.paid, control, "835")
                for adj in line.adjustments:
                    self._adjustment(entry, adj.group, adj.reason, adj.amount, control)
            for adj in payment.adjustments:
                self._adjustment(entry, adj.group, adj.reason, adj.amount, None)
            if not payment.lines and payment.paid:
                entry("insurance_payment", "insurance", -payment.paid, None, "835")
            remaining = (
                claim.total - payment.paid - sum((a.amount for a in payment.all_adjustments), ZERO)
            )
            status = "paid" if remaining <= ZERO else "partial"
            event = f"835_{status}"
        moved = claim.moved(
            status,  # type: ignore[arg-type]
            ClaimEvent(
                at=now,
                by=by,
                event=event,
                detail=f"{remit_id} paid {payment.paid} patient {payment.patient_responsibility}",
            ),
            payer_claim_number=payment.payer_claim_number or claim.payer_claim_number,
            paid=(claim.paid + payment.paid) if not payment.reversal else ZERO,
            patient_responsibility=(claim.patient_responsibility + payment.patient_responsibility)
            if not payment.reversal
            else ZERO,
        )
        ops: list[Operation] = [
            self.claims.update_op(moved),
            *(LedgerRepository.entry_op(e) for e in entries),
        ]
        for start in range(0, len(ops), 90):
            chunk = ops[start : start + 90]
            ctx.write(
                access,
                deferred(chunk),
                "claim",
                claim.id,
                patient_id=claim.patient_id,
                reason_code=event,
            )
        claim_workflow.advance(ctx.runtime, ctx.practice_id, [claim.id])

    @staticmethod
    def _adjustment(
        entry: Any, group: str, reason: str, amount: Decimal, control: str | None
    ) -> None:
        code = f"{group}-{reason}"
        if group == "PR":
            entry("patient_responsibility", "insurance", -amount, control, code)
            entry("patient_responsibility", "patient", amount, control, code)
        elif group == "CO":
            entry("contractual_adjustment", "insurance", -amount, control, code)
        else:  # OA, PI, CR
            entry("other_adjustment", "insurance", -amount, control, code)

    # ---- exception queue ----------------------------------------------------------------------

    def _exception(
        self,
        remit_id: str,
        kind: str,
        message: str,
        claim_ref: str | None = None,
        amount: Decimal | None = None,
    ) -> None:
        ctx = self.ctx
        exc = {
            "id": new_id("bex"),
            "at": ctx.now().isoformat(),
            "status": "open",
            "kind": kind,
            "remit_id": remit_id,
            "claim_ref": claim_ref,
            "amount": str(cents(amount)) if amount is not None else None,
            "message": message[:300],
            "version": 1,
        }
        access = ctx.authorize("remittance.post", resource_kind="billing_exception")
        ctx.write(
            access,
            lambda: [RemittanceRepository.exception_op(exc)],
            "billing_exception",
            str(exc["id"]),
            reason_code=kind,
        )

    def exceptions(
        self, status: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        access = self.ctx.authorize("billing.exception.read", resource_kind="billing_exception")
        items, next_cursor = self.remits.exceptions(status, limit, cursor)
        self.ctx.record(access, "billing_exception", reason_code=f"count_{len(items)}")
        return items, next_cursor

    def resolve(
        self, exception_id: str, version: int, resolution: str, note: str | None
    ) -> dict[str, Any]:
        """Closes an exception with how it was dealt with (who and when are kept). The
        posting itself happens elsewhere (a payment, an adjustment, a corrected claim):
        this records that the queue item needs nothing more."""
        ctx = self.ctx
        ctx.authorize_list("billing.exception.resolve", resource_kind="billing_exception")
        exc = self.remits.exception(exception_id)
        if exc is None:
            raise NotFound()
        access = ctx.authorize(
            "billing.exception.resolve",
            resource_kind="billing_exception",
            resource_id=exception_id,
        )
        if exc["status"] != "open":
            raise ExceptionResolved()
        if int(exc["version"]) != version:
            raise VersionConflict(current_version=int(exc["version"]))
        resolved = exc | {
            "status": "resolved",
            "resolution": resolution,
            "note": note,
            "resolved_by": ctx.principal.user_id,
            "resolved_at": ctx.now().isoformat(),
            "version": version + 1,
        }
        try:
            ctx.write(
                access,
                lambda: [RemittanceRepository.exception_op(resolved, condition_version=version)],
                "billing_exception",
                exception_id,
                reason_code=resolution,
            )
        except ConditionFailed as exc_:
            raise VersionConflict(current_version=version) from exc_
        return resolved
