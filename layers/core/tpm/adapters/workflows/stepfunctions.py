"""The AWS workflow adapter: the same port over Step Functions (boto3 `stepfunctions`).

State machine ARNs are `<prefix><workflow>`; template.yaml names each machine
`<stack>-<workflow>` and passes the prefix to every function in TPM_WORKFLOWS, so no
function needs a machine's ARN (which would make a dependency cycle with the machine's
own DefinitionSubstitutions). Execution names start with the practice id, and every read
checks that prefix: one practice can never describe another's execution.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from tpm.adapters.workflows import (
    ExecutionExists,
    ExecutionInfo,
    ExecutionRef,
    HistoryEvent,
    InvalidWorkflowInput,
    TaskGone,
    UnknownWorkflow,
    execution_name,
)

_TOKEN_GONE = {"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    text = value.isoformat(timespec="milliseconds") if hasattr(value, "isoformat") else str(value)
    return text.replace("+00:00", "Z")


class StepFunctionsWorkflows:
    def __init__(self, prefix: str, region: str | None = None, client: Any = None) -> None:
        if not prefix.startswith("arn:") or ":stateMachine:" not in prefix:
            raise ValueError("stepfunctions:// needs ?prefix=arn:...:stateMachine:<stack>-")
        self.prefix = prefix
        self.region = region
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    self._client = boto3.client(
                        "stepfunctions",
                        region_name=self.region,
                        config=Config(retries={"mode": "standard", "max_attempts": 8}),
                    )
        return self._client

    def _errors(self) -> Any:
        return self.client.exceptions

    def start(
        self, practice_id: str, machine: str, name: str, input: dict[str, Any]
    ) -> ExecutionRef:
        if not isinstance(input, dict):
            raise InvalidWorkflowInput()
        full = execution_name(practice_id, name)
        body = json.dumps({**input, "practice_id": practice_id}, separators=(",", ":"))
        try:
            answer = self.client.start_execution(
                stateMachineArn=self.prefix + machine, name=full, input=body
            )
        except self._errors().ExecutionAlreadyExists as exc:
            raise ExecutionExists() from exc
        except self._errors().StateMachineDoesNotExist as exc:
            raise UnknownWorkflow() from exc
        return ExecutionRef(str(answer["executionArn"]), full)

    def _send(self, method: str, **kwargs: Any) -> None:
        try:
            getattr(self.client, method)(**kwargs)
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _TOKEN_GONE:
                raise TaskGone() from exc
            raise

    def send_task_success(self, token: str, output: dict[str, Any]) -> None:
        self._send("send_task_success", taskToken=token, output=json.dumps(output))

    def send_task_failure(self, token: str, error: str, cause: str = "") -> None:
        self._send("send_task_failure", taskToken=token, error=error[:256], cause=cause[:32768])

    def send_task_heartbeat(self, token: str) -> None:
        self._send("send_task_heartbeat", taskToken=token)

    def _check(self, practice_id: str, execution_id: str) -> None:
        name = execution_id.rsplit(":", 1)[-1]
        if not execution_id.startswith("arn:") or not name.startswith(practice_id + "-"):
            raise UnknownWorkflow()

    def stop(self, practice_id: str, execution_id: str, error: str = "", cause: str = "") -> None:
        self._check(practice_id, execution_id)
        try:
            self.client.stop_execution(executionArn=execution_id, error=error, cause=cause)
        except self._errors().ExecutionDoesNotExist as exc:
            raise UnknownWorkflow() from exc

    def describe(self, practice_id: str, execution_id: str) -> ExecutionInfo:
        self._check(practice_id, execution_id)
        try:
            x = self.client.describe_execution(executionArn=execution_id)
        except self._errors().ExecutionDoesNotExist as exc:
            raise UnknownWorkflow() from exc
        return ExecutionInfo(
            id=x["executionArn"],
            name=x["name"],
            machine=str(x["stateMachineArn"]).removeprefix(self.prefix),
            status=x["status"],
            started_at=_iso(x["startDate"]) or "",
            stopped_at=_iso(x.get("stopDate")),
            input=json.loads(x["input"]) if x.get("input") else None,
            output=json.loads(x["output"]) if x.get("output") else None,
            error=x.get("error"),
            cause=x.get("cause"),
        )

    def history(self, practice_id: str, execution_id: str) -> list[HistoryEvent]:
        self._check(practice_id, execution_id)
        out: list[HistoryEvent] = []
        paginator = self.client.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution_id, includeExecutionData=False):
            for event in page["events"]:
                entered = event.get("stateEnteredEventDetails") or {}
                out.append(
                    HistoryEvent(
                        n=int(event["id"]),
                        type=str(event["type"]),
                        at=_iso(event["timestamp"]) or "",
                        state=entered.get("name"),
                    )
                )
        return out

    def executions(self, practice_id: str, machine: str, limit: int = 50) -> list[ExecutionInfo]:
        """Newest first; the API cannot filter by name, so this pages until it has
        `limit` of this practice's executions (or 10 pages)."""
        out: list[ExecutionInfo] = []
        kwargs: dict[str, Any] = {"stateMachineArn": self.prefix + machine, "maxResults": 100}
        for _ in range(10):
            page = self.client.list_executions(**kwargs)
            for x in page["executions"]:
                if x["name"].startswith(practice_id + "-"):
                    out.append(
                        ExecutionInfo(
                            id=x["executionArn"],
                            name=x["name"],
                            machine=machine,
                            status=x["status"],
                            started_at=_iso(x["startDate"]) or "",
                            stopped_at=_iso(x.get("stopDate")),
                        )
                    )
            if len(out) >= limit or not page.get("nextToken"):
                return out[:limit]
            kwargs["nextToken"] = page["nextToken"]
        return out[:limit]
