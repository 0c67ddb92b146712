"""The caller's own account: who am I, my sessions, MFA enrolment, password change."""

from __future__ import annotations

from dataclasses import dataclass

from tpm.adapters.identity import hosted_credentials
from tpm.domain.sessions import Session
from tpm.domain.users import User
from tpm.errors import Conflict, NotFound, Reauthenticate, Unauthenticated, ValidationFailed
from tpm.security import mfa, passwords
from tpm.security.policy import permission_table
from tpm.services.authentication import provider_access_token
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice
from tpm.services.request_auth import require_recent_mfa
from tpm.services.users import revoke_session


@dataclass(frozen=True)
class EffectivePermissions:
    """What the signed-in user's roles hold in the permission table: action -> scopes.
    A client shows only what this allows; the API still checks every call (and the
    relationship scopes per record), so this is a hint for screens, never a guard."""

    roles: list[str]
    actions: dict[str, list[str]]


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str | None


class AccountService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def me(self) -> User:
        access = self.ctx.authorize(
            "self.read", resource_kind="user", user_id=self.ctx.principal.user_id
        )
        user = self._me()
        self.ctx.record(access, "user", user.id)
        return user

    def permissions(self) -> EffectivePermissions:
        principal = self.ctx.principal
        access = self.ctx.authorize("self.read", resource_kind="user", user_id=principal.user_id)
        table = permission_table()
        actions: dict[str, list[str]] = {}
        for action in sorted(table.actions):
            scopes = table.scopes(principal.roles, action)
            if scopes:
                actions[action] = sorted(scope.value for scope in scopes)
        self.ctx.record(access, "user", principal.user_id, reason_code="permissions")
        return EffectivePermissions(roles=sorted(r.value for r in principal.roles), actions=actions)

    def sessions(self) -> list[Session]:
        access = self.ctx.authorize(
            "self.sessions", resource_kind="session", user_id=self.ctx.principal.user_id
        )
        sessions = self.ctx.sessions.list_for_user(self.ctx.principal.user_id)
        self.ctx.record(access, "session", self.ctx.principal.user_id)
        return sessions

    def end_session(self, session_id: str) -> None:
        access = self.ctx.authorize(
            "self.sessions", resource_kind="session", user_id=self.ctx.principal.user_id
        )
        revoke_session(self.ctx, access, self.ctx.principal.user_id, session_id, "ended_by_user")

    # ---- MFA ------------------------------------------------------------------------------

    def start_totp(self) -> TotpEnrolment:
        ctx = self.ctx
        access = ctx.authorize("self.mfa", resource_kind="user", user_id=ctx.principal.user_id)
        user = self._me()
        if user.mfa_enrolled:
            # Replacing a working factor is a sensitive change: prove it is you first.
            require_recent_mfa(ctx.runtime, ctx.principal)
        hosted = hosted_credentials(ctx.runtime.identity)
        if hosted is not None:
            # Cognito makes and keeps the secret (AssociateSoftwareToken, with the session's
            # access token that only the API holds); we keep no copy.
            secret = hosted.associate_software_token(self._provider_access())
            pending = user.bump()
        else:
            secret = mfa.new_totp_secret()
            pending = user.bump(mfa_pending_secret=secret)
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        uri = mfa.provisioning_uri(secret, user.email, f"tpm - {practice.name}")
        ctx.write(
            access,
            lambda: [ctx.users.update_op(pending)],
            "user",
            user.id,
            reason_code="totp_started",
        )
        qr = getattr(mfa, "qr_svg", None)
        return TotpEnrolment(secret=secret, otpauth_uri=uri, qr_svg=qr(uri) if qr else None)

    def confirm_totp(self, code: str) -> list[str]:
        """Confirms the authenticator and returns one-time recovery codes (shown once)."""
        ctx = self.ctx
        access = ctx.authorize("self.mfa", resource_kind="user", user_id=ctx.principal.user_id)
        user = self._me()
        now = ctx.now()
        codes = mfa.new_recovery_codes()
        pepper = ctx.runtime.cipher.blind_index(
            ctx.practice_id, "recovery-code-pepper", "v1"
        ).encode()
        hashes = tuple(mfa.hash_recovery_code(c, pepper) for c in codes)
        hosted = hosted_credentials(ctx.runtime.identity)
        if hosted is not None:
            if not hosted.verify_software_token(self._provider_access(), code):
                raise ValidationFailed(fields=[{"path": "body.code", "type": "invalid_code"}])
            # From now on Cognito asks every sign-in for a code, and the `mfa` group puts
            # that fact into the user's tokens.
            hosted.set_software_token_mfa(user.id, enabled=True)
            enrolled = user.bump(provider_mfa=True, recovery_code_hashes=hashes)
        else:
            if user.mfa_pending_secret is None:
                raise Conflict("Start enrolment first.")
            step = mfa.verify_totp(user.mfa_pending_secret, code, now, None)
            if step is None:
                raise ValidationFailed(fields=[{"path": "body.code", "type": "invalid_code"}])
            enrolled = user.bump(
                mfa_secret=user.mfa_pending_secret,
                mfa_pending_secret=None,
                mfa_last_step=step,
                recovery_code_hashes=hashes,
            )
        session = ctx.sessions.get(user.id, ctx.principal.session_id)
        if session is None:
            raise Unauthenticated()
        # Proving the factor just now counts as an MFA sign-in for this session.
        stepped = session.model_copy(update={"mfa_at": now, "version": session.version + 1})
        ctx.write(
            access,
            lambda: [ctx.users.update_op(enrolled), ctx.sessions.update_op(stepped)],
            "user",
            user.id,
            reason_code="totp_enrolled",
        )
        return codes

    # ---- password -------------------------------------------------------------------------

    def change_password(self, current: str, new: str) -> None:
        ctx = self.ctx
        access = ctx.authorize("self.update", resource_kind="user", user_id=ctx.principal.user_id)
        user = self._me()
        if user.mfa_enrolled:
            require_recent_mfa(ctx.runtime, ctx.principal)
        hosted = hosted_credentials(ctx.runtime.identity)
        if hosted is not None:
            try:
                # Tokens or an MFA challenge both mean the password was right; both dropped.
                hosted.initiate_auth(user.id, current)
                current_ok = True
            except Unauthenticated:
                current_ok = False
        else:
            current_ok = user.password_hash is not None and passwords.verify_password(
                user.password_hash, current
            )
        if not current_ok:
            raise ValidationFailed(fields=[{"path": "body.current_password", "type": "incorrect"}])
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        problems = passwords.check_password(
            new, practice.settings.password_policy, [user.email, user.display_name, practice.name]
        )
        if problems:
            raise ValidationFailed(
                fields=[{"path": "body.new_password", "type": p} for p in problems]
            )
        if hosted is not None:
            try:
                hosted.set_password(user.id, new)
            except ValidationFailed as exc:
                raise ValidationFailed(
                    fields=[{"path": "body.new_password", "type": "provider_policy"}]
                ) from exc
            changed = user.bump()
        else:
            changed = user.bump(password_hash=passwords.hash_password(new))
        # Other sessions end: a password change is what you do when you suspect theft.
        now = ctx.now()
        others = [
            s.model_copy(
                update={
                    "revoked_at": now,
                    "revoked_reason": "password_changed",
                    "version": s.version + 1,
                }
            )
            for s in ctx.sessions.list_for_user(user.id)
            if s.id != ctx.principal.session_id and s.ended(now) is None
        ][:90]
        ctx.write(
            access,
            lambda: [ctx.users.update_op(changed), *(ctx.sessions.update_op(s) for s in others)],
            "user",
            user.id,
            reason_code="password_changed",
        )

    def _provider_access(self) -> str:
        token = provider_access_token(
            self.ctx.runtime, self.ctx.store, self.ctx.principal.session_id
        )
        if token is None:
            # Older than the provider's access token (15 minutes without a refresh).
            raise Reauthenticate()
        return token

    def _me(self) -> User:
        user = self.ctx.users.get(self.ctx.principal.user_id)
        if user is None:
            raise NotFound()
        return user
