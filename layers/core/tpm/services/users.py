"""Provisioning with a record: invite (optionally approved by a second admin), accept,
change roles, deactivate — each stored and audited; deactivation ends every session.

Under Cognito the user pool follows: accepting an invitation creates the pool's user (our
user id as username, the password set, one group per role), a role change moves the
groups, deactivation disables the user and revokes every refresh token at once. The pool
is changed first, so a failure leaves it stricter than the record, never looser; the
record stays what authorisation reads."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tpm.adapters.identity import HostedCredentials, hosted_credentials
from tpm.adapters.store.base import Absent, ConditionFailed, Delete, Operation, Put
from tpm.domain.sessions import Session
from tpm.domain.telehealth import US_STATES
from tpm.domain.users import (
    RoleRuleError,
    User,
    UserStatus,
    active_owners,
    changes_ownership,
    check_role_change,
    check_staff_roles,
    end_live_sessions,
    normalise_email,
    provisioned_status,
)
from tpm.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    LastOwner,
    NotFound,
    ValidationFailed,
    VersionConflict,
)
from tpm.ids import new_id
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security import passwords
from tpm.security.audit_chain import AuditEvent
from tpm.security.policy import Access
from tpm.security.principal import Role
from tpm.services.authentication import RequestMeta, token_hash
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice, practice_id_for_slug

INVITE_TTL = timedelta(days=7)


@dataclass(frozen=True)
class Invitation:
    user: User
    token: str | None  # None while approval is pending


def invitation_op(user_id: str, token: str, now: datetime) -> Put:
    """The single-use invitation, stored by the token's hash only; it expires by TTL."""
    return Put(
        {
            "pk": f"INVITE#{token_hash(token)}",
            "sk": "INVITE",
            "user_id": user_id,
            "expires_at": int((now + INVITE_TTL).timestamp()),
        },
        Absent(),
    )


class UserService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # ---- provisioning ------------------------------------------------------------------

    def invite(
        self, email: str, display_name: str, roles: frozenset[Role], credentials: str = ""
    ) -> Invitation:
        ctx = self.ctx
        access = ctx.authorize("user.invite", resource_kind="user")
        try:
            roles = check_staff_roles(roles)
        except RoleRuleError as exc:
            message = (
                "Patient portal accounts are invited from the patient's record."
                if exc.code == "patient_role"
                else None
            )
            raise ValidationFailed(
                message, fields=[{"path": "body.roles", "type": exc.code}]
            ) from exc
        if changes_ownership(frozenset(), roles) and Role.OWNER not in ctx.principal.roles:
            raise Forbidden("Only an owner can make another owner.")
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        needs_approval = practice.settings.require_provisioning_approval
        user = User(
            id=new_id("usr"),
            email=normalise_email(email),
            display_name=display_name,
            roles=roles,
            status=provisioned_status(needs_approval),
            credentials=credentials,
            invited_by=ctx.principal.user_id,
            created_at=ctx.now(),
        )
        token = None if needs_approval else secrets.token_urlsafe(32)
        ops: list[Operation] = [*ctx.users.create_ops(user)]
        ops.append(
            ctx.users.role_change_op(
                user.id, ctx.now(), ctx.principal.user_id, [], [r.value for r in roles]
            )
        )
        if token is not None:
            ops.append(self._invite_op(user.id, token))
        try:
            ctx.write(
                access,
                lambda: ops,
                "user",
                user.id,
                reason_code="pending_approval" if needs_approval else None,
            )
        except ConditionFailed as exc:
            raise AlreadyExists(
                "An account with this email already exists in the practice."
            ) from exc
        return Invitation(user, token)

    def approve(self, user_id: str) -> Invitation:
        ctx = self.ctx
        access = ctx.authorize("user.approve", resource_kind="user", resource_id=user_id)
        user = self._get(user_id)
        if user.status is UserStatus.DEACTIVATED and user.reactivation_requested_by:
            if user.reactivation_requested_by == ctx.principal.user_id:
                raise Forbidden("A second administrator must approve a reactivation.")
            self._owners_only(user, "reactivate")
            return Invitation(self._reactivate(access, user), None)
        if user.status is not UserStatus.PENDING_APPROVAL:
            raise Conflict("This account is not waiting for approval.")
        if user.invited_by == ctx.principal.user_id:
            raise Forbidden("A second administrator must approve an invitation.")
        approved = user.bump(status=UserStatus.INVITED, approved_by=ctx.principal.user_id)
        token = secrets.token_urlsafe(32)
        ctx.write(
            access,
            lambda: [ctx.users.update_op(approved), self._invite_op(user.id, token)],
            "user",
            user.id,
        )
        return Invitation(approved, token)

    def _invite_op(self, user_id: str, token: str) -> Put:
        return invitation_op(user_id, token, self.ctx.now())

    # ---- reads --------------------------------------------------------------------------

    def list_users(self, limit: int, cursor: str | None) -> tuple[list[User], str | None]:
        access = self.ctx.authorize("user.list", resource_kind="user")
        users, next_cursor = self.ctx.users.page(limit, cursor)
        self.ctx.record(access, "user")
        return users, next_cursor

    def get(self, user_id: str) -> User:
        access = self.ctx.authorize(
            "user.read", resource_kind="user", resource_id=user_id, user_id=user_id
        )
        user = self._get(user_id)
        self.ctx.record(access, "user", user_id)
        return user

    # ---- changes ------------------------------------------------------------------------

    def set_roles(self, user_id: str, roles: frozenset[Role], version: int) -> User:
        ctx = self.ctx
        access = ctx.authorize("user.update_roles", resource_kind="user", resource_id=user_id)
        if user_id == ctx.principal.user_id:
            # An administrator could otherwise grant themselves compliance (the audit
            # trail) or any other role: another administrator changes yours.
            raise Forbidden("You cannot change your own roles.")
        user = self._get(user_id)
        if user.version != version:
            raise VersionConflict(current_version=user.version)
        try:
            checked = check_role_change(user.roles, roles)
        except RoleRuleError as exc:
            raise ValidationFailed(fields=[{"path": "body.roles", "type": exc.code}]) from exc
        if changes_ownership(user.roles, checked) and Role.OWNER not in ctx.principal.roles:
            raise Forbidden("Only an owner can grant or remove the owner role.")
        keep_owner = (
            self._other_owners_unchanged(user) if Role.OWNER in user.roles - checked else []
        )
        hosted = _provider_account(ctx, user)
        if hosted is not None:
            hosted.change_groups(
                user.id,
                add=sorted(r.value for r in checked - user.roles),
                remove=sorted(r.value for r in user.roles - checked),
            )
        changed = user.bump(roles=checked)
        before = [r.value for r in user.roles]
        after = [r.value for r in changed.roles]
        ctx.write(
            access,
            lambda: [
                ctx.users.update_op(changed),
                ctx.users.role_change_op(user_id, ctx.now(), ctx.principal.user_id, before, after),
                *keep_owner,
            ],
            "user",
            user_id,
        )
        return changed

    def set_licence_states(self, user_id: str, states: tuple[str, ...], version: int) -> User:
        """The US states a clinician is licensed in (telehealth warns when a patient
        attests another state). Only clinical staff hold licences here."""
        ctx = self.ctx
        access = ctx.authorize("user.update_licences", resource_kind="user", resource_id=user_id)
        user = self._get(user_id)
        if user.version != version:
            raise VersionConflict(current_version=user.version)
        if not user.roles & {Role.CLINICIAN, Role.SUPERVISOR}:
            raise ValidationFailed(fields=[{"path": "path.userId", "type": "not_a_clinician"}])
        unknown = [i for i, state in enumerate(states) if state not in US_STATES]
        if unknown:
            raise ValidationFailed(
                fields=[{"path": f"body.states.{i}", "type": "unknown_state"} for i in unknown]
            )
        changed = user.bump(licence_states=tuple(sorted(set(states))))
        ctx.write(access, lambda: [ctx.users.update_op(changed)], "user", user_id)
        return changed

    def deactivate(self, user_id: str, version: int) -> User:
        ctx = self.ctx
        access = ctx.authorize("user.deactivate", resource_kind="user", resource_id=user_id)
        user = self._get(user_id)
        if user.version != version:
            raise VersionConflict(current_version=user.version)
        if user_id == ctx.principal.user_id:
            raise Conflict("You cannot deactivate your own account.")
        self._owners_only(user, "deactivate")
        owner_leaves = Role.OWNER in user.roles and user.status is UserStatus.ACTIVE
        keep_owner = self._other_owners_unchanged(user) if owner_leaves else []
        hosted = _provider_account(ctx, user)
        if hosted is not None:
            hosted.disable(user.id)
        changed = user.bump(status=UserStatus.DEACTIVATED)
        # The user check in request_auth refuses the next request at once; ending the
        # sessions too keeps the session list honest.
        ended = end_live_sessions(ctx.sessions.list_for_user(user_id), ctx.now(), "deactivated")
        ops: list[Operation] = [ctx.users.update_op(changed), *keep_owner]
        ops += [ctx.sessions.update_op(s) for s in ended[: 90 - len(keep_owner)]]
        ctx.write(access, lambda: ops, "user", user_id)
        return changed

    def reactivate(self, user_id: str, version: int) -> User:
        """Undoes a deactivation: the account signs in again (with its old password and
        authenticator; its sessions stay ended). The same permission as deactivating.

        With the practice's provisioning approval on, it takes two administrators, as an
        invitation does: the first call records the request (the account stays
        deactivated, `reactivation_requested_by` names who asked), and a second
        administrator's call — here or POST /approve — completes it."""
        ctx = self.ctx
        access = ctx.authorize("user.deactivate", resource_kind="user", resource_id=user_id)
        user = self._get(user_id)
        if user.version != version:
            raise VersionConflict(current_version=user.version)
        if user.status is not UserStatus.DEACTIVATED:
            raise Conflict("Only a deactivated account can be reactivated.")
        self._owners_only(user, "reactivate")
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        me = ctx.principal.user_id
        if practice.settings.require_provisioning_approval and user.reactivation_requested_by in (
            None,
            me,
        ):
            requested = user.bump(reactivation_requested_by=me)
            ctx.write(
                access,
                lambda: [ctx.users.update_op(requested)],
                "user",
                user_id,
                reason_code="reactivation_pending",
            )
            return requested
        return self._reactivate(access, user)

    def _reactivate(self, access: Access, user: User) -> User:
        ctx = self.ctx
        hosted = _provider_account(ctx, user)
        if hosted is not None:
            hosted.enable(user.id)
        changed = user.bump(status=UserStatus.ACTIVE, reactivation_requested_by=None)
        ctx.write(
            access,
            lambda: [ctx.users.update_op(changed)],
            "user",
            user.id,
            reason_code="reactivated",
        )
        return changed

    def _owners_only(self, user: User, what: str) -> None:
        """Only an owner acts on an owner's account (deactivate, reactivate, end sessions):
        an administrator cannot lock the owner out of the practice."""
        if Role.OWNER in user.roles and Role.OWNER not in self.ctx.principal.roles:
            raise Forbidden(f"Only an owner can {what} an owner's account.")

    def _other_owners_unchanged(self, leaving: User) -> list[Operation]:
        """`leaving` stops being an active owner: refused (409 last_owner) unless another
        active owner remains, and the write is conditioned on those owners' rows being
        unchanged, so two owners removing each other at the same moment cannot both win."""
        others = [u for u in active_owners(self.ctx.users.all()) if u.id != leaving.id]
        if not others:
            raise LastOwner()
        return [self.ctx.users.unchanged_op(u) for u in others[:10]]

    def set_supervisor(self, supervisee_id: str, supervisor_id: str) -> None:
        ctx = self.ctx
        access = ctx.authorize(
            "user.update_relations", resource_kind="user", resource_id=supervisee_id
        )
        supervisee, supervisor = self._get(supervisee_id), self._get(supervisor_id)
        if Role.SUPERVISOR not in supervisor.roles or not supervisee.is_staff:
            raise ValidationFailed(
                fields=[{"path": "body.supervisor_id", "type": "not_a_supervisor"}]
            )
        try:
            ctx.write(
                access,
                lambda: [ctx.users.supervision_op(supervisee_id, supervisor_id)],
                "user",
                supervisee_id,
            )
        except ConditionFailed as exc:
            raise AlreadyExists("This supervision already exists.") from exc

    def supervisors(self, supervisee_id: str) -> list[User]:
        """The supervisors assigned to a staff member (who co-signs their notes and sees
        their care teams' flags)."""
        access = self.ctx.authorize(
            "user.read", resource_kind="user", resource_id=supervisee_id, user_id=supervisee_id
        )
        self._get(supervisee_id)
        found = [self.ctx.users.get(i) for i in self.ctx.users.supervisors_of(supervisee_id)]
        self.ctx.record(access, "user", supervisee_id, reason_code="supervisors")
        return [u for u in found if u is not None]

    # ---- sessions of others (admins) -------------------------------------------------------

    def sessions_of(self, user_id: str) -> list[Session]:
        access = self.ctx.authorize(
            "user.sessions.read", resource_kind="session", resource_id=user_id
        )
        self._get(user_id)
        sessions = self.ctx.sessions.list_for_user(user_id)
        self.ctx.record(access, "session", user_id)
        return sessions

    def revoke_session(self, user_id: str, session_id: str) -> None:
        ctx = self.ctx
        access = ctx.authorize(
            "user.sessions.revoke", resource_kind="session", resource_id=session_id
        )
        if user_id != ctx.principal.user_id:
            self._owners_only(self._get(user_id), "end the sessions of")
        revoke_session(ctx, access, user_id, session_id, "revoked_by_admin")

    def _get(self, user_id: str) -> User:
        user = self.ctx.users.get(user_id)
        if user is None:
            raise NotFound()
        return user


def _provider_account(ctx: ServiceContext, user: User) -> HostedCredentials | None:
    """The hosted provider, when it has an account for this user (made at acceptance)."""
    hosted = hosted_credentials(ctx.runtime.identity)
    if (
        hosted is None
        or user.status is UserStatus.INVITED
        or user.status is (UserStatus.PENDING_APPROVAL)
    ):
        return None
    return hosted


def revoke_session(
    ctx: ServiceContext, access: Access, user_id: str, session_id: str, reason: str
) -> None:
    session = ctx.sessions.get(user_id, session_id)
    if session is None:
        raise NotFound()
    if session.revoked_at is not None:
        return
    ended = session.model_copy(
        update={"revoked_at": ctx.now(), "revoked_reason": reason, "version": session.version + 1}
    )
    ctx.write(
        access, lambda: [ctx.sessions.update_op(ended)], "session", session_id, reason_code=reason
    )


def accept_invitation(
    runtime: Runtime, practice_slug: str, token: str, password: str, meta: RequestMeta
) -> User:
    """The invited person sets their password; the account becomes active."""
    practice_id = practice_id_for_slug(runtime.store, practice_slug)
    if practice_id is None:
        raise NotFound()
    store = runtime.store.practice(practice_id)
    users = UserRepository(store, runtime.cipher)
    key = (f"INVITE#{token_hash(token)}", "INVITE")
    invite = store.get(*key)
    user = None if invite is None else users.get(str(invite["user_id"]))
    if user is None or user.status is not UserStatus.INVITED:
        raise NotFound()
    practice = get_practice(runtime.store, practice_id)
    problems = passwords.check_password(
        password, practice.settings.password_policy, [user.email, user.display_name, practice.name]
    )
    if problems:
        raise ValidationFailed(fields=[{"path": "body.password", "type": p} for p in problems])
    hosted = hosted_credentials(runtime.identity)
    if hosted is not None:
        # The pool's user, made now (an invitation never accepted leaves nothing there).
        hosted.create_account(
            user.id,
            email=user.email,
            practice_id=practice_id,
            patient_id=user.patient_id,
            password=password,
            roles=sorted(user.roles),
        )
        active = user.bump(status=UserStatus.ACTIVE)
    else:
        active = user.bump(
            status=UserStatus.ACTIVE, password_hash=passwords.hash_password(password)
        )
    runtime.audit.write_with_audit(
        store,
        lambda: [users.update_op(active), Delete(*key)],
        AuditEvent(
            practice_id=practice_id,
            actor_kind="user",
            actor_id=user.id,
            roles=tuple(r.value for r in user.roles),
            action="user.activate",
            resource_kind="user",
            resource_id=user.id,
            source_ip=meta.source_ip,
            user_agent=meta.user_agent[:512],
            request_id=meta.request_id,
        ),
    )
    return active
