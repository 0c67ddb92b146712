"""Proxy (personal representative) portal access: a guardian, a parent of a minor or a
healthcare power of attorney who uses the portal for a patient. Pure models and rules.

A grant names one proxy account and one patient, why the proxy may act (the relationship
and its documented basis), what for (scopes) and until when. Whether it lets the proxy in
right now is decided here, from the grant, the patient's date of birth, the practice's age
of majority and the clinician's per-patient restriction — never from the grant alone:

  revoked            staff ended it (at once: checked on every request)
  expired            past its end date
  reached_majority   a parent-of-a-minor grant ends, by itself, on the patient's birthday
                     at the practice's age of majority (renewing means re-basing it on
                     an adult's representative: legal guardian or power of attorney)
  out_of_scope       the grant does not cover the area (messaging, appointments, billing)
  restricted         the clinician limited proxies to scheduling and billing (a minor's
                     confidential consent-to-treatment items): messaging is closed

What a proxy never sees, whatever the grant: psychotherapy notes, clinical notes, measures,
documents, staff threads and the patient's own threads (only threads marked visible to
proxies) — the proxy role holds no action that reaches them.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_AGE_OF_MAJORITY = 18
MAX_BASIS = 1000


class ProxyRelationship(StrEnum):
    PARENT_OF_MINOR = "parent_of_minor"
    LEGAL_GUARDIAN = "legal_guardian"
    HEALTHCARE_POA = "healthcare_poa"


class ProxyScope(StrEnum):
    MESSAGING = "messaging"
    APPOINTMENTS = "appointments"
    BILLING = "billing"


# What is left to a proxy when the clinician restricts proxy access for a patient.
RESTRICTED_TO = frozenset({ProxyScope.APPOINTMENTS, ProxyScope.BILLING})


class ProxyStatus(StrEnum):
    """The grant as staff see it (computed, never stored)."""

    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    REACHED_MAJORITY = "reached_majority"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProxyGrant(_Model):
    id: str = Field(pattern=r"^pxy_[0-9a-z]{26}$")
    patient_id: str
    proxy_user_id: str
    relationship: ProxyRelationship
    basis: str = Field(min_length=1, max_length=MAX_BASIS)  # sealed: the documented basis
    scopes: tuple[ProxyScope, ...] = Field(min_length=1)
    ends_on: date | None = None  # the last day of access (practice time), if any
    invited_by: str
    invited_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    version: int = 1


class ProxyRestriction(_Model):
    """The clinician's per-patient flag: proxies get scheduling and billing only."""

    patient_id: str
    restricted: bool
    set_by: str
    set_at: datetime
    version: int = 1


class ProxyRuleError(ValueError):
    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(f"{p}: {t}" for p, t in fields))
        self.fields = fields


def majority_date(date_of_birth: date, age_of_majority: int) -> date:
    """The patient's birthday at the age of majority (29 February -> 1 March)."""
    try:
        return date_of_birth.replace(year=date_of_birth.year + age_of_majority)
    except ValueError:
        return date(date_of_birth.year + age_of_majority, 3, 1)


def access_ends_at(
    grant: ProxyGrant, date_of_birth: date, age_of_majority: int, zone: ZoneInfo
) -> datetime | None:
    """The first instant the grant no longer admits the proxy (None: open-ended)."""
    ends: list[datetime] = []
    if grant.ends_on is not None:
        day_after = date.fromordinal(grant.ends_on.toordinal() + 1)
        ends.append(datetime.combine(day_after, time(0), tzinfo=zone))
    if grant.relationship is ProxyRelationship.PARENT_OF_MINOR:
        ends.append(
            datetime.combine(majority_date(date_of_birth, age_of_majority), time(0), tzinfo=zone)
        )
    return min(ends) if ends else None


def grant_status(
    grant: ProxyGrant, date_of_birth: date, age_of_majority: int, zone: ZoneInfo, now: datetime
) -> ProxyStatus:
    if grant.revoked_at is not None:
        return ProxyStatus.REVOKED
    if grant.relationship is ProxyRelationship.PARENT_OF_MINOR and now >= datetime.combine(
        majority_date(date_of_birth, age_of_majority), time(0), tzinfo=zone
    ):
        return ProxyStatus.REACHED_MAJORITY
    end = access_ends_at(grant, date_of_birth, age_of_majority, zone)
    if end is not None and now >= end:
        return ProxyStatus.EXPIRED
    return ProxyStatus.ACTIVE


def effective_scopes(grant: ProxyGrant, restricted: bool) -> frozenset[ProxyScope]:
    scopes = frozenset(grant.scopes)
    return scopes & RESTRICTED_TO if restricted else scopes


def denial(
    grant: ProxyGrant | None,
    scope: ProxyScope | None,
    *,
    date_of_birth: date,
    age_of_majority: int,
    zone: ZoneInfo,
    restricted: bool,
    now: datetime,
) -> str | None:
    """Why the proxy may not act for the patient in `scope` now (None: they may). `scope`
    None asks only whether the grant is live (the patient switcher)."""
    if grant is None:
        return "no_grant"
    status = grant_status(grant, date_of_birth, age_of_majority, zone, now)
    if status is not ProxyStatus.ACTIVE:
        return status.value
    if scope is None:
        return None
    if scope not in grant.scopes:
        return "out_of_scope"
    if scope not in effective_scopes(grant, restricted):
        return "restricted"
    return None


def check_new_grant(
    relationship: ProxyRelationship,
    scopes: tuple[ProxyScope, ...],
    ends_on: date | None,
    date_of_birth: date,
    age_of_majority: int,
    today: date,
) -> tuple[ProxyScope, ...]:
    """A grant staff may create (or change): scopes without duplicates, an end in the
    future, and a parent-of-a-minor grant only while the patient is a minor."""
    unique = tuple(dict.fromkeys(scopes))
    if not unique:
        raise ProxyRuleError([("scopes", "missing")])
    if ends_on is not None and ends_on < today:
        raise ProxyRuleError([("ends_on", "in_past")])
    if (
        relationship is ProxyRelationship.PARENT_OF_MINOR
        and majority_date(date_of_birth, age_of_majority) <= today
    ):
        raise ProxyRuleError([("relationship", "patient_not_a_minor")])
    return unique
