"""The billing benchmark runs end to end at a tiny size (so it cannot rot)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import billing, run  # noqa: E402


def test_billing_benchmark_validates_and_posts_with_baselines() -> None:
    outcome = billing.measure(5)
    assert outcome.failures == []
    assert [f.baseline is not None for f in outcome.figures] == [True, True]
    assert outcome.details["posted_claims"] == 5
    assert outcome.details["problems"] == 0
    assert sum(outcome.details["store_calls"].values()) > 0
    assert billing.NAME in run.BENCHMARKS
