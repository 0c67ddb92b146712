"""The one place that creates Logger and Metrics.

Rule: never log events, bodies, query strings or models — ids, counts, codes and timings only.
"""

from __future__ import annotations

import logging
from functools import cache

from aws_lambda_powertools import Logger

# Powertools' own debug logging prints route arguments (parsed request bodies = PHI) and
# whole events. Its package logger is held at WARNING whatever POWERTOOLS_DEBUG or the log
# level say; tests/integration/test_http_errors.py proves no PHI reaches any log.
logging.getLogger("aws_lambda_powertools").setLevel(logging.WARNING)


@cache
def get_logger(service: str) -> Logger:
    # Powertools keeps one std logger per service name; creating it once per service keeps
    # handlers from being attached twice when several functions share one process (tpm dev).
    return Logger(service=service, log_uncaught_exceptions=False)
