"""Tokens for any account without going through sign-in (roles that must use MFA would
need TOTP enrolment first): a live session with a fresh MFA time, signed by the local
identity provider exactly as a real sign-in's token is."""

from __future__ import annotations

from datetime import timedelta

from tpm.domain.sessions import Session
from tpm.ids import new_id
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security import mfa


def token_for(runtime: Runtime, practice_id: str, email: str) -> str:
    store = runtime.store.practice(practice_id)
    users = UserRepository(store, runtime.cipher)
    user = users.find_by_email(email)
    assert user is not None, "no such account"
    if user.mfa_required and not user.mfa_enrolled:
        # As if the person had enrolled TOTP (test fixture: written directly).
        user = user.bump(mfa_secret=mfa.new_totp_secret())
        store.put(users.to_item(user))
    now = runtime.clock.now()
    session = Session(
        id=new_id("ses"),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=8),
        idle_minutes=15,
        auth_time=now,
        mfa_at=now,
    )
    store.put(SessionRepository(store).create_op(session).item)
    signer = runtime.identity.signer  # type: ignore[attr-defined]
    return str(
        signer.issue_access(
            sub=user.id,
            practice_id=practice_id,
            roles=user.roles,
            sid=session.id,
            auth_time=now,
            amr=["pwd", "mfa"],
            patient_id=user.patient_id,
        )
    )
