"""The States Language interpreter: one transition at a time, on plain data, no I/O.

An execution is a set of *threads*: the root thread walks the top-level states; a
Parallel state starts one child thread per branch and a Map state one per item (at most
MaxConcurrency at a time). Each call to `Interpreter.plan` names the next thing to do
(a pure transition, or a task to invoke); the caller performs the invocation, then
`apply` turns its outcome into the next state and the history events to record. The
caller (tpm.adapters.workflows.local) persists the execution after every `apply`, so a
restart continues from the last committed transition.

Data flow follows the Step Functions rules: InputPath → Parameters → (task) →
ResultSelector → ResultPath → OutputPath; a caught error becomes {"Error", "Cause"}
placed by the catcher's ResultPath.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tpm.adapters.workflows.asl import errors as err
from tpm.adapters.workflows.asl.choice import evaluate as choose
from tpm.adapters.workflows.asl.choice import timestamp
from tpm.adapters.workflows.asl.errors import StatesError, matches
from tpm.adapters.workflows.asl.paths import put, render, select
from tpm.adapters.workflows.asl.validate import LAMBDA_CALLBACK, LAMBDA_INVOKE
from tpm.clock import to_rfc3339

MAX_PAYLOAD = 256 * 1024  # Step Functions' limit on a state's input or output (bytes)

# Thread phases.
ENTER, RETRY, TIMER, TOKEN, CHILDREN = "enter", "retry", "timer", "token", "children"
DONE, FAILED, ABORTED = "done", "failed", "aborted"
TERMINAL = frozenset({DONE, FAILED, ABORTED})

RUNNING, SUCCEEDED, EXEC_FAILED, TIMED_OUT, EXEC_ABORTED = (
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "ABORTED",
)


@dataclass
class Thread:
    id: str
    scope: list[Any]  # path from the definition root to this thread's {StartAt, States}
    state: str
    input: Any
    entered_at: str
    phase: str = ENTER
    due: str | None = None
    retries: dict[str, int] = field(default_factory=dict)
    retry_count: int = 0
    token: str | None = None
    invoked: bool = False
    callback: dict[str, Any] | None = None
    timeout_at: str | None = None
    heartbeat_at: str | None = None
    parent: str | None = None
    index: int = 0
    item: Any = None
    children: list[str] = field(default_factory=list)
    pending: list[Any] = field(default_factory=list)  # Map: items not started yet
    results: dict[str, Any] = field(default_factory=dict)  # child index -> output
    output: Any = None
    error: str | None = None
    cause: str | None = None


@dataclass
class Execution:
    id: str
    practice_id: str
    machine: str
    name: str
    arn: str
    definition: dict[str, Any]
    input: Any
    started_at: str
    status: str = RUNNING
    stopped_at: str | None = None
    output: Any = None
    error: str | None = None
    cause: str | None = None
    threads: dict[str, Thread] = field(default_factory=dict)
    next_thread: int = 1
    timeout_at: str | None = None
    version: int = 0

    def threads_json(self) -> str:
        return json.dumps({k: asdict(t) for k, t in self.threads.items()}, separators=(",", ":"))

    @staticmethod
    def threads_from_json(text: str) -> dict[str, Thread]:
        return {k: Thread(**v) for k, v in json.loads(text).items()}


@dataclass(frozen=True)
class Invoke:
    """A task to run: the function (as named in the definition) and its payload."""

    function: str
    payload: Any
    integration: str  # "direct" | "invoke" | "callback"


@dataclass(frozen=True)
class Outcome:
    """What came back from an invocation: a result, or an error name and cause."""

    result: Any = None
    error: str | None = None
    cause: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Plan:
    thread_id: str
    position: tuple[str, str, str, int, bool]  # state, entered_at, phase, retry_count, invoked
    invoke: Invoke | None = None


Event = dict[str, Any]


def _iso(moment: datetime) -> str:
    return to_rfc3339(moment)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_execution(
    *,
    id: str,
    practice_id: str,
    machine: str,
    name: str,
    arn: str,
    definition: dict[str, Any],
    input: Any,
    now: datetime,
) -> tuple[Execution, list[Event]]:
    at = _iso(now)
    execution = Execution(id, practice_id, machine, name, arn, definition, input, at)
    if isinstance(definition.get("TimeoutSeconds"), int):
        execution.timeout_at = _iso(now + timedelta(seconds=definition["TimeoutSeconds"]))
    execution.threads["t0"] = Thread("t0", [], definition["StartAt"], input, at, due=at)
    _check_size(input)
    return execution, [
        {"type": "ExecutionStarted", "at": at, "detail": {"input": input}},
        _entered(execution.threads["t0"], at),
    ]


def _entered(thread: Thread, at: str) -> Event:
    return {"type": "StateEntered", "at": at, "thread": thread.id, "state": thread.state}


def _check_size(value: Any) -> None:
    if len(json.dumps(value, separators=(",", ":"))) > MAX_PAYLOAD:
        raise StatesError(err.DATA_LIMIT, "The state's data exceeds 256 KB.")


class Interpreter:
    def __init__(self, execution: Execution, now: datetime, token_factory: Any = None) -> None:
        self.x = execution
        self.now = now
        self.at = _iso(now)
        self.events: list[Event] = []
        self._token = token_factory or (
            lambda thread: (
                f"wft1.{execution.practice_id}.{execution.id}.{thread.id}."
                + secrets.token_urlsafe(24)
            )
        )

    # ---- scheduling ---------------------------------------------------------------------

    def thread_due(self, t: Thread) -> str | None:
        if t.phase == ENTER:
            return t.entered_at
        if t.phase in (RETRY, TIMER):
            return t.due
        if t.phase == TOKEN:
            if t.callback is not None or not t.invoked:
                return t.entered_at
            times = [x for x in (t.timeout_at, t.heartbeat_at) if x]
            return min(times) if times else None
        if t.phase == CHILDREN:
            return self.at if self._children_ready(t) else None
        return None

    def due(self) -> str | None:
        """When this execution next has work (None: only a callback can wake it)."""
        if self.x.status != RUNNING:
            return None
        times = [d for t in self.x.threads.values() if (d := self.thread_due(t))]
        if self.x.timeout_at:
            times.append(self.x.timeout_at)
        return min(times) if times else None

    def _children_ready(self, t: Thread) -> bool:
        kids = [self.x.threads[c] for c in t.children]
        if any(k.phase == FAILED for k in kids):
            return True
        active = [k for k in kids if k.phase not in TERMINAL]
        if t.pending:
            limit = self._state(t).get("MaxConcurrency", 0) or len(t.pending) + len(kids)
            return len(active) < limit
        return not active

    def plan(self) -> Plan | None:
        if self.x.status != RUNNING:
            return None
        if self.x.timeout_at and self.x.timeout_at <= self.at:
            return Plan("", ("", "", "timeout", 0, False))
        for t in sorted(self.x.threads.values(), key=lambda t: int(t.id[1:])):
            due = self.thread_due(t)
            if due is None or due > self.at:
                continue
            position = (t.state, t.entered_at, t.phase, t.retry_count, t.invoked)
            return Plan(t.id, position, self._invocation(t))
        return None

    def still(self, plan: Plan) -> bool:
        """After a reload: is the planned thread still where the plan found it?"""
        if plan.thread_id == "":
            return self.x.status == RUNNING
        t = self.x.threads.get(plan.thread_id)
        return (
            t is not None
            and (
                t.state,
                t.entered_at,
                t.phase,
                t.retry_count,
                t.invoked,
            )
            == plan.position
        )

    def _invocation(self, t: Thread) -> Invoke | None:
        state = self._state(t)
        if state["Type"] != "Task":
            return None
        resource = state["Resource"]
        callback = resource == LAMBDA_CALLBACK
        if t.phase not in ((TOKEN,) if callback else (ENTER, RETRY)):
            return None
        if callback and (t.invoked or t.callback is not None):
            return None
        try:
            effective = self._effective_input(t, state)
        except StatesError:
            return None  # apply() raises it again as the state's error
        if resource in (LAMBDA_INVOKE, LAMBDA_CALLBACK):
            params = effective if isinstance(effective, dict) else {}
            return Invoke(
                str(params.get("FunctionName", "")),
                params.get("Payload"),
                "callback" if callback else "invoke",
            )
        return Invoke(resource, effective, "direct")

    # ---- helpers --------------------------------------------------------------------------

    def _machine(self, scope: list[Any]) -> dict[str, Any]:
        node: Any = self.x.definition
        for key in scope:
            node = node[key]
        return node  # type: ignore[no-any-return]

    def _state(self, t: Thread) -> dict[str, Any]:
        return self._machine(t.scope)["States"][t.state]  # type: ignore[no-any-return]

    def context(self, t: Thread) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "Execution": {
                "Id": self.x.arn,
                "Input": self.x.input,
                "Name": self.x.name,
                "StartTime": self.x.started_at,
                "RoleArn": "arn:aws:iam::000000000000:role/tpm-local-workflows",
            },
            "State": {"EnteredTime": t.entered_at, "Name": t.state, "RetryCount": t.retry_count},
            "StateMachine": {
                "Id": self.x.arn.rsplit(":", 1)[0].replace(":execution:", ":stateMachine:"),
                "Name": self.x.machine,
            },
        }
        if t.token:
            ctx["Task"] = {"Token": t.token}
        return ctx

    def _effective_input(self, t: Thread, state: dict[str, Any]) -> Any:
        ctx = self.context(t)
        data = t.input
        if "InputPath" in state:
            data = {} if state["InputPath"] is None else select(state["InputPath"], data, ctx)
        if "Parameters" in state and state["Type"] != "Map":
            data = render(state["Parameters"], data, ctx)
        return data

    def _output(self, t: Thread, state: dict[str, Any], result: Any) -> Any:
        ctx = self.context(t)
        if "ResultSelector" in state:
            result = render(state["ResultSelector"], result, ctx)
        if "ResultPath" in state and state["ResultPath"] is None:
            merged = t.input
        else:
            merged = put(t.input, state.get("ResultPath", "$"), result)
        if "OutputPath" in state:
            merged = {} if state["OutputPath"] is None else select(state["OutputPath"], merged, ctx)
        _check_size(merged)
        return merged

    def _filter_output(self, t: Thread, state: dict[str, Any], data: Any) -> Any:
        if "OutputPath" in state:
            ctx = self.context(t)
            data = {} if state["OutputPath"] is None else select(state["OutputPath"], data, ctx)
        return data

    def _event(self, kind: str, t: Thread, **detail: Any) -> None:
        event: Event = {"type": kind, "at": self.at, "thread": t.id, "state": t.state}
        if detail:
            event["detail"] = detail
        self.events.append(event)

    # ---- transitions ----------------------------------------------------------------------

    def apply(self, plan: Plan, outcome: Outcome | None = None) -> list[Event]:
        if plan.thread_id == "":
            self._end_execution(TIMED_OUT, err.TIMEOUT, "The execution timed out.")
            return self.events
        t = self.x.threads[plan.thread_id]
        state = self._state(t)
        try:
            self._step(t, state, outcome)
        except StatesError as exc:
            self._error(t, state, exc.error, exc.cause, from_task=False)
        return self.events

    def _step(self, t: Thread, state: dict[str, Any], outcome: Outcome | None) -> None:
        kind = state["Type"]
        if kind == "Task":
            self._task(t, state, outcome)
        elif kind == "Pass":
            data = self._effective_input(t, state)
            result = state.get("Result", data)
            self._advance(t, state, self._output(t, state, result))
        elif kind == "Choice":
            self._choice(t, state)
        elif kind == "Wait":
            self._wait(t, state)
        elif kind == "Succeed":
            data = t.input
            if "InputPath" in state:
                ctx = self.context(t)
                data = {} if state["InputPath"] is None else select(state["InputPath"], data, ctx)
            self._finish(t, self._filter_output(t, state, data))
        elif kind == "Fail":
            ctx = self.context(t)
            error = state.get("Error", "")
            cause = state.get("Cause", "")
            if "ErrorPath" in state:
                error = str(_path_value(state["ErrorPath"], t.input, ctx))
            if "CausePath" in state:
                cause = str(_path_value(state["CausePath"], t.input, ctx))
            self._event("FailStateEntered", t, error=error)
            self._thread_failed(t, error, cause)
        elif kind == "Parallel":
            self._parallel(t, state)
        elif kind == "Map":
            self._map(t, state)

    def _task(self, t: Thread, state: dict[str, Any], outcome: Outcome | None) -> None:
        callback = state["Resource"] == LAMBDA_CALLBACK
        if callback:
            self._callback_task(t, state, outcome)
            return
        if outcome is None:  # the input could not be prepared
            self._effective_input(t, state)
            raise StatesError(err.RUNTIME, "The task could not be invoked.")
        limit = state.get("TimeoutSeconds")
        if outcome.error is None and isinstance(limit, int) and outcome.seconds > limit:
            outcome = Outcome(error=err.TIMEOUT, cause="The task ran longer than TimeoutSeconds.")
        if outcome.error is not None:
            self._event("TaskFailed", t, error=outcome.error)
            self._error(t, state, outcome.error, outcome.cause, from_task=True)
            return
        result = outcome.result
        if state["Resource"] == LAMBDA_INVOKE:
            result = {"ExecutedVersion": "$LATEST", "Payload": result, "StatusCode": 200}
        self._event("TaskSucceeded", t)
        self._advance(t, state, self._output(t, state, result))

    def _callback_task(self, t: Thread, state: dict[str, Any], outcome: Outcome | None) -> None:
        if t.phase in (ENTER, RETRY):
            t.phase, t.token, t.invoked, t.callback = TOKEN, self._token(t), False, None
            seconds = self._seconds(t, state, "TimeoutSeconds")
            t.timeout_at = _iso(self.now + timedelta(seconds=seconds)) if seconds else None
            beat = self._seconds(t, state, "HeartbeatSeconds")
            t.heartbeat_at = _iso(self.now + timedelta(seconds=beat)) if beat else None
            self._event("TaskScheduled", t)
            return
        if t.callback is not None:
            callback, t.callback = t.callback, None
            t.token = None
            if callback.get("error") is not None:
                self._event("TaskFailed", t, error=callback["error"])
                self._error(t, state, callback["error"], callback.get("cause", ""), from_task=True)
            else:
                self._event("TaskSucceeded", t)
                self._advance(t, state, self._output(t, state, callback.get("output")))
            return
        if not t.invoked:
            if outcome is None:
                self._effective_input(t, state)
                raise StatesError(err.RUNTIME, "The task could not be invoked.")
            if outcome.error is not None:
                t.token = None
                self._event("TaskFailed", t, error=outcome.error)
                self._error(t, state, outcome.error, outcome.cause, from_task=True)
                return
            t.invoked = True
            self._event("TaskSubmitted", t)
            return
        t.token = None
        timed_out = t.timeout_at and t.timeout_at <= self.at
        error = err.TIMEOUT if timed_out else err.HEARTBEAT_TIMEOUT
        self._event("TaskTimedOut", t, error=error)
        self._error(t, state, error, "The task did not report back in time.", from_task=True)

    def _seconds(self, t: Thread, state: dict[str, Any], name: str) -> int | None:
        """TimeoutSeconds / HeartbeatSeconds, or their Path form read from the state input."""
        if name + "Path" in state:
            value = select(state[name + "Path"], t.input, self.context(t))
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise StatesError(err.RUNTIME, f"{name}Path must select a positive integer.")
            return value
        value = state.get(name)
        return value if isinstance(value, int) else None

    def record_callback(
        self, t: Thread, output: Any = None, error: str | None = None, cause: str = ""
    ) -> None:
        if error is None:
            _check_size(output)
            t.callback = {"output": output}
            self._event("CallbackSucceeded", t)
        else:
            t.callback = {"error": error, "cause": cause}
            self._event("CallbackFailed", t, error=error)

    def heartbeat(self, t: Thread) -> None:
        beat = self._seconds(t, self._state(t), "HeartbeatSeconds")
        if beat:
            t.heartbeat_at = _iso(self.now + timedelta(seconds=beat))

    def _choice(self, t: Thread, state: dict[str, Any]) -> None:
        ctx = self.context(t)
        data = t.input
        if "InputPath" in state:
            data = {} if state["InputPath"] is None else select(state["InputPath"], data, ctx)
        for rule in state["Choices"]:
            if choose(rule, data, ctx):
                self._goto(t, rule["Next"], self._filter_output(t, state, data))
                return
        if "Default" in state:
            self._goto(t, state["Default"], self._filter_output(t, state, data))
            return
        raise StatesError(err.NO_CHOICE, "No choice rule matched and there is no Default.")

    def _wait(self, t: Thread, state: dict[str, Any]) -> None:
        if t.phase == TIMER:
            self._advance(t, state, self._filter_output(t, state, t.input))
            return
        ctx = self.context(t)
        data = t.input
        if "InputPath" in state:
            data = {} if state["InputPath"] is None else select(state["InputPath"], data, ctx)
        if "Seconds" in state or "SecondsPath" in state:
            seconds = state.get("Seconds")
            if "SecondsPath" in state:
                seconds = select(state["SecondsPath"], data, ctx)
            if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
                raise StatesError(err.RUNTIME, "Wait seconds must be a non-negative integer.")
            until = self.now + timedelta(seconds=seconds)
        else:
            stamp = state.get("Timestamp")
            if "TimestampPath" in state:
                stamp = select(state["TimestampPath"], data, ctx)
            moment = timestamp(stamp)
            if moment is None:
                raise StatesError(err.RUNTIME, "Wait timestamp must be an RFC 3339 timestamp.")
            until = max(moment, self.now)
        t.phase, t.due = TIMER, _iso(until)
        t.input = data
        self._event("WaitStarted", t, until=t.due)

    def _parallel(self, t: Thread, state: dict[str, Any]) -> None:
        if t.phase in (ENTER, RETRY):
            data = self._effective_input(t, state)
            t.children, t.results = [], {}
            for i, _ in enumerate(state["Branches"]):
                scope = [*t.scope, "States", t.state, "Branches", i]
                t.children.append(self._spawn(t, scope, data, i).id)
            t.phase = CHILDREN
            self._event("ParallelStarted", t, branches=len(t.children))
            return
        self._collect(t, state)

    def _map(self, t: Thread, state: dict[str, Any]) -> None:
        if t.phase in (ENTER, RETRY):
            ctx = self.context(t)
            data = t.input
            if "InputPath" in state:
                data = {} if state["InputPath"] is None else select(state["InputPath"], data, ctx)
            items = select(state.get("ItemsPath", "$"), data, ctx)
            if not isinstance(items, list):
                raise StatesError(err.RUNTIME, "Map ItemsPath must select an array.")
            selector = state.get("ItemSelector", state.get("Parameters"))
            prepared = []
            for i, item in enumerate(items):
                if selector is None:
                    prepared.append(item)
                else:
                    item_ctx = {**ctx, "Map": {"Item": {"Index": i, "Value": item}}}
                    prepared.append(render(selector, data, item_ctx))
            t.children, t.results, t.pending = [], {}, prepared
            t.phase = CHILDREN
            self._event("MapStarted", t, items=len(prepared))
            self._start_items(t, state)
            return
        if not any(self.x.threads[c].phase == FAILED for c in t.children) and t.pending:
            self._start_items(t, state)
            if any(self.x.threads[c].phase not in TERMINAL for c in t.children):
                return
        self._collect(t, state)

    def _start_items(self, t: Thread, state: dict[str, Any]) -> None:
        limit = state.get("MaxConcurrency", 0) or 10**9
        key = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
        active = sum(1 for c in t.children if self.x.threads[c].phase not in TERMINAL)
        while t.pending and active < limit:
            index = len(t.children)
            scope = [*t.scope, "States", t.state, key]
            t.children.append(self._spawn(t, scope, t.pending.pop(0), index).id)
            active += 1

    def _spawn(self, parent: Thread, scope: list[Any], data: Any, index: int) -> Thread:
        tid = f"t{self.x.next_thread}"
        self.x.next_thread += 1
        start = self._machine(scope)["StartAt"]
        child = Thread(tid, scope, start, data, self.at, parent=parent.id, index=index)
        self.x.threads[tid] = child
        self.events.append(_entered(child, self.at))
        return child

    def _collect(self, t: Thread, state: dict[str, Any]) -> None:
        kids = [self.x.threads[c] for c in t.children]
        failed = next((k for k in kids if k.phase == FAILED), None)
        if failed is not None:
            error, cause = failed.error or err.BRANCH_FAILED, failed.cause or ""
            self._drop_children(t)
            self._error(t, state, error, cause, from_task=False)
            return
        if t.pending or any(k.phase not in TERMINAL for k in kids):
            return
        results = [t.results[str(i)] for i in range(len(kids))]
        self._drop_children(t)
        self._advance(t, state, self._output(t, state, results))

    def _drop_children(self, t: Thread) -> None:
        todo = list(t.children)
        while todo:
            child = self.x.threads.pop(todo.pop(), None)
            if child is not None:
                if child.phase not in TERMINAL:
                    self._event("StateAborted", child)
                todo.extend(child.children)
        t.children, t.results, t.pending = [], {}, []

    def _goto(self, t: Thread, target: str, data: Any) -> None:
        self._event("StateExited", t, output=data)
        t.state, t.input, t.entered_at, t.phase = target, data, self.at, ENTER
        t.retries, t.retry_count, t.due = {}, 0, None
        t.token, t.invoked, t.callback, t.timeout_at, t.heartbeat_at = None, False, None, None, None
        self.events.append(_entered(t, self.at))

    def _advance(self, t: Thread, state: dict[str, Any], data: Any) -> None:
        if state.get("End") is True:
            self._finish(t, data)
        else:
            self._goto(t, state["Next"], data)

    def _finish(self, t: Thread, data: Any) -> None:
        self._event("StateExited", t, output=data)
        t.phase, t.output, t.due, t.token = DONE, data, None, None
        if t.parent is None:
            self._end_execution(SUCCEEDED, output=data)
        else:
            self.x.threads[t.parent].results[str(t.index)] = data

    def _thread_failed(self, t: Thread, error: str, cause: str) -> None:
        t.phase, t.error, t.cause, t.due, t.token = FAILED, error, cause, None, None
        if t.parent is None:
            self._end_execution(EXEC_FAILED, error, cause)

    def _error(
        self, t: Thread, state: dict[str, Any], error: str, cause: str, *, from_task: bool
    ) -> None:
        if error in (err.RUNTIME, err.DATA_LIMIT):
            self._event("StateFailed", t, error=error)
            self._thread_failed(t, error, cause)
            return
        for i, retrier in enumerate(state.get("Retry") or []):
            if not matches(retrier["ErrorEquals"], error, from_task=from_task):
                continue
            used = t.retries.get(str(i), 0)
            if used >= retrier.get("MaxAttempts", 3):
                break
            delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** used
            if "MaxDelaySeconds" in retrier:
                delay = min(delay, retrier["MaxDelaySeconds"])
            if retrier.get("JitterStrategy") == "FULL":
                delay = random.uniform(0, delay)  # noqa: S311 - jitter, not security
            t.retries[str(i)] = used + 1
            t.retry_count += 1
            t.phase, t.due = RETRY, _iso(self.now + timedelta(seconds=delay))
            t.token, t.invoked, t.callback = None, False, None
            self._event("RetryScheduled", t, error=error, attempt=used + 1, at=t.due)
            return
        for catcher in state.get("Catch") or []:
            if matches(catcher["ErrorEquals"], error, from_task=from_task):
                value = {"Error": error, "Cause": cause}
                path = catcher.get("ResultPath", "$")
                data = t.input if path is None else put(t.input, path, value)
                self._event("ErrorCaught", t, error=error, next=catcher["Next"])
                self._goto(t, catcher["Next"], data)
                return
        self._event("StateFailed", t, error=error)
        self._thread_failed(t, error, cause)

    def _end_execution(
        self, status: str, error: str | None = None, cause: str = "", output: Any = None
    ) -> None:
        x = self.x
        x.status, x.stopped_at, x.output = status, self.at, output
        x.error, x.cause = error, cause if error else None
        for t in x.threads.values():
            t.due = None
        kind = {
            SUCCEEDED: "ExecutionSucceeded",
            EXEC_FAILED: "ExecutionFailed",
            TIMED_OUT: "ExecutionTimedOut",
            EXEC_ABORTED: "ExecutionAborted",
        }[status]
        event: Event = {"type": kind, "at": self.at}
        event["detail"] = {"output": output} if status == SUCCEEDED else {"error": error}
        self.events.append(event)

    def abort(self, error: str, cause: str) -> list[Event]:
        self._end_execution(EXEC_ABORTED, error or "Aborted", cause)
        return self.events


def _path_value(text: str, data: Any, ctx: Any) -> Any:
    from tpm.adapters.workflows.asl.intrinsics import evaluate, is_intrinsic

    return evaluate(text, data, ctx) if is_intrinsic(text) else select(text, data, ctx)
