from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tpm.local.schedule_expr import Cron, Rate, ScheduleError, parse

T0 = datetime(2026, 3, 7, 23, 58, 30, tzinfo=UTC)  # a Saturday


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
    ],
)
def test_rate(expression: str, seconds: int) -> None:
    parsed = parse(expression)
    assert isinstance(parsed, Rate)
    assert (parsed.next_after(T0) - T0).total_seconds() == seconds


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 12 * * ? *)", datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
        ("cron(*/15 * * * ? *)", datetime(2026, 3, 8, 0, 0, tzinfo=UTC)),
        ("cron(0 9 ? * MON-FRI *)", datetime(2026, 3, 9, 9, 0, tzinfo=UTC)),  # skips Sunday
        ("cron(0 9 ? * 2 *)", datetime(2026, 3, 9, 9, 0, tzinfo=UTC)),  # 2 = Monday
        ("cron(30 6 1 * ? *)", datetime(2026, 4, 1, 6, 30, tzinfo=UTC)),
        ("cron(0 0 29 2 ? *)", datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),  # next leap day
        ("cron(59 23 * * ? 2026)", datetime(2026, 3, 7, 23, 59, tzinfo=UTC)),
    ],
)
def test_cron_next(expression: str, expected: datetime) -> None:
    parsed = parse(expression)
    assert isinstance(parsed, Cron)
    assert parsed.next_after(T0) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "rate(0 minutes)",
        "rate(5 minute)",
        "rate(1 minutes)",
        "rate(5 weeks)",
        "cron(0 12 * * *)",  # five fields
        "cron(0 12 * * * *)",  # neither day field is ?
        "cron(0 12 L * ? *)",
        "cron(0 12 ? * 2#1 *)",
        "cron(61 12 * * ? *)",
        "every day",
    ],
)
def test_invalid_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse(expression)


def test_cron_that_never_fires_is_an_error() -> None:
    parsed = parse("cron(0 0 31 2 ? *)")
    with pytest.raises(ScheduleError):
        parsed.next_after(T0)
