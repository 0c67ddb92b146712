"""Portal accounts are invited by staff from the patient's record.

The account is a patient user (role patient, linked to the record, status invited) with a
single-use invitation token — the same INVITE rows and POST /v1/auth/accept-invitation as
staff invitations (tpm.services.users). Inviting again before the patient accepts issues a
new token and revokes the old one. One account per email per practice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.domain.patients import Patient, PatientRuleError, portal_email
from tpm.domain.users import User, UserStatus, normalise_email
from tpm.errors import AlreadyExists, Conflict, NotFound
from tpm.ids import new_id
from tpm.repositories.patients import PatientRepository
from tpm.security.principal import Role
from tpm.services.authentication import token_hash
from tpm.services.context import ServiceContext
from tpm.services.patients import rule_error
from tpm.services.rate_limits import enforce
from tpm.services.users import INVITE_TTL, invitation_op

# Abuse limits: invitations send email, so they are capped per staff user and per patient.
# A practice onboarding a group (or moving from another system) invites dozens an hour;
# the limit is there for a compromised account, which 60 an hour still stops.
INVITES_PER_USER, INVITES_PER_USER_WINDOW = 60, 3600
INVITES_PER_PATIENT, INVITES_PER_PATIENT_WINDOW = 5, 86400


@dataclass(frozen=True)
class PortalInvitation:
    user: User
    token: str
    expires_at: datetime
    reissued: bool


def invite_to_portal(ctx: ServiceContext, patient_id: str, email: str | None) -> PortalInvitation:
    access = ctx.authorize(
        "patient.portal_invite",
        resource_kind="patient",
        resource_id=patient_id,
        patient_id=patient_id,
    )
    clock, user_id = ctx.runtime.clock, ctx.principal.user_id
    enforce(
        ctx.store, clock, "portal-invite-user", user_id, INVITES_PER_USER, INVITES_PER_USER_WINDOW
    )
    enforce(
        ctx.store,
        clock,
        "portal-invite-patient",
        patient_id,
        INVITES_PER_PATIENT,
        INVITES_PER_PATIENT_WINDOW,
    )
    patients = PatientRepository(ctx.store, ctx.runtime.cipher)
    patient = patients.get(patient_id)
    if patient is None:
        raise NotFound()
    try:
        address = portal_email(patient.email, email)
    except PatientRuleError as exc:
        raise rule_error(exc) from exc
    token, now = secrets.token_urlsafe(32), ctx.now()
    link = patients.portal_link(patient_id)
    ops: list[Operation]
    if link is None:
        user = User(
            id=new_id("usr"),
            email=address,
            display_name=portal_display_name(patient),
            roles=frozenset({Role.PATIENT}),
            status=UserStatus.INVITED,
            patient_id=patient_id,
            invited_by=user_id,
            created_at=now,
        )
        ops = [
            *ctx.users.create_ops(user),
            ctx.users.role_change_op(user.id, now, user_id, [], [Role.PATIENT.value]),
            invitation_op(user.id, token, now),
            patients.portal_link_op(patient_id, user.id, token_hash(token), version=1),
        ]
        if patient.email is None:
            # The invitation goes to the address on file: record it there too.
            ops += patients.update_ops(patient, patient.bump(email=address))
    else:
        user = reissuable_user(ctx, link, address)
        ops = [
            patients.revoke_invitation_op(str(link["invite_hash"])),
            invitation_op(user.id, token, now),
            patients.portal_link_op(
                patient_id, user.id, token_hash(token), version=int(link["version"]) + 1
            ),
        ]
    try:
        ctx.write(
            access,
            lambda: list(ops),
            "patient",
            patient_id,
            patient_id=patient_id,
            reason_code="portal_reinvite" if link else "portal_invite",
        )
    except ConditionFailed as exc:
        raise AlreadyExists("An account with this email already exists in the practice.") from exc
    return PortalInvitation(user, token, now + INVITE_TTL, reissued=link is not None)


def reissuable_user(ctx: ServiceContext, link: dict[str, object], address: str) -> User:
    """The patient's existing account, if it may get a fresh invitation (not yet active,
    same address)."""
    user = ctx.users.get(str(link["user_id"]))
    if user is None or user.status is not UserStatus.INVITED:
        raise AlreadyExists("This patient already has a portal account.")
    if normalise_email(user.email) != normalise_email(address):
        raise Conflict(
            "A pending invitation went to a different address; update the patient's email "
            "on the account first."
        )
    return user


def portal_display_name(patient: Patient) -> str:
    first = patient.preferred_name or patient.legal_first_name
    return f"{first} {patient.legal_last_name}"[:120]
