"""Workflows (state machines) behind one port, chosen by TPM_WORKFLOWS (see tpm.config):

  local://[/abs/checkout]        the local runner (tpm dev, tests): executions, their threads
                                 and history are rows in the store, stepped by
                                 tpm.local.workflow_runner; definitions are read from the
                                 checkout's template.yaml (default: the one tpm runs from)
  stepfunctions://?prefix=<arn>  AWS Step Functions: the state machine of workflow `w` is
                                 `<prefix><w>` (template.yaml names them <stack>-<w>)

Services see only `Workflows`: start an execution, report a callback task's result
(`send_task_success` / `send_task_failure`), stop one, describe one. Execution input is a
JSON object carrying ids and codes only (never PHI: Step Functions keeps execution
history outside our envelope encryption); `start` adds `practice_id` to it, and every
task handler gets it back from there. How to add a workflow: docs/workflows.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from tpm.errors import Conflict, NotFound, ValidationFailed


class TaskGone(Conflict):
    """The task token is unknown, already answered, or its task timed out."""

    code = "task_gone"
    message = "The workflow step this answers is no longer waiting."


class ExecutionExists(Conflict):
    code = "execution_exists"
    message = "An execution with this name already exists with another input."


class UnknownWorkflow(NotFound):
    code = "unknown_workflow"
    message = "There is no such workflow."


class InvalidWorkflowInput(ValidationFailed):
    code = "invalid_workflow_input"
    message = "Workflow input must be a JSON object of ids and codes."


@dataclass(frozen=True)
class ExecutionRef:
    id: str  # the execution's ARN in AWS; wfx_... locally
    name: str


@dataclass(frozen=True)
class ExecutionInfo:
    id: str
    name: str
    machine: str
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    started_at: str
    stopped_at: str | None = None
    input: Any = None
    output: Any = None
    error: str | None = None
    cause: str | None = None
    waiting: list[str] = field(default_factory=list)  # states waiting for a callback


@dataclass(frozen=True)
class HistoryEvent:
    n: int
    type: str
    at: str
    state: str | None = None
    thread: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Workflows(Protocol):
    def start(
        self, practice_id: str, machine: str, name: str, input: dict[str, Any]
    ) -> ExecutionRef:
        """Start `machine` (idempotent by name: the same name and input returns the
        running execution; the same name with other input raises ExecutionExists)."""
        ...

    def send_task_success(self, token: str, output: dict[str, Any]) -> None: ...

    def send_task_failure(self, token: str, error: str, cause: str = "") -> None: ...

    def send_task_heartbeat(self, token: str) -> None: ...

    def stop(
        self, practice_id: str, execution_id: str, error: str = "", cause: str = ""
    ) -> None: ...

    def describe(self, practice_id: str, execution_id: str) -> ExecutionInfo: ...

    def history(self, practice_id: str, execution_id: str) -> list[HistoryEvent]: ...

    def executions(
        self, practice_id: str, machine: str, limit: int = 50
    ) -> list[ExecutionInfo]: ...


def execution_name(practice_id: str, name: str) -> str:
    """Names are unique per state machine (90 days in AWS), so they carry the practice."""
    full = f"{practice_id}-{name}"
    if len(full) > 80 or not all(c.isalnum() or c in "-_" for c in full):
        raise InvalidWorkflowInput("An execution name is at most 80 letters, digits, - or _.")
    return full


def open_workflows(url: str, store: Any, clock: Any, region: str | None = None) -> Workflows:
    parts = urlsplit(url)
    if parts.scheme == "local":
        from tpm.adapters.workflows.local import LocalWorkflows
        from tpm.adapters.workflows.machines import TemplateMachines

        return LocalWorkflows(store, clock, TemplateMachines(parts.path or None))
    if parts.scheme == "stepfunctions":
        from tpm.adapters.workflows.stepfunctions import StepFunctionsWorkflows

        prefix = (parse_qs(parts.query).get("prefix") or [""])[0]
        return StepFunctionsWorkflows(prefix, region=region)
    raise ValueError("TPM_WORKFLOWS must be local:// or stepfunctions://?prefix=<arn prefix>")
