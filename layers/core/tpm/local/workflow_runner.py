"""`tpm dev`'s Step Functions: steps every due execution of every practice, invoking task
states' Lambda handlers in-process (the same functions/<name>/app.py Lambda would run).

The runner holds no state of its own: everything is in the store (tpm.adapters.workflows.
local), so stopping `tpm dev` at any moment and starting it again carries on with the next
uncommitted transition of every execution. Tests drive it with `run_until_idle()`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from tpm.adapters.workflows.asl.interpreter import Invoke, Outcome
from tpm.adapters.workflows.local import LocalWorkflows
from tpm.adapters.workflows.machines import LOCAL_FUNCTION_ARN
from tpm.errors import TpmError
from tpm.local.lambda_context import LocalLambdaContext
from tpm.observability import get_logger

Handler = Callable[[dict[str, Any], Any], Any]
HandlerFor = Callable[[str], Handler]

_MAX_STEPS_PER_EXECUTION = 200  # per pass, so one busy execution cannot starve the rest


def lambda_outcome(handler: Handler, function: str, payload: Any) -> Outcome:
    """Invoke a handler as Lambda would: JSON in, JSON out; an exception is a function
    error named by its type. The cause holds a fixed message only, never exception text
    from outside tpm's own errors (it could carry PHI)."""
    event = json.loads(json.dumps(payload))
    context = LocalLambdaContext(function_name=function, timeout_seconds=900)
    started = time.monotonic()
    try:
        result = handler(event, context)
    except Exception as exc:
        message = exc.message if isinstance(exc, TpmError) else "The task failed."
        cause = json.dumps({"errorType": type(exc).__name__, "errorMessage": message})
        return Outcome(error=type(exc).__name__, cause=cause, seconds=time.monotonic() - started)
    elapsed = time.monotonic() - started
    try:
        result = json.loads(json.dumps(result))
    except (TypeError, ValueError):
        return Outcome(
            error="Runtime.MarshalError", cause="The result is not JSON.", seconds=elapsed
        )
    return Outcome(result=result, seconds=elapsed)


class WorkflowRunner:
    def __init__(
        self,
        workflows: LocalWorkflows,
        handler_for: HandlerFor,
        practices: Callable[[], Iterable[str]],
    ) -> None:
        self.workflows = workflows
        self.handler_for = handler_for
        self.practices = practices
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = get_logger("workflows")
        self.transitions = 0

    def invoke(self, call: Invoke) -> Outcome:
        if not call.function.startswith(LOCAL_FUNCTION_ARN):
            return Outcome(error="Lambda.ResourceNotFoundException", cause="Unknown function.")
        logical_id = call.function.removeprefix(LOCAL_FUNCTION_ARN)
        try:
            handler = self.handler_for(logical_id)
        except KeyError:
            return Outcome(error="Lambda.ResourceNotFoundException", cause="Unknown function.")
        return lambda_outcome(handler, logical_id, call.payload)

    def run_due(self) -> int:
        """One pass: every execution with work due now, as far as it can go."""
        done = 0
        for practice_id in list(self.practices()):
            now = self.workflows.clock.now()
            for execution_id in self.workflows.due(practice_id, now):
                done += self._drive(practice_id, execution_id)
        self.transitions += done
        return done

    def _drive(self, practice_id: str, execution_id: str) -> int:
        steps = 0
        while steps < _MAX_STEPS_PER_EXECUTION:
            try:
                moved = self.workflows.step(practice_id, execution_id, self.invoke)
            except Exception as exc:  # one broken execution must not stop the others
                self._log.error(
                    "workflow step failed",
                    extra={"execution_id": execution_id, "error_type": type(exc).__name__},
                )
                return steps
            if not moved:
                return steps
            steps += 1
        return steps

    def run_until_idle(self, max_passes: int = 1000) -> int:
        """Run passes until nothing is due now (tests, CLI)."""
        total = 0
        for _ in range(max_passes):
            done = self.run_due()
            total += done
            if done == 0:
                return total
        raise RuntimeError("workflows still busy after max_passes")

    def start(self, tick_seconds: float = 1.0) -> None:
        self._thread = threading.Thread(
            target=self._loop, args=(tick_seconds,), name="tpm-workflows", daemon=True
        )
        self._thread.start()

    def _loop(self, tick_seconds: float) -> None:
        while not self._stop.is_set():
            self.workflows.wakeup.clear()
            try:
                self.run_due()
            except Exception as exc:
                self._log.error("workflow pass failed", extra={"error_type": type(exc).__name__})
            self.workflows.wakeup.wait(tick_seconds)

    def stop(self) -> None:
        self._stop.set()
        self.workflows.wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def template_runner(
    workflows: LocalWorkflows,
    store: Any,
    handler_for: HandlerFor | None = None,
) -> WorkflowRunner:
    """A runner for the checkout's functions (tpm dev passes its gateway's locked
    handlers; the CLI and tests load them from template.yaml)."""
    from tpm.local.functions import load_handler
    from tpm.local.template import functions, load_template
    from tpm.services.practices import all_practice_ids

    if handler_for is None:
        root = workflows.machines.root
        specs = {f.logical_id: f for f in functions(load_template(root / "template.yaml"))}
        loaded: dict[str, Handler] = {}

        def handler_for(logical_id: str) -> Handler:
            if logical_id not in loaded:
                loaded[logical_id] = load_handler(specs[logical_id], root)
            return loaded[logical_id]

    return WorkflowRunner(workflows, handler_for, lambda: all_practice_ids(store))
