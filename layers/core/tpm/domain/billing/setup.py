"""Billing set-up: payers (with their telehealth rules), billing identities (NPI, EIN,
taxonomy, ZIP+4 service address) and fee schedules. Pure models and rules: no I/O.

Telehealth (per payer, table-driven): the visit's mode {in_person, video, audio_only} and
the patient's location {home, other} pick a row of the payer's rules, which gives the
place of service and the modifiers (e.g. commercial: video -> POS 10/02 + 95; Medicare
2024+: POS 10/02 without 95; audio-only -> 93).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tpm.domain.billing.claim837 import PostalAddress
from tpm.domain.billing.codes import (
    ein_problem,
    modifier_problem,
    npi_problem,
    pos_problem,
    procedure_problem,
    taxonomy_problem,
    zip9_problem,
)

Mode = Literal["in_person", "video", "audio_only"]
Location = Literal["home", "other"]
FILING_INDICATORS = {
    "CI": "commercial insurance",
    "BL": "Blue Cross/Blue Shield",
    "HM": "HMO",
    "MB": "Medicare Part B",
    "MC": "Medicaid",
    "CH": "TRICARE",
    "VA": "Veterans Affairs",
    "WC": "workers' compensation",
    "12": "PPO",
    "13": "POS plan",
    "14": "EPO",
    "16": "HMO Medicare risk",
    "ZZ": "mutually defined",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TelehealthRule(_Frozen):
    mode: Literal["video", "audio_only"]
    location: Location
    place_of_service: str
    modifiers: tuple[str, ...] = Field(default=(), max_length=2)

    @field_validator("place_of_service")
    @classmethod
    def _pos(cls, value: str) -> str:
        if pos_problem(value):
            raise ValueError("not a CMS place-of-service code")
        return value

    @field_validator("modifiers")
    @classmethod
    def _mods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(modifier_problem(m) for m in value):
            raise ValueError("not a modifier on the allow-list")
        return value


def commercial_rules() -> tuple[TelehealthRule, ...]:
    """The common commercial default: POS 10 at home / 02 elsewhere, 95 video, 93 audio."""
    return (
        TelehealthRule(mode="video", location="home", place_of_service="10", modifiers=("95",)),
        TelehealthRule(mode="video", location="other", place_of_service="02", modifiers=("95",)),
        TelehealthRule(
            mode="audio_only", location="home", place_of_service="10", modifiers=("93",)
        ),
        TelehealthRule(
            mode="audio_only", location="other", place_of_service="02", modifiers=("93",)
        ),
    )


class Payer(_Frozen):
    id: str
    name: str = Field(min_length=1, max_length=60)
    payer_id: str = Field(pattern=r"^[A-Za-z0-9]{2,80}$")  # the clearinghouse's payer id
    filing_indicator: str
    telehealth: tuple[TelehealthRule, ...] = Field(default_factory=commercial_rules)
    paper: bool = False  # bills on CMS-1500 instead of 837P
    active: bool = True
    version: int = 1

    @field_validator("filing_indicator")
    @classmethod
    def _filing(cls, value: str) -> str:
        if value not in FILING_INDICATORS:
            raise ValueError("not a claim filing indicator code")
        return value

    @model_validator(mode="after")
    def _one_row_each(self) -> Payer:
        keys = [(r.mode, r.location) for r in self.telehealth]
        if len(keys) != len(set(keys)):
            raise ValueError("one telehealth rule per mode and location")
        return self

    def place_and_modifiers(
        self, mode: Mode, location: Location, office_pos: str = "11"
    ) -> tuple[str, tuple[str, ...]]:
        """POS and modifiers for a visit: in person -> the office's POS, no modifier;
        telehealth -> this payer's row (or the commercial default when it has none)."""
        if mode == "in_person":
            return office_pos, ()
        for rule in self.telehealth or commercial_rules():
            if rule.mode == mode and rule.location == location:
                return rule.place_of_service, rule.modifiers
        for rule in commercial_rules():
            if rule.mode == mode and rule.location == location:
                return rule.place_of_service, rule.modifiers
        raise AssertionError("commercial rules cover every mode and location")


class BillingIdentity(_Frozen):
    """Who bills or renders: a Type 2 (organisation) or Type 1 (person) NPI with its EIN,
    taxonomy and service address. `user_id` links a rendering clinician's identity."""

    id: str
    kind: Literal["person", "organisation"]
    name: str = Field(min_length=1, max_length=60)  # organisation name or last name
    first_name: str | None = Field(default=None, max_length=35)
    npi: str
    ein: str | None = None
    taxonomy: str
    address: PostalAddress | None = None
    user_id: str | None = Field(default=None, pattern=r"^usr_[0-9a-z]{26}$")
    version: int = 1

    @field_validator("npi")
    @classmethod
    def _npi(cls, value: str) -> str:
        problem = npi_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("ein")
    @classmethod
    def _ein(cls, value: str | None) -> str | None:
        if value is not None:
            problem = ein_problem(value)
            if problem:
                raise ValueError(problem)
            return value.replace("-", "")
        return value

    @field_validator("taxonomy")
    @classmethod
    def _taxonomy(cls, value: str) -> str:
        problem = taxonomy_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _kind(self) -> BillingIdentity:
        if self.kind == "person" and not self.first_name:
            raise ValueError("a person needs a first name")
        if self.address is not None and zip9_problem(self.address.postal_code):
            raise ValueError("the service address needs a ZIP+4")
        return self


Money = Decimal


class FeeSchedule(_Frozen):
    """Fees by procedure code. `payer_id` None = the practice default."""

    id: str
    name: str = Field(min_length=1, max_length=80)
    payer_id: str | None = Field(default=None, pattern=r"^pyr_[0-9a-z]{26}$")
    fees: dict[str, Money]
    version: int = 1

    @field_validator("fees")
    @classmethod
    def _fees(cls, value: dict[str, Money]) -> dict[str, Money]:
        for code, fee in value.items():
            if procedure_problem(code):
                raise ValueError("fees are keyed by procedure codes on the allow-list")
            if fee < 0 or fee != fee.quantize(Decimal("0.01")):
                raise ValueError("a fee is a non-negative amount in cents")
        return value


class SlidingScale(_Frozen):
    """A self-pay patient's discount off the practice fee (0-100 %), with a reason."""

    patient_id: str
    percent: Decimal = Field(ge=0, le=100)
    reason: str = Field(min_length=1, max_length=200)
    version: int = 1


def fee_for(code: str, schedules: list[FeeSchedule], payer_id: str | None) -> Decimal | None:
    """The payer's schedule first, then the practice default."""
    for wanted in (payer_id, None):
        for schedule in schedules:
            if schedule.payer_id == wanted and code in schedule.fees:
                return schedule.fees[code]
    return None


class BillingSettings(_Frozen):
    """The practice's billing set-up: which identity bills, who we are to the
    clearinghouse, and the approval threshold for refunds and write-offs."""

    billing_identity_id: str | None = None
    submitter_id: str = Field(default="TPMLOCAL", pattern=r"^[A-Z0-9]{2,15}$")
    receiver_id: str = Field(default="CLEARHOUSE", pattern=r"^[A-Z0-9]{2,15}$")
    receiver_name: str = Field(default="Clearinghouse", min_length=1, max_length=60)
    contact_name: str = Field(default="Billing Office", min_length=1, max_length=60)
    contact_phone: str = Field(default="5555550100", pattern=r"^\d{10}$")
    office_place_of_service: str = "11"
    approval_threshold: Decimal = Field(default=Decimal("100.00"), ge=0)
    usage: Literal["T", "P"] = "T"
    version: int = 0
