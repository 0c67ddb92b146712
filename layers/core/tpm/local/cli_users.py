"""`tpm users …`: staff accounts for an operator, without signing in as anyone.

The rules are the ones the API applies (tpm.domain.users); what differs is the actor: the
SystemActor "operator-cli", which holds the deployment's authority, so it may also grant or
remove the owner role (a practice whose only owner left needs that). Every change, and
every read of account data, is written to the practice's audit trail.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.clock import to_rfc3339
from tpm.domain.sessions import Session
from tpm.domain.users import (
    RoleRuleError,
    User,
    UserStatus,
    active_owners,
    check_role_change,
    check_staff_roles,
    end_live_sessions,
    normalise_email,
    provisioned_status,
)
from tpm.ids import new_id
from tpm.local.cli_common import (
    OPERATOR,
    CliError,
    Handler,
    Target,
    add_target,
    open_target,
)
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.security.principal import PORTAL_ROLES, Role
from tpm.services.practices import get_practice
from tpm.services.users import INVITE_TTL, invitation_op

# Sessions revoked per transaction: the store takes 100 items, the audit trail needs 3.
_SESSION_BATCH = 90
_ROLE_CHOICES = [r.value for r in Role if r not in PORTAL_ROLES]
_ROLE_MESSAGES = {
    "invalid_roles": "give at least one role",
    "patient_role": "patient portal accounts are managed from the patient's record",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="staff accounts: list, invite, roles, sessions, lockout")
    cmds = users.add_subparsers(dest="users_command", required=True)

    def command(name: str, handler: Handler, text: str) -> argparse.ArgumentParser:
        cmd = cmds.add_parser(name, help=text)
        add_target(cmd)
        cmd.set_defaults(handler=handler)
        return cmd

    listing = command("list", _list, "list the practice's staff accounts")
    listing.add_argument("--patients", action="store_true", help="include patient accounts")
    for name, handler, text in (
        ("show", _show, "one account, its role history and lockout state"),
        ("deactivate", _deactivate, "deactivate an account and end its sessions"),
        ("reactivate", _reactivate, "let a deactivated account sign in again"),
        ("sessions", _sessions, "an account's sessions"),
        ("end-sessions", _end_sessions, "end every live session of an account"),
        ("unlock", _unlock, "clear a sign-in lockout"),
    ):
        command(name, handler, text).add_argument("email")
    invite = command("invite", _invite, "invite a staff member (prints the token once)")
    invite.add_argument("email")
    invite.add_argument("--name", required=True, help="display name")
    invite.add_argument("--credentials", default="", help='e.g. "LCSW"')
    _add_roles(invite)
    set_roles = command("set-roles", _set_roles, "replace an account's roles")
    set_roles.add_argument("email")
    _add_roles(set_roles)


def _add_roles(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--role", action="append", required=True, choices=_ROLE_CHOICES, help="repeatable"
    )


# ---- reads ------------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        users = _all_users(target)
        shown = [u for u in users if args.patients or u.is_staff]
        target.record("user.list", "user", reason_code="with_patients" if args.patients else None)
        now = target.runtime.clock.now()
        print(f"{'id':<31} {'status':<17} {'mfa':<4} {'locked':<7} {'roles':<24} email")
        for user in sorted(shown, key=lambda u: u.email):
            roles = ",".join(sorted(r.value for r in user.roles))
            print(
                f"{user.id:<31} {user.status.value:<17} {_yes(user.mfa_enrolled):<4}"
                f" {_yes(user.locked(now)):<7} {roles:<24} {user.email}"
            )
        hidden = len(users) - len(shown)
        suffix = f" ({hidden} patient portal account(s) not shown)" if hidden else ""
        print(f"{len(shown)} account(s) in practice {target.slug!r}{suffix}")
    return 0


def _show(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        user = _find(target, args.email)
        history = _users(target).role_history(user.id)
        target.record("user.read", "user", user.id)
        now = target.runtime.clock.now()
        rows = [
            ("id", user.id),
            ("email", user.email),
            ("name", user.display_name),
            ("roles", ",".join(sorted(r.value for r in user.roles))),
            ("status", user.status.value),
            ("credentials", user.credentials or "-"),
            ("mfa", "enrolled" if user.mfa_enrolled else "not enrolled"),
            ("failed sign-ins", str(user.failed_logins)),
            ("locked until", _when(user.locked_until) if user.locked(now) else "not locked"),
            ("created", _when(user.created_at)),
            ("invited by", user.invited_by or "-"),
            ("approved by", user.approved_by or "-"),
            ("version", str(user.version)),
        ]
        for label, value in rows:
            print(f"{label + ':':<17} {value}")
        print("role history:")
        for entry in history:
            before = ",".join(entry.get("before", [])) or "-"
            after = ",".join(entry.get("after", [])) or "-"
            print(f"  {entry.get('at')}  by {entry.get('by')}: {before} -> {after}")
    return 0


def _sessions(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        user = _find(target, args.email)
        sessions = SessionRepository(target.store).list_for_user(user.id)
        target.record("user.sessions.read", "session", user.id)
        now = target.runtime.clock.now()
        print(f"{'session':<31} {'state':<28} {'started':<25} {'last seen':<25} source")
        for s in sorted(sessions, key=lambda s: s.created_at):
            print(
                f"{s.id:<31} {_state(s, now):<28} {_when(s.created_at):<25}"
                f" {_when(s.last_seen_at):<25} {s.source_ip or '-'}"
            )
        live = sum(1 for s in sessions if s.ended(now) is None)
        print(f"{len(sessions)} session(s), {live} live")
    return 0


# ---- changes ----------------------------------------------------------------------------


def _invite(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        roles = _checked(check_staff_roles, frozenset(Role(r) for r in args.role))
        practice = get_practice(target.runtime.store, target.practice_id)
        needs_approval = practice.settings.require_provisioning_approval
        now = target.runtime.clock.now()
        try:
            user = User(
                id=new_id("usr"),
                email=normalise_email(args.email),
                display_name=args.name,
                roles=roles,
                status=provisioned_status(needs_approval),
                credentials=args.credentials,
                invited_by=OPERATOR,
                created_at=now,
            )
        except ValidationError as exc:
            fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
            raise CliError(f"not valid: {', '.join(fields)}") from exc
        users = _users(target)
        token = None if needs_approval else secrets.token_urlsafe(32)
        ops: list[Operation] = [
            *users.create_ops(user),
            users.role_change_op(user.id, now, OPERATOR, [], sorted(r.value for r in roles)),
        ]
        if token is not None:
            ops.append(invitation_op(user.id, token, now))
        try:
            target.write(
                lambda: ops,
                "user.invite",
                "user",
                user.id,
                reason_code="pending_approval" if needs_approval else None,
            )
        except ConditionFailed as exc:
            raise CliError("an account with this email already exists in the practice") from exc
    print(f"invited {user.id} ({user.status.value})")
    if token is None:
        print("this practice requires a second administrator to approve every invitation;")
        print(
            f"an admin approves it with POST /v1/users/{user.id}/approve (that returns the token)"
        )
    else:
        days = INVITE_TTL.days
        print(f"invitation token (shown once, valid {days} days; hand it over securely):")
        print(f"  {token}")
        print("the person sets a password with POST /v1/auth/accept-invitation")
    return 0


def _set_roles(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        user = _find(target, args.email)
        wanted = frozenset(Role(r) for r in args.role)
        roles = _checked(lambda new: check_role_change(user.roles, new), wanted)
        if roles == user.roles:
            print("no change: the account already has exactly these roles")
            return 0
        changed = user.bump(roles=roles)
        users = _users(target)
        keep = _other_owners(target, user) if Role.OWNER in user.roles - roles else []
        now = target.runtime.clock.now()
        before = sorted(r.value for r in user.roles)
        after = sorted(r.value for r in roles)
        _commit(
            target,
            [
                users.update_op(changed),
                users.role_change_op(user.id, now, OPERATOR, before, after),
                *keep,
            ],
            "user.update_roles",
            "user",
            user.id,
        )
    print(f"{user.id}: roles {','.join(before)} -> {','.join(after)}")
    return 0


def _deactivate(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        user = _find(target, args.email)
        if user.status is UserStatus.DEACTIVATED:
            print(f"{user.id} is already deactivated")
            return 0
        now = target.runtime.clock.now()
        owner_leaves = Role.OWNER in user.roles and user.status is UserStatus.ACTIVE
        keep = _other_owners(target, user) if owner_leaves else []
        sessions = SessionRepository(target.store)
        ended = end_live_sessions(sessions.list_for_user(user.id), now, "deactivated")
        changed = user.bump(status=UserStatus.DEACTIVATED)
        ops: list[Operation] = [_users(target).update_op(changed), *keep]
        # Beyond one transaction's worth, sign-in checks refuse a deactivated user anyway.
        ops += [sessions.update_op(s) for s in ended[: _SESSION_BATCH - len(keep)]]
        _commit(target, ops, "user.deactivate", "user", user.id)
    print(f"{user.id} deactivated; {min(len(ended), _SESSION_BATCH)} live session(s) ended")
    return 0


def _reactivate(args: argparse.Namespace) -> int:
    """The API's rule, for the operator too: with the practice's provisioning approval on,
    this records the request and an administrator approves it (POST /v1/users/{id}/approve
    or the staff app); otherwise the account is active again at once."""
    with open_target(args) as target:
        user = _find(target, args.email)
        if user.status is not UserStatus.DEACTIVATED:
            raise CliError(f"{user.id} is not deactivated ({user.status.value})")
        practice = get_practice(target.runtime.store, target.practice_id)
        users = _users(target)
        if practice.settings.require_provisioning_approval:
            if user.reactivation_requested_by is not None:
                print(f"{user.id}: reactivation already waits for an administrator's approval")
                return 0
            requested = user.bump(reactivation_requested_by=OPERATOR)
            _commit(
                target,
                [users.update_op(requested)],
                "user.deactivate",
                "user",
                user.id,
                reason_code="reactivation_pending",
            )
            print(f"{user.id}: reactivation requested; this practice requires an administrator")
            print(f"to approve it: POST /v1/users/{user.id}/approve (or the staff app's user page)")
            return 0
        changed = user.bump(status=UserStatus.ACTIVE, reactivation_requested_by=None)
        _commit(
            target,
            [users.update_op(changed)],
            "user.deactivate",
            "user",
            user.id,
            reason_code="reactivated",
        )
    print(f"{user.id} reactivated (its old sessions stay ended)")
    return 0


def _end_sessions(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        user = _find(target, args.email)
        sessions = SessionRepository(target.store)
        now = target.runtime.clock.now()
        ended = end_live_sessions(sessions.list_for_user(user.id), now, "revoked_by_operator")
        for start in range(0, len(ended), _SESSION_BATCH):
            batch = ended[start : start + _SESSION_BATCH]
            _commit(
                target,
                [sessions.update_op(s) for s in batch],
                "user.sessions.revoke",
                "session",
                user.id,
                reason_code="revoked_by_operator",
            )
    print(f"{user.id}: {len(ended)} live session(s) ended")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        user = _find(target, args.email)
        if not user.locked(target.runtime.clock.now()) and user.failed_logins == 0:
            print(f"{user.id} is not locked")
            return 0
        _commit(target, [_users(target).update_op(user.unlocked())], "user.unlock", "user", user.id)
    print(f"{user.id} unlocked; failed sign-in count reset")
    return 0


# ---- helpers ----------------------------------------------------------------------------


def _users(target: Target) -> UserRepository:
    return UserRepository(target.store, target.runtime.cipher)


def _all_users(target: Target) -> list[User]:
    users, cursor = _users(target).page(100, None)
    while cursor is not None:
        more, cursor = _users(target).page(100, cursor)
        users += more
    return users


def _find(target: Target, email: str) -> User:
    user = _users(target).find_by_email(email)
    if user is None:
        # The address is not repeated: the message may end up in a ticket or a log.
        raise CliError(f"no account with that email in practice {target.slug!r}")
    return user


def _other_owners(target: Target, leaving: User) -> list[Operation]:
    """The practice keeps an active owner: refuse, or condition the write on the others."""
    others = [u for u in active_owners(_all_users(target)) if u.id != leaving.id]
    if not others:
        raise CliError(
            "this is the practice's last active owner; make another owner first"
            " (tpm users set-roles ... --role owner)"
        )
    return [_users(target).unchanged_op(u) for u in others[:10]]


def _checked(
    rule: Callable[[frozenset[Role]], frozenset[Role]], roles: frozenset[Role]
) -> frozenset[Role]:
    try:
        return rule(roles)
    except RoleRuleError as exc:
        raise CliError(_ROLE_MESSAGES[exc.code]) from exc


def _commit(
    target: Target,
    ops: list[Operation],
    action: str,
    resource_kind: str,
    resource_id: str,
    *,
    reason_code: str | None = None,
) -> None:
    try:
        target.write(lambda: ops, action, resource_kind, resource_id, reason_code=reason_code)
    except ConditionFailed as exc:
        raise CliError("the account changed while this ran; run the command again") from exc


def _state(session: Session, now: datetime) -> str:
    ended = session.ended(now)
    if ended == "revoked":
        return f"revoked ({session.revoked_reason or '-'})"
    return ended or "live"


def _when(moment: datetime | None) -> str:
    return to_rfc3339(moment) if moment else "-"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
