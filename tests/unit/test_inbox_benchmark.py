"""The inbox benchmark runs at a tiny size and proves one store query per inbox page."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import inbox, run  # noqa: E402


def test_inbox_page_is_one_query_against_one_plus_n() -> None:
    outcome = inbox.measure(threads=75, pages=3)
    assert outcome.failures == []
    assert outcome.details["store_calls_per_page"]["query"] == 1
    # The same audit event on both sides (the chain head's get, the newest event's get —
    # the head is verified before it is signed over — and a transaction per page; the
    # first page also reads the data key the sealed fields were written with).
    calls = outcome.details["store_calls_per_page"]
    base = outcome.details["baseline_store_calls_per_page"]
    assert (calls["query"], calls["transact"]) == (1, 1)
    assert (base["query"], base["transact"]) == (1, 1)
    assert calls["get"] < 3 <= 27 <= base["get"]
    assert outcome.details["rows_listed"] == 75
    [figure] = outcome.figures
    assert figure.baseline is not None
    assert figure.ratio is not None
    assert inbox.NAME in run.BENCHMARKS
