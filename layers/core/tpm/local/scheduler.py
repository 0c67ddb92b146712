"""Runs template.yaml's Schedule events in-process, as EventBridge would invoke them."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tpm.clock import Clock, SystemClock, to_rfc3339
from tpm.local.lambda_context import LocalLambdaContext
from tpm.local.schedule_expr import Cron, Rate, parse
from tpm.local.template import Schedule
from tpm.observability import get_logger

Invoker = Callable[[str], Callable[[dict[str, Any], Any], Any]]


@dataclass
class _Job:
    schedule: Schedule
    expression: Rate | Cron
    next_run: datetime


def scheduled_event(schedule: Schedule, at: datetime) -> dict[str, Any]:
    """The EventBridge 'Scheduled Event' shape a Schedule-triggered Lambda receives."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": to_rfc3339(at),
        "region": "local",
        "resources": [f"arn:aws:events:local:000000000000:rule/{schedule.name}"],
        "detail": {},
    }


class LocalScheduler:
    def __init__(
        self, schedules: list[Schedule], invoker: Invoker, clock: Clock | None = None
    ) -> None:
        self._clock = clock or SystemClock()
        now = self._clock.now()
        self._jobs = []
        for schedule in schedules:
            if not schedule.enabled:
                continue
            expression = parse(schedule.expression)
            self._jobs.append(_Job(schedule, expression, expression.next_after(now)))
        self._invoker = invoker
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = get_logger("scheduler")

    @property
    def jobs(self) -> list[Schedule]:
        return [job.schedule for job in self._jobs]

    def run_due(self) -> int:
        """Invoke every job whose time has come; returns how many ran."""
        now = self._clock.now()
        ran = 0
        for job in self._jobs:
            if job.next_run > now:
                continue
            self._invoke(job, now)
            job.next_run = job.expression.next_after(now)
            ran += 1
        return ran

    def _invoke(self, job: _Job, now: datetime) -> None:
        handler = self._invoker(job.schedule.function)
        context = LocalLambdaContext(function_name=job.schedule.function, timeout_seconds=300)
        try:
            handler(scheduled_event(job.schedule, now), context)
        except Exception as exc:  # a failing job must not stop the others
            self._log.error(
                "scheduled job failed",
                extra={"schedule": job.schedule.name, "error_type": type(exc).__name__},
            )

    def start(self, tick_seconds: float = 1.0) -> None:
        if not self._jobs:
            return
        self._thread = threading.Thread(
            target=self._loop, args=(tick_seconds,), name="tpm-scheduler", daemon=True
        )
        self._thread.start()

    def _loop(self, tick_seconds: float) -> None:
        while not self._stop.wait(tick_seconds):
            self.run_due()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
