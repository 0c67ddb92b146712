"""Patients: the record every clinical, scheduling and billing object hangs from."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from tpm.domain.users import Email

PHI_FIELDS = (
    "legal_first_name",
    "legal_last_name",
    "preferred_name",
    "pronouns",
    "date_of_birth",
    "email",
    "phone",
)


class Patient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    legal_first_name: str = Field(min_length=1, max_length=80)
    legal_last_name: str = Field(min_length=1, max_length=80)
    preferred_name: str | None = Field(default=None, max_length=80)
    pronouns: str | None = Field(default=None, max_length=40)
    date_of_birth: date
    email: Email | None = None
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")  # E.164
    timezone: str = "America/Chicago"
    status: str = Field(default="active", pattern=r"^(active|inactive|discharged)$")
    created_at: datetime
    created_by: str
    version: int = 1

    def bump(self, **changes: object) -> Patient:
        return self.model_copy(update={**changes, "version": self.version + 1})
