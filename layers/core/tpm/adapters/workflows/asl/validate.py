"""Static checks of a state machine definition, run in CI for every statemachines/ file
and by the local runner before it starts an execution.

Two levels: the States Language itself (fields per state type, every `Next` names a state
of the same scope, every state reachable, paths and intrinsic calls parse, Choice rules
well formed, Retry/Catch well formed) and tpm's house rules (`house=True`): JSONPath only,
every Task has Retry and Catch, every Task calls a Lambda function named by a
`${...}` substitution (directly, `lambda:invoke` or `lambda:invoke.waitForTaskToken`), and
every callback task has a TimeoutSeconds so a stalled step ends somewhere.
cfn-lint's JSON Schema for the language (rule E3601) is applied as well by the CI test.
"""

from __future__ import annotations

import re
from typing import Any

from tpm.adapters.workflows.asl.choice import OPERATORS
from tpm.adapters.workflows.asl.errors import ALL
from tpm.adapters.workflows.asl.intrinsics import IntrinsicSyntaxError, is_intrinsic, parse_call
from tpm.adapters.workflows.asl.paths import PathSyntaxError, parse

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
LAMBDA_CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"
SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

_COMMON = {"Type", "Comment", "QueryLanguage"}
_FLOW = {"Next", "End"}
_IO = {"InputPath", "OutputPath"}
_FIELDS: dict[str, set[str]] = {
    "Pass": _COMMON | _FLOW | _IO | {"Parameters", "ResultPath", "Result"},
    "Task": _COMMON
    | _FLOW
    | _IO
    | {
        "Resource",
        "Parameters",
        "ResultPath",
        "ResultSelector",
        "Retry",
        "Catch",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        "Credentials",
    },
    "Choice": _COMMON | _IO | {"Choices", "Default"},
    "Wait": _COMMON | _FLOW | _IO | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
    "Succeed": _COMMON | _IO,
    "Fail": _COMMON | {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _COMMON
    | _FLOW
    | _IO
    | {"Branches", "Parameters", "ResultPath", "ResultSelector", "Retry", "Catch"},
    "Map": _COMMON
    | _FLOW
    | _IO
    | {
        "ItemsPath",
        "ItemSelector",
        "Parameters",
        "ItemProcessor",
        "Iterator",
        "MaxConcurrency",
        "ResultPath",
        "ResultSelector",
        "Retry",
        "Catch",
        "ToleratedFailureCount",
        "ToleratedFailurePercentage",
        "Label",
    },
}
_TOP = {"StartAt", "States", "Comment", "TimeoutSeconds", "Version", "QueryLanguage"}


def validate(
    definition: Any, *, house: bool = True, substitutions: set[str] | None = None
) -> list[str]:
    problems: list[str] = []
    if not isinstance(definition, dict):
        return ["the definition must be a JSON object"]
    _machine(definition, "", problems, house, top=True)
    if substitutions is not None:
        used = set(SUBSTITUTION.findall(_dump(definition)))
        problems += [
            f"${{{n}}} has no DefinitionSubstitution" for n in sorted(used - substitutions)
        ]
    return problems


def _dump(value: Any) -> str:
    import json

    return json.dumps(value)


def _machine(
    machine: dict[str, Any], where: str, problems: list[str], house: bool, *, top: bool = False
) -> None:
    allowed = _TOP if top else {"StartAt", "States", "Comment", "ProcessorConfig"}
    for key in machine:
        if key not in allowed:
            problems.append(f"{where or '/'}: unknown field {key}")
    if machine.get("QueryLanguage", "JSONPath") != "JSONPath":
        problems.append(f"{where or '/'}: only JSONPath definitions are supported")
    states = machine.get("States")
    start = machine.get("StartAt")
    if not isinstance(states, dict) or not states:
        problems.append(f"{where or '/'}: States must be a non-empty object")
        return
    if start not in states:
        problems.append(f"{where or '/'}: StartAt names no state")
    for name, state in states.items():
        if not isinstance(state, dict):
            problems.append(f"{where}/{name}: a state must be an object")
            continue
        _state(name, state, states, f"{where}/{name}", problems, house)
    reachable = _reachable(start, states)
    for name in states:
        if name not in reachable:
            problems.append(f"{where}/{name}: unreachable")


def _targets(state: dict[str, Any]) -> list[str]:
    out = []
    if isinstance(state.get("Next"), str):
        out.append(state["Next"])
    if isinstance(state.get("Default"), str):
        out.append(state["Default"])
    for rule in state.get("Choices") or []:
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            out.append(rule["Next"])
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            out.append(catcher["Next"])
    return out


def _reachable(start: Any, states: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = [start] if isinstance(start, str) else []
    while todo:
        name = todo.pop()
        if name in seen or name not in states or not isinstance(states[name], dict):
            continue
        seen.add(name)
        todo.extend(_targets(states[name]))
    return seen


def _state(
    name: str,
    state: dict[str, Any],
    states: dict[str, Any],
    where: str,
    problems: list[str],
    house: bool,
) -> None:
    kind = state.get("Type")
    if kind not in _FIELDS:
        problems.append(f"{where}: unknown Type {kind!r}")
        return
    if len(name) > 80:
        problems.append(f"{where}: state names are at most 80 characters")
    for key in state:
        if key not in _FIELDS[kind]:
            problems.append(f"{where}: {kind} has no field {key}")
    if "Next" in _FIELDS[kind]:
        has_next, end = "Next" in state, state.get("End") is True
        if has_next == end:
            problems.append(f"{where}: exactly one of Next or End: true")
    for target in _targets(state):
        if target not in states:
            problems.append(f"{where}: Next {target!r} names no state in this scope")
    for key in (
        "InputPath",
        "OutputPath",
        "ItemsPath",
        "SecondsPath",
        "TimestampPath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
    ):
        if isinstance(state.get(key), str):
            _path(state[key], f"{where}.{key}", problems)
    if isinstance(state.get("ResultPath"), str):
        _path(state["ResultPath"], f"{where}.ResultPath", problems, reference=True)
    for key in ("Parameters", "ResultSelector", "ItemSelector"):
        if key in state:
            _template(state[key], f"{where}.{key}", problems)
    for key in ("Retry", "Catch"):
        if key in state:
            _handlers(key, state[key], f"{where}.{key}", problems)
    if kind == "Task":
        _task(state, where, problems, house)
    elif kind == "Choice":
        choices = state.get("Choices")
        if not isinstance(choices, list) or not choices:
            problems.append(f"{where}: Choices must be a non-empty list")
        else:
            for i, rule in enumerate(choices):
                _rule(rule, f"{where}.Choices[{i}]", problems, top=True)
    elif kind == "Wait":
        given = [k for k in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if k in state]
        if len(given) != 1:
            problems.append(
                f"{where}: exactly one of Seconds, SecondsPath, Timestamp, TimestampPath"
            )
    elif kind == "Parallel":
        branches = state.get("Branches")
        if not isinstance(branches, list) or not branches:
            problems.append(f"{where}: Branches must be a non-empty list")
        else:
            for i, branch in enumerate(branches):
                if isinstance(branch, dict):
                    _machine(branch, f"{where}.Branches[{i}]", problems, house)
                else:
                    problems.append(f"{where}.Branches[{i}]: must be an object")
    elif kind == "Map":
        processor = state.get("ItemProcessor", state.get("Iterator"))
        if not isinstance(processor, dict):
            problems.append(f"{where}: Map needs an ItemProcessor")
        else:
            config = processor.get("ProcessorConfig") or {}
            if config.get("Mode", "INLINE") != "INLINE":
                problems.append(f"{where}: only INLINE Map processing is supported")
            _machine(processor, f"{where}.ItemProcessor", problems, house)
        if "ItemSelector" in state and "Parameters" in state:
            problems.append(f"{where}: ItemSelector and Parameters are exclusive")
    elif kind == "Fail":
        for key in ("ErrorPath", "CausePath"):
            if isinstance(state.get(key), str):
                _path_or_intrinsic(state[key], f"{where}.{key}", problems)


def _task(state: dict[str, Any], where: str, problems: list[str], house: bool) -> None:
    resource = state.get("Resource")
    if not isinstance(resource, str) or not resource:
        problems.append(f"{where}: Task needs a Resource")
        return
    if not house:
        return
    for key in ("Retry", "Catch"):
        if not state.get(key):
            problems.append(f"{where}: every Task has {key} (house rule)")
    params = state.get("Parameters")
    if not isinstance(params, dict):
        params = {}
    if resource in (LAMBDA_INVOKE, LAMBDA_CALLBACK):
        function = params.get("FunctionName")
        if not (isinstance(function, str) and SUBSTITUTION.fullmatch(function)):
            problems.append(f"{where}: FunctionName must be a ${{...}} substitution")
        if resource == LAMBDA_CALLBACK:
            if "$$.Task.Token" not in _dump(params):
                problems.append(f"{where}: a callback task must pass $$.Task.Token")
            timeouts = ("TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds")
            if not any(k in state for k in timeouts):
                problems.append(f"{where}: a callback task needs TimeoutSeconds (house rule)")
    elif not SUBSTITUTION.fullmatch(resource):
        problems.append(f"{where}: Resource must be a Lambda function ${{...}} or lambda:invoke")


def _handlers(key: str, value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, list):
        problems.append(f"{where}: must be a list")
        return
    for i, handler in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(handler, dict):
            problems.append(f"{here}: must be an object")
            continue
        errors = handler.get("ErrorEquals")
        if (
            not isinstance(errors, list)
            or not errors
            or not all(isinstance(e, str) for e in errors)
        ):
            problems.append(f"{here}: ErrorEquals must be a non-empty list of names")
        elif ALL in errors and (len(errors) > 1 or i != len(value) - 1):
            problems.append(f"{here}: States.ALL must be alone and last")
        allowed = (
            {
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            }
            if key == "Retry"
            else {"ErrorEquals", "Next", "ResultPath", "Comment"}
        )
        for field in handler:
            if field not in allowed:
                problems.append(f"{here}: unknown field {field}")
        if key == "Catch":
            if not isinstance(handler.get("Next"), str):
                problems.append(f"{here}: a catcher needs Next")
            if isinstance(handler.get("ResultPath"), str):
                _path(handler["ResultPath"], f"{here}.ResultPath", problems, reference=True)
        else:
            for field, low in (("IntervalSeconds", 1), ("MaxAttempts", 0), ("MaxDelaySeconds", 1)):
                v = handler.get(field)
                if v is not None and (not isinstance(v, int) or v < low):
                    problems.append(f"{here}: {field} must be an integer >= {low}")
            rate = handler.get("BackoffRate")
            if rate is not None and (not isinstance(rate, int | float) or rate < 1):
                problems.append(f"{here}: BackoffRate must be >= 1")
            if handler.get("JitterStrategy", "NONE") not in ("NONE", "FULL"):
                problems.append(f"{here}: JitterStrategy is NONE or FULL")


def _rule(rule: Any, where: str, problems: list[str], *, top: bool) -> None:
    if not isinstance(rule, dict):
        problems.append(f"{where}: must be an object")
        return
    if top and "Next" not in rule:
        problems.append(f"{where}: a top-level rule needs Next")
    if not top and "Next" in rule:
        problems.append(f"{where}: only top-level rules have Next")
    for combinator in ("And", "Or"):
        if combinator in rule:
            subs = rule[combinator]
            if not isinstance(subs, list) or not subs:
                problems.append(f"{where}.{combinator}: must be a non-empty list")
                return
            for i, sub in enumerate(subs):
                _rule(sub, f"{where}.{combinator}[{i}]", problems, top=False)
            return
    if "Not" in rule:
        _rule(rule["Not"], f"{where}.Not", problems, top=False)
        return
    variable = rule.get("Variable")
    if not isinstance(variable, str):
        problems.append(f"{where}: a comparison needs Variable")
        return
    _path(variable, f"{where}.Variable", problems)
    ops = [k for k in rule if k in OPERATORS]
    extra = [k for k in rule if k not in OPERATORS and k not in ("Variable", "Next", "Comment")]
    if len(ops) != 1 or extra:
        problems.append(f"{where}: exactly one comparison operator")
        return
    if ops[0].endswith("Path") and isinstance(rule[ops[0]], str):
        _path(rule[ops[0]], f"{where}.{ops[0]}", problems)


def _template(value: Any, where: str, problems: list[str]) -> None:
    if isinstance(value, dict):
        for key, v in value.items():
            if key.endswith(".$"):
                if not isinstance(v, str):
                    problems.append(f"{where}.{key}: must be a path string")
                else:
                    _path_or_intrinsic(v, f"{where}.{key}", problems)
            else:
                _template(v, f"{where}.{key}", problems)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _template(v, f"{where}[{i}]", problems)


def _path_or_intrinsic(text: str, where: str, problems: list[str]) -> None:
    if is_intrinsic(text):
        try:
            parse_call(text)
        except IntrinsicSyntaxError as exc:
            problems.append(f"{where}: {exc}")
    else:
        _path(text, where, problems)


def _path(text: str, where: str, problems: list[str], *, reference: bool = False) -> None:
    try:
        path = parse(text)
    except PathSyntaxError as exc:
        problems.append(f"{where}: {exc}")
        return
    if reference and (path.root != "$" or not path.reference):
        problems.append(f"{where}: must be a reference path ($.a.b)")
