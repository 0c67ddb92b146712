"""Run the benchmarks: `.venv/bin/python -m benchmarks.run [--quick] [--only NAME] [--explain]`.

Prints one table (every figure next to the baseline measured in the same run, the ratio
and the verdict against its target) and writes benchmarks/results/latest.json.
Exit status: 0 when every benchmark ran (even with figures OVER target: they are
measurements, not tests), 1 when something could not run at all (a function that fails
to import, a route that does not answer 200, a benchmark that crashed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import (
    audit_throughput,
    billing,
    booking,
    cold_init,
    gateway_roundtrip,
    inbox,
    practice_archive,
    record_export,
    reminder_sweep,
    staff_bundle,
    workflow_runner,
)
from benchmarks.common import ROOT, Figure, Options, Outcome

# A new benchmark is one module with NAME and benchmark(options) -> Outcome, added here.
BENCHMARKS: dict[str, Callable[[Options], Outcome]] = {
    cold_init.NAME: cold_init.benchmark,
    gateway_roundtrip.NAME: gateway_roundtrip.benchmark,
    booking.NAME: booking.benchmark,
    reminder_sweep.NAME: reminder_sweep.benchmark,
    billing.NAME: billing.benchmark,
    inbox.NAME: inbox.benchmark,
    workflow_runner.NAME: workflow_runner.benchmark,
    staff_bundle.NAME: staff_bundle.benchmark,
    audit_throughput.NAME: audit_throughput.benchmark,
    record_export.NAME: record_export.benchmark,
    practice_archive.NAME: practice_archive.benchmark,
}
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
_PACKAGES = ("boto3", "botocore", "aws-lambda-powertools", "pydantic", "uvicorn", "httpx")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI-sized runs (fewer repeats)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(sorted(BENCHMARKS))}",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print the import profile of every function, not only those over target",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    return parser.parse_args(argv)


def run_all(names: Sequence[str], options: Options) -> list[Outcome]:
    outcomes = []
    for name in names:
        print(f"running {name}{' (quick)' if options.quick else ''} ...", file=sys.stderr)
        started = time.perf_counter()
        try:
            outcome = BENCHMARKS[name](options)
        except Exception as exc:  # a crashed benchmark is reported, the others still run
            traceback.print_exc()
            outcome = Outcome(name, failures=[f"{name} crashed: {type(exc).__name__}: {exc}"])
        outcome.details["elapsed_s"] = round(time.perf_counter() - started, 2)
        outcomes.append(outcome)
    return outcomes


def _number(value: float) -> str:
    return f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"


def render(outcomes: Sequence[Outcome]) -> str:
    header = ("subject", "median", "mean", "p95", "baseline", "ratio", "target", "verdict")
    lines: list[str] = []
    for outcome in outcomes:
        rows = [_row(f) for f in outcome.figures]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        baselines = sorted({f.baseline_name for f in outcome.figures if f.baseline_name})
        lines.append("")
        lines.append(f"== {outcome.benchmark}  (baseline: {'; '.join(baselines) or '-'})")
        for row in [header, *rows]:
            cells = [row[0].ljust(widths[0])] + [
                c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
            ]
            lines.append("  ".join(cells).rstrip())
        lines.extend(outcome.notes)
        lines.extend(f"FAILED: {failure}" for failure in outcome.failures)
    return "\n".join(lines)


def _row(figure: Figure) -> tuple[str, ...]:
    unit, m = figure.unit, figure.measured
    ratio = figure.ratio
    return (
        figure.subject,
        f"{_number(m.median)} {unit}",
        f"{_number(m.mean)} {unit}",
        f"{_number(m.p95)} {unit}",
        f"{_number(figure.baseline.median)} {unit}" if figure.baseline else "-",
        f"{ratio:.2f}x" if ratio is not None else "-",
        f"<= {figure.target:.1f}x" if figure.target is not None else "-",
        figure.verdict or "-",
    )


def machine_info() -> dict[str, Any]:
    affinity = getattr(os, "sched_getaffinity", None)
    versions: dict[str, str | None] = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(affinity(0)) if affinity else None,
        "packages": versions,
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def write_results(path: Path, outcomes: Sequence[Outcome], options: Options) -> None:
    payload = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": options.quick,
        "machine": machine_info(),
        "benchmarks": {o.benchmark: o.as_dict() for o in outcomes},
        "failures": [f for o in outcomes for f in o.failures],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(root=ROOT, quick=args.quick, explain=args.explain)
    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    outcomes = run_all(names, options)
    info = machine_info()
    print(
        f"tpm benchmarks — python {info['python']} on {info['platform']}, "
        f"{info['cpu_count']} CPUs{', quick' if options.quick else ''}"
    )
    print(render(outcomes))
    write_results(args.output, outcomes, options)
    failed = any(o.failures for o in outcomes)
    print(f"\nresults: {args.output}" + ("  (FAILURES above)" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
