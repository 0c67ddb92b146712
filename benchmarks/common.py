"""What every benchmark shares: sample statistics, a figure against its same-run baseline,
and the outcome a benchmark hands back to the runner.

Absolute times differ threefold between machines, so every figure is paired with a
baseline measured in the same run and judged by the ratio of the two medians.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Options:
    """How the runner was asked to run (sizes are chosen by each benchmark)."""

    root: Path = ROOT
    quick: bool = False
    explain: bool = False  # print an import profile even for functions within target


@dataclass(frozen=True)
class Stats:
    n: int
    median: float
    mean: float
    p95: float
    minimum: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("no samples")
        ordered = sorted(samples)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return cls(
            n=len(ordered),
            median=statistics.median(ordered),
            mean=statistics.fmean(ordered),
            p95=p95,
            minimum=ordered[0],
        )

    def as_dict(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "median": round(self.median, 3),
            "mean": round(self.mean, 3),
            "p95": round(self.p95, 3),
            "min": round(self.minimum, 3),
        }


@dataclass(frozen=True)
class Figure:
    """One measured subject, optionally against a baseline, optionally with a target
    (the highest acceptable ratio of medians)."""

    subject: str
    unit: str  # "ms" or "µs"
    measured: Stats
    baseline: Stats | None = None
    baseline_name: str = ""
    target: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline.median <= 0:
            return None
        return self.measured.median / self.baseline.median

    @property
    def verdict(self) -> str:
        ratio = self.ratio
        if ratio is None or self.target is None:
            return ""
        return "PASS" if ratio <= self.target else "OVER"

    def as_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "subject": self.subject,
            "unit": self.unit,
            "measured": self.measured.as_dict(),
            "baseline_name": self.baseline_name or None,
            "baseline": self.baseline.as_dict() if self.baseline else None,
            "ratio": round(ratio, 3) if ratio is not None else None,
            "target": self.target,
            "verdict": self.verdict or None,
        }


@dataclass
class Outcome:
    """A benchmark's result. `failures` are hard errors (the subject could not run at all):
    the runner exits non-zero for them, never for a figure over its target."""

    benchmark: str
    figures: list[Figure] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "figures": [f.as_dict() for f in self.figures],
            "failures": list(self.failures),
            "notes": list(self.notes),
            "details": self.details,
        }
