"""Signing in: password, then TOTP or a recovery code; token refresh; logout; step-up
re-authentication. The same routes and answers with either identity provider: locally our
own password hashes and TOTP secrets decide; under Cognito (`hosted_credentials`) the user
pool does (AdminInitiateAuth / AdminRespondToAuthChallenge), its ID token is the bearer
token and its refresh token the refresh token. Our session row, lockout counter, challenge
row and audit events are the same for both.

Every outcome is audited. A wrong password, an unknown user, a locked or inactive account
all get the same generic 401, and take about as long (argon2, or one provider call, runs
on every path).
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tpm.adapters.identity import (
    HostedCredentials,
    ProviderTokens,
    SignInContext,
    hosted_credentials,
)
from tpm.adapters.store.base import SYSTEM_PRACTICE, Absent, Delete, Operation, PracticeStore, Put
from tpm.clock import to_rfc3339
from tpm.domain.sessions import Session
from tpm.domain.users import User, UserStatus
from tpm.errors import Conflict, Reauthenticate, Unauthenticated
from tpm.ids import new_id
from tpm.repositories.sealing import Sealer
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security import mfa, passwords
from tpm.security.audit_chain import AuditEvent, Outcome
from tpm.security.principal import Principal
from tpm.services.practices import get_practice, practice_id_for_slug
from tpm.services.rate_limits import enforce

CHALLENGE_TTL = timedelta(minutes=5)
LOGIN_IP_WINDOW = 300  # seconds: Settings.sign_in_attempts_per_address per 5 minutes
MFA_MAX_ATTEMPTS = 5


class MfaResetSignInAgain(Conflict):
    code = "mfa_reset"
    message = (
        "Your recovery code was accepted and your authenticator removed. Sign in again with "
        "your password, then set up a new authenticator."
    )


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


def sign_in_context(meta: RequestMeta, path: str = "/v1/auth/login") -> SignInContext:
    return SignInContext(source_ip=meta.source_ip, user_agent=meta.user_agent, server_path=path)


# The provider's access token (Cognito) is kept server-side, sealed, one per session: the
# API needs it to enrol a TOTP factor for the user, and the user never holds it.
_PROVIDER_ACCESS_KIND = "provider-access"


def provider_access_op(
    runtime: Runtime, practice_id: str, session_id: str, token: str, expires_at: datetime
) -> Put:
    sealer = Sealer(runtime.cipher, practice_id, _PROVIDER_ACCESS_KIND, session_id)
    return Put(
        {
            "pk": f"PROVIDER_ACCESS#{session_id}",
            "sk": "TOKEN",
            "token": sealer.seal("token", token),
            "expires_at": int(expires_at.timestamp()),
        }
    )


def provider_access_token(runtime: Runtime, store: PracticeStore, session_id: str) -> str | None:
    item = store.get(f"PROVIDER_ACCESS#{session_id}", "TOKEN")
    if item is None or int(item.get("expires_at", 0)) <= runtime.clock.now().timestamp():
        return None
    sealer = Sealer(runtime.cipher, store.practice_id, _PROVIDER_ACCESS_KIND, session_id)
    return sealer.open("token", item.get("token"))


def anonymous_event(
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
    """Sign-in for both providers (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.hosted: HostedCredentials | None = hosted_credentials(runtime.identity)

    # ---- password step ------------------------------------------------------------------

    def login(
        self, practice_slug: str, email: str, password: str, meta: RequestMeta
    ) -> Tokens | MfaChallenge:
        practice_id = practice_id_for_slug(self.rt.store, practice_slug)
        # Throttle guessing per source address (before any password work), on top of the
        # per-account lockout below; unknown practices count against the deployment.
        throttle_scope = self.rt.store.practice(practice_id or SYSTEM_PRACTICE)
        enforce(
            throttle_scope,
            self.rt.clock,
            "login-ip",
            meta.source_ip or "unknown",
            self.rt.settings.sign_in_attempts_per_address,
            LOGIN_IP_WINDOW,
        )
        if practice_id is None:
            self._dummy_check(password, meta)
            raise InvalidCredentials()
        store = self.rt.store.practice(practice_id)
        users = UserRepository(store, self.rt.cipher)
        now = self.rt.clock.now()
        user = users.find_by_email(email)
        if user is None:
            self._dummy_check(password, meta)
            self._audit(
                store,
                anonymous_event(practice_id, meta, "auth.login", Outcome.DENIED, "unknown_user"),
            )
            raise InvalidCredentials()
        local_credentials = self.hosted is None
        if (
            user.locked(now)
            or user.status is not UserStatus.ACTIVE
            or (local_credentials and user.password_hash is None)
        ):
            self._dummy_check(password, meta)
            reason = "locked" if user.locked(now) else "inactive"
            self._audit(
                store,
                anonymous_event(practice_id, meta, "auth.login", Outcome.DENIED, reason, user.id),
            )
            raise InvalidCredentials()
        provider: ProviderTokens | None = None
        if self.hosted is not None:
            try:
                provider = self.hosted.initiate_auth(user.id, password, sign_in_context(meta))
            except Unauthenticated:
                provider = None
            password_ok = provider is not None
        else:
            assert user.password_hash is not None
            password_ok = passwords.verify_password(user.password_hash, password)
        if not password_ok:
            failed = user.after_failed_login(now)
            locked_now = failed.locked(now)
            reason = "locked_out" if locked_now else "bad_password"
            action = "auth.lockout" if locked_now else "auth.login"
            self.rt.audit.write_with_audit(
                store,
                lambda: [users.update_op(self._reload(users, user.id).after_failed_login(now))],
                anonymous_event(practice_id, meta, action, Outcome.DENIED, reason, user.id),
            )
            raise InvalidCredentials()

        updated = user.after_successful_login()
        if user.password_hash is not None and passwords.needs_rehash(user.password_hash):
            updated = updated.model_copy(
                update={"password_hash": passwords.hash_password(password)}
            )
        provider_challenge = provider is not None and provider.challenge is not None
        if provider is not None and provider.challenge not in (None, "SOFTWARE_TOKEN_MFA"):
            # NEW_PASSWORD_REQUIRED and the like: accounts are made with a permanent password.
            raise InvalidCredentials()
        if provider_challenge or (provider is None and user.mfa_enrolled):
            challenge = secrets.token_urlsafe(32)
            pending: dict[str, object] = {
                "pk": f"MFA_CHALLENGE#{token_hash(challenge)}",
                "sk": "CHALLENGE",
                "user_id": user.id,
                "auth_time": to_rfc3339(now),
                "attempts": 0,
                "expires_at": int((now + CHALLENGE_TTL).timestamp()),
            }
            if provider is not None and provider.session:
                # The provider's own challenge session, answered at /v1/auth/mfa.
                pending["provider_session"] = provider.session
            challenge_op = Put(pending, Absent())
            # The password was right but the sign-in is not done: the failure count (which
            # wrong codes add to) carries on until the second factor is answered, so a new
            # challenge never hands out fresh guesses.
            half = updated.model_copy(update={"failed_logins": user.failed_logins})
            self.rt.audit.write_with_audit(
                store,
                lambda: [users.update_op(half), challenge_op],
                anonymous_event(
                    practice_id, meta, "auth.password", Outcome.ALLOWED, "mfa_pending", user.id
                ),
            )
            return MfaChallenge(challenge, int(CHALLENGE_TTL.total_seconds()))
        return self._start_session(
            store, users, updated, now, mfa_at=None, meta=meta, write_user=True, provider=provider
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
        if user is None or user.status is not UserStatus.ACTIVE or not user.mfa_enrolled:
            raise InvalidCredentials()
        if user.locked(now):
            self._audit(
                store,
                anonymous_event(practice_id, meta, "auth.mfa", Outcome.DENIED, "locked", user.id),
            )
            raise InvalidCredentials()
        updated: User | None = None
        provider: ProviderTokens | None = None
        reason = "totp"
        if code is not None and self.hosted is not None:
            try:
                provider = self.hosted.respond_to_mfa(
                    user.id,
                    str(pending.get("provider_session", "")),
                    code,
                    sign_in_context(meta, "/v1/auth/mfa"),
                )
            except Unauthenticated:
                provider = None
            if provider is not None and provider.id_token:
                updated = user.bump()
        elif code is not None and user.mfa_secret is not None:
            step = mfa.verify_totp(user.mfa_secret, code, now, user.mfa_last_step)
            if step is not None:
                updated = user.bump(mfa_last_step=step)
        elif recovery_code is not None:
            index = mfa.match_recovery_code(
                recovery_code, list(user.recovery_code_hashes), self._pepper(practice_id)
            )
            if index is not None and self.hosted is not None:
                self._reset_provider_mfa(store, users, user, key, meta)
            if index is not None:
                remaining = tuple(h for i, h in enumerate(user.recovery_code_hashes) if i != index)
                updated = user.bump(recovery_code_hashes=remaining)
                reason = "recovery_code"
        if updated is None:
            # A wrong code counts toward the account's lockout like a wrong password (five
            # guesses in all, however many challenges they are spread over), and the
            # challenge itself ends after MFA_MAX_ATTEMPTS or at the lockout.
            attempts = int(pending.get("attempts", 0)) + 1
            locked_now = user.after_failed_login(now).locked(now)
            challenge_ops: list[Operation] = (
                [Delete(*key)]
                if attempts >= MFA_MAX_ATTEMPTS or locked_now
                else [Put({**pending, "pk": key[0], "sk": key[1], "attempts": attempts})]
            )
            self.rt.audit.write_with_audit(
                store,
                lambda: [
                    users.update_op(self._reload(users, user.id).after_failed_login(now)),
                    *challenge_ops,
                ],
                anonymous_event(
                    practice_id,
                    meta,
                    "auth.lockout" if locked_now else "auth.mfa",
                    Outcome.DENIED,
                    "locked_out" if locked_now else "bad_code",
                    user.id,
                ),
            )
            raise InvalidCredentials()
        # The sign-in is complete: the failure count starts again.
        updated = updated.model_copy(update={"failed_logins": 0, "locked_until": None})
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
            provider=provider,
        )

    def _reset_provider_mfa(
        self,
        store: PracticeStore,
        users: UserRepository,
        user: User,
        challenge_key: tuple[str, str],
        meta: RequestMeta,
    ) -> None:
        """A recovery code under Cognito: the pool's pending challenge wants a TOTP code and
        nothing else, so the code cannot finish this sign-in. It removes the authenticator
        instead (and spends every recovery code); the next password sign-in goes straight
        through and the privileged roles are sent to enrol a new one."""
        assert self.hosted is not None
        self.hosted.set_software_token_mfa(user.id, enabled=False)
        reset = user.bump(provider_mfa=False, recovery_code_hashes=())
        self.rt.audit.write_with_audit(
            store,
            lambda: [users.update_op(reset), Delete(*challenge_key)],
            anonymous_event(
                store.practice_id, meta, "auth.mfa", Outcome.ALLOWED, "recovery_code_reset", user.id
            ),
        )
        raise MfaResetSignInAgain()

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
        provider: ProviderTokens | None = None,
    ) -> Tokens:
        practice = get_practice(self.rt.store, store.practice_id)
        now = self.rt.clock.now()
        session_id = new_id("ses")  # a new session id after every sign-in
        if provider is not None:
            if not (provider.id_token and provider.refresh_token):
                raise InvalidCredentials()
            # The provider's refresh-token lineage is the session (stable across refreshes).
            claims = self.rt.verifier().verify(provider.id_token)
            if claims.sub != user.id or claims.practice_id != store.practice_id:
                raise InvalidCredentials()
            session_id = claims.sid
        session = Session(
            id=session_id,
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
        refresh = secrets.token_urlsafe(32) if provider is None else str(provider.refresh_token)
        session = session.model_copy(update={"refresh_hash": token_hash(refresh)})
        sessions = SessionRepository(store)
        ops: list[Operation] = [
            sessions.create_op(session),
            *sessions.refresh_ops(session, token_hash(refresh), None),
        ]
        if provider is not None and provider.access_token:
            expires = now + timedelta(seconds=provider.expires_in or 900)
            ops.append(
                provider_access_op(
                    self.rt, store.practice_id, session.id, provider.access_token, expires
                )
            )
        if write_user:
            ops.append(users.update_op(user))
        ops += extra_ops or []
        self.rt.audit.write_with_audit(
            store,
            lambda: ops,
            anonymous_event(
                store.practice_id, meta, "auth.login", Outcome.ALLOWED, reason, user.id
            ),
        )
        return self._tokens(store.practice_id, user, session, refresh, provider)

    def _tokens(
        self,
        practice_id: str,
        user: User,
        session: Session,
        refresh: str,
        provider: ProviderTokens | None = None,
    ) -> Tokens:
        if provider is not None:
            return Tokens(
                access_token=str(provider.id_token),
                refresh_token=refresh,
                expires_in=provider.expires_in or 900,
                session_id=session.id,
                mfa_enrolment_required=user.mfa_required and session.mfa_at is None,
            )
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
                anonymous_event(
                    practice_id, meta, "auth.refresh", Outcome.DENIED, "refresh_reuse", user.id
                ),
            )
            raise Unauthenticated()
        if session.ended(now) is not None:
            raise Unauthenticated()
        if self.hosted is not None:
            return self._refresh_at_provider(store, users, user, session, refresh_token, meta)
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
            anonymous_event(practice_id, meta, "auth.refresh", Outcome.ALLOWED, "rotated", user.id),
        )
        return self._tokens(practice_id, user, renewed, new_refresh)

    def _refresh_at_provider(
        self,
        store: PracticeStore,
        users: UserRepository,
        user: User,
        session: Session,
        refresh_token: str,
        meta: RequestMeta,
    ) -> Tokens:
        """Cognito issues new ID and access tokens for the same lineage (the session id
        stays); it does not rotate the refresh token on this flow, so it stays the same and
        the session row (idle timeout, logout, revocation) decides whether it still works."""
        assert self.hosted is not None
        provider = self.hosted.refresh(user.id, refresh_token)
        if not provider.id_token:
            raise Unauthenticated()
        claims = self.rt.verifier().verify(provider.id_token)
        if claims.sid != session.id or claims.sub != user.id:
            raise Unauthenticated()
        now = self.rt.clock.now()
        renewed = session.model_copy(update={"last_seen_at": now, "version": session.version + 1})
        ops: list[Operation] = [SessionRepository(store).update_op(renewed)]
        if provider.access_token:
            expires = now + timedelta(seconds=provider.expires_in or 900)
            ops.append(
                provider_access_op(
                    self.rt, store.practice_id, session.id, provider.access_token, expires
                )
            )
        self.rt.audit.write_with_audit(
            store,
            lambda: ops,
            anonymous_event(
                store.practice_id, meta, "auth.refresh", Outcome.ALLOWED, "provider", user.id
            ),
        )
        return self._tokens(store.practice_id, user, renewed, refresh_token, provider)

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
        store = self.rt.store.practice(principal.practice_id)
        users = UserRepository(store, self.rt.cipher)
        sessions = SessionRepository(store)
        user = users.get(principal.user_id)
        session = sessions.get(principal.user_id, principal.session_id)
        now = self.rt.clock.now()
        if user is None or session is None:
            raise Unauthenticated()
        step = None
        if self.hosted is not None:
            if user.provider_mfa and self._provider_step_up(user, password, code):
                step = user.mfa_last_step or 0
        elif (
            user.password_hash is not None
            and user.mfa_secret is not None
            and passwords.verify_password(user.password_hash, password)
        ):
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

    def _provider_step_up(self, user: User, password: str, code: str) -> bool:
        """Password then the TOTP code at the provider; the tokens it issues are dropped."""
        assert self.hosted is not None
        try:
            first = self.hosted.initiate_auth(user.id, password)
            if first.challenge != "SOFTWARE_TOKEN_MFA" or not first.session:
                return False
            return bool(self.hosted.respond_to_mfa(user.id, first.session, code).id_token)
        except Unauthenticated:
            return False

    def _dummy_check(self, password: str, meta: RequestMeta) -> None:
        """The same work as a real check, so an unknown user answers as slowly as a known
        one: argon2 locally, one sign-in attempt for a user that cannot exist at Cognito."""
        if self.hosted is None:
            passwords.verify_dummy(password)
            return
        with contextlib.suppress(Unauthenticated):
            self.hosted.initiate_auth("usr_" + "0" * 26, password, sign_in_context(meta))

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
