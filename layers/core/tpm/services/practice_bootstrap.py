"""A deployment's first practice and its owner's invitation (`tpm practice create`).

Idempotent: run it again with the same slug and it finds the practice instead of failing;
while the owner has not accepted, each run issues a fresh single-use invitation token (a
lost one is replaced, and it still expires after INVITE_TTL); once the owner is active it
issues none. The actor is a SystemActor (the CLI locally, the bootstrap function in AWS),
and every change is written to the new practice's audit trail with its event.

In AWS the operator never holds the PHI key: `tpm practice create --stack` invokes the
stack's PracticeBootstrapFunction (a role on the PHI path), which runs this.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.domain.users import User, UserStatus, normalise_email
from tpm.errors import Conflict, ValidationFailed
from tpm.ids import new_id
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import Role, SystemActor
from tpm.services.practices import create_practice, get_practice, practice_id_for_slug
from tpm.services.users import INVITE_TTL, invitation_op

SLUG_PATTERN = r"^[a-z0-9-]{1,40}$"


@dataclass(frozen=True)
class BootstrapResult:
    practice_id: str
    slug: str
    practice_created: bool
    owner_user_id: str
    owner_status: str
    invitation_token: str | None  # None once the owner is active
    invitation_expires_at: datetime | None


def bootstrap_practice(
    runtime: Runtime,
    *,
    slug: str,
    name: str,
    timezone: str,
    owner_email: str,
    owner_name: str,
    actor: str,
    request_id: str,
) -> BootstrapResult:
    _check(slug, timezone)
    existing = practice_id_for_slug(runtime.store, slug)
    created = existing is None
    if existing is None:
        practice = create_practice(
            runtime.store, runtime.clock, name=name, slug=slug, timezone=timezone
        )
        practice_id = practice.id
    else:
        practice_id = existing
        if get_practice(runtime.store, practice_id).name != name:
            raise Conflict("A practice with this slug exists under another name.")
    store = runtime.store.practice(practice_id)
    system = SystemActor(actor, practice_id, request_id)
    if created:
        runtime.audit.record(
            store,
            AuditEvent.for_system(
                system, action="practice.create", resource_kind="practice", resource_id=practice_id
            ),
        )
    users = UserRepository(store, runtime.cipher)
    now = runtime.clock.now()
    owner = users.find_by_email(owner_email)
    ops: list[Operation] = []
    reason = None
    if owner is None:
        try:
            owner = User(
                id=new_id("usr"),
                email=normalise_email(owner_email),
                display_name=owner_name,
                roles=frozenset({Role.OWNER}),
                status=UserStatus.INVITED,
                invited_by=actor,
                created_at=now,
            )
        except ValidationError as exc:
            fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
            raise ValidationFailed(fields=[{"path": f, "type": "invalid"} for f in fields]) from exc
        ops += [
            *users.create_ops(owner),
            users.role_change_op(owner.id, now, actor, [], [Role.OWNER.value]),
        ]
    elif Role.OWNER not in owner.roles:
        raise Conflict("This address belongs to an account that is not an owner.")
    elif owner.status is not UserStatus.INVITED:
        return BootstrapResult(practice_id, slug, created, owner.id, owner.status.value, None, None)
    else:
        reason = "reissued"
    token = secrets.token_urlsafe(32)
    ops.append(invitation_op(owner.id, token, now))
    try:
        runtime.audit.write_with_audit(
            store,
            lambda: ops,
            AuditEvent.for_system(
                system,
                action="user.invite",
                resource_kind="user",
                resource_id=owner.id,
                reason_code=reason,
            ),
        )
    except ConditionFailed as exc:
        raise Conflict("The owner's account changed while this ran; run it again.") from exc
    return BootstrapResult(
        practice_id,
        slug,
        created,
        owner.id,
        UserStatus.INVITED.value,
        token,
        now + INVITE_TTL,
    )


def _check(slug: str, timezone: str) -> None:
    import re

    problems = []
    if not re.fullmatch(SLUG_PATTERN, slug):
        problems.append({"path": "slug", "type": "pattern"})
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append({"path": "timezone", "type": "unknown_timezone"})
    if problems:
        raise ValidationFailed(fields=problems)
