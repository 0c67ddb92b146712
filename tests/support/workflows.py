"""A local workflow engine over any store, with state machines given as dicts and task
functions as plain Python callables (for engine tests; real workflows come from
template.yaml)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tpm.adapters.store.base import Store
from tpm.adapters.workflows.local import LocalWorkflows
from tpm.adapters.workflows.machines import LOCAL_FUNCTION_ARN, Machine
from tpm.clock import Clock
from tpm.ids import new_id
from tpm.local.workflow_runner import WorkflowRunner

FN = LOCAL_FUNCTION_ARN + "Fn"


class DictMachines:
    def __init__(self, definitions: dict[str, dict[str, Any]]) -> None:
        self.definitions = definitions

    def get(self, workflow: str) -> Machine | None:
        d = self.definitions.get(workflow)
        return None if d is None else Machine(workflow, "Test", Path("test.asl.json"), {}, d)


class Engine:
    """LocalWorkflows + a runner whose one function `Fn` dispatches on payload["task"]."""

    def __init__(self, store: Store, clock: Clock, definitions: dict[str, dict[str, Any]]) -> None:
        self.store, self.clock = store, clock
        self.definitions = copy.deepcopy(definitions)
        self.practice_id = new_id("prx")
        self.tasks: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self.calls: list[str] = []
        self.reopen()

    def reopen(self) -> None:
        """A fresh adapter and runner over the same store: what a restart of tpm dev is."""
        self.workflows = LocalWorkflows(self.store, self.clock, DictMachines(self.definitions))  # type: ignore[arg-type]
        self.runner = WorkflowRunner(self.workflows, self._handler_for, lambda: [self.practice_id])

    def _handler_for(self, logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
        if logical_id != "Fn":
            raise KeyError(logical_id)

        def handler(event: dict[str, Any], context: Any) -> Any:
            name = event["task"]
            self.calls.append(name)
            return self.tasks[name](event)

        return handler

    def start(self, machine: str, data: dict[str, Any] | None = None, name: str = "x") -> str:
        return self.workflows.start(self.practice_id, machine, name, data or {}).id

    def run(self) -> int:
        return self.runner.run_until_idle()

    def info(self, execution_id: str) -> Any:
        return self.workflows.describe(self.practice_id, execution_id)

    def types(self, execution_id: str) -> list[str]:
        return [e.type for e in self.workflows.history(self.practice_id, execution_id)]


def task(name: str, **extra: Any) -> dict[str, Any]:
    """A house-style Task state calling `Fn` with {"task": name}."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": FN, "Payload": {"task": name, "input.$": "$"}},
        "ResultSelector": {"value.$": "$.Payload"},
        "ResultPath": f"$.{name}",
    }
    state.update(extra)
    return state
