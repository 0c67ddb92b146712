"""Every hour: sign the audit chain's head as a checkpoint for every practice, seal it
outside the database, then verify the events since the last verified point up to it
(tpm.services.audit_verification: an `audit.verify` event when intact; the
AuditChainUnverified alarm and an incident when not).

Why hourly: someone able to rewrite the table could cut off the newest events and put
back an older, validly signed head; only a sealed checkpoint beyond the cut shows it
(tpm.security.audit_checkpoints). A checkpoint at least every hour bounds what such a cut
can hide without `tpm audit verify` noticing, however quiet the practice is.

Runs in AWS from EventBridge and locally from `tpm dev`'s scheduler (same template
schedule). It logs and returns counts and practice ids only, never event content.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tpm.ids import new_id
from tpm.observability import get_logger
from tpm.runtime import get_runtime
from tpm.security.principal import SystemActor
from tpm.services.audit_verification import verify_after_checkpoint
from tpm.services.practices import all_practice_ids

log = get_logger("audit-checkpoint")

# Stop starting new practices this close to the timeout, so the run ends with a report
# instead of being killed half way through one.
_MARGIN_MS = 10_000


def _actor(practice_id: str) -> SystemActor:
    return SystemActor("audit-checkpoint", practice_id, request_id=new_id("run"))


class CheckpointJobIncomplete(RuntimeError):
    """Some practices have no fresh checkpoint. Raised after all the others are done, so
    the function's Errors metric (and its alarm) fires; the message holds counts only."""


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    runtime = get_runtime()
    practice_ids = list(all_practice_ids(runtime.store))
    summary = {"practices": len(practice_ids), "signed": 0, "empty": 0, "failed": 0}
    summary["not_reached"] = 0
    summary["verified"] = 0
    summary["verify_failed"] = 0
    for index, practice_id in enumerate(practice_ids):
        if context.get_remaining_time_in_millis() < _MARGIN_MS:
            summary["not_reached"] = len(practice_ids) - index
            break
        try:
            checkpoint = runtime.audit.checkpoint(runtime.store.practice(practice_id))
        except Exception as exc:  # one practice's broken chain must not leave the rest unsigned
            summary["failed"] += 1
            log.error(
                "audit checkpoint failed",
                extra={"practice_id": practice_id, "error_type": type(exc).__name__},
            )
            continue
        summary["signed" if checkpoint is not None else "empty"] += 1
        if checkpoint is None:
            continue
        try:
            verify_after_checkpoint(runtime, practice_id, _actor(practice_id))
        except Exception as exc:  # counted; the metric, alarm and incident are raised inside
            summary["verify_failed"] += 1
            log.error(
                "audit verification after checkpoint failed",
                extra={"practice_id": practice_id, "error_type": type(exc).__name__},
            )
            continue
        summary["verified"] += 1
    log.info("audit checkpoints", extra=summary)
    if summary["failed"] or summary["not_reached"] or summary["verify_failed"]:
        raise CheckpointJobIncomplete(
            f"{summary['failed']} failed, {summary['verify_failed']} failed verification,"
            f" {summary['not_reached']} not reached of {summary['practices']} practices"
        )
    return summary
