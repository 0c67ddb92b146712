"""Signing in with the local identity provider: password, then TOTP or a recovery code;
token refresh with rotation; logout; step-up re-authentication.

Every outcome is audited. A wrong password, an unknown user, a locked or inactive account
all get the same generic 401, and take about as long (argon2 runs on every path).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tpm.adapters.store.base import SYSTEM_PRACTICE, Absent, Delete, Operation, PracticeStore, Put
from tpm.clock import to_rfc3339
from tpm.domain.sessions import Session
from tpm.domain.users import User, UserStatus
from tpm.errors import BadRequest, Reauthenticate, Unauthenticated
from tpm.ids import new_id
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security import mfa, passwords
from tpm.security.audit_chain import AuditEvent, Outcome
from tpm.security.principal import Principal
from tpm.services.practices import get_practice, practice_id_for_slug
from tpm.services.rate_limits import enforce

CHALLENGE_TTL = timedelta(minutes=5)
LOGIN_IP_LIMIT = (50, 300)  # sign-in attempts per source address per 5 minutes
MFA_MAX_ATTEMPTS = 5


class SignInAtProvider(BadRequest):
    code = "sign_in_at_identity_provider"
    message = "This deployment signs people in at its identity provider (Amazon Cognito)."


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    message = "The sign-in details are not correct."


@dataclass(frozen=True)
class RequestMeta:
    source_ip: str
    user_agent: str
    request_id: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    mfa_enrolment_required: bool


@dataclass(frozen=True)
class MfaChallenge:
    challenge: str
    expires_in: int


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _anonymous_event(
    practice_id: str,
    meta: RequestMeta,
    action: str,
    outcome: Outcome,
    reason: str,
    user_id: str = "",
) -> AuditEvent:
    return AuditEvent(
        practice_id=practice_id,
        actor_kind="user" if user_id else "anonymous",
        actor_id=user_id or "anonymous",
        action=action,
        resource_kind="user",
        resource_id=user_id,
        outcome=outcome,
        source_ip=meta.source_ip,
        user_agent=meta.user_agent[:512],
        request_id=meta.request_id,
        reason_code=reason,
    )


class Authentication:
    """Sign-in with the local identity provider. Where sign-in happens at a hosted provider
    (Cognito: SRP from the client, MFA there too), these routes answer 400
    `sign_in_at_identity_provider` and the provider's ID token is the bearer token."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def _local_only(self) -> None:
        if self.rt.identity.sessions_start_at_provider:
            raise SignInAtProvider()

    # ---- password step ------------------------------------------------------------------

    def login(
        self, practice_slug: str, email: str, password: str, meta: RequestMeta
    ) -> Tokens | MfaChallenge:
        self._local_only()
        practice_id = practice_id_for_slug(self.rt.store, practice_slug)
        # Throttle guessing per source address (before any password work), on top of the
        # per-account lockout below; unknown practices count against the deployment.
        throttle_scope = self.rt.store.practice(practice_id or SYSTEM_PRACTICE)
        enforce(
            throttle_scope, self.rt.clock, "login-ip", meta.source_ip or "unknown", *LOGIN_IP_LIMIT
        )
        if practice_id is None:
            passwords.verify_dummy(password)
            raise InvalidCredentials()
        store = self.rt.store.practice(practice_id)
        users = UserRepository(store, self.rt.cipher)
        now = self.rt.clock.now()
        user = users.find_by_email(email)
        if user is None:
            passwords.verify_dummy(password)
            self._audit(
                store,
                _anonymous_event(practice_id, meta, "auth.login", Outcome.DENIED, "unknown_user"),
            )
            raise InvalidCredentials()
        if user.locked(now) or user.status is not UserStatus.ACTIVE or user.password_hash is None:
            passwords.verify_dummy(password)
            reason = "locked" if user.locked(now) else "inactive"
            self._audit(
                store,
                _anonymous_event(practice_id, meta, "auth.login", Outcome.DENIED, reason, user.id),
            )
            raise InvalidCredentials()
        if not passwords.verify_password(user.password_hash, password):
            failed = user.after_failed_login(now)
            locked_now = failed.locked(now)
            reason = "locked_out" if locked_now else "bad_password"
            action = "auth.lockout" if locked_now else "auth.login"
            self.rt.audit.write_with_audit(
                store,
                lambda: [users.update_op(self._reload(users, user.id).after_failed_login(now))],
                _anonymous_event(practice_id, meta, action, Outcome.DENIED, reason, user.id),
            )
            raise InvalidCredentials()

        updated = user.after_successful_login()
        if passwords.needs_rehash(user.password_hash):
            updated = updated.model_copy(
                update={"password_hash": passwords.hash_password(password)}
            )
        if user.mfa_enrolled:
            challenge = secrets.token_urlsafe(32)
            challenge_op = Put(
                {
                    "pk": f"MFA_CHALLENGE#{token_hash(challenge)}",
                    "sk": "CHALLENGE",
                    "user_id": user.id,
                    "auth_time": to_rfc3339(now),
                    "attempts": 0,
                    "expires_at": int((now + CHALLENGE_TTL).timestamp()),
                },
                Absent(),
            )
            self.rt.audit.write_with_audit(
                store,
                lambda: [users.update_op(updated), challenge_op],
                _anonymous_event(
                    practice_id, meta, "auth.password", Outcome.ALLOWED, "mfa_pending", user.id
                ),
            )
            return MfaChallenge(challenge, int(CHALLENGE_TTL.total_seconds()))
        return self._start_session(
            store, users, updated, now, mfa_at=None, meta=meta, write_user=True
        )

    # ---- second factor ----------------------------------------------------------------------

    def verify_mfa(
        self,
        practice_slug: str,
        challenge: str,
        code: str | None,
        recovery_code: str | None,
        meta: RequestMeta,
    ) -> Tokens:
        self._local_only()
        practice_id = practice_id_for_slug(self.rt.store, practice_slug)
        if practice_id is None:
            raise InvalidCredentials()
        store = self.rt.store.practice(practice_id)
        users = UserRepository(store, self.rt.cipher)
        key = (f"MFA_CHALLENGE#{token_hash(challenge)}", "CHALLENGE")
        pending = store.get(*key)
        if pending is None:
            raise InvalidCredentials()
        user = users.get(str(pending["user_id"]))
        now = self.rt.clock.now()
        if user is None or user.status is not UserStatus.ACTIVE or user.mfa_secret is None:
            raise InvalidCredentials()
        updated: User | None = None
        reason = "totp"
        if code is not None:
            step = mfa.verify_totp(user.mfa_secret, code, now, user.mfa_last_step)
            if step is not None:
                updated = user.bump(mfa_last_step=step)
        elif recovery_code is not None:
            index = mfa.match_recovery_code(
                recovery_code, list(user.recovery_code_hashes), self._pepper(practice_id)
            )
            if index is not None:
                remaining = tuple(h for i, h in enumerate(user.recovery_code_hashes) if i != index)
                updated = user.bump(recovery_code_hashes=remaining)
                reason = "recovery_code"
        if updated is None:
            attempts = int(pending.get("attempts", 0)) + 1
            ops: list[Operation] = (
                [Delete(*key)]
                if attempts >= MFA_MAX_ATTEMPTS
                else [Put({**pending, "pk": key[0], "sk": key[1], "attempts": attempts})]
            )
            self.rt.audit.write_with_audit(
                store,
                lambda: ops,
                _anonymous_event(
                    practice_id, meta, "auth.mfa", Outcome.DENIED, "bad_code", user.id
                ),
            )
            raise InvalidCredentials()
        auth_time = datetime.fromisoformat(str(pending["auth_time"]).replace("Z", "+00:00"))
        return self._start_session(
            store,
            users,
            updated,
            auth_time,
            mfa_at=now,
            meta=meta,
            write_user=True,
            extra_ops=[Delete(*key)],
            reason=reason,
        )

    # ---- sessions ---------------------------------------------------------------------------

    def _start_session(
        self,
        store: PracticeStore,
        users: UserRepository,
        user: User,
        auth_time: datetime,
        *,
        mfa_at: datetime | None,
        meta: RequestMeta,
        write_user: bool,
        extra_ops: list[Operation] | None = None,
        reason: str = "password",
    ) -> Tokens:
        practice = get_practice(self.rt.store, store.practice_id)
        now = self.rt.clock.now()
        session = Session(
            id=new_id("ses"),  # a new session id after every sign-in
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=practice.settings.session_max_hours),
            idle_minutes=practice.settings.session_idle_minutes,
            auth_time=auth_time,
            mfa_at=mfa_at,
            source_ip=meta.source_ip,
            user_agent=meta.user_agent[:512],
        )
        refresh = secrets.token_urlsafe(32)
        session = session.model_copy(update={"refresh_hash": token_hash(refresh)})
        sessions = SessionRepository(store)
        ops: list[Operation] = [
            sessions.create_op(session),
            *sessions.refresh_ops(session, token_hash(refresh), None),
        ]
        if write_user:
            ops.append(users.update_op(user))
        ops += extra_ops or []
        self.rt.audit.write_with_audit(
            store,
            lambda: ops,
            _anonymous_event(
                store.practice_id, meta, "auth.login", Outcome.ALLOWED, reason, user.id
            ),
        )
        return self._tokens(store.practice_id, user, session, refresh)

    def _tokens(self, practice_id: str, user: User, session: Session, refresh: str) -> Tokens:
        signer = self.rt.identity.signer  # type: ignore[attr-defined]
        amr = ["pwd", "mfa"] if session.mfa_at else ["pwd"]
        access = signer.issue_access(
            sub=user.id,
            practice_id=practice_id,
            roles=user.roles,
            sid=session.id,
            auth_time=session.auth_time,
            amr=amr,
            patient_id=user.patient_id,
        )
        return Tokens(
            access_token=access,
            refresh_token=refresh,
            expires_in=15 * 60,
            session_id=session.id,
            mfa_enrolment_required=user.mfa_required and not user.mfa_enrolled,
        )

    def refresh(self, practice_slug: str, refresh_token: str, meta: RequestMeta) -> Tokens:
        self._local_only()
        practice_id = practice_id_for_slug(self.rt.store, practice_slug)
        if practice_id is None:
            raise Unauthenticated()
        store = self.rt.store.practice(practice_id)
        sessions = SessionRepository(store)
        users = UserRepository(store, self.rt.cipher)
        old_hash = token_hash(refresh_token)
        entry = sessions.refresh_lookup(old_hash)
        if entry is None:
            raise Unauthenticated()
        session = sessions.get(str(entry["user_id"]), str(entry["session_id"]))
        user = users.get(str(entry["user_id"]))
        now = self.rt.clock.now()
        if session is None or user is None or user.status is not UserStatus.ACTIVE:
            raise Unauthenticated()
        if entry.get("rotated") or session.refresh_hash != old_hash:
            # A spent refresh token came back: someone copied it. End the session.
            ended = session.model_copy(
                update={
                    "revoked_at": now,
                    "revoked_reason": "refresh_reuse",
                    "version": session.version + 1,
                }
            )
            self.rt.audit.write_with_audit(
                store,
                lambda: [sessions.update_op(ended)],
                _anonymous_event(
                    practice_id, meta, "auth.refresh", Outcome.DENIED, "refresh_reuse", user.id
                ),
            )
            raise Unauthenticated()
        if session.ended(now) is not None:
            raise Unauthenticated()
        new_refresh = secrets.token_urlsafe(32)
        renewed = session.model_copy(
            update={
                "refresh_hash": token_hash(new_refresh),
                "last_seen_at": now,
                "version": session.version + 1,
            }
        )
        self.rt.audit.write_with_audit(
            store,
            lambda: [
                sessions.update_op(renewed),
                *sessions.refresh_ops(renewed, token_hash(new_refresh), old_hash),
            ],
            _anonymous_event(
                practice_id, meta, "auth.refresh", Outcome.ALLOWED, "rotated", user.id
            ),
        )
        return self._tokens(practice_id, user, renewed, new_refresh)

    def logout(self, principal: Principal) -> None:
        store = self.rt.store.practice(principal.practice_id)
        sessions = SessionRepository(store)
        session = sessions.get(principal.user_id, principal.session_id)
        if session is None:
            raise Unauthenticated()
        ended = session.model_copy(
            update={
                "revoked_at": self.rt.clock.now(),
                "revoked_reason": "logout",
                "version": session.version + 1,
            }
        )
        self.rt.audit.write_with_audit(
            store,
            lambda: [sessions.update_op(ended)],
            AuditEvent.for_principal(
                principal, action="auth.logout", resource_kind="session", resource_id=session.id
            ),
        )

    def reauthenticate(self, principal: Principal, password: str, code: str) -> None:
        """Step-up: password and a fresh TOTP code mark the session as recently MFA'd."""
        self._local_only()
        store = self.rt.store.practice(principal.practice_id)
        users = UserRepository(store, self.rt.cipher)
        sessions = SessionRepository(store)
        user = users.get(principal.user_id)
        session = sessions.get(principal.user_id, principal.session_id)
        now = self.rt.clock.now()
        if user is None or session is None or user.password_hash is None:
            raise Unauthenticated()
        step = None
        if user.mfa_secret is not None and passwords.verify_password(user.password_hash, password):
            step = mfa.verify_totp(user.mfa_secret, code, now, user.mfa_last_step)
        event = AuditEvent.for_principal(
            principal,
            action="auth.reauthenticate",
            resource_kind="session",
            resource_id=session.id,
            outcome=Outcome.ALLOWED if step is not None else Outcome.DENIED,
        )
        if step is None:
            self.rt.audit.record(store, event)
            raise Reauthenticate()
        stepped = session.model_copy(
            update={"mfa_at": now, "last_seen_at": now, "version": session.version + 1}
        )
        self.rt.audit.write_with_audit(
            store,
            lambda: [sessions.update_op(stepped), users.update_op(user.bump(mfa_last_step=step))],
            event,
        )

    # ---- helpers ------------------------------------------------------------------------

    def _pepper(self, practice_id: str) -> bytes:
        return self.rt.cipher.blind_index(practice_id, "recovery-code-pepper", "v1").encode()

    @staticmethod
    def _reload(users: UserRepository, user_id: str) -> User:
        user = users.get(user_id)
        if user is None:
            raise InvalidCredentials()
        return user

    def _audit(self, store: PracticeStore, event: AuditEvent) -> None:
        self.rt.audit.record(store, event)
