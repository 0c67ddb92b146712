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
    assert summary == {
        "practices": 3,
        "signed": 2,
        "empty": 1,
        "failed": 0,
        "not_reached": 0,
        "verified": 2,
        "verify_failed": 0,
    }
    for practice_id in world.busy:  # the head is the verification recorded after it
        assert world.sealed(practice_id) == [world.head_seq(practice_id) - 1]
    assert world.sealed(world.quiet) == []


def test_a_rerun_signs_only_what_is_new(world: World, job: ModuleType) -> None:
    invoke(job)
    north, south = world.busy
    store = world.runtime.store.practice(north)
    world.runtime.audit.record(
        store,
        AuditEvent.for_system(SystemActor("test", north), action="test.event", resource_kind="x"),
    )
    # (each run's verification adds an `audit.verify` event: north 3 events + 1, south 5 + 1)
    assert invoke(job)["signed"] == 2
    assert world.sealed(north) == [3, 5]
    assert world.sealed(south) == [5, 6]  # only the job's own verify event was new
    # AND a quiet hour after that adds nothing: the same checkpoint, no new event
    invoke(job)
    assert world.sealed(south) == [5, 6]
    assert world.head_seq(south) == 6


def test_a_broken_chain_fails_the_run_after_the_others_are_signed(
    world: World, job: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the newest event of one practice altered in the database file
    north, south = world.busy
    tamper = SqliteTamperer(world.data_dir / "tpm.db", north)
    tamper.edit(AUDIT_PK, event_sk(3), lambda item: item.update(hash="e" * 64))
    tamper.close()
    # WHEN the job runs THEN it fails (so the Errors alarm fires) with counts only
    with pytest.raises(
        job.CheckpointJobIncomplete, match="1 failed, 0 failed verification, 0 not reached of 3"
    ):
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
    with pytest.raises(
        job.CheckpointJobIncomplete, match="0 failed, 0 failed verification, 3 not reached of 3"
    ):
        invoke(job, timeout_seconds=0)
    assert all(world.sealed(p) == [] for p in world.busy)


# ---- verification after every checkpoint ----------------------------------------------------


def _verify_events(world: World, practice_id: str) -> list[tuple[str, str | None, str]]:
    from tpm.security.audit import read_events

    store = world.runtime.store.practice(practice_id)
    return [
        (e.actor_id, e.reason_code, e.resource_id)
        for e in read_events(store, 1, world.head_seq(practice_id))
        if e.action == "audit.verify"
    ]


def test_each_checkpoint_is_followed_by_a_verification_recorded_in_the_trail(
    world: World, job: ModuleType
) -> None:
    north, _ = world.busy
    invoke(job)
    # THEN the span up to the checkpoint was verified and the result recorded
    assert _verify_events(world, north) == [("audit-checkpoint", "scheduled_span", "seq:1-3")]
    # AND the next run verifies only what was sealed since (its own event included)
    store = world.runtime.store.practice(north)
    for _ in range(2):
        world.runtime.audit.record(
            store,
            AuditEvent.for_system(SystemActor("t", north), action="test.event", resource_kind="x"),
        )
    invoke(job)
    assert _verify_events(world, north)[-1] == ("audit-checkpoint", "scheduled_span", "seq:4-6")


def test_an_altered_event_behind_a_valid_head_is_caught_after_the_checkpoint(
    world: World, job: ModuleType
) -> None:
    from tpm.repositories.incidents import IncidentRepository
    from tpm.security.audit import AUDIT_PK as PK

    north, south = world.busy
    # GIVEN an event in the middle of north's chain rewritten (its stored hash left alone,
    # so the head and the newest event still check out and the checkpoint is signed)
    tamper = SqliteTamperer(world.data_dir / "tpm.db", north)
    tamper.edit(PK, event_sk(2), lambda item: item.update(action="test.rewritten"))
    tamper.close()
    events_before = world.head_seq(north)
    # WHEN the job runs THEN the verification after the checkpoint fails the run
    with pytest.raises(job.CheckpointJobIncomplete, match="0 failed, 1 failed verification"):
        invoke(job)
    # AND an incident is open for the officer; no verification result was appended to
    # north's chain (the incident's own event is the only new one)
    store = world.runtime.store.practice(north)
    incidents, _ = IncidentRepository(store, world.runtime.cipher).page(10, None, open_only=True)
    assert [(i.source, i.reference) for i in incidents] == [("audit_verification", "seq:2")]
    assert world.head_seq(north) == events_before + 1
    assert _verify_events(world, north) == []
    # AND the next run reports the same break without a second incident
    with pytest.raises(job.CheckpointJobIncomplete, match="1 failed verification"):
        invoke(job)
    incidents, _ = IncidentRepository(store, world.runtime.cipher).page(10, None, open_only=True)
    assert len(incidents) == 1
    # AND the other practice verified as usual
    assert _verify_events(world, south) == [("audit-checkpoint", "scheduled_span", "seq:1-5")]


# ---- the daily verification of the whole chain ----------------------------------------------


def test_the_daily_job_verifies_every_chain_whole_and_alarms_on_a_break(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from tpm.repositories.incidents import IncidentRepository
    from tpm.services.compliance_jobs import DAILY_STEPS, run_daily, verify_audit

    assert verify_audit in DAILY_STEPS
    north, south = world.busy
    report = run_daily(world.runtime, steps=(verify_audit,))
    assert (report.failed, report.extra["audit_verified"]) == (0, 3)
    assert _verify_events(world, north) == [("compliance-daily", "scheduled_full", "")]
    # GIVEN an old event rewritten behind a valid head
    tamper = SqliteTamperer(world.data_dir / "tpm.db", south)
    tamper.edit(AUDIT_PK, event_sk(1), lambda item: item.update(resource_kind="rewritten"))
    tamper.close()
    capsys.readouterr()
    # WHEN the daily job runs THEN south's step fails, raises the alarm metric, opens an incident
    report = run_daily(world.runtime, steps=(verify_audit,))
    assert (report.failed, report.extra["audit_verified"]) == (1, 2)
    assert '"AuditChainUnverified":1' in capsys.readouterr().out
    store = world.runtime.store.practice(south)
    incidents, _ = IncidentRepository(store, world.runtime.cipher).page(10, None, open_only=True)
    assert [(i.source, i.reference) for i in incidents] == [("audit_verification", "seq:1")]
    assert [r for _, r, _ in _verify_events(world, south)] == ["scheduled_full"]  # the first


# ---- a practice with several shards ------------------------------------------------------------


def test_the_hourly_and_daily_verifications_cover_every_shard(
    world: World, job: ModuleType
) -> None:
    from tpm.repositories.incidents import IncidentRepository
    from tpm.security.audit import events_between
    from tpm.security.audit_layout import read_heads
    from tpm.services.audit_verification import CURSOR
    from tpm.services.compliance_jobs import run_daily, verify_audit

    north, _ = world.busy
    store = world.runtime.store.practice(north)
    actor = SystemActor("test", north)
    opening = AuditEvent.for_system(actor, action="audit.settings.update", resource_kind="x")
    world.runtime.audit.open_shards(store, 3, opening)
    for n in range(12):
        event = AuditEvent.for_system(
            SystemActor("test", north, request_id=f"req-{n}"),
            action="test.event",
            resource_kind="x",
        )
        world.runtime.audit.record(store, event)
    assert all(h.seq > 0 for h in read_heads(store).values())
    # WHEN the hourly job runs THEN every shard is checkpointed and verified; the cursor
    # holds each shard's point
    summary = invoke(job)
    assert (summary["verified"], summary["verify_failed"]) == (2, 0)
    (sealed,) = world.runtime.audit.sink.read(north)[-1:]
    assert sealed.marks().keys() == {0, 1, 2}
    cursor = store.get(*CURSOR)
    assert cursor is not None
    assert {int(k): v[0] for k, v in cursor["marks"].items()} == {
        k: seq for k, (seq, _) in sealed.marks().items()
    }
    # AND the daily job verifies the whole trail
    assert run_daily(world.runtime, steps=(verify_audit,)).failed == 0
    # WHEN an event of shard 2 is rewritten behind a valid head THEN the next run fails
    tamper = SqliteTamperer(world.data_dir / "tpm.db", north)
    tamper.edit(AUDIT_PK, event_sk(1, 2), lambda item: item.update(action="test.rewritten"))
    tamper.close()
    assert run_daily(world.runtime, steps=(verify_audit,)).failed == 1
    incidents, _ = IncidentRepository(store, world.runtime.cipher).page(10, None, open_only=True)
    assert [(i.source, i.reference) for i in incidents] == [("audit_verification", "shard:2:seq:1")]
    assert "audit.verify" in {e.action for e in events_between(store, None, None)}
