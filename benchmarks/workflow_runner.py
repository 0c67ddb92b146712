"""The local workflow runner: the cost of one state transition against the work it wraps.

A chain of 20 Task states, each calling the same trivial task handler (a `TaskRouter`
task returning its input), runs on `LocalWorkflows` over a SqliteStore file. Every
`step` is one transition (load the execution, interpret, invoke the handler, commit the
execution row + history row in one transaction) and is timed on its own.

Baselines from the same run:
- **direct handler call**: the same handler on a prebuilt event, as Lambda would call it;
  the transition's overhead is everything above this.
- **one store transaction**: a conditional put of a ~2 KB row plus one absent-put, on
  the same kind of SQLite file — the commit every transition must make (`synchronous=FULL`
  makes it the dominant cost).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Options, Outcome, Stats
from tpm.adapters.store.base import Absent, Put, VersionIs
from tpm.adapters.store.sqlite import SqliteStore
from tpm.adapters.workflows.asl.interpreter import Invoke
from tpm.adapters.workflows.asl.interpreter import Outcome as TaskOutcome
from tpm.adapters.workflows.local import LocalWorkflows
from tpm.adapters.workflows.machines import LOCAL_FUNCTION_ARN, Machine
from tpm.adapters.workflows.tasks import TaskEvent, TaskRouter
from tpm.clock import FixedClock
from tpm.ids import new_id
from tpm.local.workflow_runner import lambda_outcome

NAME = "workflow_runner"
STATES = 20
EXECUTIONS, QUICK_EXECUTIONS = 25, 5
TARGET_RATIO = 2.0  # a transition costs at most 2 store transactions

router = TaskRouter()


@router.task("echo")
def _echo(event: TaskEvent) -> dict[str, Any]:
    return {"n": event.input.get("n", 0)}


def _definition() -> dict[str, Any]:
    states: dict[str, Any] = {}
    for i in range(STATES):
        states[f"S{i}"] = {
            "Type": "Task",
            "Resource": LOCAL_FUNCTION_ARN + "Bench",
            "Parameters": {
                "task": "echo",
                "input.$": "$",
                "meta": {
                    "execution.$": "$$.Execution.Id",
                    "state.$": "$$.State.Name",
                    "entered.$": "$$.State.EnteredTime",
                },
            },
            "ResultPath": f"$.r{i}",
            **({"Next": f"S{i + 1}"} if i < STATES - 1 else {"End": True}),
        }
    return {"StartAt": "S0", "States": states}


class _Machines:
    def __init__(self) -> None:
        self.machine = Machine("bench", "Bench", Path("bench.asl.json"), {}, _definition())

    def get(self, workflow: str) -> Machine | None:
        return self.machine if workflow == "bench" else None


def _invoke(call: Invoke) -> TaskOutcome:
    return lambda_outcome(router, "Bench", call.payload)


def measure(executions: int) -> Outcome:
    outcome = Outcome(NAME)
    with tempfile.TemporaryDirectory(prefix="tpm-bench-workflows-") as tmp:
        clock = FixedClock(datetime(2030, 1, 7, 14, 0, tzinfo=UTC))
        store = SqliteStore(Path(tmp) / "wf.db", clock=clock)
        try:
            workflows = LocalWorkflows(store, clock, _Machines())  # type: ignore[arg-type]
            practice_id = new_id("prx")
            steps: list[float] = []
            for k in range(executions):
                ref = workflows.start(practice_id, "bench", f"run-{k}", {"n": k})
                while True:
                    started = time.perf_counter()
                    moved = workflows.step(practice_id, ref.id, _invoke)
                    elapsed = time.perf_counter() - started
                    if not moved:
                        break
                    steps.append(elapsed * 1e6)
                info = workflows.describe(practice_id, ref.id)
                if info.status != "SUCCEEDED":
                    outcome.failures.append(f"execution {k} ended {info.status} ({info.error})")
                    return outcome
            event = {
                "task": "echo",
                "input": {"practice_id": practice_id, "n": 1},
                "meta": {"execution": "x", "state": "S0", "entered": "t"},
            }
            direct = []
            for _ in range(len(steps)):
                started = time.perf_counter()
                lambda_outcome(router, "Bench", event)
                direct.append((time.perf_counter() - started) * 1e6)
            commits = _commits(store.practice(practice_id), len(steps))
        finally:
            store.close()
    per_transition = Stats.of(steps)
    outcome.figures.append(
        Figure(
            subject=f"one Task transition ({executions} executions x {STATES} tasks)",
            unit="µs",
            measured=per_transition,
            baseline=Stats.of(direct),
            baseline_name="the same task handler called directly",
        )
    )
    outcome.figures.append(
        Figure(
            subject="one Task transition",
            unit="µs",
            measured=per_transition,
            baseline=Stats.of(commits),
            baseline_name="one SQLite transaction (execution row + history row)",
            target=TARGET_RATIO,
        )
    )
    overhead = per_transition.median - Stats.of(direct).median
    outcome.notes.append(f"  runner overhead per transition: {overhead:,.0f} µs (median)")
    outcome.details |= {"transitions": len(steps), "states": STATES, "executions": executions}
    return outcome


def _commits(practice: Any, count: int) -> list[float]:
    row = {"pk": "BENCH", "sk": "ROW", "threads": "x" * 2000, "version": 1}
    practice.put(row, Absent())
    out = []
    for i in range(count):
        started = time.perf_counter()
        practice.transact(
            [
                Put({**row, "version": i + 2}, VersionIs(i + 1)),
                Put({"pk": "BENCH", "sk": f"EV#{i:06d}", "events": "[]"}, Absent()),
            ]
        )
        out.append((time.perf_counter() - started) * 1e6)
    return out


def benchmark(options: Options) -> Outcome:
    return measure(QUICK_EXECUTIONS if options.quick else EXECUTIONS)
