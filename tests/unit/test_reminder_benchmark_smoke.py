"""The reminder-sweep benchmark runs end to end at a tiny size (so it cannot rot)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import reminder_sweep, run  # noqa: E402


def test_reminder_sweep_benchmark_reports_rate_and_baseline() -> None:
    outcome = reminder_sweep.measure(40)
    assert outcome.failures == []
    [figure] = outcome.figures
    assert figure.baseline is not None
    assert figure.measured.median > 0
    assert outcome.details["sent"] == 40
    assert outcome.details["rate_per_s"] > 0
    assert reminder_sweep.NAME in run.BENCHMARKS
