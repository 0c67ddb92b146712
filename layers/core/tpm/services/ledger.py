"""The patient ledger: entries, balances (patient and insurance, by payer), aging;
payments taken at the desk (cash, check); write-offs and refunds with separation of
duties: above the practice's threshold they wait for a different user's approval."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.billing.ledger import (
    AdjustmentRequest,
    Balance,
    LedgerEntry,
    aging,
    balance_of,
    by_payer,
    can_decide,
    needs_approval,
    signed_amount,
)
from tpm.errors import Conflict, Forbidden, NotFound, VersionConflict
from tpm.ids import new_id
from tpm.repositories.billing import BillingSetupRepository, LedgerRepository
from tpm.repositories.patients import PatientRepository
from tpm.security.policy import Access
from tpm.services.context import ServiceContext

KIND = "ledger"


class OwnApproval(Forbidden):
    code = "own_approval"
    message = "A write-off or refund must be approved by someone other than who asked for it."


class RequestDecided(Conflict):
    code = "request_decided"
    message = "This request was already approved or rejected."


@dataclass(frozen=True)
class PatientLedger:
    entries: list[LedgerEntry]
    balance: Balance
    by_payer: dict[str, Decimal]
    aging: dict[str, dict[str, Decimal]]


class LedgerService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.ledger = LedgerRepository(ctx.store)

    def _patient(self, action: str, patient_id: str) -> Access:
        access = self.ctx.authorize(
            action, resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        if PatientRepository(self.ctx.store, self.ctx.runtime.cipher).get(patient_id) is None:
            raise NotFound()
        return access

    def patient_ledger(self, patient_id: str) -> PatientLedger:
        access = self._patient("ledger.read", patient_id)
        entries = self.ledger.for_patient(patient_id)
        today = self.ctx.now().date()
        self.ctx.record(
            access, KIND, patient_id, patient_id=patient_id, reason_code=f"count_{len(entries)}"
        )
        return PatientLedger(entries, balance_of(entries), by_payer(entries), aging(entries, today))

    def take_payment(
        self,
        patient_id: str,
        amount: Decimal,
        method: Literal["cash", "check"],
        reference: str | None,
    ) -> LedgerEntry:
        access = self._patient("ledger.payment.create", patient_id)
        entry = LedgerEntry(
            id=new_id("led"),
            patient_id=patient_id,
            at=self.ctx.now(),
            kind="patient_payment",
            bucket="patient",
            amount=-amount,
            reason=f"{method} {reference or ''}".strip(),
            created_by=self.ctx.principal.user_id,
        )
        self.ctx.write(
            access,
            lambda: [LedgerRepository.entry_op(entry)],
            KIND,
            entry.id,
            patient_id=patient_id,
            reason_code=method,
        )
        return entry

    def adjust(
        self, patient_id: str, kind: Literal["write_off", "refund"], amount: Decimal, reason: str
    ) -> LedgerEntry | AdjustmentRequest:
        """A write-off or refund: posted now when at or under the threshold, otherwise a
        request in the approvals queue."""
        access = self._patient("ledger.adjustment.create", patient_id)
        threshold = BillingSetupRepository(self.ctx.store).settings().approval_threshold
        now = self.ctx.now()
        me = self.ctx.principal.user_id
        if needs_approval(amount, threshold):
            request = AdjustmentRequest(
                id=new_id("adj"),
                patient_id=patient_id,
                kind=kind,
                amount=amount,
                reason=reason,
                requested_by=me,
                requested_at=now,
            )
            self.ctx.write(
                access,
                lambda: [LedgerRepository.request_op(request)],
                "adjustment_request",
                request.id,
                patient_id=patient_id,
                reason_code=f"{kind}_requested",
            )
            return request
        entry = LedgerEntry(
            id=new_id("led"),
            patient_id=patient_id,
            at=now,
            kind=kind,
            bucket="patient",
            amount=signed_amount(kind, amount),
            reason=reason,
            created_by=me,
        )
        self.ctx.write(
            access,
            lambda: [LedgerRepository.entry_op(entry)],
            KIND,
            entry.id,
            patient_id=patient_id,
            reason_code=kind,
        )
        return entry

    def requests(
        self, limit: int, cursor: str | None
    ) -> tuple[list[AdjustmentRequest], str | None]:
        access = self.ctx.authorize("ledger.adjustment.approve", resource_kind="adjustment_request")
        found, next_cursor = self.ledger.requests("pending", limit, cursor)
        self.ctx.record(access, "adjustment_request", reason_code=f"count_{len(found)}")
        return found, next_cursor

    def decide(self, request_id: str, approve: bool) -> AdjustmentRequest:
        ctx = self.ctx
        ctx.authorize_list("ledger.adjustment.approve", resource_kind="adjustment_request")
        request = self.ledger.request(request_id)
        if request is None:
            raise NotFound()
        access = ctx.authorize(
            "ledger.adjustment.approve",
            resource_kind="adjustment_request",
            resource_id=request_id,
            patient_id=request.patient_id,
        )
        me = ctx.principal.user_id
        if request.status != "pending":
            raise RequestDecided(current_status=request.status)
        if not can_decide(request, me):
            raise OwnApproval()
        now = ctx.now()
        ops = []
        entry_id = None
        if approve:
            entry = LedgerEntry(
                id=new_id("led"),
                patient_id=request.patient_id,
                at=now,
                kind=request.kind,
                bucket="patient",
                amount=signed_amount(request.kind, request.amount),
                reason=request.reason,
                source=request.id,
                created_by=request.requested_by,
                approved_by=me,
            )
            entry_id = entry.id
            ops.append(LedgerRepository.entry_op(entry))
        decided = request.model_copy(
            update={
                "status": "approved" if approve else "rejected",
                "decided_by": me,
                "decided_at": now,
                "entry_id": entry_id,
                "version": request.version + 1,
            }
        )
        # The queue row moves from pending to its decision: delete-and-put on the index key.
        ops.append(LedgerRepository.request_op(decided))
        try:
            ctx.write(
                access,
                lambda: list(ops),
                "adjustment_request",
                request_id,
                patient_id=request.patient_id,
                reason_code=decided.status,
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=request.version) from exc
        return decided
