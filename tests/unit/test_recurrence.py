"""Recurring series expand in the clinician's zone: 09:00 stays 09:00 local across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tpm.domain.recurrence import MAX_OCCURRENCES, expand
from tpm.errors import ValidationFailed

CHICAGO = ZoneInfo("America/Chicago")


def test_weekly_nine_am_stays_local_across_the_spring_change() -> None:
    # Mondays 09:00 Chicago around Sunday 2026-03-08 (CST -6 -> CDT -5)
    starts = expand("FREQ=WEEKLY;BYDAY=MO", datetime(2026, 3, 2, 9), "America/Chicago", count=3)
    assert starts == [
        datetime(2026, 3, 2, 15, 0, tzinfo=UTC),
        datetime(2026, 3, 9, 14, 0, tzinfo=UTC),
        datetime(2026, 3, 16, 14, 0, tzinfo=UTC),
    ]
    assert {s.astimezone(CHICAGO).hour for s in starts} == {9}


def test_weekly_nine_am_stays_local_across_the_autumn_change() -> None:
    # Fridays 09:00 around Sunday 2026-11-01 (CDT -5 -> CST -6)
    starts = expand("FREQ=WEEKLY;BYDAY=FR", datetime(2026, 10, 30, 9), "America/Chicago", count=2)
    assert starts == [
        datetime(2026, 10, 30, 14, 0, tzinfo=UTC),
        datetime(2026, 11, 6, 15, 0, tzinfo=UTC),
    ]


def test_daily_series_through_both_transition_days() -> None:
    spring = expand("FREQ=DAILY", datetime(2026, 3, 7, 9), "America/Chicago", count=3)
    assert [s.hour for s in spring] == [15, 14, 14]
    autumn = expand("FREQ=DAILY", datetime(2026, 10, 31, 9), "America/Chicago", count=3)
    assert [s.hour for s in autumn] == [14, 15, 15]


def test_a_time_in_the_spring_gap_moves_forward_as_rfc5545_says() -> None:
    # 02:30 does not exist on 2026-03-08 in Chicago: it is read with the pre-gap offset.
    [moment] = expand("FREQ=DAILY", datetime(2026, 3, 8, 2, 30), "America/Chicago", count=1)
    assert moment == datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
    assert moment.astimezone(CHICAGO).hour == 3


def test_an_ambiguous_autumn_time_is_its_first_occurrence() -> None:
    [moment] = expand("FREQ=DAILY", datetime(2026, 11, 1, 1, 30), "America/Chicago", count=1)
    assert moment == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 CDT


def test_until_is_inclusive_of_the_last_local_day() -> None:
    starts = expand(
        "FREQ=WEEKLY", datetime(2026, 3, 2, 9), "America/Chicago", until=date(2026, 3, 16)
    )
    assert len(starts) == 3


def test_count_in_the_rule_is_honoured() -> None:
    assert len(expand("FREQ=WEEKLY;COUNT=4", datetime(2026, 3, 2, 9), "UTC")) == 4


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("FREQ=WEEKLY", "rrule_unbounded"),
        ("FREQ=HOURLY;COUNT=3", "rrule_freq"),
        ("FREQ=DAILY;BYHOUR=9;COUNT=2", "rrule_part_not_allowed"),
        ("FREQ=DAILY;COUNT=2;DTSTART=20260101T000000", "rrule_part_not_allowed"),
        ("FREQ=DAILY;;COUNT=2", "rrule_syntax"),
        ("freq=daily", "rrule_syntax"),
        ("FREQ=DAILY;BYDAY=XX;COUNT=2", "rrule_syntax"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(rule: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        expand(rule, datetime(2026, 3, 2, 9), "UTC")
    assert caught.value.details["fields"][0]["type"] == reason


def test_more_than_the_cap_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        expand("FREQ=DAILY", datetime(2026, 3, 2, 9), "UTC", count=MAX_OCCURRENCES + 1)
    assert caught.value.details["maximum"] == MAX_OCCURRENCES
    assert len(expand("FREQ=DAILY", datetime(2026, 3, 2, 9), "UTC", count=MAX_OCCURRENCES)) == 52


def test_start_must_be_naive_local_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        expand("FREQ=DAILY;COUNT=1", datetime(2026, 3, 2, 9, tzinfo=UTC), "UTC")
