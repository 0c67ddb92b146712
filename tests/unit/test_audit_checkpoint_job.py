"""The hourly audit-checkpoint job (functions/audit_checkpoint), loaded from template.yaml
the way Lambda and `tpm dev` load it, over a local SQLite store with two practices."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support.audit_tamper import SqliteTamperer

from tpm.clock import FixedClock
from tpm.local.bootstrap import local_settings
from tpm.local.functions import load_module
from tpm.local.gateway import LocalGateway
from tpm.local.lambda_context import LocalLambdaContext
from tpm.local.scheduler import LocalScheduler, scheduled_event
from tpm.local.template import Schedule
from tpm.runtime import Runtime, build_runtime, set_runtime
from tpm.security.audit import AUDIT_PK, event_sk, read_head
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import SystemActor
from tpm.services.practices import create_practice

FUNCTION = "AuditCheckpointFunction"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class World:
    runtime: Runtime
    clock: FixedClock
    data_dir: Path
    busy: list[str]  # practices with events
    quiet: str  # a practice with none yet

    def sealed(self, practice_id: str) -> list[int]:
        return [c.seq for c in self.runtime.audit.sink.read(practice_id)]

    def head_seq(self, practice_id: str) -> int:
        head = read_head(self.runtime.store.practice(practice_id))
        assert head is not None
        return head.seq


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = FixedClock(START)
    runtime = build_runtime(local_settings(tmp_path, environment="test"), clock=clock)
    busy = []
    for slug, events in (("north", 3), ("south", 5)):
        practice = create_practice(
            runtime.store, clock, name=f"{slug} practice", slug=slug, timezone="UTC"
        )
        store = runtime.store.practice(practice.id)
        for _ in range(events):
            runtime.audit.record(
                store,
                AuditEvent.for_system(
                    SystemActor("test", practice.id), action="test.event", resource_kind="test"
                ),
            )
            clock.advance(seconds=1)
        busy.append(practice.id)
    quiet = create_practice(runtime.store, clock, name="quiet", slug="quiet", timezone="UTC")
    set_runtime(runtime)
    yield World(runtime, clock, tmp_path, busy, quiet.id)
    set_runtime(None)
    runtime.store.close()


@pytest.fixture(scope="module")
def gateway(project_root: Path) -> LocalGateway:
    return LocalGateway(project_root)


@pytest.fixture(scope="module")
def job(gateway: LocalGateway, project_root: Path) -> ModuleType:
    return load_module(gateway.functions[FUNCTION], project_root)


def invoke(job: ModuleType, timeout_seconds: int = 300) -> Any:
    schedule = Schedule(FUNCTION, "Hourly", "rate(1 hour)", True)
    context = LocalLambdaContext(function_name=FUNCTION, timeout_seconds=timeout_seconds)
    return job.lambda_handler(scheduled_event(schedule, START), context)


def test_the_template_schedules_the_job_hourly_and_tpm_dev_runs_it(
    world: World, gateway: LocalGateway
) -> None:
    # GIVEN the schedules `tpm dev` collects from the template
    everything = [s for spec in gateway.functions.values() for s in spec.schedules]
    ours = [s for s in everything if s.function == FUNCTION]
    assert ours == [Schedule(FUNCTION, "Hourly", "rate(1 hour)", True)]
    scheduler = LocalScheduler(ours, gateway.handler, world.clock)
    # WHEN an hour passes THEN the job runs once and both busy practices are sealed
    world.clock.advance(minutes=59)
    assert scheduler.run_due() == 0
    world.clock.advance(minutes=1)
    assert scheduler.run_due() == 1
    assert [world.sealed(p) for p in world.busy] == [[3], [5]]


def test_the_job_signs_every_practice_and_returns_counts_only(
    world: World, job: ModuleType
) -> None:
    summary = invoke(job)
    assert summary == {"practices": 3, "signed": 2, "empty": 1, "failed": 0, "not_reached": 0}
    for practice_id in world.busy:
        assert world.sealed(practice_id) == [world.head_seq(practice_id)]
    assert world.sealed(world.quiet) == []


def test_a_rerun_signs_only_what_is_new(world: World, job: ModuleType) -> None:
    invoke(job)
    north, south = world.busy
    store = world.runtime.store.practice(north)
    world.runtime.audit.record(
        store,
        AuditEvent.for_system(SystemActor("test", north), action="test.event", resource_kind="x"),
    )
    assert invoke(job)["signed"] == 2
    assert world.sealed(north) == [3, 4]
    assert world.sealed(south) == [5]  # unchanged head: the same checkpoint, not a new one


def test_a_broken_chain_fails_the_run_after_the_others_are_signed(
    world: World, job: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the newest event of one practice altered in the database file
    north, south = world.busy
    tamper = SqliteTamperer(world.data_dir / "tpm.db", north)
    tamper.edit(AUDIT_PK, event_sk(3), lambda item: item.update(hash="e" * 64))
    tamper.close()
    # WHEN the job runs THEN it fails (so the Errors alarm fires) with counts only
    with pytest.raises(job.CheckpointJobIncomplete, match="1 failed, 0 not reached of 3"):
        invoke(job)
    # AND the other practice was still signed, the broken one was not
    assert world.sealed(south) == [5]
    assert world.sealed(north) == []
    # AND the log names the practice and the kind of failure, nothing from the chain
    (failure,) = [
        r for r in caplog.records if r.name == "audit-checkpoint" and r.levelname == "ERROR"
    ]
    assert (failure.practice_id, failure.error_type) == (north, "AuditUnavailable")


def test_the_job_stops_before_the_timeout_and_says_how_many_it_missed(
    world: World, job: ModuleType
) -> None:
    with pytest.raises(job.CheckpointJobIncomplete, match="0 failed, 3 not reached of 3"):
        invoke(job, timeout_seconds=0)
    assert all(world.sealed(p) == [] for p in world.busy)
