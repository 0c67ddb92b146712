"""Errors of the Amazon States Language, as Step Functions names them."""

from __future__ import annotations

from typing import Final

ALL: Final = "States.ALL"
TASK_FAILED: Final = "States.TaskFailed"
TIMEOUT: Final = "States.Timeout"
HEARTBEAT_TIMEOUT: Final = "States.HeartbeatTimeout"
RUNTIME: Final = "States.Runtime"
DATA_LIMIT: Final = "States.DataLimitExceeded"
NO_CHOICE: Final = "States.NoChoiceMatched"
PARAMETER_PATH: Final = "States.ParameterPathFailure"
RESULT_PATH: Final = "States.ResultPathMatchFailure"
INTRINSIC: Final = "States.IntrinsicFailure"
ITEM_READER: Final = "States.ItemReaderFailed"
BRANCH_FAILED: Final = "States.BranchFailed"

# States.ALL matches every error except these two (they end the execution).
_NOT_IN_ALL: Final = frozenset({RUNTIME, DATA_LIMIT})
# States.TaskFailed matches any error a task raises, except its timeouts.
_NOT_TASK_FAILED: Final = frozenset({TIMEOUT, HEARTBEAT_TIMEOUT, RUNTIME, DATA_LIMIT})


class StatesError(Exception):
    """An error raised while interpreting a state (Error name + Cause), caught by the
    state's Retry/Catch like a task's own error."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


def matches(error_equals: list[str], error: str, *, from_task: bool) -> bool:
    for name in error_equals:
        if name == error:
            return True
        if name == ALL and error not in _NOT_IN_ALL:
            return True
        if name == TASK_FAILED and from_task and error not in _NOT_TASK_FAILED:
            return True
    return False
