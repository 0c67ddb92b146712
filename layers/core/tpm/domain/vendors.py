"""The business associate / vendor register (45 CFR 164.308(b), 164.314(a), 164.502(e)).

Pure: models and the one rule every outbound path asks before data leaves the practice —
`agreement_problem(vendor, today, carries_phi)`. A vendor is any outside party the practice
or its adapters send data to (AWS, the email/SMS provider, the clearinghouse, the card
processor, an integration). Adapters name the vendor they deliver to by its `key` (a short
slug such as `aws`); the register holds one record per key with the agreement's status and
dates, what the vendor may do with the data, and the contract terms a compliance officer
must be able to show: breach-notice period, subcontractor terms, return or destruction at
termination. Vendor records are business records, not PHI; their due-diligence files are
stored sealed all the same (contracts and security questionnaires are confidential).

PHI goes to a vendor only when it is registered as receiving PHI AND its business associate
agreement is executed, in effect today and not expired or terminated. Data that carries no
PHI (a notice to a staff address that names no patient) needs no agreement.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tpm.errors import Conflict

VENDOR_KEY = r"^[a-z][a-z0-9-]{1,39}$"
# Warn the compliance role this many days before an agreement ends (each once).
EXPIRY_WARNING_DAYS: Final = (60, 30, 7, 0)


class VendorRole(StrEnum):
    HOSTING = "hosting"  # cloud hosting / infrastructure (AWS)
    EMAIL = "email"
    SMS = "sms"
    CLEARINGHOUSE = "clearinghouse"
    CARD_PROCESSOR = "card_processor"
    TELEHEALTH = "telehealth"
    INTEGRATION = "integration"
    OTHER = "other"


class AgreementStatus(StrEnum):
    NONE = "none"  # no agreement (fine for a vendor that receives no PHI)
    DRAFT = "draft"
    SENT = "sent"  # sent for signature
    EXECUTED = "executed"
    TERMINATED = "terminated"


class Refusal(StrEnum):
    """Why the register refused a send (stable codes, in error details and the trail)."""

    UNKNOWN_VENDOR = "unknown_vendor"
    NOT_CLEARED_FOR_PHI = "not_cleared_for_phi"  # registered as receiving no PHI
    NOT_EXECUTED = "agreement_not_executed"
    NOT_YET_EFFECTIVE = "agreement_not_yet_effective"
    EXPIRED = "agreement_expired"
    TERMINATED = "agreement_terminated"


class AgreementRequired(Conflict):
    """The vendor has no executed, unexpired business associate agreement (or is not in
    the register): nothing was sent. `details` names the vendor key and the reason code."""

    code = "vendor_agreement_required"
    message = (
        "The practice has no business associate agreement in effect with this vendor;"
        " nothing was sent."
    )


class Agreement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: AgreementStatus = AgreementStatus.NONE
    executed_on: date | None = None
    effective_on: date | None = None
    expires_on: date | None = None  # None: no end date (until terminated)
    terminated_on: date | None = None
    # Contract terms the officer must be able to show.
    breach_notice_days: int | None = Field(default=None, ge=1, le=60)
    permitted_uses: str = Field(default="", max_length=4000)
    subcontractor_terms: str = Field(default="", max_length=4000)
    return_destruction_terms: str = Field(default="", max_length=4000)

    @model_validator(mode="after")
    def _dates(self) -> Agreement:
        signed = (AgreementStatus.EXECUTED, AgreementStatus.TERMINATED)
        if self.status in signed and self.executed_on is None:
            raise ValueError("an executed agreement needs executed_on")
        if self.status is AgreementStatus.TERMINATED and self.terminated_on is None:
            raise ValueError("a terminated agreement needs terminated_on")
        start = self.effective_on or self.executed_on
        if start and self.expires_on and self.expires_on <= start:
            raise ValueError("expires_on must be after the agreement starts")
        return self

    @property
    def starts_on(self) -> date | None:
        return self.effective_on or self.executed_on


class Vendor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^vnd_[0-9a-z]{26}$")
    key: str = Field(pattern=VENDOR_KEY)
    name: str = Field(min_length=1, max_length=200)
    role: VendorRole
    receives_phi: bool
    services: tuple[str, ...] = ()  # e.g. ("dynamodb", "s3", "kms", "ses", "sns")
    contact: str = Field(default="", max_length=500)
    notes: str = Field(default="", max_length=4000)
    agreement: Agreement = Field(default_factory=Agreement)
    created_at: datetime
    updated_at: datetime
    updated_by: str
    version: int = Field(default=1, ge=1)


class DueDiligenceDocument(BaseModel):
    """A file kept as due-diligence evidence (the signed BAA, a SOC 2 report, a security
    questionnaire). Bytes in the file store, sealed; title and file name sealed here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^vdd_[0-9a-z]{26}$")
    vendor_id: str
    title: str = Field(min_length=1, max_length=200)
    filename: str = Field(pattern=r"^[^/\\\x00-\x1f\x7f]{1,200}$")
    content_type: str
    size_bytes: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    uploaded_by: str
    uploaded_at: datetime


def agreement_problem(vendor: Vendor | None, today: date, *, carries_phi: bool) -> Refusal | None:
    """Why data may NOT go to this vendor today, or None when it may. Data without PHI
    needs no agreement (and no register entry): the call is still made, so the place that
    sends is marked and a stricter policy can be added in one spot."""
    if not carries_phi:
        return None
    if vendor is None:
        return Refusal.UNKNOWN_VENDOR
    if not vendor.receives_phi:
        return Refusal.NOT_CLEARED_FOR_PHI
    agreement = vendor.agreement
    if agreement.status is AgreementStatus.TERMINATED:
        return Refusal.TERMINATED
    if agreement.status is not AgreementStatus.EXECUTED:
        return Refusal.NOT_EXECUTED
    if agreement.terminated_on is not None and agreement.terminated_on <= today:
        return Refusal.TERMINATED
    start = agreement.starts_on
    if start is not None and start > today:
        return Refusal.NOT_YET_EFFECTIVE
    if agreement.expires_on is not None and agreement.expires_on <= today:
        return Refusal.EXPIRED
    return None


def days_left(vendor: Vendor, today: date) -> int | None:
    """Days until an executed agreement ends (negative once it has); None without an end."""
    agreement = vendor.agreement
    if agreement.status is not AgreementStatus.EXECUTED or agreement.expires_on is None:
        return None
    return (agreement.expires_on - today).days


def warning_due(vendor: Vendor, today: date) -> int | None:
    """The warning threshold (days) this vendor has reached today, if any: the smallest of
    EXPIRY_WARNING_DAYS that is >= the days left (0 = expires today or has expired)."""
    left = days_left(vendor, today)
    if left is None:
        return None
    reached = [d for d in EXPIRY_WARNING_DAYS if left <= d]
    return min(reached) if reached else None
