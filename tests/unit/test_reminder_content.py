"""Reminder templates: the placeholder allow-list, the clinical-term deny-list, rendering in
the patient's zone (DST included), quiet hours and due times."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from tpm.domain.reminders import (
    MessageTemplate,
    QuietHours,
    ReminderRule,
    ReminderSettings,
    check_settings,
    check_templates,
    due_at,
    format_local_time,
    in_quiet_hours,
    quiet_hours_end,
    render,
    retry_delay,
)


def problems(body: str, *, clinician: bool = False, service_ok: bool = False, terms=()):  # type: ignore[no-untyped-def]
    found = check_templates(
        {"reminder_sms": MessageTemplate(body=body)},
        path="body.templates",
        allow_clinician_name=clinician,
        may_name_service=service_ok,
        extra_terms=terms,
    )
    return [(p.path, p.type) for p in found]


def test_default_settings_pass_content_control() -> None:
    assert check_settings(ReminderSettings()) == []


def test_allowed_placeholders_pass() -> None:
    assert problems("{practice_name}: {first_name}, {appointment_time}. {portal_link}") == []


@pytest.mark.parametrize("name", ["service_name", "diagnosis", "note", "last_name", "dob"])
def test_other_placeholders_are_refused_with_the_field(name: str) -> None:
    assert problems(f"Hi {{first_name}}, about your {{{name}}}") == [
        ("body.templates.reminder_sms.body", "placeholder_not_allowed")
    ]


def test_clinician_name_only_when_the_practice_allows_it() -> None:
    text = "See {clinician_name} on {appointment_time}"
    assert problems(text) == [("body.templates.reminder_sms.body", "placeholder_not_allowed")]
    assert problems(text, clinician=True) == []


@pytest.mark.parametrize(
    "text",
    [
        "Your therapy session is tomorrow",
        "Reminder: counseling with us",
        "Your Psychiatric follow-up",
        "Bring your anxiety worksheet",
        "Depression group meets {appointment_time}",
        "Your treatment plan review",
        "Diagnosis review",
        "Meet your therapist",
    ],
)
def test_clinical_terms_are_refused(text: str) -> None:
    assert problems(text) == [("body.templates.reminder_sms.body", "clinical_content")]


def test_practice_service_names_are_refused_too() -> None:
    assert problems("Your Sandtray Play visit", terms=["Sandtray Play"]) == [
        ("body.templates.reminder_sms.body", "clinical_content")
    ]


def test_words_that_merely_contain_a_stem_pass() -> None:
    # "dbt" / "ocd" inside other words, "end" etc. are not clinical terms.
    assert problems("Your appointment is tomorrow; reply STOP to end.") == []


@pytest.mark.parametrize(
    "text", ["{first_name!r}", "{first_name:>40}", "{first_name.__class__}", "{", "}{"]
)
def test_format_machinery_is_refused(text: str) -> None:
    assert problems(text) != []


def test_a_consented_override_may_name_the_service() -> None:
    text = "Your {service_name} (therapy) is on {appointment_time}"
    assert problems(text, service_ok=True) == []
    assert {t for _, t in problems(text)} == {"placeholder_not_allowed", "clinical_content"}


def test_email_needs_a_subject_and_sms_has_none() -> None:
    found = check_templates(
        {
            "reminder_email": MessageTemplate(body="Hi {first_name}"),
            "reminder_sms": MessageTemplate(subject="x", body="Hi"),
            "reminder_fax": MessageTemplate(body="Hi"),
        },
        path="body.templates",
        allow_clinician_name=False,
    )
    assert [(p.path, p.type) for p in found] == [
        ("body.templates.reminder_email.subject", "missing"),
        ("body.templates.reminder_fax", "unknown_template"),
        ("body.templates.reminder_sms.subject", "not_allowed"),
    ]


def test_a_rule_without_its_template_is_refused() -> None:
    settings = ReminderSettings(templates={})
    assert {p.type for p in check_settings(settings)} == {"missing_template"}


def test_render_substitutes_only_given_values() -> None:
    assert render("Hi {first_name}{x}", {"first_name": "Ada", "y": "z"}) == "Hi Ada"


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        # US DST began 2026-03-08 at 02:00 local: the same UTC hour reads differently.
        (
            datetime(2026, 3, 7, 16, 0, tzinfo=UTC),
            "America/Chicago",
            "Saturday, March 7, 2026 at 10:00 AM CST",
        ),
        (
            datetime(2026, 3, 9, 16, 0, tzinfo=UTC),
            "America/Chicago",
            "Monday, March 9, 2026 at 11:00 AM CDT",
        ),
        (
            datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
            "America/Chicago",
            "Sunday, November 1, 2026 at 1:30 AM CDT",
        ),
        (
            datetime(2026, 11, 1, 7, 30, tzinfo=UTC),
            "America/Chicago",
            "Sunday, November 1, 2026 at 1:30 AM CST",
        ),
        (
            datetime(2026, 3, 9, 16, 0, tzinfo=UTC),
            "Europe/Berlin",
            "Monday, March 9, 2026 at 5:00 PM CET",
        ),
        (
            datetime(2026, 3, 9, 0, 5, tzinfo=UTC),
            "America/Los_Angeles",
            "Sunday, March 8, 2026 at 5:05 PM PDT",
        ),
    ],
)
def test_time_is_rendered_in_the_patients_zone(moment: datetime, zone: str, expected: str) -> None:
    assert format_local_time(moment, zone) == expected


QUIET = QuietHours(start=time(21, 0), end=time(8, 0))


def test_quiet_hours_wrap_midnight_in_the_practice_zone() -> None:
    zone = "America/Chicago"
    assert in_quiet_hours(datetime(2026, 1, 6, 4, 0, tzinfo=UTC), QUIET, zone)  # 22:00 CST
    assert in_quiet_hours(datetime(2026, 1, 6, 13, 59, tzinfo=UTC), QUIET, zone)  # 07:59
    assert not in_quiet_hours(datetime(2026, 1, 6, 14, 0, tzinfo=UTC), QUIET, zone)  # 08:00
    assert not in_quiet_hours(
        datetime(2026, 1, 6, 4, 0, tzinfo=UTC), QuietHours(enabled=False), zone
    )


def test_quiet_hours_end_across_the_dst_change() -> None:
    # 22:00 CST on Saturday 7 March; quiet hours end at 08:00 CDT on Sunday = 13:00 UTC.
    at = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)
    assert quiet_hours_end(at, QUIET, "America/Chicago") == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)
    # Outside quiet hours nothing moves.
    noon = datetime(2026, 3, 8, 18, 0, tzinfo=UTC)
    assert quiet_hours_end(noon, QUIET, "America/Chicago") == noon


def test_due_times() -> None:
    start = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    booked = datetime(2026, 3, 8, 15, 0, tzinfo=UTC)
    confirm = ReminderRule(id="c", kind="confirmation", channel="email")
    day = ReminderRule(id="d", kind="reminder", channel="sms", hours_before=24)
    three = ReminderRule(id="t", kind="reminder", channel="email", hours_before=72)
    assert due_at(confirm, start, booked) == booked
    assert due_at(day, start, booked) == start - timedelta(hours=24)
    assert due_at(three, start, booked) is None  # already past when booked


def test_rules_validate_their_offsets() -> None:
    with pytest.raises(ValueError, match="at least one hour"):
        ReminderRule(id="x", kind="reminder", channel="sms", hours_before=0)
    with pytest.raises(ValueError, match="at booking"):
        ReminderRule(id="x", kind="confirmation", channel="sms", hours_before=2)


def test_retry_backoff_grows() -> None:
    assert [retry_delay(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 4, 16, 64]
