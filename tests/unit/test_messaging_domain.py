"""Messaging's pure rules: business hours across DST and holidays, the auto-reply, the
notification wording the reminder linter allows, retention dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from tpm.domain.messaging import (
    AuthorKind,
    MessagingRuleError,
    Thread,
    ThreadKind,
    auto_reply_due,
    check_attachment_sizes,
    check_recipients,
    retain_until,
)
from tpm.domain.messaging_settings import (
    BusinessHours,
    MessagingSettings,
    check_notification_text,
    is_open,
    next_opening,
)

CHICAGO = "America/Chicago"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_office_hours_in_the_practice_zone_and_closed_dates() -> None:
    settings = MessagingSettings(closed_dates=[date(2026, 12, 25)])
    assert is_open(settings, at("2026-12-07T09:00:00-06:00"), CHICAGO)  # Monday 9:00
    assert not is_open(settings, at("2026-12-07T08:59:00-06:00"), CHICAGO)
    assert not is_open(settings, at("2026-12-07T17:00:00-06:00"), CHICAGO)  # end excluded
    assert not is_open(settings, at("2026-12-12T11:00:00-06:00"), CHICAGO)  # Saturday
    assert not is_open(settings, at("2026-12-25T11:00:00-06:00"), CHICAGO)  # holiday
    # Friday evening -> Monday 9:00 local; Christmas Eve evening -> the 28th (25th closed).
    assert next_opening(settings, at("2026-12-11T18:00:00-06:00"), CHICAGO) == at(
        "2026-12-14T09:00:00-06:00"
    )
    assert next_opening(settings, at("2026-12-24T18:00:00-06:00"), CHICAGO) == at(
        "2026-12-28T09:00:00-06:00"
    )


def test_next_opening_follows_the_wall_clock_across_dst() -> None:
    settings = MessagingSettings()
    # Saturday before the spring change: Monday 9:00 is CDT (UTC-5), not CST.
    opens = next_opening(settings, at("2027-03-13T12:00:00-06:00"), CHICAGO)
    assert opens == at("2027-03-15T09:00:00-05:00")
    assert (
        next_opening(MessagingSettings(business_hours=[]), at("2027-03-13T12:00:00-06:00"), CHICAGO)
        is None
    )


def test_a_window_ends_after_it_starts() -> None:
    with pytest.raises(ValueError, match="ends after it starts"):
        BusinessHours(weekday=0, start=time(17), end=time(9))


def test_notification_wording_passes_the_reminder_linter() -> None:
    assert check_notification_text(MessagingSettings()) == []
    bad = MessagingSettings(
        notification_subject="Your therapy message from {clinician_name}",
        notification_body="Your depression screening results are in. {practice_name}",
        notification_sms="{practice_name}: counseling update {portal_link}",
    )
    found = {(p.path.rsplit(".", 1)[1], p.type) for p in check_notification_text(bad)}
    assert found == {
        ("notification_subject", "placeholder_not_allowed"),
        ("notification_subject", "clinical_content"),
        ("notification_body", "clinical_content"),
        ("notification_body", "portal_link_required"),
        ("notification_sms", "clinical_content"),
    }


def thread(**changes: object) -> Thread:
    now = datetime(2026, 12, 7, 16, tzinfo=UTC)
    base = Thread(
        id="thr_" + "0" * 26,
        kind=ThreadKind.PATIENT,
        patient_id="pat_1",
        subject="s",
        patient_name="p",
        created_by="u",
        created_at=now,
        last_message_at=now,
        last_author_kind=AuthorKind.PATIENT,
    )
    return base.model_copy(update=changes)


def test_auto_reply_only_when_closed_and_at_most_every_twelve_hours() -> None:
    now = datetime(2026, 12, 12, 20, tzinfo=UTC)
    assert auto_reply_due(thread(), now, office_open=False)
    assert not auto_reply_due(thread(), now, office_open=True)
    assert not auto_reply_due(thread(kind=ThreadKind.STAFF), now, office_open=False)
    recent = thread(auto_replied_at=now - timedelta(hours=11))
    assert not auto_reply_due(recent, now, office_open=False)
    assert auto_reply_due(thread(auto_replied_at=now - timedelta(hours=12)), now, False)


def test_recipients_attachments_and_retention() -> None:
    assert check_recipients(["a", "b", "a"], ["a", "b"]) == ("a", "b")
    with pytest.raises(MessagingRuleError) as refused:
        check_recipients(["a", "z"], ["a"])
    assert refused.value.fields == [("recipient_ids.1", "not_allowed_recipient")]
    with pytest.raises(MessagingRuleError):
        check_attachment_sizes([1, 1, 1, 1])
    with pytest.raises(MessagingRuleError):
        check_attachment_sizes([3 * 1024 * 1024, 2 * 1024 * 1024])
    leap = datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert retain_until(leap, 7) == datetime(2035, 2, 28, 12, tzinfo=UTC)
