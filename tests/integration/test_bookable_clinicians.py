"""GET /v1/me/bookable-clinicians through the local gateway: a patient sees the clinicians
the practice's online-booking rules name (active clinical staff only, names and
credentials only); with online booking off, nobody; staff are refused. Both are audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scheduling_world import SchedulingWorld, build

from tpm.domain.users import UserStatus
from tpm.ids import new_id
from tpm.repositories.users import UserRepository
from tpm.runtime import set_runtime
from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import ChainedEvent, Outcome
from tpm.security.principal import Role

PATH = "/v1/me/bookable-clinicians"
ACTION = "scheduling.bookable_clinicians.read"


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[SchedulingWorld]:
    yield build(tmp_path, project_root)
    set_runtime(None)


def set_rules(w: SchedulingWorld, enabled: bool, clinician_ids: list[str]) -> None:
    rules = w.ok("GET", "/v1/scheduling-rules", "admin")
    body = {
        "version": rules["version"],
        "self_booking_enabled": enabled,
        "self_booking_clinician_ids": clinician_ids,
    }
    w.ok("PATCH", "/v1/scheduling-rules", "admin", body)


def head(w: SchedulingWorld) -> int:
    found = read_head(w.runtime.store.practice(w.practice_id))
    return found.seq if found else 0


def events_since(w: SchedulingWorld, seq: int) -> list[ChainedEvent]:
    store = w.runtime.store.practice(w.practice_id)
    last = head(w)
    return list(read_events(store, seq + 1, last)) if last > seq else []


def test_a_patient_sees_the_active_clinicians_the_rules_name(world: SchedulingWorld) -> None:
    # GIVEN rules naming two clinicians (one with credentials), a supervisor, a clinician
    # who has since left, a front-desk account and an id that is nobody's
    w = world
    store = w.runtime.store.practice(w.practice_id)
    users = UserRepository(store, w.runtime.cipher)
    leaver = w.add_user("leaver", Role.CLINICIAN)
    w.system_write([users.update_op(leaver.bump(status=UserStatus.DEACTIVATED))])
    credentialled = w.users["clinician2"].bump(credentials="LCSW")
    w.system_write([users.update_op(credentialled)])
    listed = [
        w.users["clinician2"].id,
        w.users["clinician"].id,
        w.users["supervisor"].id,
        leaver.id,
        w.users["desk"].id,
        new_id("usr"),
        w.users["clinician"].id,  # listed twice: shown once
    ]
    set_rules(w, True, listed)
    before = head(w)

    # WHEN a patient asks
    reply = w.call("GET", PATH, "ada_login")

    # THEN they get the three active clinical staff, by name, with nothing else about them
    assert reply.status == 200, reply.body
    assert reply.body == {
        "items": [
            {
                "id": w.users["clinician"].id,
                "display_name": "clinician (synthetic)",
                "credentials": "",
            },
            {
                "id": w.users["clinician2"].id,
                "display_name": "clinician2 (synthetic)",
                "credentials": "LCSW",
            },
            {
                "id": w.users["supervisor"].id,
                "display_name": "supervisor (synthetic)",
                "credentials": "",
            },
        ],
        "next_cursor": None,
    }
    # AND the read is in the trail, by the patient's account, as a count
    [event] = [e for e in events_since(w, before) if e.action == ACTION]
    assert event.outcome is Outcome.ALLOWED
    assert event.actor_id == w.users["ada_login"].id
    assert event.reason_code == "count_3"


def test_with_online_booking_off_nobody_is_bookable(world: SchedulingWorld) -> None:
    set_rules(world, False, [world.users["clinician"].id])
    reply = world.call("GET", PATH, "ben_login")
    assert reply.status == 200
    assert reply.body["items"] == []


def test_before_any_rules_are_saved_nobody_is_bookable(world: SchedulingWorld) -> None:
    reply = world.call("GET", PATH, "ada_login")
    assert reply.status == 200
    assert reply.body["items"] == []


@pytest.mark.parametrize("label", ["owner", "admin", "desk", "clinician", "supervisor", "biller"])
def test_staff_are_refused_and_the_refusal_is_audited(world: SchedulingWorld, label: str) -> None:
    set_rules(world, True, [world.users["clinician"].id])
    before = head(world)
    reply = world.call("GET", PATH, label)
    assert reply.status == 403
    assert "clinician (synthetic)" not in str(reply.body)
    [denied] = [e for e in events_since(world, before) if e.outcome is Outcome.DENIED]
    assert (denied.action, denied.actor_id, denied.reason_code) == (
        ACTION,
        world.users[label].id,
        "forbidden",
    )


def test_signed_out_callers_are_refused(world: SchedulingWorld) -> None:
    assert world.call("GET", PATH).status == 401


def test_staff_see_the_practices_active_clinical_staff_and_patients_do_not(
    world: SchedulingWorld,
) -> None:
    # GIVEN a clinician who left
    w = world
    users = UserRepository(w.runtime.store.practice(w.practice_id), w.runtime.cipher)
    leaver = w.add_user("leaver", Role.CLINICIAN)
    w.system_write([users.update_op(leaver.bump(status=UserStatus.DEACTIVATED))])
    before = head(w)
    # WHEN the front desk asks for the staff directory the calendar is drawn for
    reply = w.call("GET", "/v1/clinicians", "desk")
    # THEN it lists the active clinicians and supervisors by name, nothing more
    assert reply.status == 200, reply.body
    ids = [c["id"] for c in reply.body["items"]]
    assert w.users["clinician"].id in ids
    assert w.users["supervisor"].id in ids
    assert leaver.id not in ids
    assert w.users["desk"].id not in ids
    assert all(set(c) == {"id", "display_name", "credentials"} for c in reply.body["items"])
    [event] = [e for e in events_since(w, before) if e.action == "scheduling.clinicians.read"]
    assert event.reason_code == f"count_{len(ids)}"
    # AND a patient is refused (they see only the clinicians the booking rules name)
    assert w.call("GET", "/v1/clinicians", "ada_login").status == 403
