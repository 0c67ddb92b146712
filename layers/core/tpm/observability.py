"""The one place that creates Logger and Metrics.

Rule: never log events, bodies, query strings or models — ids, counts, codes and timings only.
"""

from __future__ import annotations

import logging
import sys
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

# Powertools' own debug logging prints route arguments (parsed request bodies = PHI) and
# whole events. Its package logger is held at WARNING whatever POWERTOOLS_DEBUG or the log
# level say; tests/integration/test_http_errors.py proves no PHI reaches any log.
logging.getLogger("aws_lambda_powertools").setLevel(logging.WARNING)

# When a handler fails to write a record, the standard library prints the traceback of the
# exception being handled — whose message may quote PHI (a validation error, a failed
# lookup) — to stderr. A failed log write stays silent instead.
logging.raiseExceptions = False


class _CurrentStdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is now, not the one that existed when the logger was
    made (several functions share one process under tpm dev and the tests)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


@cache
def get_logger(service: str) -> Logger:
    # Powertools keeps one std logger per service name; creating it once per service keeps
    # handlers from being attached twice when several functions share one process (tpm dev).
    return Logger(service=service, log_uncaught_exceptions=False, logger_handler=_CurrentStdout())


METRICS_NAMESPACE = "tpm"


def alarm_metric(name: str, value: float = 1, *, component: str = "audit") -> None:
    """One CloudWatch metric in Embedded Metric Format, printed as its own stdout line
    (Lambda's log stream becomes the metric). Dimension `component` only — not the
    function's service — so one alarm in template.yaml covers every function."""
    import json
    import time

    line = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["component"]],
                    "Metrics": [{"Name": name, "Unit": "Count"}],
                }
            ],
        },
        "component": component,
        name: value,
    }
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()
