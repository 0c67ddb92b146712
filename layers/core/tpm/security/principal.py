"""Who is calling: built only from a verified token plus the live session/user rows.

The practice id a request acts in comes from here and nowhere else (never the path or body).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    CLINICIAN = "clinician"
    SUPERVISOR = "supervisor"
    BILLER = "biller"
    FRONT_DESK = "front_desk"
    COMPLIANCE = "compliance"  # the practice's compliance/privacy officer: audit, read-only
    PATIENT = "patient"
    # A patient's personal representative (guardian, parent of a minor, healthcare power of
    # attorney) with a portal account of their own; reaches a patient only through an
    # active proxy grant (tpm.domain.proxies), never through staff scopes.
    PROXY = "proxy"


PORTAL_ROLES = frozenset({Role.PATIENT, Role.PROXY})
STAFF_ROLES = frozenset(Role) - PORTAL_ROLES
MFA_REQUIRED_ROLES = frozenset(
    {Role.OWNER, Role.ADMIN, Role.SUPERVISOR, Role.BILLER, Role.COMPLIANCE}
)


@dataclass(frozen=True)
class Principal:
    user_id: str
    practice_id: str
    roles: frozenset[Role]
    session_id: str
    auth_time: datetime
    mfa_authenticated: bool
    # Set for patient accounts: the patient record this login belongs to.
    patient_id: str | None = None
    display_name: str = ""
    # MFA is required for the role but not set up yet: only enrolment routes are open.
    mfa_enrolment_pending: bool = False
    # Per-request facts for the audit trail (never PHI).
    source_ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_patient(self) -> bool:
        return Role.PATIENT in self.roles

    @property
    def is_proxy(self) -> bool:
        return Role.PROXY in self.roles

    @property
    def role_label(self) -> str:
        """Roles as one stable string for the audit trail."""
        return ",".join(sorted(r.value for r in self.roles))


@dataclass(frozen=True)
class SystemActor:
    """A scheduled job or operator CLI acting without a user (still audited)."""

    name: str
    practice_id: str
    request_id: str = ""
