"""The local workflow adapter: executions as store rows, one committed transition at a time.

Rows (in the practice's scope; docs/data-model.md, Workflows):
  WFX#<id>            EXEC          the execution: status, threads (JSON), version;
                                    gsi1 WF_DUE / <due time>#<id> while it has work due,
                                    gsi2 WF_EXECUTIONS#<workflow> / <started>#<id> (listing)
  WFX#<id>            EV#<n:06d>    transition n: the history events it produced
  WFNAME#<workflow>   <name>        name -> execution id (StartExecution is idempotent by name)
  WFDEF               <sha256>      a definition an execution runs (content-addressed), so an
                                    edited statemachines/ file never changes a running one

Every transition is one transaction: the execution row (conditional on its version) and its
history row. A task's side effects happen before that commit; a crash in between re-runs
the task on restart (at-least-once, as on Step Functions): task handlers are idempotent
(tpm.adapters.workflows.tasks gives them a stable key). Callback tokens are
`wft1.<practice>.<execution>.<thread>.<192 random bits>`, compared in constant time.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tpm.adapters.store.base import (
    Absent,
    ConditionFailed,
    Item,
    Operation,
    PracticeStore,
    Put,
    Store,
    VersionIs,
    iterate,
)
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
from tpm.adapters.workflows.asl.errors import RUNTIME, StatesError
from tpm.adapters.workflows.asl.interpreter import (
    RUNNING,
    TOKEN,
    Execution,
    Interpreter,
    Invoke,
    Outcome,
    Plan,
    new_execution,
)
from tpm.adapters.workflows.machines import LOCAL_ACCOUNT, TemplateMachines
from tpm.clock import Clock
from tpm.ids import new_id

DUE_INDEX = "WF_DUE"
_ATTEMPTS = 8
_MAX_ROW = 350_000  # bytes of execution state; DynamoDB's item limit is 400 KB

Invoker = Callable[[Invoke], Outcome]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _loads(text: Any) -> Any:
    return None if text is None else json.loads(str(text))


def parse_token(token: str) -> tuple[str, str, str]:
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 5 or parts[0] != "wft1":
        raise TaskGone()
    return parts[1], parts[2], parts[3]


class LocalWorkflows:
    def __init__(self, store: Store, clock: Clock, machines: TemplateMachines) -> None:
        self.store = store
        self.clock = clock
        self.machines = machines
        self.wakeup = threading.Event()  # set on every start/callback: the runner looks now
        self._definitions: dict[str, dict[str, Any]] = {}

    # ---- the port -------------------------------------------------------------------------

    def start(
        self, practice_id: str, machine: str, name: str, input: dict[str, Any]
    ) -> ExecutionRef:
        spec = self.machines.get(machine)
        if spec is None:
            raise UnknownWorkflow()
        if not isinstance(input, dict):
            raise InvalidWorkflowInput()
        full = execution_name(practice_id, name)
        data = {**input, "practice_id": practice_id}
        ps = self.store.practice(practice_id)
        input_hash = hashlib.sha256(_dumps(data).encode()).hexdigest()
        existing = ps.get(f"WFNAME#{machine}", full)
        if existing is not None:
            if existing["input_hash"] != input_hash:
                raise ExecutionExists()
            return ExecutionRef(str(existing["execution_id"]), full)
        definition_text = _dumps(spec.definition)
        definition_id = hashlib.sha256(definition_text.encode()).hexdigest()
        xid = new_id("wfx")
        arn = f"arn:aws:states:local:{LOCAL_ACCOUNT}:execution:{machine}:{full}"
        now = self.clock.now()
        try:
            execution, events = new_execution(
                id=xid,
                practice_id=practice_id,
                machine=machine,
                name=full,
                arn=arn,
                definition=spec.definition,
                input=data,
                now=now,
            )
        except StatesError as exc:
            raise InvalidWorkflowInput() from exc
        self._definitions[definition_id] = spec.definition
        ps.put({"pk": "WFDEF", "sk": definition_id, "definition": definition_text})
        name_row = {
            "pk": f"WFNAME#{machine}",
            "sk": full,
            "execution_id": xid,
            "input_hash": input_hash,
        }
        try:
            self._commit(ps, execution, events, now, definition_id, extra=[Put(name_row, Absent())])
        except ConditionFailed:
            return self.start(practice_id, machine, name, input)  # lost a race on the name
        self.wakeup.set()
        return ExecutionRef(xid, full)

    def send_task_success(self, token: str, output: dict[str, Any]) -> None:
        self._callback(token, lambda i, t: i.record_callback(t, output=output))

    def send_task_failure(self, token: str, error: str, cause: str = "") -> None:
        self._callback(
            token, lambda i, t: i.record_callback(t, error=error or "Error", cause=cause)
        )

    def send_task_heartbeat(self, token: str) -> None:
        self._callback(token, lambda i, t: i.heartbeat(t), wake=False)

    def stop(self, practice_id: str, execution_id: str, error: str = "", cause: str = "") -> None:
        ps = self.store.practice(practice_id)
        for _ in range(_ATTEMPTS):
            loaded = self._load(ps, execution_id)
            if loaded is None:
                raise UnknownWorkflow()
            execution, definition_id = loaded
            if execution.status != RUNNING:
                return
            now = self.clock.now()
            events = Interpreter(execution, now).abort(error, cause)
            try:
                self._commit(ps, execution, events, now, definition_id)
                return
            except ConditionFailed:
                continue
        raise ConditionFailed()

    def describe(self, practice_id: str, execution_id: str) -> ExecutionInfo:
        loaded = self._load(self.store.practice(practice_id), execution_id)
        if loaded is None:
            raise UnknownWorkflow()
        return _info(loaded[0])

    def history(self, practice_id: str, execution_id: str) -> list[HistoryEvent]:
        ps = self.store.practice(practice_id)
        out: list[HistoryEvent] = []
        for item in iterate(ps, f"WFX#{execution_id}", sk_prefix="EV#"):
            for event in _loads(item["events"]):
                out.append(
                    HistoryEvent(
                        n=len(out) + 1,
                        type=event["type"],
                        at=event["at"],
                        state=event.get("state"),
                        thread=event.get("thread"),
                        detail=event.get("detail") or {},
                    )
                )
        return out

    def executions(self, practice_id: str, machine: str, limit: int = 50) -> list[ExecutionInfo]:
        ps = self.store.practice(practice_id)
        page = ps.query(f"WF_EXECUTIONS#{machine}", index="gsi2", limit=limit, descending=True)
        return [_info(self._from_item(ps, item)[0]) for item in page.items]

    # ---- the runner's side ----------------------------------------------------------------

    def due(self, practice_id: str, now: datetime, limit: int = 100) -> list[str]:
        """Executions of this practice with work due by `now` (the runner's worklist)."""
        ps = self.store.practice(practice_id)
        high = now.isoformat(timespec="milliseconds").replace("+00:00", "Z") + "#~"
        page = ps.query(DUE_INDEX, index="gsi1", sk_between=("0", high), limit=limit)
        return [str(item["id"]) for item in page.items]

    def step(self, practice_id: str, execution_id: str, invoke: Invoker) -> bool:
        """Make one transition of this execution if one is due; False when none is."""
        ps = self.store.practice(practice_id)
        loaded = self._load(ps, execution_id)
        if loaded is None:
            return False
        execution, definition_id = loaded
        now = self.clock.now()
        interpreter = Interpreter(execution, now)
        plan = interpreter.plan()
        if plan is None:
            self._refresh_due(ps, execution, now, definition_id)
            return False
        outcome = invoke(plan.invoke) if plan.invoke is not None else None
        for _ in range(_ATTEMPTS):
            events = self._apply(interpreter, plan, outcome)
            try:
                self._commit(ps, execution, events, now, definition_id)
                return True
            except ConditionFailed:
                loaded = self._load(ps, execution_id)
                if loaded is None:
                    return False
                execution, definition_id = loaded
                now = self.clock.now()
                interpreter = Interpreter(execution, now)
                if not interpreter.still(plan):
                    return True  # moved on meanwhile (callback, stop); this outcome is stale
        return True

    @staticmethod
    def _apply(interpreter: Interpreter, plan: Plan, outcome: Outcome | None) -> list[Any]:
        try:
            return interpreter.apply(plan, outcome)
        except Exception as exc:  # an interpreter bug must end the execution, not loop
            interpreter.events.clear()
            return interpreter.abort(RUNTIME, f"Internal error ({type(exc).__name__}).")

    # ---- storage --------------------------------------------------------------------------

    def _callback(
        self, token: str, change: Callable[[Interpreter, Any], None], wake: bool = True
    ) -> None:
        practice_id, execution_id, thread_id = parse_token(token)
        try:
            ps = self.store.practice(practice_id)
        except Exception as exc:
            raise TaskGone() from exc
        for _ in range(_ATTEMPTS):
            loaded = self._load(ps, execution_id)
            if loaded is None:
                raise TaskGone()
            execution, definition_id = loaded
            thread = execution.threads.get(thread_id)
            if (
                execution.status != RUNNING
                or thread is None
                or thread.phase != TOKEN
                or thread.token is None
                or thread.callback is not None
                or not hmac.compare_digest(thread.token.encode(), token.encode())
            ):
                raise TaskGone()
            now = self.clock.now()
            interpreter = Interpreter(execution, now)
            try:
                change(interpreter, thread)
            except StatesError as exc:
                raise InvalidWorkflowInput() from exc
            try:
                self._commit(ps, execution, interpreter.events, now, definition_id)
            except ConditionFailed:
                continue
            if wake:
                self.wakeup.set()
            return
        raise ConditionFailed()

    def _definition(self, ps: PracticeStore, definition_id: str) -> dict[str, Any]:
        found = self._definitions.get(definition_id)
        if found is None:
            item = ps.get("WFDEF", definition_id)
            if item is None:
                raise UnknownWorkflow()
            found = self._definitions[definition_id] = json.loads(str(item["definition"]))
        return found

    def _load(self, ps: PracticeStore, execution_id: str) -> tuple[Execution, str] | None:
        item = ps.get(f"WFX#{execution_id}", "EXEC")
        return None if item is None else self._from_item(ps, item)

    def _from_item(self, ps: PracticeStore, item: Item) -> tuple[Execution, str]:
        definition_id = str(item["definition_id"])
        execution = Execution(
            id=str(item["id"]),
            practice_id=ps.practice_id,
            machine=str(item["machine"]),
            name=str(item["name"]),
            arn=str(item["arn"]),
            definition=self._definition(ps, definition_id),
            input=_loads(item["input"]),
            started_at=str(item["started_at"]),
            status=str(item["status"]),
            stopped_at=item.get("stopped_at"),
            output=_loads(item.get("output")),
            error=item.get("error"),
            cause=item.get("cause"),
            threads=Execution.threads_from_json(item["threads"]),
            next_thread=int(item["next_thread"]),
            timeout_at=item.get("timeout_at"),
            version=int(item["version"]),
        )
        return execution, definition_id

    def _refresh_due(
        self, ps: PracticeStore, execution: Execution, now: datetime, definition_id: str
    ) -> None:
        """A due row with nothing to do (e.g. written by an older definition of 'due')."""
        with contextlib.suppress(ConditionFailed):
            self._commit(ps, execution, [], now, definition_id)

    def _commit(
        self,
        ps: PracticeStore,
        execution: Execution,
        events: list[Any],
        now: datetime,
        definition_id: str,
        extra: list[Operation] | None = None,
    ) -> None:
        due = Interpreter(execution, now).due()
        threads = execution.threads_json()
        if len(threads) > _MAX_ROW:
            raise StatesError("States.DataLimitExceeded", "The execution's state is too large.")
        previous = execution.version
        execution.version = previous + 1
        item: Item = {
            "pk": f"WFX#{execution.id}",
            "sk": "EXEC",
            "id": execution.id,
            "machine": execution.machine,
            "name": execution.name,
            "arn": execution.arn,
            "definition_id": definition_id,
            "input": _dumps(execution.input),
            "status": execution.status,
            "started_at": execution.started_at,
            "stopped_at": execution.stopped_at,
            "output": None if execution.output is None else _dumps(execution.output),
            "error": execution.error,
            "cause": execution.cause,
            "threads": threads,
            "next_thread": execution.next_thread,
            "timeout_at": execution.timeout_at,
            "version": execution.version,
            "gsi2pk": f"WF_EXECUTIONS#{execution.machine}",
            "gsi2sk": f"{execution.started_at}#{execution.id}",
        }
        if due is not None:
            item["gsi1pk"], item["gsi1sk"] = DUE_INDEX, f"{due}#{execution.id}"
        ops: list[Operation] = [Put(item, VersionIs(previous) if previous else Absent())]
        if events:
            ops.append(
                Put(
                    {
                        "pk": f"WFX#{execution.id}",
                        "sk": f"EV#{execution.version:06d}",
                        "n": execution.version,
                        "events": _dumps(events),
                    },
                    Absent(),
                )
            )
        ops.extend(extra or [])
        try:
            ps.transact(ops)
        except ConditionFailed:
            execution.version = previous
            raise


def _info(execution: Execution) -> ExecutionInfo:
    return ExecutionInfo(
        id=execution.id,
        name=execution.name,
        machine=execution.machine,
        status=execution.status,
        started_at=execution.started_at,
        stopped_at=execution.stopped_at,
        input=execution.input,
        output=execution.output,
        error=execution.error,
        cause=execution.cause,
        waiting=sorted(
            t.state for t in execution.threads.values() if t.phase == TOKEN and t.invoked
        ),
    )
