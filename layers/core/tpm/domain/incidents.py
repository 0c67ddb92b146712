"""Security incidents and breaches (45 CFR 164.308(a)(6), 164.402-164.414). Pure.

An incident is opened from a source (a message flagged as an inappropriate disclosure, a
failed audit-trail verification, a break-glass use found unjustified on review, an access
review finding, a vendor's breach report, or by hand), with who reported it, when it was
discovered and what happened. The privacy/compliance officer then records the four-factor
risk assessment of 164.402(2) and a determination:

  not_phi         a security incident that involved no PHI (no breach analysis needed)
  not_a_breach    PHI was involved but the assessment shows a low probability that it
                  was compromised
  breach          notification is required

For a breach the notification deadlines run from DISCOVERY (164.404(a)(2): the first day
the breach is known, or by reasonable diligence would have been known):
  individuals  without unreasonable delay, at the latest 60 days after discovery (164.404)
  HHS          500 or more people: with the individual notices (60 days); fewer: in the
               practice's annual log, within 60 days after the end of the calendar year of
               discovery (164.408(c))
  media        more than 500 residents of a state: 60 days (164.406); tpm cannot tell
               residence, so it asks for media notice when more than 500 people are affected
An incident closes only with a determination, and a breach only once every notice it
needs is recorded. Free text (summary, details, factor notes) may contain PHI: the
repository seals it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tpm.errors import Conflict, ValidationFailed

NOTIFICATION_DAYS: Final = 60
LARGE_BREACH: Final = 500  # 164.408(b): notify HHS with the individuals at 500 or more


class IncidentSource(StrEnum):
    MANUAL = "manual"
    MESSAGING_ESCALATION = "messaging_escalation"
    AUDIT_VERIFICATION = "audit_verification"
    BREAK_GLASS_REVIEW = "break_glass_review"
    ACCESS_REVIEW = "access_review"
    VENDOR_REPORT = "vendor_report"


class IncidentStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Determination(StrEnum):
    UNDETERMINED = "undetermined"
    NOT_PHI = "not_phi"
    NOT_A_BREACH = "not_a_breach"
    BREACH = "breach"


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class NotificationKind(StrEnum):
    INDIVIDUALS = "individuals"
    HHS = "hhs"
    MEDIA = "media"


class InvalidIncidentState(Conflict):
    code = "invalid_incident_state"
    message = "The incident is not in a state that allows this."


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RiskFactor(_Frozen):
    level: RiskLevel
    notes: str = Field(default="", max_length=4000)


class RiskAssessment(_Frozen):
    """The four factors of 164.402(2), at least."""

    nature_and_extent: RiskFactor  # (i) the PHI involved: identifiers, re-identification
    unauthorized_person: RiskFactor  # (ii) who used it or received it
    acquired_or_viewed: RiskFactor  # (iii) whether it was actually acquired or viewed
    mitigation: RiskFactor  # (iv) how far the risk has been mitigated
    determination: Determination
    rationale: str = Field(default="", max_length=8000)
    assessed_by: str
    assessed_at: datetime

    @property
    def factors(self) -> dict[str, RiskFactor]:
        return {
            "nature_and_extent": self.nature_and_extent,
            "unauthorized_person": self.unauthorized_person,
            "acquired_or_viewed": self.acquired_or_viewed,
            "mitigation": self.mitigation,
        }


class NotificationRecord(_Frozen):
    kind: NotificationKind
    sent_on: date
    recipients: int | None = Field(default=None, ge=0)
    method: str = Field(default="", max_length=200)  # "first-class mail", "HHS portal", …
    notes: str = Field(default="", max_length=4000)
    recorded_by: str
    recorded_at: datetime


class Incident(_Frozen):
    id: str = Field(pattern=r"^inc_[0-9a-z]{26}$")
    source: IncidentSource
    reference: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:@#-]{1,128}$")
    summary: str = Field(min_length=1, max_length=300)
    details: str = Field(default="", max_length=20_000)
    discovered_at: datetime
    reported_at: datetime
    reported_by: str  # a user id, or a system actor's name
    patient_ids: tuple[str, ...] = ()
    affected_count: int | None = Field(default=None, ge=0)
    vendor_id: str | None = None
    status: IncidentStatus = IncidentStatus.OPEN
    assessment: RiskAssessment | None = None
    notifications: tuple[NotificationRecord, ...] = ()
    closed_at: datetime | None = None
    closed_by: str | None = None
    close_reason: str = Field(default="", max_length=4000)
    dedupe_key: str | None = Field(default=None, pattern=r"^[a-z0-9_.:#-]{1,128}$")
    version: int = Field(default=1, ge=1)

    @field_validator("discovered_at", "reported_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone")
        return value.astimezone(UTC)

    @property
    def determination(self) -> Determination:
        return self.assessment.determination if self.assessment else Determination.UNDETERMINED

    @property
    def people_affected(self) -> int:
        if self.affected_count is not None:
            return self.affected_count
        return len(self.patient_ids)

    def bump(self, **changes: object) -> Incident:
        return self.model_copy(update={**changes, "version": self.version + 1})


class Deadline(_Frozen):
    kind: NotificationKind
    due: date
    done_on: date | None

    def overdue(self, today: date) -> bool:
        return self.done_on is None and today > self.due


def notification_deadline(incident: Incident) -> date:
    """60 calendar days after discovery: the latest date for individual notices."""
    return incident.discovered_at.date() + timedelta(days=NOTIFICATION_DAYS)


def deadlines(incident: Incident) -> list[Deadline]:
    """The notices this incident needs and by when. Until a determination is made the
    individual-notice clock is shown (it runs from discovery whatever the outcome)."""
    determination = incident.determination
    if determination in (Determination.NOT_PHI, Determination.NOT_A_BREACH):
        return []
    done = {n.kind: n.sent_on for n in incident.notifications}
    sixty = notification_deadline(incident)

    def due_by(kind: NotificationKind, when: date) -> Deadline:
        return Deadline(kind=kind, due=when, done_on=done.get(kind))

    due = [due_by(NotificationKind.INDIVIDUALS, sixty)]
    if determination is Determination.BREACH:
        people = incident.people_affected
        year_end = date(incident.discovered_at.year, 12, 31)
        after_year = year_end + timedelta(days=NOTIFICATION_DAYS)
        due.append(due_by(NotificationKind.HHS, sixty if people >= LARGE_BREACH else after_year))
        if people > LARGE_BREACH:
            due.append(due_by(NotificationKind.MEDIA, sixty))
    return due


def check_assessment(assessment: RiskAssessment) -> None:
    """An officer may find "not a breach" only with reasons when any factor is high."""
    if assessment.determination is Determination.UNDETERMINED:
        raise ValidationFailed(
            fields=[{"path": "body.determination", "type": "determination_required"}]
        )
    high = any(f.level is RiskLevel.HIGH for f in assessment.factors.values())
    if (
        assessment.determination is Determination.NOT_A_BREACH
        and high
        and not assessment.rationale.strip()
    ):
        raise ValidationFailed(fields=[{"path": "body.rationale", "type": "rationale_required"}])


def closing_problem(incident: Incident) -> str | None:
    """Why the incident cannot be closed yet (a stable code), or None."""
    if incident.status is IncidentStatus.CLOSED:
        return "already_closed"
    if incident.assessment is None:
        return "assessment_required"
    if any(d.done_on is None for d in deadlines(incident)):
        return "notifications_outstanding"
    return None
