"""The AWS workflow adapter, and the same probe definition executed by moto's Step
Functions (its ASL parser, `execute_state_machine`), with the task function run in-process.

moto has no Lambda runtime without Docker, so its Lambda backend's `invoke` is pointed at
the handler template.yaml names (moto's own code, not ours, is replaced). Differences
between moto and Step Functions that this found are listed in docs/workflows.md.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

import tpm.runtime as runtime_module
from tpm.adapters.workflows import ExecutionExists, TaskGone, UnknownWorkflow
from tpm.adapters.workflows.machines import substitute
from tpm.adapters.workflows.stepfunctions import StepFunctionsWorkflows
from tpm.ids import new_id
from tpm.local.functions import load_handler
from tpm.local.template import functions, load_template
from tpm.local.workflow_runner import lambda_outcome
from tpm.runtime import set_runtime

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


@pytest.fixture(scope="module")
def sfn() -> Iterator[tuple[Any, str]]:
    """One moto Step Functions for the module (building it costs seconds)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _moto_sfn(monkeypatch)


def _moto_sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    specs = {f.logical_id: f for f in functions(load_template(ROOT / "template.yaml"))}

    def invoke(
        self: Any,
        function_name: str,
        qualifier: Any,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        name = function_name.rsplit(":", 1)[-1]
        outcome = lambda_outcome(load_handler(specs[name], ROOT), name, json.loads(body))
        if outcome.error:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": outcome.error, "errorMessage": "failed"}).encode()
        return json.dumps(outcome.result).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("app.py", "")
        function = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="WorkflowProbeFunction",
            Runtime="python3.12",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
        client = boto3.client("stepfunctions", region_name=REGION)
        text = (ROOT / "statemachines" / "probe.asl.json").read_text(encoding="utf-8")
        definition = substitute(text, {"WorkflowProbeFunctionArn": function})
        machine = client.create_state_machine(
            name="tpm-test-probe", definition=definition, roleArn=role
        )["stateMachineArn"]
        yield client, machine.removesuffix("probe")


@pytest.fixture
def adapter(sfn: tuple[Any, str]) -> Iterator[StepFunctionsWorkflows]:
    client, prefix = sfn
    workflows = StepFunctionsWorkflows(prefix, region=REGION, client=client)

    class _Runtime:  # the probe's callback task answers through get_runtime().workflows
        pass

    previous = runtime_module._runtime
    runtime = _Runtime()
    runtime.workflows = workflows  # type: ignore[attr-defined]
    set_runtime(runtime)  # type: ignore[arg-type]
    yield workflows
    set_runtime(previous)


def _wait(adapter: StepFunctionsWorkflows, practice_id: str, execution_id: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = adapter.describe(practice_id, execution_id)
        if info.status != "RUNNING":
            return info
        time.sleep(0.1)
    raise AssertionError("the execution did not finish")


def test_the_probe_runs_on_moto_step_functions_as_on_the_local_runner(
    adapter: StepFunctionsWorkflows,
) -> None:
    practice_id = new_id("prx")
    ref = adapter.start(practice_id, "probe", "p1", {"fail_once": True, "wait_seconds": 0})
    info = _wait(adapter, practice_id, ref.id)
    assert info.status == "SUCCEEDED", (info.error, info.cause)
    # The same output tests/integration/test_workflow_probe.py gets from the local runner.
    assert info.output == {"squares": [1, 4, 9], "callback": {"answer": "pong"}}
    assert info.input["practice_id"] == practice_id
    types = [e.type for e in adapter.history(practice_id, ref.id)]
    assert "TaskFailed" in types  # the Flaky task's first attempt, retried
    assert types[-1] == "ExecutionSucceeded"
    assert [x.id for x in adapter.executions(practice_id, "probe")] == [ref.id]


def test_another_practice_cannot_read_an_execution(adapter: StepFunctionsWorkflows) -> None:
    practice_id = new_id("prx")
    ref = adapter.start(practice_id, "probe", "p2", {"fail_once": False, "wait_seconds": 0})
    _wait(adapter, practice_id, ref.id)
    with pytest.raises(UnknownWorkflow):
        adapter.describe(new_id("prx"), ref.id)
    assert adapter.executions(new_id("prx"), "probe") == []


def test_adapter_errors_map_to_the_port(adapter: StepFunctionsWorkflows) -> None:
    practice_id = new_id("prx")
    with pytest.raises(UnknownWorkflow):
        adapter.start(practice_id, "nope", "x", {})
    with pytest.raises(TaskGone):
        adapter.send_task_success("not-a-token", {})
    ref = adapter.start(practice_id, "probe", "p3", {"fail_once": False, "wait_seconds": 0})
    _wait(adapter, practice_id, ref.id)
    with pytest.raises(ExecutionExists):
        adapter.start(practice_id, "probe", "p3", {"fail_once": True, "wait_seconds": 0})
