"""The workflow probe's tasks (statemachines/probe.asl.json): trivial, deterministic work
that lets the probe check every state type and both callback directions, on the local
runner (`tpm workflows probe`) and on Step Functions after a deploy. No PHI, no table."""

from __future__ import annotations

from typing import Any

from tpm.adapters.workflows.tasks import TaskEvent, TaskRouter
from tpm.runtime import get_runtime

tasks = TaskRouter()


class ProbeRetry(Exception):
    """Raised once on purpose so the probe exercises Retry."""


@tasks.task("echo")
def echo(event: TaskEvent) -> dict[str, Any]:
    return {"echoed": str(event.input.get("label", ""))}


@tasks.task("flaky")
def flaky(event: TaskEvent) -> dict[str, Any]:
    if event.input.get("fail_once") and event.retry == 0:
        raise ProbeRetry("first attempt fails on purpose")
    return {"ok": True}


@tasks.task("square")
def square(event: TaskEvent) -> dict[str, Any]:
    n = int(event.input.get("n", 0))
    return {"square": n * n}


@tasks.task("callback")
def callback(event: TaskEvent) -> dict[str, Any]:
    # A real callback task hands the token to a person (a portal step); the probe answers
    # at once, through the same port a service uses (SendTaskSuccess in AWS).
    if event.token is None:
        raise ProbeRetry("The callback task got no token.")
    get_runtime().workflows.send_task_success(event.token, {"answer": "pong"})
    return {}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return tasks(event, context)
