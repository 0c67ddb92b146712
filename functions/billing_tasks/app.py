"""The claim lifecycle's tasks (statemachines/billing.asl.json). Invoked by Step Functions
(or the local runner), never by API Gateway; each acts as the system actor
`workflow-billing` through tpm.services.claim_workflow, with ids only in and out."""

from __future__ import annotations

from typing import Any

from tpm.adapters.workflows.tasks import TaskEvent, TaskRouter
from tpm.runtime import get_runtime
from tpm.services.claim_workflow import ClaimWorkflow

tasks = TaskRouter()


def _flow(event: TaskEvent) -> ClaimWorkflow:
    return ClaimWorkflow(get_runtime(), event)


@tasks.task("check")
def check(event: TaskEvent) -> dict[str, Any]:
    return _flow(event).check()


@tasks.task("wait")
def wait(event: TaskEvent) -> dict[str, Any]:
    return _flow(event).wait(str(event.raw.get("stage", "")))


@tasks.task("follow_up")
def follow_up(event: TaskEvent) -> dict[str, Any]:
    return _flow(event).follow_up(str(event.raw.get("stage", "")))


@tasks.task("finish")
def finish(event: TaskEvent) -> dict[str, Any]:
    return _flow(event).finish(str(event.raw.get("outcome", "failed")))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return tasks(event, context)
