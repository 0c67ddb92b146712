"""The local Step Functions runner over the store: every transition committed, restarts
resume, Retry/Catch/timeouts/callbacks as Step Functions defines them.

The restart test runs on both store adapters; the rest on SQLite (the runner's own logic
does not depend on the adapter, the store contract suite covers that)."""

from __future__ import annotations

from typing import Any

import pytest
from support.workflows import Engine, task

from tpm.adapters.store.base import Store
from tpm.adapters.workflows import ExecutionExists, TaskGone
from tpm.clock import FixedClock

CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}]
HANDLED = {"Type": "Pass", "End": True}


class Boom(Exception):
    pass


def _retry(**kw: Any) -> list[dict[str, Any]]:
    return [
        {"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2, **kw}
    ]


MACHINES: dict[str, dict[str, Any]] = {
    "restart": {
        "StartAt": "A",
        "States": {
            "A": task("a", Next="Pause"),
            "Pause": {"Type": "Wait", "Seconds": 60, "Next": "B"},
            "B": task("b", End=True),
        },
    },
    "retry": {
        "StartAt": "A",
        "States": {"A": task("a", Retry=_retry(), Catch=CATCH_ALL, End=True), "Handled": HANDLED},
    },
    "callback": {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": "arn:aws:lambda:local:000000000000:function:Fn",
                    "Payload": {"task": "ask", "token.$": "$$.Task.Token", "input.$": "$"},
                },
                "TimeoutSeconds": 100,
                "ResultPath": "$.answer",
                "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Stalled"}, *CATCH_ALL],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
            "Stalled": {
                "Type": "Pass",
                "Result": "stalled",
                "ResultPath": "$.outcome",
                "End": True,
            },
            "Handled": HANDLED,
        },
    },
    "choice": {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
                    {
                        "And": [
                            {"Variable": "$.s", "IsPresent": True},
                            {"Variable": "$.s", "StringMatches": "ok*"},
                        ],
                        "Next": "Ok",
                    },
                ],
            },
            "Big": {"Type": "Pass", "Result": "big", "End": True},
            "Ok": {"Type": "Pass", "Result": "ok", "End": True},
        },
    },
    "fanout": {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "Double",
                    "States": {
                        "Double": {
                            "Type": "Task",
                            "Resource": "arn:aws:lambda:local:000000000000:function:Fn",
                            "Parameters": {"task": "double", "v.$": "$.v"},
                            "End": True,
                        }
                    },
                },
                "ResultPath": "$.doubled",
                "Next": "Both",
            },
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "L",
                        "States": {"L": {"Type": "Pass", "Result": "left", "End": True}},
                    },
                    {"StartAt": "R", "States": {"R": {"Type": "Fail", "Error": "Right"}}},
                ],
                "Catch": [{"ErrorEquals": ["Right"], "ResultPath": "$.caught", "Next": "End"}],
                "End": True,
            },
            "End": {"Type": "Succeed"},
        },
    },
    "slow": {
        "StartAt": "Long",
        "TimeoutSeconds": 30,
        "States": {"Long": {"Type": "Wait", "Seconds": 3600, "End": True}},
    },
}


@pytest.fixture
def engine(sqlite_store: Store, clock: FixedClock) -> Engine:
    return Engine(sqlite_store, clock, MACHINES)


def test_a_restart_resumes_every_execution_exactly_once(store: Store, clock: FixedClock) -> None:
    # GIVEN two executions, one through its first task and into a 60 s wait
    engine = Engine(store, clock, MACHINES)
    engine.tasks.update(a=lambda e: "A", b=lambda e: "B")
    first = engine.start("restart", {"k": 1}, name="one")
    engine.run()
    second = engine.start("restart", {"k": 2}, name="two")
    assert engine.info(first).status == "RUNNING"
    # WHEN the process goes away and a new one starts over the same store
    engine.reopen()
    clock.advance(seconds=61)
    engine.run()  # the first finishes; the second runs its task and starts waiting
    clock.advance(seconds=61)
    engine.run()
    # THEN both finish, and every task ran once per execution
    for execution_id, k in ((first, 1), (second, 2)):
        info = engine.info(execution_id)
        assert info.status == "SUCCEEDED"
        assert info.output["a"] == {"value": "A"}
        assert info.output["b"] == {"value": "B"}
        assert info.output["k"] == k
    assert sorted(engine.calls) == ["a", "a", "b", "b"]
    assert engine.workflows.due(engine.practice_id, clock.now()) == []
    history = engine.types(first)
    assert history[0] == "ExecutionStarted"
    assert history[-1] == "ExecutionSucceeded"
    assert history.count("TaskSucceeded") == 2
    assert history.count("WaitStarted") == 1


def test_a_task_whose_result_was_not_committed_runs_again_with_the_same_key(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At-least-once, as on Step Functions: tasks use meta.entered (TaskEvent.key) to be
    # idempotent. GIVEN the commit after a task fails once (the process "dies" there)
    seen: list[str] = []
    engine.definitions["restart"]["States"]["A"]["Parameters"]["Payload"]["entered.$"] = (
        "$$.State.EnteredTime"
    )
    engine.tasks.update(a=lambda e: seen.append(e["entered"]), b=str)
    real = engine.store.practice(engine.practice_id).__class__.transact
    calls = {"n": 0}

    def flaky(self: Any, ops: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # 1 = start, 2 = the commit after task a
            raise RuntimeError("killed")
        real(self, ops)

    monkeypatch.setattr(engine.store.practice(engine.practice_id).__class__, "transact", flaky)
    execution_id = engine.start("restart")
    engine.run()
    engine.reopen()
    engine.run()
    assert engine.calls == ["a", "a"]
    assert seen[0] == seen[1]
    assert engine.types(execution_id).count("TaskSucceeded") == 1


def test_retry_backs_off_then_catch_takes_the_error(engine: Engine, clock: FixedClock) -> None:
    def fail(event: dict[str, Any]) -> Any:
        raise Boom()

    engine.tasks["a"] = fail
    execution_id = engine.start("retry")
    engine.run()
    events = engine.workflows.history(engine.practice_id, execution_id)
    retry = [e for e in events if e.type == "RetryScheduled"]
    assert [e.detail["attempt"] for e in retry] == [1]
    clock.advance(seconds=1)
    engine.run()
    clock.advance(seconds=1)
    engine.run()
    assert engine.info(execution_id).status == "RUNNING"  # second retry waits 2 s
    clock.advance(seconds=1)
    engine.run()
    info = engine.info(execution_id)
    assert engine.calls == ["a", "a", "a"]
    assert info.status == "SUCCEEDED"
    assert info.output["error"]["Error"] == "Boom"
    assert "errorType" in info.output["error"]["Cause"]


def test_a_callback_task_waits_for_its_token(engine: Engine) -> None:
    tokens: list[str] = []
    engine.tasks["ask"] = lambda e: tokens.append(e["token"])
    execution_id = engine.start("callback", {"patient": "pat_1"})
    engine.run()
    assert engine.info(execution_id).waiting == ["Ask"]
    with pytest.raises(TaskGone):
        engine.workflows.send_task_success(tokens[0][:-4] + "AAAA", {"forged": True})
    engine.workflows.send_task_success(tokens[0], {"yes": True})
    with pytest.raises(TaskGone):  # answered once only
        engine.workflows.send_task_success(tokens[0], {"yes": False})
    engine.run()
    info = engine.info(execution_id)
    assert info.status == "SUCCEEDED"
    assert info.output["answer"] == {"yes": True}
    assert engine.calls == ["ask"]


def test_a_stalled_callback_times_out_to_its_catcher(engine: Engine, clock: FixedClock) -> None:
    tokens: list[str] = []
    engine.tasks["ask"] = lambda e: tokens.append(e["token"])
    execution_id = engine.start("callback")
    engine.run()
    clock.advance(seconds=101)
    engine.run()
    info = engine.info(execution_id)
    assert info.status == "SUCCEEDED"
    assert info.output["outcome"] == "stalled"
    with pytest.raises(TaskGone):
        engine.workflows.send_task_success(tokens[0], {})


def test_task_failure_by_callback_is_caught(engine: Engine) -> None:
    tokens: list[str] = []
    engine.tasks["ask"] = lambda e: tokens.append(e["token"])
    execution_id = engine.start("callback")
    engine.run()
    engine.workflows.send_task_failure(tokens[0], "Declined", "the patient declined")
    engine.run()
    output = engine.info(execution_id).output
    assert output["error"] == {"Error": "Declined", "Cause": "the patient declined"}


def test_choice_rules_and_no_match(engine: Engine) -> None:
    big = engine.start("choice", {"n": 11}, name="big")
    ok = engine.start("choice", {"n": 1, "s": "okay"}, name="ok")
    none = engine.start("choice", {"n": "11"}, name="none")  # a string is not numeric
    engine.run()
    assert engine.info(big).output == "big"
    assert engine.info(ok).output == "ok"
    info = engine.info(none)
    assert info.status == "FAILED"
    assert info.error == "States.NoChoiceMatched"


def test_map_keeps_item_order_and_parallel_failures_are_caught(engine: Engine) -> None:
    engine.tasks["double"] = lambda e: e["v"] * 2
    execution_id = engine.start("fanout", {"items": [1, 2, 3, 4, 5]})
    engine.run()
    info = engine.info(execution_id)
    assert info.status == "SUCCEEDED"
    assert info.output["doubled"] == [2, 4, 6, 8, 10]
    assert info.output["caught"]["Error"] == "Right"
    # MaxConcurrency 2: never more than two items started before one finished
    events = engine.workflows.history(engine.practice_id, execution_id)
    live, most = 0, 0
    for e in events:
        if e.state == "Double":
            live += {"StateEntered": 1, "StateExited": -1}.get(e.type, 0)
            most = max(most, live)
    assert most == 2


def test_start_is_idempotent_by_name(engine: Engine) -> None:
    first = engine.start("choice", {"n": 11}, name="same")
    assert engine.start("choice", {"n": 11}, name="same") == first
    with pytest.raises(ExecutionExists):
        engine.start("choice", {"n": 12}, name="same")


def test_stop_aborts_and_voids_the_token(engine: Engine) -> None:
    tokens: list[str] = []
    engine.tasks["ask"] = lambda e: tokens.append(e["token"])
    execution_id = engine.start("callback")
    engine.run()
    engine.workflows.stop(engine.practice_id, execution_id, "Cancelled", "by staff")
    assert engine.info(execution_id).status == "ABORTED"
    with pytest.raises(TaskGone):
        engine.workflows.send_task_success(tokens[0], {})
    assert engine.types(execution_id)[-1] == "ExecutionAborted"


def test_execution_timeout(engine: Engine, clock: FixedClock) -> None:
    execution_id = engine.start("slow")
    engine.run()
    clock.advance(seconds=31)
    engine.run()
    info = engine.info(execution_id)
    assert info.status == "TIMED_OUT"
    assert info.error == "States.Timeout"


def test_executions_are_listed_newest_first(engine: Engine, clock: FixedClock) -> None:
    first = engine.start("choice", {"n": 11}, name="first")
    clock.advance(seconds=1)
    second = engine.start("choice", {"n": 11}, name="second")
    listed = engine.workflows.executions(engine.practice_id, "choice")
    assert [x.id for x in listed] == [second, first]
