"""Patients: the record every clinical, scheduling and billing object hangs from.

Pure models and rules (no I/O): the record and its parts, the guardian rule for minors,
what a patient may change about their own record, and the normalisation behind the
blind-index search (name, date of birth, phone).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tpm.domain.users import Email, normalise_email

E164 = r"^\+[1-9]\d{6,14}$"
Phone = Annotated[str, Field(pattern=E164)]
ADULT_AGE = 18

# Scalar PHI fields, each sealed on its own.
PHI_FIELDS = (
    "legal_first_name",
    "legal_last_name",
    "preferred_name",
    "pronouns",
    "date_of_birth",
    "email",
    "phone",
)
# Nested PHI objects, each sealed as one field (the JSON of the object).
PHI_OBJECTS = ("address", "emergency_contact", "guardian", "insurance", "communication")

Channel = Literal["email", "sms"]
Editor = Literal["staff", "self"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(_Part):
    line1: str = Field(min_length=1, max_length=120)
    line2: str | None = Field(default=None, max_length=120)
    city: str = Field(min_length=1, max_length=80)
    region: str | None = Field(default=None, max_length=80)  # state / province
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2


class EmergencyContact(_Part):
    name: str = Field(min_length=1, max_length=120)
    relationship: str = Field(min_length=1, max_length=60)
    phone: Phone


class Guardian(_Part):
    """The adult responsible for a minor patient (parent or legal guardian)."""

    name: str = Field(min_length=1, max_length=120)
    relationship: str = Field(min_length=1, max_length=60)
    phone: Phone | None = None
    email: Email | None = None


class Subscriber(_Part):
    name: str = Field(min_length=1, max_length=120)
    relationship: str = Field(min_length=1, max_length=60)  # to the patient: self, parent, ...
    date_of_birth: date


class Insurance(_Part):
    payer_name: str = Field(min_length=1, max_length=120)
    payer_id: str | None = Field(default=None, max_length=40)
    member_id: str = Field(min_length=1, max_length=60)
    group_number: str | None = Field(default=None, max_length=60)
    subscriber: Subscriber | None = None


class Communication(_Part):
    """Reminder preferences and consents. An opt-out (email link, SMS STOP) stamps the
    channel's `*_opted_out_at` and wins over the preference until the patient opts in again.
    """

    email_reminders: bool = False
    sms_reminders: bool = False
    # An authorization on file lets reminders to this patient name the service.
    reminder_may_name_service: bool = False
    email_opted_out_at: datetime | None = None
    sms_opted_out_at: datetime | None = None

    def allows(self, channel: Channel) -> bool:
        """May a reminder go to this patient on `channel` now?"""
        if channel == "email":
            return self.email_reminders and self.email_opted_out_at is None
        return self.sms_reminders and self.sms_opted_out_at is None

    def opted_out(self, channel: Channel, at: datetime) -> Communication:
        field = f"{channel}_opted_out_at"
        return self if getattr(self, field) is not None else self.model_copy(update={field: at})


class Patient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    legal_first_name: str = Field(min_length=1, max_length=80)
    legal_last_name: str = Field(min_length=1, max_length=80)
    preferred_name: str | None = Field(default=None, max_length=80)
    pronouns: str | None = Field(default=None, max_length=40)
    date_of_birth: date
    email: Email | None = None
    phone: Phone | None = None
    timezone: str = "America/Chicago"
    status: str = Field(default="active", pattern=r"^(active|inactive|discharged)$")
    address: Address | None = None
    emergency_contact: EmergencyContact | None = None
    guardian: Guardian | None = None
    insurance: Insurance | None = None
    communication: Communication = Field(default_factory=Communication)
    created_at: datetime
    created_by: str
    version: int = 1

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown IANA time zone") from exc
        return value

    def bump(self, **changes: object) -> Patient:
        return self.model_copy(update={**changes, "version": self.version + 1})

    def opt_out(self, channel: Channel, at: datetime) -> Patient:
        """The patient's opt-out from reminders on one channel (takes effect at once)."""
        return self.bump(communication=self.communication.opted_out(channel, at))


# ---- rules ---------------------------------------------------------------------------------


class PatientRuleError(ValueError):
    """A change the rules refuse; `fields` holds (path, machine-readable type) pairs."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(f"{p}: {t}" for p, t in fields))
        self.fields = fields

    @classmethod
    def of(cls, exc: ValidationError) -> PatientRuleError:
        return cls([(".".join(str(p) for p in e["loc"]), str(e["type"])) for e in exc.errors()])


def age_on(date_of_birth: date, day: date) -> int:
    before_birthday = (day.month, day.day) < (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - (1 if before_birthday else 0)


def is_minor(date_of_birth: date, today: date) -> bool:
    return age_on(date_of_birth, today) < ADULT_AGE


def check_guardian(patient: Patient, today: date) -> None:
    """A minor (under 18 on `today`, the practice's local date) needs a guardian on file;
    a date of birth in the future is never valid."""
    if patient.date_of_birth > today:
        raise PatientRuleError([("date_of_birth", "in_future")])
    if is_minor(patient.date_of_birth, today) and patient.guardian is None:
        raise PatientRuleError([("guardian", "guardian_required")])


# What a patient may change about their own record in the portal: contact details and
# reminder preferences. Names, date of birth and insurance are changed by staff; the
# "may name the service" authorization is recorded by staff with the signed form.
SELF_EDITABLE = frozenset({"email", "phone", "address", "emergency_contact", "communication"})
SELF_EDITABLE_COMMUNICATION = frozenset({"email_reminders", "sms_reminders"})


def fields_not_editable(changes: Mapping[str, Any], editor: Editor) -> list[str]:
    """Paths in `changes` the editor may not set (empty when the change is allowed)."""
    if editor == "staff":
        return []
    refused = sorted(name for name in changes if name not in SELF_EDITABLE)
    communication = changes.get("communication")
    if isinstance(communication, Mapping):
        refused += sorted(
            f"communication.{name}"
            for name in communication
            if name not in SELF_EDITABLE_COMMUNICATION
        )
    return refused


def apply_update(
    patient: Patient, changes: Mapping[str, Any], editor: Editor, now: datetime
) -> Patient:
    """The next version of `patient` with `changes` (field -> new value; nested objects are
    replaced whole, except `communication`, which is merged key by key).

    A patient who turns a reminder channel on again opts back in (the opt-out stamp is
    cleared); staff turning it on never overrides the patient's opt-out."""
    refused = fields_not_editable(changes, editor)
    if refused:
        raise PatientRuleError([(path, "not_editable") for path in refused])
    data = patient.model_dump()
    communication = dict(data["communication"])
    for name, value in changes.items():
        if name == "communication":
            for key, flag in dict(value or {}).items():
                communication[key] = flag
                if editor == "self" and key in ("email_reminders", "sms_reminders") and flag:
                    communication[f"{key.split('_')[0]}_opted_out_at"] = None
        else:
            data[name] = value
    data["communication"] = communication
    data["version"] = patient.version + 1
    try:
        return Patient.model_validate(data)
    except ValidationError as exc:
        raise PatientRuleError.of(exc) from exc


def portal_email(on_file: str | None, given: str | None) -> str:
    """The address a portal invitation goes to: the patient's email on file, or the one
    given when none is on file (it is then recorded). A different address is refused."""
    if (
        given is not None
        and on_file is not None
        and normalise_email(given) != normalise_email(on_file)
    ):
        raise PatientRuleError([("email", "not_email_on_file")])
    address = on_file or given
    if address is None:
        raise PatientRuleError([("email", "missing_email")])
    return normalise_email(address)


# ---- search normalisation (the blind index is computed over these) --------------------------

_SPACES = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"\D")


def normalise_name(value: str) -> str:
    """Case-folded, accents stripped, spaces collapsed: " José  DE la Cruz" -> "jose de la cruz"."""
    decomposed = unicodedata.normalize("NFKD", value)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", bare.casefold()).strip()


def normalise_phone(value: str, default_country_code: str = "1") -> str:
    """E.164 digits without "+": "+1 (555) 555-0100" -> "15555550100". Ten digits without
    a country code are taken as a national number in `default_country_code` (US: 1)."""
    digits = _NOT_DIGIT.sub("", value)
    if not value.strip().startswith("+") and len(digits) == 10:
        digits = default_country_code + digits
    return digits


def normalise_date_of_birth(value: date) -> str:
    return value.isoformat()


def name_terms(patient: Patient) -> set[str]:
    """What a name search can match: the full legal name, first or last name alone, and the
    preferred name with the last name."""
    first, last = normalise_name(patient.legal_first_name), normalise_name(patient.legal_last_name)
    terms = {f"{first} {last}", first, last}
    if patient.preferred_name:
        terms.add(f"{normalise_name(patient.preferred_name)} {last}")
    return {t for t in terms if t}


def search_terms(patient: Patient) -> set[tuple[str, str]]:
    """(kind, normalised value) pairs the patient is indexed under."""
    terms = {("name", t) for t in name_terms(patient)}
    terms.add(("dob", normalise_date_of_birth(patient.date_of_birth)))
    if patient.phone:
        terms.add(("phone", normalise_phone(patient.phone)))
    return terms
