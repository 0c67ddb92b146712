"""The practice's secure-messaging policy: business hours, the expected response time and
escalation, the after-hours auto-reply (with crisis resources), record retention, and the
wording of the "a message is waiting" notifications. Pure: no I/O.

Notifications say only that a secure message is waiting and where to read it: their text
goes through the reminder content linter (tpm.domain.reminders.check_text), so a practice
cannot make them name a diagnosis, a service or a treatment, and the only placeholders are
the practice's name and the portal link.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tpm.domain.reminders import ContentProblem, check_text

NOTIFICATION_PLACEHOLDERS = frozenset({"practice_name", "portal_link"})
MAX_SMS = 320

DEFAULT_AUTO_REPLY = (
    "Thank you for your message. Our office is closed right now; we read messages during "
    "business hours and will reply as soon as we can. Secure messages are not watched "
    "around the clock. If you are in crisis or thinking about harming yourself, call or "
    "text 988 (Suicide & Crisis Lifeline, US) now. In an emergency, call 911 or go to the "
    "nearest emergency room."
)


class BusinessHours(BaseModel):
    """One opening window on a weekday (0 = Monday), in the practice's time zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weekday: int = Field(ge=0, le=6)
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError("a window ends after it starts (same day)")
        return self


def default_hours() -> list[BusinessHours]:
    return [BusinessHours(weekday=d, start=time(9), end=time(17)) for d in range(5)]


class MessagingSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    business_hours: list[BusinessHours] = Field(default_factory=default_hours, max_length=21)
    # Whole days the office is closed (holidays), in the practice's zone.
    closed_dates: list[date] = Field(default_factory=list, max_length=60)
    # An unanswered patient message moves to the practice queue after this long.
    expected_response_hours: int = Field(default=48, ge=1, le=336)
    escalation_enabled: bool = True
    # Shown to a patient writing outside business hours, and posted once into the thread.
    auto_reply_text: str = Field(default=DEFAULT_AUTO_REPLY, min_length=20, max_length=1500)
    # Messages are part of the record: kept at least this long after a thread's last
    # activity (never less than six years). Nothing is deleted inside retention.
    retention_years: int = Field(default=7, ge=6, le=100)
    # Email staff participants when a patient writes (the text says only that one waits).
    notify_staff: bool = True
    notification_subject: str = Field(
        default="You have a new secure message from {practice_name}", min_length=5, max_length=150
    )
    notification_body: str = Field(
        default=(
            "You have a new secure message from {practice_name}.\n\n"
            "Sign in to read it: {portal_link}\n\n"
            "For your privacy, messages are never sent by email.\n"
        ),
        min_length=10,
        max_length=1000,
    )
    notification_sms: str = Field(
        default="{practice_name}: you have a new secure message. Sign in to read it: {portal_link}",
        min_length=10,
        max_length=MAX_SMS,
    )


def check_notification_text(settings: MessagingSettings) -> list[ContentProblem]:
    """Every reason the practice's notification wording may not be saved: only the two
    placeholders, and no clinical terms (the reminder linter's deny-list)."""
    problems: list[ContentProblem] = []
    for name in ("notification_subject", "notification_body", "notification_sms"):
        problems += check_text(
            getattr(settings, name),
            f"body.settings.messaging.{name}",
            allowed=NOTIFICATION_PLACEHOLDERS,
            clinical_terms_ok=False,
        )
    for name in ("notification_body", "notification_sms"):
        if "{portal_link}" not in getattr(settings, name):
            problems.append(
                ContentProblem(
                    f"body.settings.messaging.{name}",
                    "portal_link_required",
                    "Say where to read the message: include {portal_link}.",
                )
            )
    return problems


# ---- business hours -----------------------------------------------------------------------


def is_open(settings: MessagingSettings, moment: datetime, zone: str) -> bool:
    """Is the office open at `moment` (business hours, not a closed date)?"""
    local = moment.astimezone(ZoneInfo(zone))
    if local.date() in settings.closed_dates:
        return False
    now = local.time().replace(tzinfo=None)
    return any(
        w.weekday == local.weekday() and w.start <= now < w.end for w in settings.business_hours
    )


def next_opening(settings: MessagingSettings, moment: datetime, zone: str) -> datetime | None:
    """When the office next opens (UTC), or None when it never does (no hours set). An
    open office "opens" now."""
    if is_open(settings, moment, zone):
        return moment
    tz = ZoneInfo(zone)
    local = moment.astimezone(tz)
    for offset in range(0, 400):
        day = local.date() + timedelta(days=offset)
        if day in settings.closed_dates:
            continue
        starts = sorted(w.start for w in settings.business_hours if w.weekday == day.weekday())
        for start in starts:
            # Round-tripping through UTC moves a wall time in a DST gap forward by the gap.
            at = datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
            if at > moment:
                return at
    return None
