"""Submitting batches to the clearinghouse and collecting what it sends back.

submit   a batched 837P (stored sealed in the file store) goes to the clearinghouse
         adapter; the batch and its claims become `submitted`, with the clearinghouse's
         reference in their history. Submitting twice is refused (409).
collect  every response file waiting at the clearinghouse (999, 277CA, 835) is received
         exactly as an uploaded one (`InboundFiles.receive`): stored raw, read, posted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from tpm.adapters.clearinghouse import Clearinghouse, open_clearinghouse
from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.domain.billing.claims import ClaimEvent
from tpm.errors import Conflict, DependencyUnavailable, NotFound, TpmError, VersionConflict
from tpm.repositories.billing import BatchRepository, ClaimRepository
from tpm.services import claim_workflow
from tpm.services.claims import deferred
from tpm.services.context import ServiceContext
from tpm.services.remittances import InboundFiles, InboundResult


class BatchAlreadySubmitted(Conflict):
    code = "batch_already_submitted"
    message = "This batch was already submitted."


@cache
def _clearinghouse(url: str) -> Clearinghouse:
    return open_clearinghouse(url)


def clearinghouse_of(ctx: ServiceContext) -> Clearinghouse:
    url = ctx.runtime.settings.clearinghouse_url
    if url == "none://":
        raise DependencyUnavailable("No clearinghouse is configured for this deployment.")
    return _clearinghouse(url)


@dataclass
class Collected:
    name: str
    result: InboundResult | None
    error: str | None = None


class Submission:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.batches = BatchRepository(ctx.store)
        self.claims = ClaimRepository(ctx.store)

    def submit(self, batch_id: str) -> dict[str, Any]:
        ctx = self.ctx
        access = ctx.authorize("claim.submit", resource_kind="claim_batch", resource_id=batch_id)
        batch = self.batches.get(batch_id)
        if batch is None:
            raise NotFound()
        if batch["status"] != "batched":
            raise BatchAlreadySubmitted(current_status=batch["status"])
        clearinghouse = clearinghouse_of(ctx)
        text = ctx.runtime.files.get(ctx.practice_id, batch_id).decode("utf-8")
        reference = clearinghouse.submit(ctx.practice_id, batch_id, text, guard=ctx.outbound)
        now = ctx.now()
        changed = batch | {
            "status": "submitted",
            "submitted_at": now.isoformat(),
            "submitted_by": ctx.principal.user_id,
            "clearinghouse": clearinghouse.vendor,
            "reference": reference,
            "version": int(batch["version"]) + 1,
        }
        ops: list[Operation] = [self.batches.update_op(changed)]
        for claim_id in batch["claim_ids"]:
            claim = self.claims.get(claim_id)
            if claim is None or claim.status != "batched":
                continue
            event = ClaimEvent(
                at=now,
                by=ctx.principal.user_id,
                event="submitted",
                detail=f"{batch_id} {reference}",
            )
            ops.append(self.claims.update_op(claim.moved("submitted", event)))
        for start in range(0, len(ops), 95):
            try:
                ctx.write(
                    access,
                    deferred(ops[start : start + 95]),
                    "claim_batch",
                    batch_id,
                    reason_code="submitted",
                )
            except ConditionFailed as exc:
                raise VersionConflict(current_version=int(batch["version"])) from exc
        claim_workflow.advance(ctx.runtime, ctx.practice_id, list(batch["claim_ids"]))
        return changed

    def collect(self) -> list[Collected]:
        ctx = self.ctx
        access = ctx.authorize("remittance.post", resource_kind="remittance")
        out: list[Collected] = []
        inbound = InboundFiles(ctx)
        for name, text in clearinghouse_of(ctx).collect(ctx.practice_id):
            try:
                out.append(Collected(name, inbound.receive(text)))
            except TpmError as exc:  # a duplicate or unreadable file: reported, not fatal
                out.append(Collected(name, None, exc.code))
        ctx.record(access, "remittance", reason_code=f"collected_{len(out)}")
        return out
