"""The intake workflow's tasks (statemachines/intake.asl.json). Invoked by Step Functions
(or the local runner), never by API Gateway; each acts as the system actor
`workflow-intake` through tpm.services.intake_workflow, with ids only in and out."""

from __future__ import annotations

from typing import Any

from tpm.adapters.workflows.tasks import TaskEvent, TaskRouter
from tpm.runtime import get_runtime
from tpm.services.intake_workflow import IntakeWorkflow

tasks = TaskRouter()


def _flow(event: TaskEvent) -> IntakeWorkflow:
    return IntakeWorkflow(get_runtime(), event)


@tasks.task("next_step")
def next_step(event: TaskEvent) -> dict[str, Any]:
    return _flow(event).next_step()


@tasks.task("wait")
def wait(event: TaskEvent) -> dict[str, Any]:
    return _flow(event).wait(str(event.raw.get("step", "")))


@tasks.task("remind")
def remind(event: TaskEvent) -> dict[str, Any]:
    return _flow(event).remind(str(event.raw.get("step", "")))


@tasks.task("finish")
def finish(event: TaskEvent) -> dict[str, Any]:
    return _flow(event).finish(str(event.raw.get("outcome", "failed")))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return tasks(event, context)
