"""HIPAA individual rights: disclosures and the accounting of them (45 CFR 164.528), and
the patient's requests with their deadlines (164.524 access, 164.526 amendment, 164.528
accounting). Pure.

A **disclosure** is one release of a patient's PHI outside the practice: the date, the
recipient (name and address if known), a brief description of what was disclosed, a brief
statement of the purpose and its legal basis (164.528(b)(2)). Disclosure records are
append-only: a mistaken one is answered by a new record, never edited away.

Not every disclosure belongs in the patient's accounting. 164.528(a)(1) leaves out those
for treatment, payment and health care operations, those to the patient, and those made
under the patient's written authorization; the register still keeps them (an authorised
release is evidence too), and the accounting lists the rest: disclosures required by law,
for public health, abuse reports, oversight, judicial and law-enforcement requests, research
without authorization, serious threats, workers' compensation, and every impermissible
disclosure (a breach the patient is owed an account of).

A **rights request** is the patient's (or staff-entered on the patient's behalf) request for
one of the three rights, with its deadline counted in the practice's calendar days from
receipt:

  access      30 days (164.524(b)(2))
  amendment   60 days (164.526(b)(2))
  accounting  60 days (164.528(c)(1))

Each may be extended once by 30 days with a written reason given to the patient within the
first period. An accounting covers the six years before the request (or a shorter period
the patient asks for). An amendment is accepted (the amendment is kept with the record it
amends) or denied with a reason; after a denial the patient may file a statement of
disagreement, which is kept with the request and the record (164.526(d)).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from tpm.errors import Conflict

ACCOUNTING_YEARS: Final = 6
EXTENSION_DAYS: Final = 30


class DisclosureBasis(StrEnum):
    REQUIRED_BY_LAW = "required_by_law"  # 164.512(a)
    PUBLIC_HEALTH = "public_health"  # 164.512(b)
    ABUSE_OR_NEGLECT = "abuse_or_neglect"  # 164.512(c)
    HEALTH_OVERSIGHT = "health_oversight"  # 164.512(d)
    JUDICIAL = "judicial_proceeding"  # 164.512(e)
    LAW_ENFORCEMENT = "law_enforcement"  # 164.512(f)
    DECEDENTS = "decedents"  # 164.512(g)
    RESEARCH = "research"  # 164.512(i), without authorization
    SERIOUS_THREAT = "serious_threat"  # 164.512(j)
    WORKERS_COMPENSATION = "workers_compensation"  # 164.512(l)
    IMPERMISSIBLE = "impermissible"  # not permitted by the Privacy Rule (a breach)
    OTHER = "other"
    # Kept in the register, left out of the accounting (164.528(a)(1)):
    TREATMENT_PAYMENT_OPERATIONS = "treatment_payment_operations"
    TO_PATIENT = "to_patient"
    AUTHORIZATION = "authorization"


NOT_ACCOUNTED: Final = frozenset(
    {
        DisclosureBasis.TREATMENT_PAYMENT_OPERATIONS,
        DisclosureBasis.TO_PATIENT,
        DisclosureBasis.AUTHORIZATION,
    }
)


class DisclosureSource(StrEnum):
    MANUAL = "manual"
    INCIDENT = "incident"  # recorded from a security incident (reference: the incident id)
    MESSAGE_FLAG = "message_flag"  # from a disclosure flag (reference: the flag id)


class RequestKind(StrEnum):
    ACCESS = "access"
    AMENDMENT = "amendment"
    ACCOUNTING = "accounting"


DEADLINE_DAYS: Final = {
    RequestKind.ACCESS: 30,
    RequestKind.AMENDMENT: 60,
    RequestKind.ACCOUNTING: 60,
}


class RequestStatus(StrEnum):
    OPEN = "open"
    FULFILLED = "fulfilled"  # access provided, accounting given
    ACCEPTED = "accepted"  # amendment made
    DENIED = "denied"  # amendment (or access) denied with a reason
    WITHDRAWN = "withdrawn"


class InvalidRequestState(Conflict):
    code = "invalid_request_state"
    message = "The request is not in a state that allows this."


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Disclosure(_Frozen):
    id: str = Field(pattern=r"^dsc_[0-9a-z]{26}$")
    patient_id: str
    disclosed_on: date
    recipient: str = Field(min_length=1, max_length=300)
    recipient_address: str = Field(default="", max_length=500)
    description: str = Field(min_length=1, max_length=2000)
    purpose: str = Field(min_length=1, max_length=2000)
    basis: DisclosureBasis
    source: DisclosureSource = DisclosureSource.MANUAL
    reference: str | None = Field(default=None, max_length=40)
    recorded_by: str
    recorded_at: datetime

    @property
    def accounted(self) -> bool:
        """Whether this disclosure belongs in the patient's accounting (164.528(a))."""
        return self.basis not in NOT_ACCOUNTED


class Extension(_Frozen):
    reason: str = Field(min_length=1, max_length=2000)
    by: str
    at: datetime
    due_on: date


class PackageFormat(StrEnum):
    FHIR = "fhir"  # FHIR R4 bundle, JSON
    PDF = "pdf"


class PackageFile(_Frozen):
    """One file of an access package, kept sealed in the file store."""

    format: PackageFormat
    file_id: str = Field(pattern=r"^rpk_[0-9a-z]{26}$")
    filename: str
    content_type: str
    size_bytes: int
    sha256: str


class RightsRequest(_Frozen):
    id: str = Field(pattern=r"^rrq_[0-9a-z]{26}$")
    patient_id: str
    kind: RequestKind
    details: str = Field(default="", max_length=8000)
    record_reference: str | None = Field(
        default=None, max_length=40, description="The record an amendment is about (an id)."
    )
    period_from: date | None = None  # accounting: the start of the period asked for
    received_at: datetime
    received_on: date
    requested_by: str
    due_on: date
    extension: Extension | None = None
    status: RequestStatus = RequestStatus.OPEN
    decided_by: str | None = None
    decided_at: datetime | None = None
    response: str = Field(default="", max_length=8000)  # denial reason / amendment text
    disclosure_ids: tuple[str, ...] = ()  # accounting: the disclosures given
    package: tuple[PackageFile, ...] = ()  # access: the files delivered
    disagreement: str = Field(default="", max_length=8000)
    disagreement_at: datetime | None = None
    version: int = 1

    def bump(self, **changes: object) -> RightsRequest:
        return self.model_validate(self.model_dump() | changes | {"version": self.version + 1})

    @property
    def is_open(self) -> bool:
        return self.status is RequestStatus.OPEN

    def overdue(self, today: date) -> bool:
        return self.is_open and today > self.due_on


def first_due(kind: RequestKind, received_on: date) -> date:
    return received_on + timedelta(days=DEADLINE_DAYS[kind])


def extension_problem(request: RightsRequest, today: date) -> str | None:
    """Why the request cannot be extended now (None: it can): once, while open, and
    within the first period (164.524(b)(2)(ii), 164.526(b)(2)(ii), 164.528(c)(2))."""
    if not request.is_open:
        return "not_open"
    if request.extension is not None:
        return "already_extended"
    if today > request.due_on:
        return "past_due"
    return None


def accounting_period(request: RightsRequest) -> tuple[date, date]:
    """The period an accounting covers: six years back from receipt, or from the start
    the patient asked for if that is later."""
    earliest = _years_before(request.received_on, ACCOUNTING_YEARS)
    start = max(earliest, request.period_from) if request.period_from else earliest
    return start, request.received_on


def in_accounting(disclosure: Disclosure, start: date, end: date) -> bool:
    return disclosure.accounted and start <= disclosure.disclosed_on <= end


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)
