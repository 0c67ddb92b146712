"""State machines as template.yaml declares them: every `AWS::StepFunctions::StateMachine`
(or `AWS::Serverless::StateMachine`) whose DefinitionS3Location (DefinitionUri) is the
local file `statemachines/<workflow>.asl.json`, with its
DefinitionSubstitutions resolved the way the local runner needs them (a function's
`!GetAtt X.Arn` becomes a local Lambda ARN naming the logical id X)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpm.adapters.workflows.asl.validate import SUBSTITUTION, validate

LOCAL_ACCOUNT = "000000000000"
LOCAL_FUNCTION_ARN = f"arn:aws:lambda:local:{LOCAL_ACCOUNT}:function:"
LOCAL_MACHINE_ARN = f"arn:aws:states:local:{LOCAL_ACCOUNT}:stateMachine:"


STATE_MACHINE_TYPES = ("AWS::StepFunctions::StateMachine", "AWS::Serverless::StateMachine")


class DefinitionError(ValueError):
    """A state machine in the template does not load or does not validate."""


@dataclass(frozen=True)
class Machine:
    workflow: str  # statemachines/<workflow>.asl.json
    logical_id: str
    definition_file: Path
    substitutions: dict[str, Any]  # as written in the template
    definition: dict[str, Any]  # substituted for the local runner

    @property
    def arn(self) -> str:
        return LOCAL_MACHINE_ARN + self.workflow


def workflow_name(definition_uri: str) -> str:
    name = Path(definition_uri).name
    if not name.endswith(".asl.json"):
        raise DefinitionError(f"{definition_uri}: state machine files end in .asl.json")
    return name.removesuffix(".asl.json")


def local_value(value: Any, resources: dict[str, Any]) -> str:
    """A DefinitionSubstitutions value as the local runner sees it."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, arg),) = value.items()
        target = None
        if kind == "Fn::GetAtt":
            target = arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
        elif kind == "Ref":
            target = arg
        if target in resources and resources[target].get("Type") == "AWS::Serverless::Function":
            return LOCAL_FUNCTION_ARN + str(target)
        return f"local:{kind}:{json.dumps(arg)}"
    return str(value)


def substitute(text: str, values: dict[str, str]) -> str:
    return SUBSTITUTION.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def load_machines(root: Path, template: dict[str, Any]) -> dict[str, Machine]:
    resources = template["Resources"]
    machines: dict[str, Machine] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") not in STATE_MACHINE_TYPES:
            continue
        props = resource.get("Properties", {})
        uri = props.get("DefinitionS3Location", props.get("DefinitionUri"))
        if not isinstance(uri, str):
            raise DefinitionError(f"{logical_id}: DefinitionUri must name a statemachines/ file")
        workflow = workflow_name(uri)
        raw_subs = props.get("DefinitionSubstitutions") or {}
        text = (root / uri).read_text(encoding="utf-8")
        values = {k: local_value(v, resources) for k, v in raw_subs.items()}
        try:
            raw = json.loads(text)
            definition = json.loads(substitute(text, values))
        except json.JSONDecodeError as exc:
            raise DefinitionError(f"{uri}: not JSON ({exc.msg} at line {exc.lineno})") from exc
        problems = validate(raw, substitutions=set(raw_subs))
        if problems:
            raise DefinitionError(f"{uri}: " + "; ".join(problems))
        machines[workflow] = Machine(workflow, logical_id, root / uri, raw_subs, definition)
    return machines


class TemplateMachines:
    """The checkout's state machines, read once on first use."""

    def __init__(self, root: str | Path | None = None) -> None:
        self._root = Path(root) if root else None
        self._machines: dict[str, Machine] | None = None
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        if self._root is None:
            from tpm.cli import project_root

            self._root = project_root()
        return self._root

    def all(self) -> dict[str, Machine]:
        if self._machines is None:
            with self._lock:
                if self._machines is None:
                    from tpm.local.template import load_template

                    template = load_template(self.root / "template.yaml")
                    self._machines = load_machines(self.root, template)
        return self._machines

    def get(self, workflow: str) -> Machine | None:
        return self.all().get(workflow)
