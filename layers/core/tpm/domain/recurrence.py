"""Recurring series: RFC 5545 RRULEs expanded with python-dateutil. Pure.

Expansion happens on naive wall-clock times in the clinician's zone and each occurrence is
then placed in that zone, so "Mondays 09:00 America/Chicago" stays 09:00 local across a
DST change (its UTC hour moves). A time that falls in a spring-forward gap takes the offset
before the gap, as RFC 5545 3.3.5 says (02:30 on 2026-03-08 Chicago is 03:30 CDT).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from tpm.domain.scheduling import utc
from tpm.errors import ValidationFailed

MAX_OCCURRENCES = 52
# Only date-level recurrence: the time of day is the series' start time.
_ALLOWED_PARTS = frozenset(
    {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST"}
)
_FREQS = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_RULE_TEXT = re.compile(r"^[A-Z0-9=;,+\-]{1,200}$")


def invalid(reason: str) -> ValidationFailed:
    return ValidationFailed(fields=[{"path": "body.rrule", "type": reason}])


def parse_rule(text: str) -> dict[str, str]:
    """RRULE parts by name; anything beyond date-level recurrence is refused (422)."""
    text = text.removeprefix("RRULE:")
    if not _RULE_TEXT.match(text):
        raise invalid("rrule_syntax")
    parts: dict[str, str] = {}
    for piece in text.split(";"):
        name, sep, value = piece.partition("=")
        if not sep or not value or name in parts:
            raise invalid("rrule_syntax")
        if name not in _ALLOWED_PARTS:
            raise invalid("rrule_part_not_allowed")
        parts[name] = value
    if parts.get("FREQ") not in _FREQS:
        raise invalid("rrule_freq")
    return parts


def expand(
    rule_text: str,
    start_local: datetime,
    zone_name: str,
    *,
    count: int | None = None,
    until: date | None = None,
    limit: int = MAX_OCCURRENCES,
) -> list[datetime]:
    """The occurrences' UTC start times. `start_local` is naive wall-clock time in
    `zone_name` and is itself the first occurrence if it matches the rule. Needs a COUNT
    or UNTIL (in the rule or as arguments); more than `limit` occurrences is refused."""
    if start_local.tzinfo is not None:
        raise ValueError("start_local is a naive local time")
    parts = parse_rule(rule_text)
    zone = ZoneInfo(zone_name)
    try:
        rule = rrulestr(rule_text.removeprefix("RRULE:"), dtstart=start_local)
    except (ValueError, TypeError) as exc:
        raise invalid("rrule_syntax") from exc
    assert isinstance(rule, rrule)
    if count is not None:
        rule = rule.replace(count=count, until=None)
    elif until is not None:
        rule = rule.replace(until=datetime.combine(until, time.max), count=None)
    elif "COUNT" not in parts and "UNTIL" not in parts:
        raise invalid("rrule_unbounded")
    local_times = list(islice(rule, limit + 1))
    if len(local_times) > limit:
        raise ValidationFailed(
            fields=[{"path": "body.rrule", "type": "too_many_occurrences"}], maximum=limit
        )
    if not local_times:
        raise invalid("rrule_no_occurrences")
    return [utc(moment.replace(tzinfo=zone)) for moment in local_times]
