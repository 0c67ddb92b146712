"""Cold init: import + handler construction of every function in template.yaml, each in a
fresh interpreter, against a bare Powertools + boto3 handler measured in the same run.

The child imports the handler module the way the Lambda Python runtime does (the CodeUri
folder on sys.path, `importlib.import_module("app")`, then the handler attribute) and
reports the wall time of exactly that with time.perf_counter, so interpreter start-up,
which is the same for everyone, is left out. Runs are interleaved (one round = every
subject once) so drift on a busy machine hits baseline and functions alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import import_profile
from benchmarks.common import Figure, Options, Outcome, Stats
from tpm.local.template import FunctionSpec, functions, load_template

NAME = "cold_init"
TARGET_RATIO = 1.3
REPEATS, QUICK_REPEATS = 15, 5
BASELINE = "bare handler (boto3 + DynamoDB client + Powertools resolver + Logger)"

# Configuration the way a deployed function sees it; fake credentials and no config files
# so nothing can reach a real account (nothing is called at import anyway).
BENCH_ENV = {
    "TPM_ENV": "aws",
    "TPM_STORE": "dynamodb://bench",
    "TPM_KEYS": "kms://alias/bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")

# What a typical minimal handler costs: the yardstick the brief sets (≤ 1.3x of this).
BASELINE_HANDLER = """\
import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

logger = Logger(service="baseline")
app = APIGatewayRestResolver()
dynamodb = boto3.client("dynamodb")


@app.get("/v1/health")
def health():
    return {"status": "ok"}


@logger.inject_lambda_context
def lambda_handler(event, context):
    return app.resolve(event, context)
"""

# argv: code dir, module, handler attribute. Prints one marked line with the seconds.
_CHILD = """\
import sys, time
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
import importlib
handler = getattr(importlib.import_module(sys.argv[2]), sys.argv[3])
elapsed = time.perf_counter() - started
if not callable(handler):
    raise SystemExit("handler is not callable")
print("TPM_BENCH_SECONDS=%r" % elapsed)
"""
_MARK = "TPM_BENCH_SECONDS="


@dataclass(frozen=True)
class Subject:
    name: str
    code_dir: Path
    module: str
    attribute: str
    env: dict[str, str]


class InitFailed(Exception):
    """The child could not import or construct the handler."""


def subjects(root: Path, names: Sequence[str] | None = None) -> list[Subject]:
    """One subject per function in template.yaml (optionally only the named ones)."""
    template = load_template(root / "template.yaml")
    global_env = _plain(((template.get("Globals") or {}).get("Function") or {}).get("Environment"))
    found = []
    for spec in functions(template):
        if names is not None and spec.logical_id not in names:
            continue
        found.append(_subject(root, spec, global_env))
    if names is not None and len(found) != len(set(names)):
        missing = sorted(set(names) - {s.name for s in found})
        raise ValueError(f"not in template.yaml: {', '.join(missing)}")
    return found


def _subject(root: Path, spec: FunctionSpec, global_env: dict[str, str]) -> Subject:
    module, _, attribute = spec.handler.rpartition(".")
    env = {**global_env, **_plain({"Variables": spec.environment})}
    return Subject(spec.logical_id, (root / spec.code_uri).resolve(), module, attribute, env)


def _plain(environment: Any) -> dict[str, str]:
    """Literal variables only: intrinsic functions (!Sub, !Ref) are replaced by BENCH_ENV."""
    variables = (environment or {}).get("Variables") or {}
    return {k: str(v) for k, v in variables.items() if isinstance(v, str | int | bool)}


def child_env(root: Path, subject_env: Mapping[str, str], scratch: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    env.update(subject_env)
    env.update(BENCH_ENV)
    env.update(
        {
            # The core layer on the path like /opt/python in Lambda (ahead of the editable
            # install's finder), and no user/site config from this machine.
            "PYTHONPATH": str(root / "layers" / "core"),
            "PYTHONNOUSERSITE": "1",
            "HOME": str(scratch),
            "AWS_CONFIG_FILE": str(scratch / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
        }
    )
    return env


def time_init(python: str, subject: Subject, env: Mapping[str, str], timeout: float = 120) -> float:
    """Milliseconds to import the module and get the handler, in a fresh process."""
    done = subprocess.run(
        [python, "-c", _CHILD, str(subject.code_dir), subject.module, subject.attribute],
        cwd=subject.code_dir,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith(_MARK) and done.returncode == 0:
            return float(line.removeprefix(_MARK)) * 1000
    tail = " | ".join(done.stderr.strip().splitlines()[-3:])
    raise InitFailed(f"{subject.name}: exit {done.returncode}: {tail or 'no output'}")


def measure(
    root: Path,
    *,
    repeats: int,
    warmup: int = 1,
    names: Sequence[str] | None = None,
    explain: bool = False,
    python: str = sys.executable,
) -> Outcome:
    outcome = Outcome(NAME, details={"repeats": repeats, "warmup": warmup, "python": python})
    with tempfile.TemporaryDirectory(prefix="tpm-bench-") as tmp:
        scratch = Path(tmp)
        base_dir = scratch / "baseline"
        base_dir.mkdir()
        (base_dir / "app.py").write_text(BASELINE_HANDLER, encoding="utf-8")
        baseline = Subject("baseline", base_dir, "app", "lambda_handler", {})
        functions_ = subjects(root, names)
        envs = {s.name: child_env(root, s.env, scratch) for s in [baseline, *functions_]}
        samples: dict[str, list[float]] = {s.name: [] for s in [baseline, *functions_]}
        alive = [baseline, *functions_]
        for round_ in range(warmup + repeats):
            # Rotate the order each round so no subject always runs first.
            shift = round_ % len(alive) if alive else 0
            for subject in alive[shift:] + alive[:shift]:
                try:
                    ms = time_init(python, subject, envs[subject.name])
                except (InitFailed, subprocess.TimeoutExpired) as exc:
                    outcome.failures.append(str(exc))
                    alive = [s for s in alive if s is not subject]
                    continue
                if round_ >= warmup:
                    samples[subject.name].append(ms)
            if baseline not in alive:
                return outcome  # nothing to compare with
        base_stats = Stats.of(samples["baseline"])
        over: list[Subject] = []
        for subject in functions_:
            if subject not in alive:
                continue
            figure = Figure(
                subject=subject.name,
                unit="ms",
                measured=Stats.of(samples[subject.name]),
                baseline=base_stats,
                baseline_name=BASELINE,
                target=TARGET_RATIO,
            )
            outcome.figures.append(figure)
            if figure.verdict == "OVER" or explain:
                over.append(subject)
        if over:
            _explain(python, baseline, over, envs, outcome)
    return outcome


def _explain(
    python: str,
    baseline: Subject,
    subjects_: Sequence[Subject],
    envs: Mapping[str, Mapping[str, str]],
    outcome: Outcome,
) -> None:
    base_costs = import_profile.profile(
        python, baseline.code_dir, baseline.module, envs["baseline"]
    )
    for subject in subjects_:
        costs = import_profile.profile(python, subject.code_dir, subject.module, envs[subject.name])
        outcome.notes.append(f"{subject.name} import profile (python -X importtime):")
        outcome.notes.extend(
            f"  {line}" for line in import_profile.explain(subject.module, costs, base_costs)
        )


def benchmark(options: Options) -> Outcome:
    return measure(
        options.root,
        repeats=QUICK_REPEATS if options.quick else REPEATS,
        explain=options.explain,
    )
