"""Pure scheduling rules: slot blocks, the status machine, late cancels, self-booking rules,
and free slots (DST-correct, holidays, exceptions, busy clinician and rooms)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from tpm.domain.availability import (
    Availability,
    AvailabilityException,
    ExceptionKind,
    WeeklyRule,
    free_slots,
)
from tpm.domain.scheduling import (
    Appointment,
    AppointmentStatus,
    InvalidTransition,
    OutsideBookingRules,
    SchedulingRules,
    Service,
    cancel,
    check_self_booking,
    check_self_cancel,
    move,
    slot_starts,
    transition,
)
from tpm.errors import ValidationFailed

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def appt(**changes: object) -> Appointment:
    fields: dict[str, object] = {
        "id": "apt_01",
        "patient_ids": ("pat_1",),
        "clinician_id": "usr_c",
        "location_id": "loc_1",
        "service_id": "svc_1",
        "start": T0,
        "end": T0 + timedelta(minutes=50),
        "created_by": "usr_d",
        "created_at": T0 - timedelta(days=7),
    }
    return Appointment.model_validate(fields | changes)


def service(**changes: object) -> Service:
    fields: dict[str, object] = {
        "id": "svc_1",
        "name": "Therapy",
        "cpt_code": "90834",
        "duration_minutes": 50,
        "fee": Decimal("150.00"),
        "self_bookable": True,
    }
    return Service.model_validate(fields | changes)


# ---- slot blocks -------------------------------------------------------------------------


def test_a_fifty_minute_visit_holds_four_blocks() -> None:
    blocks = slot_starts(T0, T0 + timedelta(minutes=50))
    assert blocks == [T0 + timedelta(minutes=15 * i) for i in range(4)]


def test_a_start_off_the_quarter_hour_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        slot_starts(T0 + timedelta(minutes=10), T0 + timedelta(hours=1))


def test_an_appointment_needs_end_after_start_and_distinct_patients() -> None:
    with pytest.raises(ValueError, match="end must be after start"):
        appt(end=T0)
    with pytest.raises(ValueError, match="patient appears twice"):
        appt(patient_ids=("pat_1", "pat_1"))


# ---- status machine ------------------------------------------------------------------------


def test_booked_to_arrived_to_completed() -> None:
    arrived = transition(appt(), AppointmentStatus.ARRIVED, T0 - timedelta(minutes=10))
    done = transition(arrived, AppointmentStatus.COMPLETED, T0 + timedelta(minutes=50))
    assert (done.status, done.version) == (AppointmentStatus.COMPLETED, 3)


@pytest.mark.parametrize(
    ("start_status", "target"),
    [
        (AppointmentStatus.COMPLETED, AppointmentStatus.ARRIVED),
        (AppointmentStatus.CANCELLED, AppointmentStatus.COMPLETED),
        (AppointmentStatus.NO_SHOW, AppointmentStatus.ARRIVED),
        (AppointmentStatus.ARRIVED, AppointmentStatus.NO_SHOW),
        (AppointmentStatus.BOOKED, AppointmentStatus.CANCELLED),  # cancel has its own route
    ],
)
def test_invalid_transitions_are_refused(
    start_status: AppointmentStatus, target: AppointmentStatus
) -> None:
    with pytest.raises(InvalidTransition):
        transition(appt(status=start_status), target, T0 + timedelta(hours=2))


def test_no_show_and_complete_need_the_visit_to_have_started() -> None:
    with pytest.raises(InvalidTransition) as caught:
        transition(appt(), AppointmentStatus.NO_SHOW, T0 - timedelta(minutes=1))
    assert caught.value.details["reason"] == "not_started"
    assert transition(appt(), AppointmentStatus.NO_SHOW, T0).status is AppointmentStatus.NO_SHOW


def test_arrival_more_than_two_hours_early_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        transition(appt(), AppointmentStatus.ARRIVED, T0 - timedelta(hours=3))


# ---- cancel and move -----------------------------------------------------------------------


def test_late_cancel_inside_the_window() -> None:
    late = cancel(appt(), "ill", T0 - timedelta(hours=23), window_hours=24)
    early = cancel(appt(), "ill", T0 - timedelta(hours=25), window_hours=24)
    assert (late.late_cancel, early.late_cancel) == (True, False)
    assert late.status is AppointmentStatus.CANCELLED
    assert late.cancelled_reason == "ill"


def test_only_booked_appointments_cancel_or_move() -> None:
    with pytest.raises(InvalidTransition):
        cancel(appt(status=AppointmentStatus.COMPLETED), "x", T0, 24)
    with pytest.raises(InvalidTransition):
        move(appt(status=AppointmentStatus.CANCELLED), T0, timedelta(minutes=50), detach=False)


def test_moving_a_series_occurrence_detaches_it() -> None:
    moved = move(
        appt(series_id="ser_1", series_index=3),
        T0 + timedelta(days=1),
        timedelta(minutes=50),
        detach=True,
    )
    assert moved.detached
    assert moved.end - moved.start == timedelta(minutes=50)


# ---- self-booking rules --------------------------------------------------------------------

RULES = SchedulingRules(
    self_booking_enabled=True,
    self_booking_clinician_ids=("usr_c",),
    min_notice_hours=24,
    max_advance_days=30,
    cancel_window_hours=48,
)


@pytest.mark.parametrize(
    ("rules", "svc", "clinician", "start", "rule"),
    [
        (SchedulingRules(), service(), "usr_c", T0, "self_booking_disabled"),
        (RULES, service(self_bookable=False), "usr_c", T0, "service_not_self_bookable"),
        (RULES, service(active=False), "usr_c", T0, "service_not_self_bookable"),
        (RULES, service(), "usr_other", T0, "clinician_not_self_bookable"),
        (RULES, service(), "usr_c", T0 - timedelta(hours=30), "minimum_notice"),
        (RULES, service(), "usr_c", T0 + timedelta(days=40), "too_far_ahead"),
    ],
)
def test_self_booking_refusals_name_the_rule(
    rules: SchedulingRules, svc: Service, clinician: str, start: datetime, rule: str
) -> None:
    now = T0 - timedelta(days=2)
    with pytest.raises(OutsideBookingRules) as caught:
        check_self_booking(rules, svc, clinician, start, now)
    assert caught.value.details == {"rule": rule}


def test_self_booking_within_the_rules_passes() -> None:
    check_self_booking(RULES, service(), "usr_c", T0, T0 - timedelta(days=2))


def test_online_cancel_closes_at_the_window() -> None:
    check_self_cancel(RULES, appt(), T0 - timedelta(hours=49))
    with pytest.raises(OutsideBookingRules):
        check_self_cancel(RULES, appt(), T0 - timedelta(hours=47))


# ---- free slots ------------------------------------------------------------------------------

MONDAYS = Availability(
    clinician_id="usr_c",
    timezone="America/Chicago",
    weekly=(WeeklyRule(weekday=0, start=time(9), end=time(11), location_ids=("loc_1",)),),
)


def slots(av: Availability = MONDAYS, **kw: object) -> list[datetime]:
    args: dict[str, object] = {
        "duration": timedelta(minutes=50),
        "first": date(2026, 3, 2),
        "last": date(2026, 3, 9),
        "holidays": frozenset(),
        "clinician_busy": set(),
        "room_busy": {},
        "earliest": datetime(2026, 3, 1, tzinfo=UTC),
    }
    return [s.start for s in free_slots(av, **(args | kw))]  # type: ignore[arg-type]


def test_slots_follow_local_hours_across_the_spring_change() -> None:
    found = slots()
    # 09:00-11:00 local with a 50-minute visit: starts at 09:00, 09:15 ... 10:00 each Monday
    assert found[0] == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # CST
    assert datetime(2026, 3, 9, 14, 0, tzinfo=UTC) in found  # CDT: same 09:00 local
    assert len(found) == 10


def test_busy_blocks_and_booked_rooms_remove_overlapping_starts() -> None:
    busy = {datetime(2026, 3, 2, 15, 30, tzinfo=UTC)}
    found = slots(clinician_busy=busy, last=date(2026, 3, 2))
    # any visit covering 15:30-15:45 UTC is out: only 15:45 and 16:00 remain
    assert found == [
        datetime(2026, 3, 2, 15, 45, tzinfo=UTC),
        datetime(2026, 3, 2, 16, 0, tzinfo=UTC),
    ]
    assert slots(room_busy={"loc_1": busy}, last=date(2026, 3, 2)) == found


def test_holidays_exceptions_and_notice() -> None:
    assert slots(holidays=frozenset({date(2026, 3, 2)}), last=date(2026, 3, 2)) == []
    off = AvailabilityException(
        kind=ExceptionKind.OFF, start_date=date(2026, 3, 2), end_date=date(2026, 3, 2)
    )
    assert slots(MONDAYS.model_copy(update={"exceptions": (off,)}), last=date(2026, 3, 2)) == []
    extra = AvailabilityException(
        kind=ExceptionKind.EXTRA,
        start_date=date(2026, 3, 3),
        end_date=date(2026, 3, 3),
        start=time(13),
        end=time(14),
        location_ids=("loc_1",),
    )
    tuesday = slots(
        MONDAYS.model_copy(update={"exceptions": (extra,)}),
        first=date(2026, 3, 3),
        last=date(2026, 3, 3),
    )
    assert tuesday == [datetime(2026, 3, 3, 19, 0, tzinfo=UTC)]
    later = slots(earliest=datetime(2026, 3, 2, 15, 20, tzinfo=UTC), last=date(2026, 3, 2))
    assert later[0] == datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


def test_a_partial_day_off_cuts_the_window() -> None:
    lunch = AvailabilityException(
        kind=ExceptionKind.OFF,
        start_date=date(2026, 3, 2),
        end_date=date(2026, 3, 2),
        start=time(9, 30),
        end=time(10),
    )
    found = slots(
        MONDAYS.model_copy(update={"exceptions": (lunch,)}),
        last=date(2026, 3, 2),
        duration=timedelta(minutes=30),
    )
    local = [f.astimezone(__import__("zoneinfo").ZoneInfo("America/Chicago")).time() for f in found]
    assert local == [time(9), time(10), time(10, 15), time(10, 30)]


# ---- inside a clinician's availability (the booking rule) ------------------------------------


def test_within_needs_the_whole_visit_inside_touching_windows_at_that_location() -> None:
    from tpm.domain.availability import within

    rules = (
        WeeklyRule(weekday=0, start=time(9), end=time(12), location_ids=("loc_a",)),
        WeeklyRule(weekday=0, start=time(12), end=time(17), location_ids=("loc_a",)),
        WeeklyRule(weekday=1, start=time(9), end=time(12), location_ids=("loc_a",)),
    )
    av = Availability(clinician_id="usr_c", timezone="America/Chicago", weekly=rules)
    # Monday 9 March 2026 is the first CDT Monday: 09:00 local is 14:00 UTC
    monday = datetime(2026, 3, 9, 14, tzinfo=UTC)
    assert within(av, frozenset(), monday, monday + timedelta(minutes=50), "loc_a")
    late = monday + timedelta(hours=2, minutes=30)  # 11:30-12:20 across the touching windows
    assert within(av, frozenset(), late, late + timedelta(minutes=50), "loc_a")
    assert not within(av, frozenset(), monday, monday + timedelta(minutes=50), "loc_b")
    assert not within(av, frozenset(), monday - timedelta(hours=1), monday, "loc_a")  # 08:00
    evening = monday + timedelta(hours=7, minutes=30)  # 16:30-17:20: past the end
    assert not within(av, frozenset(), evening, evening + timedelta(minutes=50), "loc_a")
    assert not within(av, {date(2026, 3, 9)}, monday, monday + timedelta(minutes=50), "loc_a")
    # Monday's 12:00-17:00 and Tuesday's 09:00 do not join across the night
    night = datetime(2026, 3, 9, 21, 30, tzinfo=UTC)  # Monday 16:30 CDT
    assert not within(av, frozenset(), night, night + timedelta(hours=17), "loc_a")
