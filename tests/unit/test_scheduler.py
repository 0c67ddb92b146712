from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tpm.clock import FixedClock
from tpm.local.gateway import LocalGateway
from tpm.local.scheduler import LocalScheduler

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "echo_api"


def test_scheduler_runs_template_schedules_on_time() -> None:
    gateway = LocalGateway(FIXTURE)
    schedules = [s for f in gateway.functions.values() for s in f.schedules]
    clock = FixedClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    calls: list[dict[str, Any]] = []

    def invoker(logical_id: str):  # type: ignore[no-untyped-def]
        assert logical_id == "TickFunction"
        return lambda event, context: calls.append(event)

    scheduler = LocalScheduler(schedules, invoker, clock)
    assert [s.name for s in scheduler.jobs] == ["EveryMinute"]  # the DISABLED one is skipped
    assert scheduler.run_due() == 0
    clock.advance(seconds=59)
    assert scheduler.run_due() == 0
    clock.advance(seconds=1)
    assert scheduler.run_due() == 1
    assert calls[0]["detail-type"] == "Scheduled Event"
    assert calls[0]["resources"][0].endswith("/EveryMinute")
    assert scheduler.run_due() == 0  # not twice for the same tick


def test_a_failing_job_does_not_stop_the_scheduler() -> None:
    gateway = LocalGateway(FIXTURE)
    schedules = [s for f in gateway.functions.values() for s in f.schedules]
    clock = FixedClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))

    def failing(_: str):  # type: ignore[no-untyped-def]
        def run(event: dict[str, Any], context: Any) -> None:
            raise RuntimeError("job failed")

        return run

    scheduler = LocalScheduler(schedules, failing, clock)
    clock.advance(minutes=1)
    assert scheduler.run_due() == 1
    clock.advance(minutes=1)
    assert scheduler.run_due() == 1
