"""42 CFR Part 2: substance use disorder (SUD) records from a Part 2 program. Pure.

A patient's records are labelled Part 2 when the practice (or one of its programs) is a
federally assisted SUD program treating them. Labelled records leave the practice — in a
claim, an export, a release — only under a written consent with every element 42 CFR 2.31
requires, for that recipient and purpose, unexpired and not revoked; and every disclosure
carries the redisclosure notice of 42 CFR 2.32. `part2_decision` is the one rule.

Consent elements (42 CFR 2.31(a)): the patient's name; who may disclose (the program);
how much and what kind of information, with an explicit description of the SUD
information; the recipients (by name, or by general designation, e.g. "my health plans");
each purpose; the right to revoke and how; the expiration date or event; the signature of
the patient (or the person authorised to sign) and the date; and the statements about
redisclosure and that treatment is not conditioned on signing.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tpm.errors import Conflict

# 42 CFR 2.32(a)(1) (as amended in 2024): the statement every disclosure carries.
REDISCLOSURE_NOTICE: Final = (
    "42 CFR part 2 prohibits unauthorized use or disclosure of these records."
)
REVOCATION_STATEMENT: Final = (
    "You may revoke this consent at any time, in writing or in the portal, except to the"
    " extent that action has already been taken in reliance on it."
)
NOT_CONDITIONED_STATEMENT: Final = (
    "Your treatment, payment, enrollment or eligibility for benefits is not conditioned on"
    " signing this consent."
)


class Purpose(StrEnum):
    TREATMENT = "treatment"
    PAYMENT = "payment"
    HEALTH_CARE_OPERATIONS = "health_care_operations"
    OTHER = "other"


class RecipientKind(StrEnum):
    PAYER = "payer"  # a health plan or third-party payer (claims)
    PROVIDER = "provider"  # a treating provider
    INDIVIDUAL = "individual"  # a named person (family member, attorney, ...)
    ORGANIZATION = "organization"  # a named organisation (employer, court, ...)
    PATIENT = "patient"  # the patient themselves (right of access, exports to them)


class Part2ConsentRequired(Conflict):
    """Part 2 records would leave without a consent covering this recipient and purpose:
    nothing was disclosed. `details.reason` says why."""

    code = "part2_consent_required"
    message = (
        "These records are protected by 42 CFR Part 2 and the patient has not consented to"
        " this disclosure; nothing was disclosed."
    )


class Recipient(BaseModel):
    """Who may receive: a kind and either a specific key (a payer id, a provider NPI) or
    none (the general designation: "my health plans and third-party payers")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: RecipientKind
    key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:@-]{1,64}$")
    name: str = Field(min_length=1, max_length=200)

    def covers(self, kind: RecipientKind, key: str | None) -> bool:
        return self.kind is kind and (self.key is None or self.key == key)


class Part2Label(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    patient_id: str
    part2: bool
    program: str = Field(default="", max_length=200)  # the Part 2 program's name
    labelled_by: str
    labelled_at: datetime
    version: int = Field(default=1, ge=1)


class Part2Consent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^p2c_[0-9a-z]{26}$")
    patient_id: str
    patient_name: str = Field(min_length=1, max_length=200)
    disclosing_program: str = Field(min_length=1, max_length=200)
    information: str = Field(
        min_length=10, max_length=2000, description="How much and what kind, explicitly SUD."
    )
    recipients: tuple[Recipient, ...] = Field(min_length=1, max_length=20)
    purposes: tuple[Purpose, ...] = Field(min_length=1)
    purpose_description: str = Field(min_length=3, max_length=2000)
    expires_on: date | None = None
    expiration_event: str = Field(default="", max_length=500)
    signed_by: str = Field(min_length=1, max_length=200)
    signer_relationship: str = Field(default="self", pattern=r"^(self|guardian|representative)$")
    signed_on: date
    revocation_statement_given: bool
    redisclosure_statement_given: bool
    not_conditioned_statement_given: bool
    recorded_by: str
    recorded_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    version: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _elements(self) -> Part2Consent:
        if self.expires_on is None and not self.expiration_event.strip():
            raise ValueError("an expiration date or event is required")
        if not (
            self.revocation_statement_given
            and self.redisclosure_statement_given
            and self.not_conditioned_statement_given
        ):
            raise ValueError("the required statements must have been given")
        if self.expires_on is not None and self.expires_on < self.signed_on:
            raise ValueError("expires before it was signed")
        return self

    def active(self, today: date) -> bool:
        return self.revoked_at is None and (self.expires_on is None or today <= self.expires_on)


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    allowed: bool
    part2: bool
    reason: str  # not_part2 | consented | no_consent
    consent_id: str | None = None
    notice: str | None = None  # REDISCLOSURE_NOTICE whenever Part 2 records go out


def part2_decision(
    label: Part2Label | None,
    consents: list[Part2Consent],
    today: date,
    *,
    kind: RecipientKind,
    key: str | None,
    purpose: Purpose,
) -> Decision:
    """May this patient's records go to this recipient for this purpose today?"""
    if label is None or not label.part2:
        return Decision(allowed=True, part2=False, reason="not_part2")
    for consent in consents:
        if (
            consent.active(today)
            and purpose in consent.purposes
            and any(r.covers(kind, key) for r in consent.recipients)
        ):
            return Decision(
                allowed=True,
                part2=True,
                reason="consented",
                consent_id=consent.id,
                notice=REDISCLOSURE_NOTICE,
            )
    return Decision(allowed=False, part2=True, reason="no_consent", notice=REDISCLOSURE_NOTICE)
