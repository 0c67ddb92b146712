"""People with accounts: staff and patients. Pure models and rules; no I/O."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tpm.security.principal import MFA_REQUIRED_ROLES, STAFF_ROLES, Role

# A pragmatic address check (one @, a dotted domain, no spaces); deliverability is proven
# by the invitation reaching the person, not by a regex.
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]

LOCKOUT_THRESHOLD = 5
LOCKOUT_DURATION = timedelta(minutes=15)


class UserStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"  # invited; a second admin must approve
    INVITED = "invited"  # approved (or no approval needed); waiting for the person
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


def normalise_email(email: str) -> str:
    return unicodedata.normalize("NFKC", email).strip().lower()


def check_roles(roles: frozenset[Role]) -> frozenset[Role]:
    """A patient account is separate from staff accounts; staff may hold several roles."""
    if not roles:
        raise ValueError("at least one role")
    if Role.PATIENT in roles and len(roles) > 1:
        raise ValueError("a patient account holds no staff role")
    return roles


class User(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    email: Email
    display_name: str = Field(min_length=1, max_length=120)
    roles: frozenset[Role]
    status: UserStatus
    credentials: str = Field(default="", max_length=60)  # e.g. "LCSW", shown on signatures
    patient_id: str | None = None
    password_hash: str | None = None
    mfa_secret: str | None = None  # set once enrolment is confirmed
    mfa_pending_secret: str | None = None
    mfa_last_step: int | None = None
    recovery_code_hashes: tuple[str, ...] = ()
    failed_logins: int = 0
    locked_until: datetime | None = None
    invited_by: str | None = None
    approved_by: str | None = None
    created_at: datetime
    version: int = 1

    @field_validator("roles")
    @classmethod
    def _roles(cls, v: frozenset[Role]) -> frozenset[Role]:
        return check_roles(v)

    @property
    def mfa_enrolled(self) -> bool:
        return self.mfa_secret is not None

    @property
    def mfa_required(self) -> bool:
        return bool(self.roles & MFA_REQUIRED_ROLES)

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def after_failed_login(self, now: datetime) -> User:
        failures = self.failed_logins + 1
        locked_until = now + LOCKOUT_DURATION if failures >= LOCKOUT_THRESHOLD else None
        return self.model_copy(
            update={
                "failed_logins": 0 if locked_until else failures,
                "locked_until": locked_until or self.locked_until,
                "version": self.version + 1,
            }
        )

    def after_successful_login(self) -> User:
        return self.model_copy(
            update={"failed_logins": 0, "locked_until": None, "version": self.version + 1}
        )

    def bump(self, **changes: object) -> User:
        return self.model_copy(update={**changes, "version": self.version + 1})
