"""Booking outside a clinician's availability (issue 10, item 8): refused with 422
`outside_availability` unless the request carries an override with a reason, which only
roles holding appointment.override_availability may give (patients never). The override is
audited; its reason is sealed with the appointment and never logged or shown to patients.
Series, reschedules and accepted appointment requests follow the same rule."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scheduling_world import SchedulingWorld, build

from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import ChainedEvent, Outcome

# Monday 2 March 2026 is the world's "now" (09:00 Chicago). The clinician works Tuesdays
# 09:00-12:00 and Wednesdays 09:00-12:00 + 12:00-17:00 (two touching windows), in Room 1
# only, with Wednesday 11 March off from 10:00 to 11:00 and Tuesday 17 March a holiday.
TUE_10 = "2026-03-03T16:00:00Z"  # Tuesday 10:00 CST: inside
TUE_14 = "2026-03-03T20:00:00Z"  # Tuesday 14:00 CST: outside the hours
REASON = "Only time the patient can come before surgery (synthetic)"


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[SchedulingWorld]:
    from tpm.runtime import set_runtime

    yield build(tmp_path, project_root)
    set_runtime(None)


@pytest.fixture
def cat(world: SchedulingWorld) -> dict[str, str]:
    found = {
        "room": world.location(),
        "room2": world.location(name="Room 2"),
        "svc": world.service(),
    }
    cid = world.users["clinician"].id
    av = world.ok("GET", f"/v1/clinicians/{cid}/availability", "admin")
    weekly = [
        {"weekday": 1, "start": "09:00", "end": "12:00", "location_ids": [found["room"]]},
        {"weekday": 2, "start": "09:00", "end": "12:00", "location_ids": [found["room"]]},
        {"weekday": 2, "start": "12:00", "end": "17:00", "location_ids": [found["room"]]},
    ]
    off = {
        "kind": "off",
        "start_date": "2026-03-11",
        "end_date": "2026-03-11",
        "start": "10:00",
        "end": "11:00",
    }
    world.ok(
        "PATCH",
        f"/v1/clinicians/{cid}/availability",
        "admin",
        {
            "version": av["version"],
            "timezone": "America/Chicago",
            "weekly": weekly,
            "exceptions": [off],
        },
    )
    rules = world.ok("GET", "/v1/scheduling-rules", "admin")
    world.ok(
        "PATCH",
        "/v1/scheduling-rules",
        "admin",
        {
            "version": rules["version"],
            "holidays": [{"date": "2026-03-17", "name": "Closed (synthetic)"}],
            "self_booking_enabled": True,
            "self_booking_clinician_ids": [cid],
            "min_notice_hours": 0,
        },
    )
    return found


def body(w: SchedulingWorld, cat: dict[str, str], start: str, **kw: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "patient_ids": [w.patients["ada"]],
        "clinician_id": w.users["clinician"].id,
        "service_id": cat["svc"],
        "location_id": cat["room"],
        "start": start,
    }
    return found | kw


def seq(w: SchedulingWorld) -> int:
    found = read_head(w.runtime.store.practice(w.practice_id))
    return found.seq if found else 0


def events_since(w: SchedulingWorld, after: int) -> list[ChainedEvent]:
    store = w.runtime.store.practice(w.practice_id)
    return list(read_events(store, after + 1, seq(w))) if seq(w) > after else []


def refused(reply: Any) -> tuple[int, str]:
    return reply.status, reply.body["error"]["code"]


# ---- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "why"),
    [
        (TUE_14, "after the day's hours"),
        ("2026-03-03T17:30:00Z", "a 50-minute visit running past 12:00"),
        ("2026-03-02T16:00:00Z", "a Monday: no hours at all"),
        ("2026-03-11T15:00:00Z", "time off on Wednesday 11 March, 10:00-11:00 CDT"),
        ("2026-03-17T15:00:00Z", "a practice holiday"),
    ],
)
def test_outside_availability_is_refused_and_nothing_is_booked(
    world: SchedulingWorld, cat: dict[str, str], start: str, why: str
) -> None:
    reply = world.call("POST", "/v1/appointments", "desk", body(world, cat, start))
    assert refused(reply) == (422, "outside_availability"), why
    assert reply.body["error"]["details"] == {"override_allowed": True}
    listed = world.ok(
        "GET",
        "/v1/appointments",
        "desk",
        query={
            "clinician_id": world.users["clinician"].id,
            "from": "2026-03-01T00:00:00Z",
            "to": "2026-04-01T00:00:00Z",
        },
    )
    assert listed["items"] == []


def test_inside_availability_books_without_an_override(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    # Wednesday 11:30-12:20 spans the two touching windows; Room 2 is not where they work
    wed = "2026-03-04T17:30:00Z"
    booked = world.ok("POST", "/v1/appointments", "desk", body(world, cat, wed))
    assert booked["override"] is None
    elsewhere = world.call(
        "POST", "/v1/appointments", "desk", body(world, cat, TUE_10, location_id=cat["room2"])
    )
    assert refused(elsewhere) == (422, "outside_availability")
    # an override given for a time inside is not needed and not recorded
    before = seq(world)
    plain = world.ok(
        "POST", "/v1/appointments", "desk", body(world, cat, TUE_10, override={"reason": REASON})
    )
    assert plain["override"] is None
    assert "appointment.override_availability" not in {
        e.action for e in events_since(world, before)
    }


def test_an_override_books_audits_and_seals_its_reason(
    world: SchedulingWorld, cat: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = seq(world)
    booked = world.ok(
        "POST", "/v1/appointments", "desk", body(world, cat, TUE_14, override={"reason": REASON})
    )
    assert booked["override"] == {"by": world.users["desk"].id, "reason": REASON}
    # audited: the booking and the override, in the same transaction, no free text
    found = [e for e in events_since(world, before) if e.resource_id == booked["id"]]
    assert {(e.action, e.reason_code, e.outcome) for e in found} == {
        ("appointment.book", None, Outcome.ALLOWED),
        ("appointment.override_availability", "outside_availability", Outcome.ALLOWED),
    }
    assert {e.patient_id for e in found} == {world.patients["ada"]}
    assert REASON not in json.dumps([e.model_dump(mode="json") for e in found])
    # sealed at rest, never logged
    store = world.runtime.store.practice(world.practice_id)
    item = store.get(f"APPOINTMENT#{booked['id']}", "APPOINTMENT")
    assert item is not None
    assert REASON not in json.dumps(item, default=str)
    assert item["override_reason"]
    assert REASON not in caplog.text
    # staff read it back; the patient never sees the reason
    assert world.ok("GET", f"/v1/appointments/{booked['id']}", "desk")["override"]["reason"] == (
        REASON
    )
    mine = world.ok(
        "GET",
        "/v1/me/appointments",
        "ada_login",
        query={"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"},
    )
    assert [a["override"] for a in mine["items"]] == [None]
    assert world.ok("GET", f"/v1/appointments/{booked['id']}", "ada_login")["override"] is None


def test_only_roles_with_the_permission_override_and_clinicians_only_their_own_calendar(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    over = {"override": {"reason": REASON}}
    # a clinician on their own calendar (their care-team patient)
    own = world.call("POST", "/v1/appointments", "clinician", body(world, cat, TUE_14, **over))
    assert own.status == 201, own.body
    # ... and not on a colleague's calendar (403, the refusal audited)
    world.ok(
        "PATCH",
        f"/v1/clinicians/{world.users['clinician2'].id}/availability",
        "admin",
        {"version": 0, "timezone": "America/Chicago"},
    )
    world.add_patient("dee", care_team=("clinician", "clinician2"))
    before = seq(world)
    theirs = body(
        world,
        cat,
        TUE_14,
        clinician_id=world.users["clinician2"].id,
        patient_ids=[world.patients["dee"]],
        **over,
    )
    reply = world.call("POST", "/v1/appointments", "clinician", theirs)
    assert reply.status == 403
    denied = [e for e in events_since(world, before) if e.outcome is Outcome.DENIED]
    assert [e.action for e in denied] == ["appointment.override_availability"]
    without = world.call(
        "POST",
        "/v1/appointments",
        "clinician",
        {k: v for k, v in theirs.items() if k != "override"},
    )
    assert without.body["error"]["details"] == {"override_allowed": False}
    # owners and admins may, for any calendar
    for who, start in (("owner", "2026-03-03T21:00:00Z"), ("admin", "2026-03-03T22:00:00Z")):
        assert (
            world.call("POST", "/v1/appointments", who, body(world, cat, start, **over)).status
            == 201
        )


def test_patients_can_never_override(world: SchedulingWorld, cat: dict[str, str]) -> None:
    cid = world.users["clinician"].id
    own = {"clinician_id": cid, "service_id": cat["svc"], "location_id": cat["room"]}
    outside = world.call("POST", "/v1/me/appointments", "ada_login", own | {"start": TUE_14})
    assert refused(outside) == (422, "outside_availability")
    assert outside.body["error"]["details"] == {"override_allowed": False}
    tried = world.call(
        "POST",
        "/v1/me/appointments",
        "ada_login",
        own | {"start": TUE_14, "override": {"reason": REASON}},
    )
    assert refused(tried) == (422, "validation_failed")  # no such field for patients
    inside = world.ok("POST", "/v1/me/appointments", "ada_login", own | {"start": TUE_10})
    moved = world.call(
        "POST",
        f"/v1/me/appointments/{inside['id']}/reschedule",
        "ada_login",
        {"version": 1, "start": TUE_14, "override": {"reason": REASON}},
    )
    assert refused(moved) == (422, "validation_failed")
    moved = world.call(
        "POST",
        f"/v1/me/appointments/{inside['id']}/reschedule",
        "ada_login",
        {"version": 1, "start": TUE_14},
    )
    assert refused(moved) == (422, "outside_availability")


def test_reschedule_follows_the_rule_and_a_move_back_inside_drops_the_override(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    appt = world.ok("POST", "/v1/appointments", "desk", body(world, cat, TUE_10))
    path = f"/v1/appointments/{appt['id']}/reschedule"
    out = world.call("POST", path, "desk", {"version": 1, "start": TUE_14})
    assert refused(out) == (422, "outside_availability")
    before = seq(world)
    moved = world.ok(
        "POST", path, "desk", {"version": 1, "start": TUE_14, "override": {"reason": REASON}}
    )
    assert moved["override"]["reason"] == REASON
    assert ("appointment.override_availability", "outside_availability") in {
        (e.action, e.reason_code) for e in events_since(world, before)
    }
    back = world.ok("POST", path, "desk", {"version": 2, "start": TUE_10})
    assert back["override"] is None


def test_a_series_lists_the_occurrences_outside_and_books_with_one_override(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    series = {
        "patient_ids": [world.patients["ada"]],
        "clinician_id": world.users["clinician"].id,
        "service_id": cat["svc"],
        "location_id": cat["room"],
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "start_local": "2026-03-03T10:00:00",
        "timezone": "America/Chicago",
        "count": 4,
    }
    reply = world.call("POST", "/v1/appointment-series", "desk", series)
    assert refused(reply) == (422, "outside_availability")
    assert reply.body["error"]["details"] == {
        "override_allowed": True,
        "occurrences": [{"index": 2, "date": "2026-03-17"}],  # the holiday
    }
    before = seq(world)
    booked = world.ok(
        "POST", "/v1/appointment-series", "desk", series | {"override": {"reason": REASON}}
    )
    overrides = [a["override"] for a in booked["appointments"]]
    assert overrides[2] == {"by": world.users["desk"].id, "reason": REASON}
    assert overrides[:2] + overrides[3:] == [None, None, None]
    found = [
        e for e in events_since(world, before) if e.action == "appointment.override_availability"
    ]
    assert [(e.resource_kind, e.resource_id) for e in found] == [
        ("appointment_series", booked["series"]["id"])
    ]
    # "this and following" at 14:00 is outside every time: refused without an override
    split = world.call(
        "POST",
        f"/v1/appointment-series/{booked['series']['id']}/split",
        "desk",
        {"version": 1, "from_occurrence": 1, "changes": {"start_time": "14:00:00"}},
    )
    assert refused(split) == (422, "outside_availability")
    assert [o["index"] for o in split.body["error"]["details"]["occurrences"]] == [0, 1, 2]
    split = world.call(
        "POST",
        f"/v1/appointment-series/{booked['series']['id']}/split",
        "desk",
        {
            "version": 1,
            "from_occurrence": 1,
            "changes": {"start_time": "14:00:00"},
            "override": {"reason": REASON},
        },
    )
    assert split.status == 201, split.body


def test_an_accepted_appointment_request_follows_the_rule(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    world.ok(
        "POST",
        "/v1/appointment-requests",
        "",
        {
            "practice": "sched",
            "name": "Prospective Person (synthetic)",
            "email": "prospect@example.test",
            "preferred_times": "Afternoons",
        },
    )
    [request] = world.ok("GET", "/v1/appointment-requests", "desk")["items"]
    accept = {
        "version": 1,
        "legal_first_name": "Prospect",
        "legal_last_name": "Synthetic",
        "date_of_birth": "1990-02-02",
        "clinician_id": world.users["clinician"].id,
        "service_id": cat["svc"],
        "location_id": cat["room"],
        "start": TUE_14,
    }
    path = f"/v1/appointment-requests/{request['id']}/accept"
    assert refused(world.call("POST", path, "desk", accept)) == (422, "outside_availability")
    done = world.ok("POST", path, "desk", accept | {"override": {"reason": REASON}})
    assert done["override"]["reason"] == REASON
