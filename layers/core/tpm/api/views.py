"""Response models shared by several functions. A stored item never leaks into a response:
each view picks the fields a caller may see (no hashes, secrets or internal counters)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from tpm.domain.sessions import Session
from tpm.domain.users import User


class UserView(BaseModel):
    id: str
    email: str
    display_name: str
    roles: list[str]
    status: str
    credentials: str
    licence_states: list[str]
    mfa_enrolled: bool
    patient_id: str | None
    reactivation_requested_by: str | None = Field(
        description="A deactivated account whose reactivation waits for a second administrator"
        " (provisioning approval): who asked."
    )
    created_at: datetime
    version: int

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            roles=sorted(r.value for r in user.roles),
            status=user.status.value,
            credentials=user.credentials,
            licence_states=list(user.licence_states),
            mfa_enrolled=user.mfa_enrolled,
            patient_id=user.patient_id,
            reactivation_requested_by=user.reactivation_requested_by,
            created_at=user.created_at,
            version=user.version,
        )


class SessionView(BaseModel):
    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    mfa: bool
    ended: bool
    ended_reason: str | None
    source_ip: str
    user_agent: str
    current: bool = False

    @classmethod
    def of(cls, session: Session, now: datetime, current_id: str | None = None) -> SessionView:
        reason = session.ended(now)
        return cls(
            id=session.id,
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            expires_at=session.expires_at,
            mfa=session.mfa_at is not None,
            ended=reason is not None,
            ended_reason=session.revoked_reason or reason,
            source_ip=session.source_ip,
            user_agent=session.user_agent,
            current=session.id == current_id,
        )


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
