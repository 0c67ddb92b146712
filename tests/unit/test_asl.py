"""The States Language pieces: paths, intrinsic functions, choice rules, validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tpm.adapters.workflows.asl.choice import evaluate as choose
from tpm.adapters.workflows.asl.errors import StatesError
from tpm.adapters.workflows.asl.intrinsics import evaluate as intrinsic
from tpm.adapters.workflows.asl.paths import put, render, select
from tpm.adapters.workflows.asl.validate import validate

DATA = {"a": {"b": [1, 2, 3], "c": "x"}, "list": [{"n": 1}, {"n": 2}], "s": "hello"}
CTX = {"Execution": {"Id": "arn:x", "Name": "run-1"}, "State": {"RetryCount": 0}}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DATA),
        ("$.a.c", "x"),
        ("$['a']['c']", "x"),
        ("$.a.b[1]", 2),
        ("$.a.b[-1]", 3),
        ("$.a.b[0:2]", [1, 2]),
        ("$.a.b[0,2]", [1, 3]),
        ("$.list[*].n", [1, 2]),
        ("$..n", [1, 2]),
        ("$$.Execution.Name", "run-1"),
    ],
)
def test_paths(path: str, expected: Any) -> None:
    assert select(path, DATA, CTX) == expected


def test_a_definite_path_that_matches_nothing_is_an_error() -> None:
    with pytest.raises(StatesError) as caught:
        select("$.missing", DATA, CTX)
    assert caught.value.error == "States.Runtime"


def test_result_path_places_and_creates() -> None:
    out = put(DATA, "$.new.deep", 7)
    assert out["new"] == {"deep": 7}
    assert "new" not in DATA
    assert put(DATA, "$", 1) == 1


def test_payload_templates() -> None:
    out = render(
        {"x.$": "$.a.c", "lit": {"y.$": "States.Format('{}-{}', $.s, $.a.b[0])"}, "z": [1]},
        DATA,
        CTX,
    )
    assert out == {"x": "x", "lit": {"y": "hello-1"}, "z": [1]}


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("States.Format('a {} b \\{\\}', $.s)", "a hello b {}"),
        ("States.StringToJson('{\"k\": 1}')", {"k": 1}),
        ("States.JsonToString($.a.b)", "[1,2,3]"),
        ("States.Array(1, 'two', $.a.c)", [1, "two", "x"]),
        ("States.ArrayPartition($.a.b, 2)", [[1, 2], [3]]),
        ("States.ArrayContains($.a.b, 2)", True),
        ("States.ArrayRange(1, 9, 3)", [1, 4, 7]),
        ("States.ArrayGetItem($.a.b, 1)", 2),
        ("States.ArrayLength($.list)", 2),
        ("States.ArrayUnique(States.Array(1, 1, 2))", [1, 2]),
        ("States.Base64Decode(States.Base64Encode('hi'))", "hi"),
        (
            "States.Hash('abc', 'SHA-256')",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            "States.JsonMerge($.a, States.StringToJson('{\"c\": 2}'), false)",
            {"b": [1, 2, 3], "c": 2},
        ),
        ("States.MathAdd(40, 2)", 42),
        ("States.StringSplit('a,b;c', ',;')", ["a", "b", "c"]),
        ("States.MathRandom(5, 6)", 5),
    ],
)
def test_intrinsics(call: str, expected: Any) -> None:
    assert intrinsic(call, DATA, CTX) == expected


def test_uuid_and_bad_calls() -> None:
    assert len(intrinsic("States.UUID()", DATA, CTX)) == 36
    for bad in ("States.Nope(1)", "States.Format('{}')", "States.ArrayGetItem($.a.b, 9)"):
        with pytest.raises(StatesError) as caught:
            intrinsic(bad, DATA, CTX)
        assert caught.value.error == "States.IntrinsicFailure"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"Variable": "$.s", "StringEquals": "hello"}, True),
        ({"Variable": "$.s", "StringMatches": "he*o"}, True),
        ({"Variable": "$.s", "StringMatches": "h\\*"}, False),
        ({"Variable": "$.a.b[0]", "NumericLessThanEquals": 1}, True),
        ({"Variable": "$.a.b[0]", "NumericEqualsPath": "$.list[0].n"}, True),
        ({"Variable": "$.s", "NumericEquals": 1}, False),
        ({"Variable": "$.missing", "IsPresent": False}, True),
        ({"Variable": "$.missing", "StringEquals": "x"}, False),
        ({"Variable": "$.a", "IsNull": False}, True),
        ({"Not": {"Variable": "$.s", "IsString": True}}, False),
        (
            {"Or": [{"Variable": "$.s", "IsBoolean": True}, {"Variable": "$.s", "IsString": True}]},
            True,
        ),
        ({"Variable": "$.t", "TimestampLessThan": "2026-12-07T00:00:00Z"}, True),
    ],
)
def test_choice_rules(rule: dict[str, Any], expected: bool) -> None:
    data = {**DATA, "t": "2026-12-06T10:00:00.000Z", "a": {**DATA["a"]}}  # type: ignore[dict-item]
    assert choose(rule, data, CTX) is expected


def test_the_validator_finds_what_is_wrong() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Resource": "arn:aws:lambda:x", "Next": "Nowhere"},
            "B": {"Type": "Pass", "End": True},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "Next": "B"}]},
            "D": {"Type": "Wait", "End": True},
            "E": {"Type": "Pass", "Parameters": {"x.$": "States.Nope()"}, "End": True, "Next": "B"},
        },
    }
    problems = "\n".join(validate(definition))
    for expected in (
        "/A: Next 'Nowhere' names no state",
        "/A: every Task has Retry",
        "/A: every Task has Catch",
        "/A: Resource must be a Lambda function",
        "/B: unreachable",
        "/C.Choices[0]: exactly one comparison operator",
        "/D: exactly one of Seconds",
        "/E.Parameters.x.$: unknown intrinsic function",
        "/E: exactly one of Next or End",
    ):
        assert expected in problems


def _substituted(text: str) -> dict[str, Any]:
    import re

    def arn(m: re.Match[str]) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{m.group(1)}"

    return json.loads(re.sub(r"\$\{([A-Za-z0-9_]+)\}", arn, text))


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).resolve().parents[2] / "statemachines").glob("*.asl.json"))
)
def test_every_state_machine_passes_the_house_rules_and_cfn_lint(path: Path) -> None:
    from cfnlint.api import lint

    text = path.read_text(encoding="utf-8")
    assert validate(json.loads(text)) == []
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/r",
                    "Definition": _substituted(text),
                },
            }
        },
    }
    matches = lint(json.dumps(template), regions=["us-east-1"])
    assert [str(m) for m in matches if m.rule.id.startswith("E36")] == []
