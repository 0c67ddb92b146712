"""Every day: the compliance warnings (tpm.services.compliance_jobs) for every practice —
business associate agreements about to end, breach-notification deadlines coming up.

Runs in AWS from EventBridge and locally from `tpm dev`'s scheduler (same template
schedule). Logs counts and practice ids only.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tpm.observability import get_logger
from tpm.runtime import get_runtime
from tpm.services.compliance_jobs import run_daily

log = get_logger("compliance-daily")
_MARGIN_MS = 10_000


class ComplianceDailyIncomplete(RuntimeError):
    """Some practice's step failed: raised after the others ran, so the Errors metric fires."""


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    report = run_daily(
        get_runtime(), should_stop=lambda: context.get_remaining_time_in_millis() < _MARGIN_MS
    )
    summary = report.as_dict()
    log.info("compliance daily", extra=summary)
    if report.failed:
        raise ComplianceDailyIncomplete(f"{report.failed} step(s) failed")
    return summary
