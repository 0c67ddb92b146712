"""Every authenticated request passes here: verified token -> live session -> live user ->
Principal. Roles come from the user record, not the token, so a role removed or an account
deactivated is refused on the very next request; so is a revoked or idle session."""

from __future__ import annotations

from contextlib import suppress

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.sessions import Session
from tpm.domain.users import User, UserStatus
from tpm.errors import Forbidden, Reauthenticate, Unauthenticated
from tpm.observability import get_logger
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security.principal import Principal
from tpm.security.tokens import TokenClaims
from tpm.services.authentication import RequestMeta


class SessionEnded(Unauthenticated):
    code = "session_expired"
    message = "Your session has ended; please sign in again."


class MfaEnrolmentRequired(Forbidden):
    code = "mfa_enrolment_required"
    message = "Set up multi-factor authentication before using the rest of the product."


def bearer_token(headers: dict[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated()
    return token.strip()


def authenticate(
    runtime: Runtime, token: str, meta: RequestMeta, *, enrolment_route: bool = False
) -> Principal:
    claims = runtime.verifier().verify(token)
    store = runtime.store.practice(claims.practice_id)
    sessions = SessionRepository(store)
    session = sessions.get(claims.sub, claims.sid)
    user = UserRepository(store, runtime.cipher).get(claims.sub)
    now = runtime.clock.now()
    if user is None:
        raise Unauthenticated()
    if session is None:
        raise Unauthenticated()
    if user.status is not UserStatus.ACTIVE:
        raise Unauthenticated()
    ended = session.ended(now)
    if ended is not None:
        get_logger("auth").info("session refused", extra={"reason": ended})
        raise SessionEnded()
    if session.needs_touch(now):
        touched = session.model_copy(update={"last_seen_at": now, "version": session.version + 1})
        op = SessionRepository(store).update_op(touched)
        # A concurrent request touched it (or revoked it: then the next request fails).
        with suppress(ConditionFailed):
            store.put(op.item, op.condition)
    principal = Principal(
        user_id=user.id,
        practice_id=claims.practice_id,
        roles=user.roles,
        session_id=session.id,
        auth_time=session.auth_time,
        mfa_authenticated=session.mfa_at is not None,
        patient_id=user.patient_id,
        display_name=user.display_name,
        source_ip=meta.source_ip,
        user_agent=meta.user_agent[:512],
        request_id=meta.request_id,
        mfa_enrolment_pending=user.mfa_required and not _mfa_set_up(runtime, user, claims, session),
    )
    if principal.mfa_enrolment_pending and not enrolment_route:
        raise MfaEnrolmentRequired()
    return principal


def _mfa_set_up(runtime: Runtime, user: User, claims: TokenClaims, session: Session) -> bool:
    """Local provider: the user has a confirmed TOTP factor with us. Hosted provider (the
    factor lives at Cognito, which then challenges every sign-in): the token's claims say
    so (the `mfa` group), or, until the token is next refreshed after enrolling, this
    session proved the factor (its row is written only by our API)."""
    if getattr(runtime.identity, "credentials_at_provider", False):
        return claims.mfa_authenticated or (user.mfa_enrolled and session.mfa_at is not None)
    return user.mfa_enrolled


def require_recent_mfa(runtime: Runtime, principal: Principal) -> None:
    """Step-up gate for sensitive actions: 401 `reauthenticate` unless MFA was verified in
    this session within the last few minutes."""
    store = runtime.store.practice(principal.practice_id)
    session = SessionRepository(store).get(principal.user_id, principal.session_id)
    if session is None or not session.recently_mfa(runtime.clock.now()):
        raise Reauthenticate()
