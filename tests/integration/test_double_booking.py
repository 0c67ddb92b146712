"""No double booking under real concurrency: threads book the same slot on one SQLite store
at the same moment; exactly one booking commits, every other caller gets 409."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scheduling_world import SchedulingWorld, build

from tpm.domain.scheduling import SlotUnavailable
from tpm.errors import TpmError
from tpm.runtime import set_runtime
from tpm.security.principal import Principal
from tpm.services.context import ServiceContext
from tpm.services.scheduling import AppointmentService, BookingRequest

CONTENDERS = 6


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[SchedulingWorld]:
    yield build(tmp_path, project_root)
    set_runtime(None)


def context(world: SchedulingWorld, label: str) -> ServiceContext:
    user = world.users[label]
    principal = Principal(
        user_id=user.id,
        practice_id=world.practice_id,
        roles=user.roles,
        session_id="ses_test",
        auth_time=world.clock.now(),
        mfa_authenticated=True,
        request_id=f"req-{label}",
    )
    return ServiceContext(world.runtime, principal)


def race(world: SchedulingWorld, requests: list[BookingRequest]) -> list[object]:
    barrier = threading.Barrier(len(requests))
    results: list[object] = [None] * len(requests)

    def book(i: int) -> None:
        service = AppointmentService(context(world, "desk"))
        barrier.wait()
        try:
            results[i] = service.book(requests[i])
        except TpmError as exc:
            results[i] = exc

    threads = [threading.Thread(target=book, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_same_slot_from_many_threads_books_exactly_once(world: SchedulingWorld) -> None:
    room, svc = world.location(), world.service()
    world.open_hours("clinician", [room])
    patients = [world.add_patient(f"p{i}") for i in range(CONTENDERS)]
    start = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    requests = [
        BookingRequest((pid,), world.users["clinician"].id, svc, room, start) for pid in patients
    ]
    results = race(world, requests)
    booked = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(booked) == 1, results
    assert all(isinstance(r, SlotUnavailable) for r in refused), refused
    # and the store agrees: one appointment holds the clinician's four blocks
    rng = {"from": "2026-03-04T00:00:00Z", "to": "2026-03-05T00:00:00Z"}
    listed = world.ok("GET", "/v1/appointments", "clinician", query=rng)["items"]
    assert len(listed) == 1


def test_two_clinicians_racing_for_one_room_book_exactly_once(world: SchedulingWorld) -> None:
    room, svc = world.location(), world.service()
    world.open_hours("clinician", [room])
    world.open_hours("clinician2", [room])
    start = datetime(2026, 3, 4, 15, 15, tzinfo=UTC)
    requests = [
        BookingRequest((world.patients["ada"],), world.users["clinician"].id, svc, room, start),
        BookingRequest((world.patients["ben"],), world.users["clinician2"].id, svc, room, start),
    ]
    results = race(world, requests)
    assert sum(not isinstance(r, Exception) for r in results) == 1, results
    assert sum(isinstance(r, SlotUnavailable) for r in results) == 1
