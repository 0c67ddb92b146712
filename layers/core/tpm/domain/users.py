"""People with accounts: staff and patients. Pure models and rules; no I/O."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tpm.domain.sessions import Session
from tpm.security.principal import MFA_REQUIRED_ROLES, PORTAL_ROLES, STAFF_ROLES, Role

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
    if roles & PORTAL_ROLES and len(roles) > 1:
        raise ValueError("a patient or proxy account holds no other role")
    return roles


# ---- provisioning rules, shared by the API (UserService) and the operator CLI ----------------


class RoleRuleError(ValueError):
    """A role set an account may not be given; `code` is the machine-readable reason."""

    def __init__(self, code: Literal["invalid_roles", "patient_role"]) -> None:
        super().__init__(code)
        self.code = code


def check_staff_roles(roles: frozenset[Role]) -> frozenset[Role]:
    """Roles for a newly provisioned account. Patient portal accounts are invited from the
    patient's record, never through staff provisioning."""
    try:
        check_roles(roles)
    except ValueError as exc:
        raise RoleRuleError("invalid_roles") from exc
    if roles & PORTAL_ROLES:
        raise RoleRuleError("patient_role")
    return roles


def check_role_change(current: frozenset[Role], new: frozenset[Role]) -> frozenset[Role]:
    """A staff account's roles may change; a patient account's may not, and no staff
    account can be turned into a patient one."""
    if (new | current) & PORTAL_ROLES:
        raise RoleRuleError("patient_role")
    try:
        return check_roles(new)
    except ValueError as exc:
        raise RoleRuleError("invalid_roles") from exc


def changes_ownership(current: frozenset[Role], new: frozenset[Role]) -> bool:
    """Granting or removing the owner role is reserved to owners."""
    return (Role.OWNER in current) != (Role.OWNER in new)


def active_owners(users: Iterable[User]) -> list[User]:
    """The accounts that can act as owners now (invited or deactivated owners cannot)."""
    return [u for u in users if Role.OWNER in u.roles and u.status is UserStatus.ACTIVE]


def provisioned_status(needs_approval: bool) -> UserStatus:
    """Where a new invitation starts: waiting for a second admin, or for the person."""
    return UserStatus.PENDING_APPROVAL if needs_approval else UserStatus.INVITED


def end_live_sessions(sessions: Iterable[Session], now: datetime, reason: str) -> list[Session]:
    """The still-live sessions among `sessions`, revoked (new versions to store)."""
    return [
        s.model_copy(update={"revoked_at": now, "revoked_reason": reason, "version": s.version + 1})
        for s in sessions
        if s.ended(now) is None
    ]


class User(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    email: Email
    display_name: str = Field(min_length=1, max_length=120)
    roles: frozenset[Role]
    status: UserStatus
    credentials: str = Field(default="", max_length=60)  # e.g. "LCSW", shown on signatures
    # Clinicians: the US states they are licensed in (telehealth warns when a patient
    # attests another state). Two-letter codes, set by an administrator.
    licence_states: tuple[str, ...] = Field(default=(), max_length=60)
    patient_id: str | None = None
    password_hash: str | None = None
    mfa_secret: str | None = None  # set once enrolment is confirmed
    provider_mfa: bool = False  # the hosted provider (Cognito) holds a confirmed TOTP factor
    mfa_pending_secret: str | None = None
    mfa_last_step: int | None = None
    recovery_code_hashes: tuple[str, ...] = ()
    failed_logins: int = 0
    locked_until: datetime | None = None
    invited_by: str | None = None
    approved_by: str | None = None
    # With provisioning approval on, the administrator who asked for this deactivated
    # account's reactivation; a second administrator completes it.
    reactivation_requested_by: str | None = None
    created_at: datetime
    version: int = 1

    @field_validator("roles")
    @classmethod
    def _roles(cls, v: frozenset[Role]) -> frozenset[Role]:
        return check_roles(v)

    @property
    def mfa_enrolled(self) -> bool:
        return self.mfa_secret is not None or self.provider_mfa

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

    def unlocked(self) -> User:
        """An administrator cleared the lockout: the failure count starts again too."""
        return self.bump(failed_logins=0, locked_until=None)

    def bump(self, **changes: object) -> User:
        return self.model_copy(update={**changes, "version": self.version + 1})
