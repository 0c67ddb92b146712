"""Reminder rules, message templates and the content control that keeps them minimal. Pure.

Controlled content (HIPAA minimum necessary): a reminder may say WHO it is for (first
name), WHEN (in the patient's own zone), FROM WHOM (practice, optionally clinician) and
WHERE to go (portal / opt-out links) — never what the appointment is for. So templates
may only use the allow-listed placeholders, and their text may not hold clinical terms.
A per-patient override may name the service only when that patient authorised it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

Channel = Literal["email", "sms"]
TemplateKind = Literal["confirmation", "reminder", "waitlist_offer"]

BASE_PLACEHOLDERS = frozenset(
    {"first_name", "appointment_time", "practice_name", "portal_link", "opt_out_link"}
)
CLINICIAN_PLACEHOLDER = "clinician_name"
SERVICE_PLACEHOLDER = "service_name"

# Word stems that disclose diagnosis, service type or treatment. Matched case-insensitively
# at the start of a word, so "therap" catches therapy, therapist, psychotherapy is caught by
# its own stem. Practices add their own service names (passed in as extra terms).
DENY_STEMS: tuple[str, ...] = (
    "therap",
    "psychotherap",
    "counsel",
    "psychiatr",
    "psycholog",
    "psychoanaly",
    "mental health",
    "behavioral health",
    "behavioural health",
    "depress",
    "anxiety",
    "anxious",
    "panic",
    "diagnos",
    "treatment",
    "medication",
    "prescri",
    "trauma",
    "ptsd",
    "bipolar",
    "schizo",
    "ocd",
    "adhd",
    "autis",
    "eating disorder",
    "anorexi",
    "bulimi",
    "substance",
    "addict",
    "alcohol",
    "detox",
    "rehab",
    "suicid",
    "self-harm",
    "grief",
    "couples",
    "marriage",
    "family session",
    "intake",
    "assessment",
    "evaluation",
    "psych",
    "emdr",
    "dbt",
    "cbt",
)

_TOKEN = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"^[a-z_]{1,40}$")
_MAX_SMS = 320  # two segments; longer SMS cost more and get split on handsets


class MessageTemplate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str | None = Field(default=None, max_length=150)
    body: str = Field(min_length=1, max_length=2000)


class ReminderRule(BaseModel):
    """Send `template` by `channel` `hours_before` the start (0 with kind confirmation:
    right after booking)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    kind: Literal["confirmation", "reminder"]
    channel: Channel
    hours_before: int = Field(default=0, ge=0, le=720)
    active: bool = True

    @model_validator(mode="after")
    def _offset(self) -> ReminderRule:
        if self.kind == "reminder" and self.hours_before < 1:
            raise ValueError("a reminder is sent at least one hour before")
        if self.kind == "confirmation" and self.hours_before != 0:
            raise ValueError("a confirmation is sent at booking (hours_before 0)")
        return self

    @property
    def template_key(self) -> str:
        return template_key(self.kind, self.channel)


class QuietHours(BaseModel):
    """No message is sent between `start` and `end` in the practice's zone (may wrap
    midnight); a due message waits for `end`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    start: time = time(21, 0)
    end: time = time(8, 0)


def template_key(kind: str, channel: str) -> str:
    return f"{kind}_{channel}"


TEMPLATE_KEYS = frozenset(
    template_key(kind, channel)
    for kind in ("confirmation", "reminder", "waitlist_offer")
    for channel in ("email", "sms")
)


def default_templates() -> dict[str, MessageTemplate]:
    when = "{appointment_time}"
    return {
        "confirmation_email": MessageTemplate(
            subject="Your appointment with {practice_name}",
            body=(
                "Hello {first_name},\n\nYour appointment on "
                + when
                + " is booked.\nDetails and changes: {portal_link}\n\n"
                "To stop email reminders: {opt_out_link}\n"
            ),
        ),
        "confirmation_sms": MessageTemplate(
            body="{practice_name}: your appointment on " + when + " is booked. Reply STOP to end."
        ),
        "reminder_email": MessageTemplate(
            subject="Reminder: your appointment with {practice_name}",
            body=(
                "Hello {first_name},\n\nThis is a reminder of your appointment on "
                + when
                + ".\nDetails and changes: {portal_link}\n\n"
                "To stop email reminders: {opt_out_link}\n"
            ),
        ),
        "reminder_sms": MessageTemplate(
            body="{practice_name}: reminder, appointment on " + when + ". Reply STOP to end."
        ),
        "waitlist_offer_email": MessageTemplate(
            subject="An earlier time is available at {practice_name}",
            body=(
                "Hello {first_name},\n\nA time on " + when + " has opened up. "
                "The first to claim it in the portal gets it: {portal_link}\n\n"
                "To stop email reminders: {opt_out_link}\n"
            ),
        ),
        "waitlist_offer_sms": MessageTemplate(
            body="{practice_name}: a time on " + when + " opened up. Claim it: {portal_link}"
        ),
    }


def default_rules() -> list[ReminderRule]:
    return [
        ReminderRule(id="confirm-email", kind="confirmation", channel="email"),
        ReminderRule(id="email-72h", kind="reminder", channel="email", hours_before=72),
        ReminderRule(id="sms-24h", kind="reminder", channel="sms", hours_before=24),
    ]


class ReminderSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: list[ReminderRule] = Field(default_factory=default_rules, max_length=10)
    templates: dict[str, MessageTemplate] = Field(default_factory=default_templates)
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    # May a reminder name the clinician? Off by default: a clinician's name can disclose
    # the kind of care (a known psychiatrist's name, say).
    allow_clinician_name: bool = False
    # Calendar feeds may show patient initials instead of "Appointment" (off by default).
    feed_patient_initials: bool = False
    # The practice's SMS number (E.164): inbound STOP replies must be addressed to it.
    sms_number: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    version: int = 0  # 0 = never saved (the defaults)

    @model_validator(mode="after")
    def _rules_have_templates(self) -> ReminderSettings:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        return self


# ---- content control ---------------------------------------------------------------------


@dataclass(frozen=True)
class ContentProblem:
    path: str
    type: str
    message: str

    def as_detail(self) -> dict[str, str]:
        return {"path": self.path, "type": self.type, "message": self.message}


def allowed_placeholders(*, clinician_name: bool, service_name: bool = False) -> frozenset[str]:
    allowed = set(BASE_PLACEHOLDERS)
    if clinician_name:
        allowed.add(CLINICIAN_PLACEHOLDER)
    if service_name:
        allowed.add(SERVICE_PLACEHOLDER)
    return frozenset(allowed)


def _word_start(text: str, term: str) -> bool:
    return re.search(r"(?<![a-z])" + re.escape(term), text) is not None


def check_text(
    text: str,
    path: str,
    *,
    allowed: frozenset[str],
    clinical_terms_ok: bool,
    extra_terms: Iterable[str] = (),
) -> list[ContentProblem]:
    """Every reason `text` may not be saved (empty when it may)."""
    problems: list[ContentProblem] = []
    for match in _TOKEN.finditer(text):
        name = match.group(1)
        if not _NAME.match(name):
            # {x!r}, {x:>9}, {x.attr}: format machinery is never run on templates.
            problems.append(ContentProblem(path, "placeholder_malformed", "Use {name} only."))
        elif name not in allowed:
            problems.append(
                ContentProblem(
                    path,
                    "placeholder_not_allowed",
                    f"Placeholder {{{name}}} is not allowed; use: "
                    + ", ".join("{" + a + "}" for a in sorted(allowed)),
                )
            )
    stripped = _TOKEN.sub("", text)
    if "{" in stripped or "}" in stripped:
        problems.append(ContentProblem(path, "unbalanced_brace", "Braces must enclose a name."))
    if not clinical_terms_ok:
        lowered = stripped.lower()
        terms = [*DENY_STEMS, *(t.lower().strip() for t in extra_terms if t.strip())]
        hits = sorted({t for t in terms if _word_start(lowered, t)})
        if hits:
            # The terms are ours (deny-list / service names), not the submitted text.
            problems.append(
                ContentProblem(
                    path,
                    "clinical_content",
                    "Reminders may not name a diagnosis, service or treatment: "
                    + ", ".join(hits[:5]),
                )
            )
    return problems


def check_templates(
    templates: Mapping[str, MessageTemplate],
    *,
    path: str,
    allow_clinician_name: bool,
    may_name_service: bool = False,
    extra_terms: Iterable[str] = (),
) -> list[ContentProblem]:
    allowed = allowed_placeholders(
        clinician_name=allow_clinician_name, service_name=may_name_service
    )
    terms = list(extra_terms)
    problems: list[ContentProblem] = []
    for key, template in sorted(templates.items()):
        where = f"{path}.{key}"
        if key not in TEMPLATE_KEYS:
            problems.append(ContentProblem(where, "unknown_template", "Unknown template name."))
            continue
        channel = key.rsplit("_", 1)[1]
        if channel == "email" and not template.subject:
            problems.append(ContentProblem(f"{where}.subject", "missing", "Needs a subject."))
        if channel == "sms" and template.subject:
            problems.append(ContentProblem(f"{where}.subject", "not_allowed", "No SMS subject."))
        if channel == "sms" and len(template.body) > _MAX_SMS:
            problems.append(ContentProblem(f"{where}.body", "too_long", "SMS is 320 characters."))
        for part in ("subject", "body"):
            value = getattr(template, part)
            if value:
                problems += check_text(
                    value,
                    f"{where}.{part}",
                    allowed=allowed,
                    clinical_terms_ok=may_name_service,
                    extra_terms=terms,
                )
    return problems


def check_settings(
    settings: ReminderSettings, *, extra_terms: Iterable[str] = ()
) -> list[ContentProblem]:
    problems = check_templates(
        settings.templates,
        path="body.templates",
        allow_clinician_name=settings.allow_clinician_name,
        extra_terms=extra_terms,
    )
    for index, rule in enumerate(settings.rules):
        if rule.template_key not in settings.templates:
            problems.append(
                ContentProblem(
                    f"body.rules.{index}", "missing_template", "No template for this rule."
                )
            )
    return problems


# ---- rendering ---------------------------------------------------------------------------


def format_local_time(moment: datetime, zone: str) -> str:
    """'Tuesday, March 10, 2026 at 2:00 PM CDT' in the patient's zone (DST-aware)."""
    local = moment.astimezone(ZoneInfo(zone))
    hour = local.hour % 12 or 12
    return (
        f"{local:%A}, {local:%B} {local.day}, {local.year} at "
        f"{hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'} {local.tzname()}"
    )


def render(text: str, values: Mapping[str, str]) -> str:
    """Substitutes {name} tokens from `values` only. Templates were checked on save; an
    unknown token here renders empty rather than leaking anything."""
    return _TOKEN.sub(lambda m: values.get(m.group(1), ""), text)


# ---- timing ------------------------------------------------------------------------------


def due_at(rule: ReminderRule, start: datetime, booked_at: datetime) -> datetime | None:
    """When the rule's message is due, or None when it is already too late to be useful."""
    if rule.kind == "confirmation":
        return booked_at
    due = start - timedelta(hours=rule.hours_before)
    return due if due >= booked_at else None


def in_quiet_hours(moment: datetime, quiet: QuietHours, zone: str) -> bool:
    if not quiet.enabled or quiet.start == quiet.end:
        return False
    local = moment.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


def quiet_hours_end(moment: datetime, quiet: QuietHours, zone: str) -> datetime:
    """`moment` if outside quiet hours, else the next end of quiet hours (as UTC)."""
    if not in_quiet_hours(moment, quiet, zone):
        return moment
    tz = ZoneInfo(zone)
    local = moment.astimezone(tz)
    day = local.date()
    if local.time().replace(tzinfo=None) >= quiet.end:
        day += timedelta(days=1)
    # A wall-clock time in a DST gap does not exist; round-tripping through UTC moves it
    # forward by the gap, which is what "when quiet hours end" means then.
    end = datetime.combine(day, quiet.end, tzinfo=tz)
    return end.astimezone(UTC).astimezone(tz).astimezone(UTC)


def retry_delay(attempt: int) -> timedelta:
    """Backoff after failed attempt `attempt` (1-based): 1, 4, 16, 64 minutes..."""
    return timedelta(minutes=min(4 ** (attempt - 1), 240))


MAX_ATTEMPTS = 5


def initials(first: str | None, last: str | None) -> str:
    return "".join(p[0].upper() + "." for p in (first, last) if p)
