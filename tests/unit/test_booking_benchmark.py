"""The booking benchmark runs with tiny sizes and reports one transaction per booking."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import booking  # noqa: E402


def test_booking_benchmark_counts_store_calls() -> None:
    outcome = booking.measure(bookings=3)
    assert outcome.failures == []
    assert outcome.details["store_calls_per_booking"]["transact"] == 1
    # 9: the audit trail reads the chain head and the newest event it names (verified
    # before anything is signed on top of it); the clinician's availability and the
    # practice's holidays are read to keep the booking inside the clinician's hours.
    assert 0 < outcome.details["reads_per_booking"] <= 9
    [figure] = outcome.figures
    assert figure.measured.n == 3
    assert figure.ratio is not None
