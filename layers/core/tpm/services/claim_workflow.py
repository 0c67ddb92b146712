"""The claim lifecycle on the workflow runner (statemachines/billing.asl.json,
functions/billing_tasks): one execution per claim, started when the claim is built.

The claim record stays the source of truth: the billing services move it (validated,
batched, submitted, 999/277CA accepted or rejected, paid/partial/denied by an 835,
corrected, resubmitted) and, after their transaction commits, answer the execution's
callback (`advance`). The execution adds what a record cannot do by itself — waiting with
a deadline per stage and writing a follow-up on the claim when the deadline passes:

  fix          invalid or rejected: fix the set-up and resubmit as an original     7 days
  batch        validated, not yet in a batch                                       3 days
  send         batched, not yet sent to the clearinghouse                          1 day
  acknowledge  sent: waiting for the 999 and the payer's 277CA                     3 days
  remit        accepted by the payer: waiting for the 835                         30 days
  correct      denied: replace (7) or void (8), with the payer's claim number     14 days
  done         paid, partly paid, corrected, voided or closed (the execution ends)

After six follow-ups in one stage the execution ends (the claim stays in its queue).
Task handlers act as the system actor `workflow-billing`; each is idempotent (a wait
stores the token and answers at once if the claim has already moved on; a follow-up is
written once per entry into the state, keyed by `TaskEvent.key`). Execution data holds
the claim id only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.adapters.workflows import TaskGone
from tpm.adapters.workflows.tasks import TaskEvent
from tpm.domain.billing.claims import ClaimEvent, ClaimRecord
from tpm.errors import NotFound
from tpm.repositories.billing import ClaimRepository, ClaimWorkflowRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import SystemActor

MACHINE = "billing"
ACTOR = f"workflow-{MACHINE}"
DAY = 86_400
STAGES: dict[str, str] = {
    "invalid": "fix",
    "rejected": "fix",
    "validated": "batch",
    "batched": "send",
    "submitted": "acknowledge",
    "accepted": "remit",
    "denied": "correct",
}
TIMEOUTS = {
    "fix": 7 * DAY,
    "batch": 3 * DAY,
    "send": 1 * DAY,
    "acknowledge": 3 * DAY,
    "remit": 30 * DAY,
    "correct": 14 * DAY,
}
FOLLOW_UP = {
    "fix": "still has problems or a rejection after 7 days",
    "batch": "validated 3 days ago and not batched",
    "send": "batched a day ago and not sent",
    "acknowledge": "no 999/277CA 3 days after sending: ask the clearinghouse",
    "remit": "no 835 30 days after acceptance: ask the payer (claim status)",
    "correct": "denied 14 days ago and not corrected or voided",
}
MAX_FOLLOW_UPS = 6


def deferred(ops: list[Operation]) -> Callable[[], list[Operation]]:
    return lambda: list(ops)


def stage_of(claim: ClaimRecord) -> str:
    if any(e.event == "corrected" for e in claim.history):
        return "done"
    return STAGES.get(claim.status, "done")


def execution_for(claim_id: str) -> str:
    return f"claim-{claim_id}"


def start(runtime: Runtime, practice_id: str, claim_id: str) -> None:
    """Starts the claim's execution (idempotent by name). Called after the claim commits."""
    runtime.workflows.start(practice_id, MACHINE, execution_for(claim_id), {"claim_id": claim_id})


def advance(runtime: Runtime, practice_id: str, claim_ids: list[str]) -> None:
    """The claims moved (their transactions committed): wake each claim's execution so it
    re-reads the claim. A token that is gone (answered already, timed out) is ignored."""
    tokens = ClaimWorkflowRepository(runtime.store.practice(practice_id), runtime.cipher)
    for claim_id in dict.fromkeys(claim_ids):
        found = tokens.token(claim_id)
        if found is None:
            continue
        with contextlib.suppress(TaskGone):
            runtime.workflows.send_task_success(found[0], {"claim_id": claim_id})


class ClaimWorkflow:
    def __init__(self, runtime: Runtime, event: TaskEvent) -> None:
        self.runtime = runtime
        self.event = event
        self.store = runtime.store.practice(event.practice_id)
        self.claims = ClaimRepository(self.store)
        self.tokens = ClaimWorkflowRepository(self.store, runtime.cipher)
        self.claim_id = str(event.input.get("claim_id", ""))

    def _claim(self) -> ClaimRecord:
        claim = self.claims.get(self.claim_id)
        if claim is None:
            raise NotFound()
        return claim

    def _follow_ups(self, claim: ClaimRecord, stage: str) -> int:
        return sum(
            1 for e in claim.history if e.event == "follow_up" and e.detail.startswith(stage)
        )

    # ---- tasks -------------------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        claim = self._claim()
        stage = stage_of(claim)
        if stage != "done" and self._follow_ups(claim, stage) >= MAX_FOLLOW_UPS:
            stage = "done"
        return {"stage": stage, "timeout_seconds": TIMEOUTS.get(stage, DAY)}

    def wait(self, stage: str) -> dict[str, Any]:
        """Keep the token where the billing services find it; answer at once when the
        claim has already left the stage (moved between check and wait, or a restart)."""
        if self.event.token is None:
            raise NotFound()
        self.store.transact(
            [self.tokens.token_op(self.claim_id, self.event.token, stage, self.runtime.clock.now())]
        )
        if stage_of(self._claim()) != stage:
            with contextlib.suppress(TaskGone):
                self.runtime.workflows.send_task_success(self.event.token, {"moved": True})
        return {}

    def follow_up(self, stage: str) -> dict[str, Any]:
        """The stage's deadline passed: a follow-up event on the claim's history (shown in
        its queue and detail), written once per entry into the state."""
        key = self.event.key
        for _ in range(5):
            if self.tokens.done(self.claim_id, key):
                return {}
            claim = self._claim()
            if stage_of(claim) != stage:
                return {}
            n = self._follow_ups(claim, stage) + 1
            event = ClaimEvent(
                at=self.runtime.clock.now(),
                by=ACTOR,
                event="follow_up",
                detail=f"{stage} {n}: {FOLLOW_UP.get(stage, 'waiting')}",
            )
            changed = claim.moved(claim.status, event)
            audit = AuditEvent.for_system(
                SystemActor(ACTOR, self.event.practice_id, key),
                action="claim.follow_up",
                resource_kind="claim",
                resource_id=claim.id,
                patient_id=claim.patient_id,
                reason_code=stage,
            )
            ops: list[Operation] = [
                self.claims.update_op(changed),
                self.tokens.done_op(self.claim_id, key),
            ]
            try:
                self.runtime.audit.write_with_audit(self.store, deferred(ops), audit)
            except ConditionFailed:
                continue
            return {}
        raise ConditionFailed()

    def finish(self, outcome: str) -> dict[str, Any]:
        """The execution ends. A failure is written on the claim (its queues still work)."""
        if outcome != "failed":
            return {"outcome": outcome}
        key = self.event.key
        claim = self.claims.get(self.claim_id)
        if claim is None or self.tokens.done(self.claim_id, key):
            return {"outcome": outcome}
        event = ClaimEvent(
            at=self.runtime.clock.now(), by=ACTOR, event="workflow_failed", detail="see queues"
        )
        audit = AuditEvent.for_system(
            SystemActor(ACTOR, self.event.practice_id, key),
            action="claim.workflow_failed",
            resource_kind="claim",
            resource_id=claim.id,
            patient_id=claim.patient_id,
        )
        ops: list[Operation] = [
            self.claims.update_op(claim.moved(claim.status, event)),
            self.tokens.done_op(self.claim_id, key),
        ]
        with contextlib.suppress(ConditionFailed):
            self.runtime.audit.write_with_audit(self.store, deferred(ops), audit)
        return {"outcome": outcome}
