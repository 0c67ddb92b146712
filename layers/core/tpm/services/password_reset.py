"""Forgotten passwords: an emailed, single-use link sets a new one.

The same for both identity providers: the API makes and checks its own reset token
(stored by hash, 30 minutes, the newest one only) and sets the password where the
provider keeps it (our argon2 hash locally, AdminSetUserPassword under Cognito). Cognito's
own ForgotPassword flow was not used: its codes arrive in Cognito's message, not ours
(which carries no practice detail and goes through the business associate register), and
its confirmation would leave our sessions running.

Asking never tells whether the address has an account: the answer is the same 202 for
every address, the mail goes only to an active account's own address, and every ask is
audited (unknown addresses as an anonymous event). Resetting ends every session of the
account and clears a lockout; it never removes the second factor, which sign-in still
asks for.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from tpm.adapters.identity import hosted_credentials
from tpm.adapters.notify import DeliveryRejected
from tpm.adapters.store.base import SYSTEM_PRACTICE, Absent, Delete, Operation, Put
from tpm.domain.users import User, UserStatus
from tpm.domain.vendors import AgreementRequired
from tpm.errors import DependencyUnavailable, NotFound, RateLimited, ValidationFailed
from tpm.observability import get_logger
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security import passwords
from tpm.security.audit_chain import AuditEvent, Outcome
from tpm.security.principal import SystemActor
from tpm.services.agreements import AgreementGuard
from tpm.services.authentication import RequestMeta, anonymous_event, token_hash
from tpm.services.practices import get_practice, practice_id_for_slug
from tpm.services.rate_limits import enforce

log = get_logger("password-reset")

RESET_TTL = timedelta(minutes=30)
RESET_IP_LIMIT = (20, 3600)  # asks per source address per hour
RESET_ACCOUNT_LIMIT = (3, 3600)  # emails per account per hour: no mail-bombing a person
MAX_SESSIONS_ENDED = 90  # one transaction's worth (the user row and the token rows too)

SUBJECT = "{practice}: reset your password"
BODY = (
    "Someone asked to reset the password of your {practice} account. If it was you, open"
    " this link within 30 minutes and choose a new password:\n\n{link}\n\n"
    "If it was not you, ignore this email: your password stays as it is.\n"
)


def _reset_key(token: str) -> tuple[str, str]:
    return (f"PWRESET#{token_hash(token)}", "PWRESET")


def _latest_key(user_id: str) -> tuple[str, str]:
    # The account's newest token (a newer ask makes older links useless).
    return (f"USER#{user_id}", "PWRESET")


def reset_link(portal_url: str, practice_slug: str, token: str, *, staff: bool) -> str:
    """The link in the email. The token rides in the fragment, which browsers never send
    to a server, so it is in no access log, CDN log or Referer."""
    base = portal_url.rstrip("/") + ("/staff/" if staff else "/")
    return f"{base}?practice={practice_slug}#password-reset={token}"


def request_reset(runtime: Runtime, practice_slug: str, email: str, meta: RequestMeta) -> None:
    """Emails a reset link to the account with this address, if there is an active one.
    Answers the same either way (see the module docstring)."""
    practice_id = practice_id_for_slug(runtime.store, practice_slug)
    scope = runtime.store.practice(practice_id or SYSTEM_PRACTICE)
    enforce(scope, runtime.clock, "reset-ip", meta.source_ip or "unknown", *RESET_IP_LIMIT)
    if practice_id is None:
        return
    store = runtime.store.practice(practice_id)
    user = UserRepository(store, runtime.cipher).find_by_email(email)
    if user is None or user.status is not UserStatus.ACTIVE:
        reason = "unknown_user" if user is None else "inactive"
        runtime.audit.record(
            store,
            anonymous_event(
                practice_id,
                meta,
                "auth.password_reset_request",
                Outcome.DENIED,
                reason,
                "" if user is None else user.id,
            ),
        )
        return
    try:
        enforce(store, runtime.clock, "reset-account", user.id, *RESET_ACCOUNT_LIMIT)
    except RateLimited:
        # Quietly: a 429 here (and never for unknown addresses) would tell who has an account.
        runtime.audit.record(
            store,
            anonymous_event(
                practice_id,
                meta,
                "auth.password_reset_request",
                Outcome.DENIED,
                "rate_limited",
                user.id,
            ),
        )
        return
    now = runtime.clock.now()
    token = secrets.token_urlsafe(32)
    pk, sk = _reset_key(token)
    expires_at = int((now + RESET_TTL).timestamp())
    ops: list[Operation] = [
        Put({"pk": pk, "sk": sk, "user_id": user.id, "expires_at": expires_at}, Absent()),
        Put(
            {
                "pk": _latest_key(user.id)[0],
                "sk": _latest_key(user.id)[1],
                "token_hash": token_hash(token),
                "expires_at": expires_at,
            }
        ),
    ]
    runtime.audit.write_with_audit(
        store,
        lambda: ops,
        anonymous_event(
            practice_id, meta, "auth.password_reset_request", Outcome.ALLOWED, "emailed", user.id
        ),
    )
    practice = get_practice(runtime.store, practice_id)
    staff = user.patient_id is None
    link = reset_link(runtime.settings.portal_url, practice.slug, token, staff=staff)
    guard = AgreementGuard(
        runtime, store, SystemActor("password-reset", practice_id, request_id=meta.request_id)
    )
    try:
        # To a patient, the practice's name alone says they are a patient here.
        runtime.notifier.send_email(
            user.email,
            SUBJECT.format(practice=practice.name),
            BODY.format(practice=practice.name, link=link),
            guard=guard,
            carries_phi=not staff,
        )
    except (AgreementRequired, DeliveryRejected, DependencyUnavailable) as exc:
        # The answer stays the same (it must not tell whether the account exists); the
        # audit event above is there, and operations see this.
        log.warning("password reset email not sent", extra={"error_type": type(exc).__name__})


def confirm_reset(
    runtime: Runtime, practice_slug: str, token: str, new_password: str, meta: RequestMeta
) -> None:
    """Sets the new password if the token is the account's newest and still fresh; ends
    every session of the account. An unknown, used, older or expired token is 404."""
    practice_id = practice_id_for_slug(runtime.store, practice_slug)
    if practice_id is None:
        raise NotFound()
    store = runtime.store.practice(practice_id)
    users = UserRepository(store, runtime.cipher)
    now = runtime.clock.now()
    key = _reset_key(token)
    found = store.get(*key)
    user = None if found is None else users.get(str(found["user_id"]))
    latest = None if user is None else store.get(*_latest_key(user.id))
    if (
        found is None
        or user is None
        or user.status is not UserStatus.ACTIVE
        or int(found.get("expires_at", 0)) <= now.timestamp()
        or latest is None
        or latest.get("token_hash") != token_hash(token)
    ):
        runtime.audit.record(
            store,
            anonymous_event(
                practice_id,
                meta,
                "auth.password_reset",
                Outcome.DENIED,
                "invalid_token",
                "" if user is None else user.id,
            ),
        )
        raise NotFound()
    practice = get_practice(runtime.store, practice_id)
    problems = passwords.check_password(
        new_password,
        practice.settings.password_policy,
        [user.email, user.display_name, practice.name],
    )
    if problems:
        raise ValidationFailed(fields=[{"path": "body.new_password", "type": p} for p in problems])
    hosted = hosted_credentials(runtime.identity)
    if hosted is not None:
        try:
            hosted.set_password(user.id, new_password)
        except ValidationFailed as exc:
            raise ValidationFailed(
                fields=[{"path": "body.new_password", "type": "provider_policy"}]
            ) from exc
        changed: User = user.unlocked()
    else:
        changed = user.unlocked().model_copy(
            update={"password_hash": passwords.hash_password(new_password)}
        )
    sessions = SessionRepository(store)
    ended = [
        s.model_copy(
            update={"revoked_at": now, "revoked_reason": "password_reset", "version": s.version + 1}
        )
        for s in sessions.list_for_user(user.id)
        if s.ended(now) is None
    ][:MAX_SESSIONS_ENDED]
    runtime.audit.write_with_audit(
        store,
        lambda: [
            users.update_op(changed),
            Delete(*key),
            Delete(*_latest_key(user.id)),
            *(sessions.update_op(s) for s in ended),
        ],
        AuditEvent(
            practice_id=practice_id,
            actor_kind="user",
            actor_id=user.id,
            roles=tuple(r.value for r in user.roles),
            action="auth.password_reset",
            resource_kind="user",
            resource_id=user.id,
            source_ip=meta.source_ip,
            user_agent=meta.user_agent[:512],
            request_id=meta.request_id,
            reason_code="password_reset",
        ),
    )
    if hosted is not None:
        # Cognito's refresh tokens end too (our session rows already refuse them).
        hosted.sign_out_everywhere(user.id)
