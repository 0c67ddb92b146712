"""Task handlers: the Lambda side of a state machine's Task states.

A workflow's tasks live in one function (functions/<workflow>_tasks/app.py) with a
`TaskRouter`; each Task state names its task in the payload it sends (docs/workflows.md):

    "Parameters": {
      "FunctionName": "${IntakeTasksFunctionArn}",
      "Payload": {
        "task": "send_invitation",
        "input.$": "$",
        "meta": {"execution.$": "$$.Execution.Id", "state.$": "$$.State.Name",
                 "entered.$": "$$.State.EnteredTime", "retry.$": "$$.State.RetryCount"},
        "token.$": "$$.Task.Token"            <- callback (.waitForTaskToken) tasks only
      }
    }

The handler gets a `TaskEvent`: the practice (from the execution input), the input, the
execution and state, and `key` — the same for every re-run of one entry into one state
(a retry after a crash, or Step Functions' own at-least-once delivery), so a task makes its
effect idempotent by writing a row keyed by it with an absent-condition in the same
transaction as the effect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tpm.errors import TpmError
from tpm.ids import is_id


class UnknownTask(TpmError):
    code = "unknown_task"
    message = "The workflow asked for a task this function does not have."


class BadTaskEvent(TpmError):
    code = "bad_task_event"
    message = "The task payload is not in the shape docs/workflows.md describes."


@dataclass(frozen=True)
class TaskEvent:
    task: str
    practice_id: str
    input: dict[str, Any]
    execution: str
    state: str
    entered: str
    retry: int
    token: str | None
    raw: dict[str, Any]  # the whole payload (a task's own parameters: "step", ...)

    @property
    def key(self) -> str:
        """Stable for re-runs of this entry into this state (not across retries of a
        failed attempt: a retry is a new attempt by design)."""
        raw = f"{self.execution}|{self.state}|{self.entered}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]

    @property
    def machine(self) -> str:
        # arn:aws:states:<region>:<account>:execution:<machine>:<name>
        parts = self.execution.split(":")
        return parts[6] if len(parts) > 7 else "workflow"


TaskFn = Callable[[TaskEvent], dict[str, Any] | None]


def parse_event(event: Any) -> TaskEvent:
    if not isinstance(event, dict):
        raise BadTaskEvent()
    data, meta = event.get("input"), event.get("meta")
    if not isinstance(data, dict) or not isinstance(meta, dict):
        raise BadTaskEvent()
    practice_id = data.get("practice_id")
    if not isinstance(practice_id, str) or not is_id(practice_id, "prx"):
        raise BadTaskEvent()
    token = event.get("token")
    return TaskEvent(
        task=str(event.get("task", "")),
        practice_id=practice_id,
        input=data,
        execution=str(meta.get("execution", "")),
        state=str(meta.get("state", "")),
        entered=str(meta.get("entered", "")),
        retry=int(meta.get("retry", 0) or 0),
        token=token if isinstance(token, str) else None,
        raw=event,
    )


class TaskRouter:
    def __init__(self) -> None:
        self.tasks: dict[str, TaskFn] = {}

    def task(self, name: str) -> Callable[[TaskFn], TaskFn]:
        def register(fn: TaskFn) -> TaskFn:
            self.tasks[name] = fn
            return fn

        return register

    def __call__(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        parsed = parse_event(event)
        fn = self.tasks.get(parsed.task)
        if fn is None:
            raise UnknownTask()
        return fn(parsed) or {}
