"""Scheduling through the local gateway: booking and its locks, cancel/reschedule/status,
series across DST, slots, self-booking rules, waitlist offers and appointment requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from scheduling_world import SchedulingWorld, build

from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.waitlist import WaitlistRepository
from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import Outcome
from tpm.security.principal import Role


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
        "video": world.location("telehealth", "Video"),
        "svc": world.service(),
    }
    places = [found["room"], found["room2"], found["video"]]
    for label in ("clinician", "clinician2", "supervisor"):
        world.open_hours(label, places)
    return found


def booking(w: SchedulingWorld, cat: dict[str, str], start: str, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient_ids": [w.patients["ada"]],
        "clinician_id": w.users["clinician"].id,
        "service_id": cat["svc"],
        "location_id": cat["room"],
        "start": start,
    }
    return body | kw


def events(w: SchedulingWorld, after: int) -> list[Any]:
    store = w.runtime.store.practice(w.practice_id)
    head = read_head(store)
    assert head is not None
    return list(read_events(store, after + 1, head.seq))


def head(w: SchedulingWorld) -> int:
    found = read_head(w.runtime.store.practice(w.practice_id))
    return found.seq if found else 0


# ---- booking and locks ----------------------------------------------------------------------


def test_booking_is_one_transaction_with_its_audit_event(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    token_headers = world.token("desk")  # session setup outside the measured call
    assert token_headers
    before = head(world)
    world.runtime.store.calls.reset()
    appt = world.ok("POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-03T15:00:00Z"))
    calls = world.runtime.store.calls.reset()
    assert calls.get("transact") == 1, calls
    assert appt["end"] == "2026-03-03T15:50:00Z"
    [event] = [e for e in events(world, before) if e.action == "appointment.book"]
    assert (event.patient_id, event.resource_id, event.outcome) == (
        world.patients["ada"],
        appt["id"],
        Outcome.ALLOWED,
    )


def test_overlaps_on_the_clinician_or_the_room_are_409(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    world.ok("POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-03T15:00:00Z"))
    # the same clinician 30 minutes later, in another room
    clash = world.call(
        "POST",
        "/v1/appointments",
        "desk",
        booking(world, cat, "2026-03-03T15:30:00Z", location_id=cat["room2"]),
    )
    assert (clash.status, clash.body["error"]["code"]) == (409, "slot_unavailable")
    # another clinician in the same room
    other = booking(
        world,
        cat,
        "2026-03-03T15:45:00Z",
        clinician_id=world.users["clinician2"].id,
        patient_ids=[world.patients["ben"]],
    )
    assert world.call("POST", "/v1/appointments", "desk", other).status == 409
    # back to back is fine; another clinician by video at the same time is fine
    assert (
        world.call(
            "POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-03T16:00:00Z")
        ).status
        == 201
    )
    video = other | {"start": "2026-03-03T15:00:00Z", "location_id": cat["video"]}
    assert world.call("POST", "/v1/appointments", "desk", video).status == 201


def test_cancel_frees_the_slot_and_flags_late_cancels(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    appt = world.ok("POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-03T15:00:00Z"))
    stale = world.call(
        "POST", f"/v1/appointments/{appt['id']}/cancel", "desk", {"reason": "ill", "version": 9}
    )
    assert (stale.status, stale.body["error"]["details"]) == (409, {"current_version": 1})
    done = world.ok(
        "POST", f"/v1/appointments/{appt['id']}/cancel", "desk", {"reason": "ill", "version": 1}
    )
    assert (done["status"], done["late_cancel"], done["cancelled_reason"]) == (
        "cancelled",
        True,
        "ill",
    )
    again = booking(world, cat, "2026-03-03T15:00:00Z", patient_ids=[world.patients["ben"]])
    assert world.call("POST", "/v1/appointments", "desk", again).status == 201
    twice = world.call(
        "POST", f"/v1/appointments/{appt['id']}/cancel", "desk", {"reason": "x", "version": 2}
    )
    assert (twice.status, twice.body["error"]["code"]) == (409, "invalid_status_transition")
    # the reason is sealed at rest
    item = world.runtime.store.practice(world.practice_id).get(
        f"APPOINTMENT#{appt['id']}", "APPOINTMENT"
    )
    assert item is not None
    assert "ill" not in str(item["cancelled_reason"])


def test_early_cancel_is_not_late(world: SchedulingWorld, cat: dict[str, str]) -> None:
    appt = world.ok("POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-10T15:00:00Z"))
    done = world.ok(
        "POST", f"/v1/appointments/{appt['id']}/cancel", "desk", {"reason": "trip", "version": 1}
    )
    assert done["late_cancel"] is False


def test_reschedule_moves_the_locks(world: SchedulingWorld, cat: dict[str, str]) -> None:
    appt = world.ok("POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-03T15:00:00Z"))
    moved = world.ok(
        "POST",
        f"/v1/appointments/{appt['id']}/reschedule",
        "desk",
        {"start": "2026-03-03T15:30:00Z", "version": 1},
    )
    assert (moved["start"], moved["version"]) == ("2026-03-03T15:30:00Z", 2)
    freed = booking(world, cat, "2026-03-03T14:30:00Z", patient_ids=[world.patients["ben"]])
    assert (
        world.call("POST", "/v1/appointments", "desk", freed).status == 201
    )  # 14:30-15:20 free now
    store = world.runtime.store.practice(world.practice_id)
    repo = AppointmentRepository(store, world.runtime.cipher)
    start = world.clock.now()
    blocks = repo.busy_blocks(
        f"CLN#{world.users['clinician'].id}", start, start + timedelta(days=2)
    )
    assert len(blocks) == 8
    misaligned = world.call(
        "POST",
        f"/v1/appointments/{appt['id']}/reschedule",
        "desk",
        {"start": "2026-03-03T17:10:00Z", "version": 2},
    )
    assert misaligned.status == 422


def test_status_machine_through_the_api(world: SchedulingWorld, cat: dict[str, str]) -> None:
    appt = world.ok("POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-02T16:00:00Z"))
    early = world.call(
        "POST",
        f"/v1/appointments/{appt['id']}/status",
        "clinician",
        {"status": "completed", "version": 1},
    )
    assert early.status == 409
    world.clock.advance(minutes=115)
    done = world.ok(
        "POST",
        f"/v1/appointments/{appt['id']}/status",
        "clinician",
        {"status": "completed", "version": 1},
    )
    assert done["status"] == "completed"
    bad = world.call(
        "POST",
        f"/v1/appointments/{appt['id']}/status",
        "clinician",
        {"status": "booked", "version": 2},
    )
    assert bad.status == 409


def test_group_appointment_reaches_every_patients_list(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    body = booking(
        world,
        cat,
        "2026-03-04T15:00:00Z",
        patient_ids=[world.patients["ada"], world.patients["ben"]],
    )
    before = head(world)
    appt = world.ok("POST", "/v1/appointments", "desk", body)
    # AND the booking is audited for every patient in it, in the one commit
    booked = [(e.action, e.patient_id) for e in events(world, before)]
    assert booked == [
        ("appointment.book", world.patients["ada"]),
        ("appointment.book", world.patients["ben"]),
    ]
    rng = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-31T00:00:00Z"}
    for login in ("ada_login", "ben_login"):
        mine = world.ok("GET", "/v1/me/appointments", login, query=rng)
        assert [a["id"] for a in mine["items"]] == [appt["id"]]


def test_booking_for_an_unknown_patient_is_404_and_writes_nothing(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    body = booking(
        world, cat, "2026-03-04T15:00:00Z", patient_ids=["pat_01aaaaaaaaaaaaaaaaaaaaaaaa"]
    )
    assert world.call("POST", "/v1/appointments", "desk", body).status == 404
    assert (
        world.call(
            "POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-04T15:00:00Z")
        ).status
        == 201
    )


def test_list_scopes(world: SchedulingWorld, cat: dict[str, str]) -> None:
    world.ok("POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-04T15:00:00Z"))
    rng = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-31T00:00:00Z"}
    mine = world.ok("GET", "/v1/appointments", "clinician", query=rng)
    assert len(mine["items"]) == 1
    other = world.call(
        "GET",
        "/v1/appointments",
        "clinician2",
        query=rng | {"clinician_id": world.users["clinician"].id},
    )
    assert other.status == 404
    desk = world.ok(
        "GET", "/v1/appointments", "desk", query=rng | {"patient_id": world.patients["ada"]}
    )
    assert len(desk["items"]) == 1
    assert world.call("GET", "/v1/appointments", "biller", query=rng).status == 403
    too_big = world.call("GET", "/v1/appointments", "desk", query=rng | {"limit": "101"})
    assert too_big.status == 422


# ---- series ----------------------------------------------------------------------------------


def series_body(w: SchedulingWorld, cat: dict[str, str], **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient_ids": [w.patients["cy"]],  # the patient lives in Los Angeles
        "clinician_id": w.users["clinician"].id,
        "service_id": cat["svc"],
        "location_id": cat["room"],
        "rrule": "FREQ=WEEKLY;BYDAY=MO",
        "start_local": "2026-03-02T09:00:00",
        "timezone": "America/Chicago",
        "count": 52,
    }
    return body | kw


def test_a_52_week_series_books_in_chunks_at_9_local_across_both_dst_changes(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    world.runtime.store.calls.reset()
    booked = world.ok("POST", "/v1/appointment-series", "desk", series_body(world, cat))
    assert world.runtime.store.calls.counts["transact"] > 1  # it did not fit one transaction
    starts = [a["start"] for a in booked["appointments"]]
    assert len(starts) == 52
    assert starts[0] == "2026-03-02T15:00:00Z"  # CST
    assert starts[1] == "2026-03-09T14:00:00Z"  # CDT after 2026-03-08
    assert "2026-10-26T14:00:00Z" in starts  # last Monday of CDT
    assert "2026-11-02T15:00:00Z" in starts  # CST after 2026-11-01
    assert [a["series_index"] for a in booked["appointments"]] == list(range(52))


def test_a_series_that_collides_books_nothing_and_names_the_occurrences(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    # GIVEN the clinician is busy on the 40th and 45th Monday
    for day in ("2026-11-30", "2027-01-04"):
        body = booking(
            world,
            cat,
            f"{day}T15:30:00Z",
            patient_ids=[world.patients["ben"]],
            location_id=cat["video"],
        )
        world.ok("POST", "/v1/appointments", "desk", body)
    store = world.runtime.store.practice(world.practice_id)
    repo = AppointmentRepository(store, world.runtime.cipher)
    before = repo.busy_blocks(
        f"CLN#{world.users['clinician'].id}",
        world.clock.now(),
        world.clock.now() + timedelta(days=400),
    )
    # WHEN a 52-week series is booked over them
    reply = world.call("POST", "/v1/appointment-series", "desk", series_body(world, cat))
    # THEN 409 lists the conflicts by index and local date, and every chunk was undone
    assert reply.status == 409
    assert reply.body["error"]["details"]["occurrences"] == [
        {"index": 39, "date": "2026-11-30"},
        {"index": 44, "date": "2027-01-04"},
    ]
    after = repo.busy_blocks(
        f"CLN#{world.users['clinician'].id}",
        world.clock.now(),
        world.clock.now() + timedelta(days=400),
    )
    assert after == before
    assert "Robin" not in str(reply.body)


def test_edit_one_occurrence_detaches_it_and_split_moves_the_rest(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    booked = world.ok("POST", "/v1/appointment-series", "desk", series_body(world, cat, count=6))
    series, appts = booked["series"], booked["appointments"]
    one = world.ok(
        "POST",
        f"/v1/appointments/{appts[1]['id']}/reschedule",
        "desk",
        {"start": "2026-03-10T14:00:00Z", "version": 1},
    )
    assert one["detached"] is True
    # "this and following" from occurrence 3: 10:00 local from then on
    split = world.ok(
        "POST",
        f"/v1/appointment-series/{series['id']}/split",
        "desk",
        {"version": 1, "from_occurrence": 3, "changes": {"start_time": "09:30:00"}},
    )
    new = split["appointments"]
    assert [a["start"] for a in new] == [
        "2026-03-23T14:30:00Z",
        "2026-03-30T14:30:00Z",
        "2026-04-06T14:30:00Z",
    ]
    old = world.ok("GET", f"/v1/appointments/{appts[3]['id']}", "desk")
    assert old["status"] == "cancelled"
    stale = world.call(
        "POST",
        f"/v1/appointment-series/{series['id']}/split",
        "desk",
        {"version": 1, "from_occurrence": 4, "changes": {}},
    )
    assert stale.status == 409
    # the series reads back ended where the split began, with its version and successor
    ended = world.ok("GET", f"/v1/appointment-series/{series['id']}", "desk")
    assert (ended["ended_at_index"], ended["followed_by"], ended["version"]) == (
        3,
        split["series"]["id"],
        2,
    )
    assert world.call("GET", "/v1/appointment-series/ser_missing", "desk").status == 404


# ---- slots and self-booking -----------------------------------------------------------------


def enable_self_booking(w: SchedulingWorld, cat: dict[str, str]) -> None:
    rules = w.ok("GET", "/v1/scheduling-rules", "admin")
    w.ok(
        "PATCH",
        "/v1/scheduling-rules",
        "admin",
        {
            "version": rules["version"],
            "self_booking_enabled": True,
            "self_booking_clinician_ids": [w.users["clinician"].id],
            "min_notice_hours": 24,
            "cancel_window_hours": 24,
        },
    )
    av = w.ok("GET", f"/v1/clinicians/{w.users['clinician'].id}/availability", "desk")
    weekly = [{"weekday": 1, "start": "09:00", "end": "12:00", "location_ids": [cat["room"]]}]
    w.ok(
        "PATCH",
        f"/v1/clinicians/{w.users['clinician'].id}/availability",
        "clinician",
        {"version": av["version"], "timezone": "America/Chicago", "weekly": weekly},
    )


def test_slots_and_self_booking_rules(world: SchedulingWorld, cat: dict[str, str]) -> None:
    enable_self_booking(world, cat)
    cid = world.users["clinician"].id
    query = {"service_id": cat["svc"], "from": "2026-03-03", "to": "2026-03-10"}
    slots = world.ok("GET", f"/v1/clinicians/{cid}/slots", "ada_login", query=query)["items"]
    # 24 h notice from Monday 09:00 CST: Tuesday 09:00 CST is the first; the next Tuesday
    # is after the DST change, so 09:00 local is 14:00 UTC
    starts = [s["start"] for s in slots]
    assert starts[0] == "2026-03-03T15:00:00Z"
    assert "2026-03-10T14:00:00Z" in starts
    assert "2026-03-10T15:00:00Z" in starts  # 10:00 CDT
    assert "2026-03-10T17:00:00Z" not in starts  # 12:00 CDT: past the window
    pick = next(s for s in slots if s["start"] == "2026-03-10T14:00:00Z")
    body = {
        "clinician_id": cid,
        "service_id": cat["svc"],
        "location_id": pick["location_id"],
        "start": pick["start"],
    }
    appt = world.ok("POST", "/v1/me/appointments", "ada_login", body)
    again = world.ok("GET", f"/v1/clinicians/{cid}/slots", "ada_login", query=query)["items"]
    assert pick["start"] not in [s["start"] for s in again]
    soon = world.call(
        "POST", "/v1/me/appointments", "ada_login", body | {"start": "2026-03-02T18:00:00Z"}
    )
    assert (soon.status, soon.body["error"]["code"], soon.body["error"]["details"]) == (
        422,
        "outside_booking_rules",
        {"rule": "minimum_notice"},
    )
    other = world.call(
        "POST",
        "/v1/me/appointments",
        "ada_login",
        body | {"clinician_id": world.users["clinician2"].id},
    )
    assert other.body["error"]["details"] == {"rule": "clinician_not_self_bookable"}
    # cancel online: fine now, refused inside the window
    world.clock.advance(days=7, hours=12)
    late = world.call(
        "POST",
        f"/v1/me/appointments/{appt['id']}/cancel",
        "ada_login",
        {"reason": "x", "version": 1},
    )
    assert late.body["error"]["details"] == {"rule": "cancel_window"}
    # someone else's appointment is invisible
    assert (
        world.call(
            "POST",
            f"/v1/me/appointments/{appt['id']}/cancel",
            "ben_login",
            {"reason": "x", "version": 1},
        ).status
        == 404
    )


def test_patients_see_only_self_bookable_services(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    hidden = world.service(self_bookable=False)
    listed = [s["id"] for s in world.ok("GET", "/v1/services", "ada_login")["items"]]
    assert cat["svc"] in listed
    assert hidden not in listed
    assert world.call("GET", f"/v1/services/{hidden}", "ada_login").status == 404
    assert world.call("GET", f"/v1/services/{hidden}", "desk").status == 200
    svc = world.ok("GET", f"/v1/services/{cat['svc']}", "desk")
    assert svc["fee"] == {"amount": "150.00", "currency": "USD"}


def test_catalogue_updates_use_versions_and_never_delete(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    path = f"/v1/services/{cat['svc']}"
    changed = world.ok(
        "PATCH", path, "admin", {"version": 1, "fee": {"amount": "175.50", "currency": "USD"}}
    )
    assert (changed["fee"]["amount"], changed["version"]) == ("175.50", 2)
    assert world.call("PATCH", path, "admin", {"version": 1, "name": "x"}).status == 409
    assert world.call("PATCH", path, "admin", {"version": 2, "id": "svc_x"}).status == 422
    off = world.ok("POST", f"{path}/deactivate", "admin", {"version": 2})
    assert off["active"] is False
    body = booking(world, cat, "2026-03-04T15:00:00Z")
    refused = world.call("POST", "/v1/appointments", "desk", body)
    assert (refused.status, refused.body["error"]["details"]["fields"][0]["type"]) == (
        422,
        "unknown_service",
    )
    assert world.call("POST", "/v1/services", "desk", {"name": "x"}).status in (403, 422)


# ---- waitlist -------------------------------------------------------------------------------


def test_cancellation_offers_the_slot_and_the_first_claim_wins(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    appt = world.ok("POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-05T15:00:00Z"))
    window = {"start": "2026-03-05T00:00:00Z", "end": "2026-03-06T00:00:00Z"}
    world.ok(
        "POST",
        "/v1/waitlist",
        "ben_login",
        {"windows": [window], "clinician_id": world.users["clinician"].id},
    )
    world.ok(
        "POST", "/v1/waitlist", "desk", {"patient_id": world.patients["cy"], "windows": [window]}
    )
    world.ok(
        "POST", f"/v1/appointments/{appt['id']}/cancel", "desk", {"reason": "moved", "version": 1}
    )
    # THEN both matching entries got an offer (the outbox rows come from the reminders hook)
    store = world.runtime.store.practice(world.practice_id)
    repo = WaitlistRepository(store, world.runtime.cipher)
    offers = [repo.offer(k["pk"].split("#", 1)[1]) for k in _offer_keys(world)]
    assert sorted(o.patient_id for o in offers if o) == sorted(
        [world.patients["ben"], world.patients["cy"]]
    )
    ben_offer = next(o for o in offers if o and o.patient_id == world.patients["ben"])
    cy_offer = next(o for o in offers if o and o.patient_id == world.patients["cy"])
    # WHEN ben claims first THEN ben gets the slot; cy's later claim is 409
    first = world.call("POST", f"/v1/waitlist-offers/{ben_offer.id}/claim", "ben_login")
    assert first.status == 201, first.body
    assert (
        world.call("POST", f"/v1/waitlist-offers/{ben_offer.id}/claim", "ben_login").status == 409
    )
    assert (
        world.call("POST", f"/v1/waitlist-offers/{ben_offer.id}/claim", "ada_login").status == 404
    )
    world.add_user("cy_login", Role.PATIENT, patient_id=world.patients["cy"])
    late = world.call("POST", f"/v1/waitlist-offers/{cy_offer.id}/claim", "cy_login")
    assert (late.status, late.body["error"]["code"]) == (409, "slot_unavailable")
    # AND the front desk sees both offers on the cancelled visit: ben's claimed, cy's taken
    day = {"from": "2026-03-05T00:00:00Z", "to": "2026-03-06T00:00:00Z"}
    listed = world.ok("GET", "/v1/waitlist-offers", "desk", query=day)["items"]
    assert {(o["patient_id"], o["state"]) for o in listed} == {
        (world.patients["ben"], "claimed"),
        (world.patients["cy"], "taken"),
    }
    assert {o["source_appointment_id"] for o in listed} == {appt["id"]}
    assert next(o for o in listed if o["state"] == "claimed")["appointment_id"] == first.body["id"]
    # the range is [from, to): a slot starting at `to` is outside it
    after = {"from": "2026-03-04T00:00:00Z", "to": "2026-03-05T15:00:00Z"}
    assert world.ok("GET", "/v1/waitlist-offers", "desk", query=after)["items"] == []
    # a clinician and a patient may not list offers; a reversed range is a 422
    assert world.call("GET", "/v1/waitlist-offers", "clinician", query=day).status == 403
    assert world.call("GET", "/v1/waitlist-offers", "ben_login", query=day).status == 403
    bad = world.call(
        "GET",
        "/v1/waitlist-offers",
        "desk",
        query={"from": "2026-03-06T00:00:00Z", "to": "2026-03-05T00:00:00Z"},
    )
    assert (bad.status, bad.body["error"]["code"]) == (422, "validation_failed")


def test_a_patient_taken_off_the_waitlist_gets_no_offers(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    appt = world.ok("POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-09T15:00:00Z"))
    window = {"start": "2026-03-09T00:00:00Z", "end": "2026-03-10T00:00:00Z"}
    entry = world.ok(
        "POST", "/v1/waitlist", "desk", {"patient_id": world.patients["cy"], "windows": [window]}
    )
    # a stale version is a 409 and changes nothing; a clinician may not remove it
    stale = world.call("POST", f"/v1/waitlist/{entry['id']}/remove", "desk", {"version": 7})
    assert (stale.status, stale.body["error"]["code"]) == (409, "version_conflict")
    assert world.call(
        "POST", f"/v1/waitlist/{entry['id']}/remove", "clinician", {"version": 1}
    ).status in (403, 404)
    removed = world.ok("POST", f"/v1/waitlist/{entry['id']}/remove", "desk", {"version": 1})
    assert (removed["status"], removed["version"]) == ("removed", 2)
    again = world.call("POST", f"/v1/waitlist/{entry['id']}/remove", "desk", {"version": 2})
    assert again.status == 409
    # THEN a cancellation inside the window offers nothing to them
    world.ok(
        "POST", f"/v1/appointments/{appt['id']}/cancel", "desk", {"reason": "moved", "version": 1}
    )
    day = {"from": "2026-03-09T00:00:00Z", "to": "2026-03-10T00:00:00Z"}
    assert world.ok("GET", "/v1/waitlist-offers", "desk", query=day)["items"] == []


def test_an_unclaimed_offer_expires(world: SchedulingWorld, cat: dict[str, str]) -> None:
    appt = world.ok("POST", "/v1/appointments", "desk", booking(world, cat, "2026-03-06T15:00:00Z"))
    window = {"start": "2026-03-06T00:00:00Z", "end": "2026-03-07T00:00:00Z"}
    world.ok(
        "POST", "/v1/waitlist", "desk", {"patient_id": world.patients["cy"], "windows": [window]}
    )
    world.ok(
        "POST", f"/v1/appointments/{appt['id']}/cancel", "desk", {"reason": "moved", "version": 1}
    )
    day = {"from": "2026-03-06T00:00:00Z", "to": "2026-03-07T00:00:00Z"}
    [offer] = world.ok("GET", "/v1/waitlist-offers", "desk", query=day)["items"]
    assert offer["state"] == "open"
    world.clock.advance(days=2)
    [offer] = world.ok("GET", "/v1/waitlist-offers", "desk", query=day)["items"]
    assert offer["state"] == "expired"


def _offer_keys(world: SchedulingWorld) -> list[dict[str, Any]]:
    import sqlite3

    db = world.runtime.settings.store_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT pk FROM items WHERE pk LIKE ?", ("%WAITLIST_OFFER#%",)
        ).fetchall()
    return [{"pk": r[0].split("|", 1)[1]} for r in rows]


# ---- appointment requests -------------------------------------------------------------------


def test_public_request_is_sealed_quota_limited_and_accepted_into_a_patient(
    world: SchedulingWorld, cat: dict[str, str]
) -> None:
    body = {
        "practice": "sched",
        "name": "Quinn Prospect",
        "email": "q@example.test",
        "preferred_times": "mornings",
    }
    made = [
        world.call("POST", "/v1/appointment-requests", None, body, source_ip="203.0.113.9")
        for _ in range(4)
    ]
    assert [m.status for m in made] == [201, 201, 201, 429]
    assert made[3].headers.get("retry-after")
    assert (
        world.call("POST", "/v1/appointment-requests", None, body | {"practice": "nope"}).status
        == 404
    )
    listed = world.ok("GET", "/v1/appointment-requests", "desk")["items"]
    assert listed[0]["name"] == "Quinn Prospect"
    raw = world.runtime.store.practice(world.practice_id).get("APPT_REQUESTS", listed[0]["id"])
    assert raw is not None
    assert "Quinn" not in str(raw)
    accept = {
        "version": 1,
        "legal_first_name": "Quinn",
        "legal_last_name": "Prospect",
        "date_of_birth": "1991-01-01",
        "clinician_id": world.users["clinician"].id,
        "service_id": cat["svc"],
        "location_id": cat["room"],
        "start": "2026-03-06T15:00:00Z",
    }
    appt = world.ok("POST", f"/v1/appointment-requests/{listed[0]['id']}/accept", "desk", accept)
    patient = world.ok("GET", f"/v1/patients/{appt['patient_ids'][0]}", "desk")
    assert patient["legal_first_name"] == "Quinn"
    again = world.call(
        "POST",
        f"/v1/appointment-requests/{listed[0]['id']}/accept",
        "desk",
        accept | {"version": 2},
    )
    assert again.status == 422
