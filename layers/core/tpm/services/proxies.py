"""Proxy portal access, the staff side: invite a patient's personal representative, list
and change their grants, revoke at once, and the clinician's per-patient restriction.

The proxy's account is a portal account of its own (role proxy, no patient record of its
own): the same INVITE rows and POST /v1/auth/accept-invitation as patient and staff
invitations (tpm.services.users). One account per email per practice, so a guardian of two
children has one account with two grants; an address that belongs to a staff or patient
account is refused. Every change is one transaction with its audit event, which names the
patient.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.domain.messaging import Thread, ThreadKind
from tpm.domain.patients import Patient
from tpm.domain.practice import Practice
from tpm.domain.proxies import (
    ProxyGrant,
    ProxyRelationship,
    ProxyRestriction,
    ProxyRuleError,
    ProxyScope,
    ProxyStatus,
    access_ends_at,
    check_new_grant,
    grant_status,
)
from tpm.domain.users import User, UserStatus, end_live_sessions, normalise_email
from tpm.errors import AlreadyExists, Conflict, NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.patients import PatientRepository
from tpm.repositories.proxies import MAX_PROXIES, ProxyRepository
from tpm.security.policy import Access
from tpm.security.principal import Role
from tpm.services.context import ServiceContext
from tpm.services.messaging_access import KIND as THREAD_KIND
from tpm.services.messaging_access import MessagingAccess
from tpm.services.practices import get_practice
from tpm.services.rate_limits import enforce
from tpm.services.users import INVITE_TTL, invitation_op

KIND = "proxy_grant"
INVITES_PER_USER, INVITES_PER_USER_WINDOW = 60, 3600


class NotShareable(Conflict):
    code = "not_shareable"
    message = "Staff-only conversations are never shared with a patient's proxies."


class NotAProxyAccount(Conflict):
    code = "not_a_proxy_account"
    message = (
        "This address belongs to another account in the practice (staff or patient); a "
        "proxy needs an address of their own."
    )


@dataclass(frozen=True)
class NewProxy:
    email: str
    display_name: str
    relationship: ProxyRelationship
    basis: str
    scopes: tuple[ProxyScope, ...]
    ends_on: date | None


@dataclass(frozen=True)
class ProxyChange:
    version: int
    scopes: tuple[ProxyScope, ...] | None = None
    ends_on: date | None = None
    clear_end: bool = False
    relationship: ProxyRelationship | None = None
    basis: str | None = None


@dataclass(frozen=True)
class ProxyEntry:
    """A grant as staff see it: with the proxy's account and its computed status."""

    grant: ProxyGrant
    user: User | None
    status: ProxyStatus
    access_ends_at: datetime | None


@dataclass(frozen=True)
class ProxyList:
    entries: list[ProxyEntry]
    restricted: bool
    restriction_version: int | None


@dataclass(frozen=True)
class ProxyInvitation:
    entry: ProxyEntry
    token: str | None  # None: the proxy already has an active account
    expires_at: datetime | None


class ProxyService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = ProxyRepository(ctx.store, ctx.runtime.cipher)
        self.patients = PatientRepository(ctx.store, ctx.runtime.cipher)

    # ---- invite ---------------------------------------------------------------------------

    def invite(self, patient_id: str, new: NewProxy) -> ProxyInvitation:
        ctx = self.ctx
        access = self._authorize("patient.proxy.invite", patient_id)
        user_id = ctx.principal.user_id
        enforce(
            ctx.store,
            ctx.runtime.clock,
            "proxy-invite-user",
            user_id,
            INVITES_PER_USER,
            INVITES_PER_USER_WINDOW,
        )
        patient, practice = (
            self._patient(patient_id),
            get_practice(ctx.runtime.store, ctx.practice_id),
        )
        now = ctx.now()
        scopes = self._checked(practice, patient, new.relationship, new.scopes, new.ends_on)
        address = normalise_email(new.email)
        existing = ctx.users.find_by_email(address)
        previous: ProxyGrant | None = None
        ops: list[Operation] = []
        token: str | None = None
        if existing is None:
            user = User(
                id=new_id("usr"),
                email=address,
                display_name=new.display_name,
                roles=frozenset({Role.PROXY}),
                status=UserStatus.INVITED,
                invited_by=user_id,
                created_at=now,
            )
            token = secrets.token_urlsafe(32)
            ops += [
                *ctx.users.create_ops(user),
                ctx.users.role_change_op(user.id, now, user_id, [], [Role.PROXY.value]),
                invitation_op(user.id, token, now),
            ]
        else:
            user = existing
            if user.roles != frozenset({Role.PROXY}):
                raise NotAProxyAccount()
            if user.status is UserStatus.DEACTIVATED:
                raise Conflict("This proxy's account is deactivated.")
            previous = self.repo.get(patient_id, user.id)
            if previous is not None and self._status(previous, patient, practice) is (
                ProxyStatus.ACTIVE
            ):
                raise AlreadyExists("This person is already a proxy for the patient.")
            if user.status is UserStatus.INVITED:
                # Not accepted yet: a fresh code (the earlier one expires by itself).
                token = secrets.token_urlsafe(32)
                ops.append(invitation_op(user.id, token, now))
        if previous is None and len(self.repo.for_patient(patient_id)) >= MAX_PROXIES:
            raise Conflict("This patient has the most proxies a record can hold.")
        grant = ProxyGrant(
            id=new_id("pxy"),
            patient_id=patient_id,
            proxy_user_id=user.id,
            relationship=new.relationship,
            basis=new.basis,
            scopes=scopes,
            ends_on=new.ends_on,
            invited_by=user_id,
            invited_at=now,
            version=previous.version + 1 if previous else 1,
        )
        ops.append(self.repo.put_op(grant, previous))
        try:
            ctx.write(
                access,
                lambda: list(ops),
                KIND,
                grant.id,
                patient_id=patient_id,
                reason_code="proxy_invited" if token else "proxy_granted",
            )
        except ConditionFailed as exc:
            raise AlreadyExists(
                "An account with this email already exists in the practice."
            ) from exc
        return ProxyInvitation(
            self._entry(grant, user, patient, practice),
            token,
            now + INVITE_TTL if token else None,
        )

    # ---- list, change, revoke ----------------------------------------------------------------

    def list(self, patient_id: str) -> ProxyList:
        ctx = self.ctx
        access = self._authorize("patient.proxy.read", patient_id)
        patient, practice = (
            self._patient(patient_id),
            get_practice(ctx.runtime.store, ctx.practice_id),
        )
        entries = [
            self._entry(g, ctx.users.get(g.proxy_user_id), patient, practice)
            for g in self.repo.for_patient(patient_id)
        ]
        restriction = self.repo.restriction(patient_id)
        ctx.record(access, KIND, patient_id=patient_id, reason_code=f"count_{len(entries)}")
        return ProxyList(
            entries,
            restricted=restriction is not None and restriction.restricted,
            restriction_version=restriction.version if restriction else None,
        )

    def update(self, patient_id: str, grant_id: str, change: ProxyChange) -> ProxyEntry:
        """Scope, end date, or a renewal (a new relationship and basis: a minor's parent
        becomes a legal guardian or power of attorney at the age of majority)."""
        ctx = self.ctx
        access = self._authorize("patient.proxy.update", patient_id)
        patient, practice = (
            self._patient(patient_id),
            get_practice(ctx.runtime.store, ctx.practice_id),
        )
        grant = self._grant(patient_id, grant_id)
        if grant.version != change.version:
            raise VersionConflict(current_version=grant.version)
        if grant.revoked_at is not None:
            raise Conflict("A revoked grant cannot change; invite the person again.")
        relationship = change.relationship or grant.relationship
        ends_on = None if change.clear_end else (change.ends_on or grant.ends_on)
        scopes = self._checked(
            practice, patient, relationship, change.scopes or grant.scopes, ends_on
        )
        changed = grant.model_copy(
            update={
                "relationship": relationship,
                "basis": change.basis or grant.basis,
                "scopes": scopes,
                "ends_on": ends_on,
                "version": grant.version + 1,
            }
        )
        ctx.write(
            access,
            lambda: [self.repo.put_op(changed, grant)],
            KIND,
            grant.id,
            patient_id=patient_id,
            reason_code="proxy_changed",
        )
        return self._entry(changed, ctx.users.get(grant.proxy_user_id), patient, practice)

    def revoke(self, patient_id: str, grant_id: str) -> ProxyEntry:
        """Ends the grant at once (every proxy request checks it). When it was the proxy's
        last live grant, their sessions end too."""
        ctx = self.ctx
        access = self._authorize("patient.proxy.revoke", patient_id)
        patient, practice = (
            self._patient(patient_id),
            get_practice(ctx.runtime.store, ctx.practice_id),
        )
        grant = self._grant(patient_id, grant_id)
        user = ctx.users.get(grant.proxy_user_id)
        if grant.revoked_at is not None:
            return self._entry(grant, user, patient, practice)
        now = ctx.now()
        revoked = grant.model_copy(
            update={
                "revoked_at": now,
                "revoked_by": ctx.principal.user_id,
                "version": grant.version + 1,
            }
        )
        ops: list[Operation] = [self.repo.put_op(revoked, grant)]
        others = [
            g
            for g in self.repo.for_proxy(grant.proxy_user_id)
            if g.patient_id != patient_id and g.revoked_at is None
        ]
        if not others:
            ended = end_live_sessions(
                ctx.sessions.list_for_user(grant.proxy_user_id), now, "proxy_revoked"
            )[:90]
            ops += [ctx.sessions.update_op(s) for s in ended]
        ctx.write(
            access,
            lambda: list(ops),
            KIND,
            grant.id,
            patient_id=patient_id,
            reason_code="proxy_revoked",
        )
        return self._entry(revoked, user, patient, practice)

    def restrict(self, patient_id: str, restricted: bool) -> ProxyRestriction:
        """The clinician's flag: proxies get scheduling and billing only (messaging closes at
        once for every proxy of the patient)."""
        ctx = self.ctx
        access = self._authorize("patient.proxy.restrict", patient_id)
        self._patient(patient_id)
        previous = self.repo.restriction(patient_id)
        flag = ProxyRestriction(
            patient_id=patient_id,
            restricted=restricted,
            set_by=ctx.principal.user_id,
            set_at=ctx.now(),
            version=previous.version + 1 if previous else 1,
        )
        ctx.write(
            access,
            lambda: [self.repo.restriction_op(flag, previous)],
            KIND,
            patient_id,
            patient_id=patient_id,
            reason_code="proxy_restricted" if restricted else "proxy_unrestricted",
        )
        return flag

    # ---- sharing a thread with the patient's proxies ---------------------------------------

    def share_thread(self, thread_id: str, version: int, visible: bool) -> Thread:
        """Marks one of the patient's care-team threads visible to the patient's proxies (or
        stops): the patient's own threads are not, until staff decide they may be. The
        proxies' own grants still decide, per request, whether they reach it."""
        ctx = self.ctx
        access = MessagingAccess(ctx)
        reached = access.load("message.proxy_share", thread_id)
        thread = reached.thread
        if thread.kind is not ThreadKind.PATIENT:
            raise NotShareable()
        if thread.version != version:
            raise VersionConflict(current_version=thread.version)
        if thread.proxy_visible == visible:
            return thread
        changed = thread.model_copy(update={"proxy_visible": visible, "version": version + 1})
        try:
            ctx.write(
                reached.access,
                lambda: [access.repo.thread_op(changed)],
                THREAD_KIND,
                thread.id,
                patient_id=thread.patient_id,
                reason_code="proxy_shared" if visible else "proxy_unshared",
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return changed

    # ---- helpers ----------------------------------------------------------------------------

    def _authorize(self, action: str, patient_id: str) -> Access:
        return self.ctx.authorize(
            action, resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )

    def _patient(self, patient_id: str) -> Patient:
        patient = self.patients.get(patient_id)
        if patient is None:
            raise NotFound()
        return patient

    def _grant(self, patient_id: str, grant_id: str) -> ProxyGrant:
        for grant in self.repo.for_patient(patient_id):
            if grant.id == grant_id:
                return grant
        raise NotFound()

    def _checked(
        self,
        practice: Practice,
        patient: Patient,
        relationship: ProxyRelationship,
        scopes: tuple[ProxyScope, ...],
        ends_on: date | None,
    ) -> tuple[ProxyScope, ...]:
        today = self.ctx.now().astimezone(practice.zone).date()
        try:
            return check_new_grant(
                relationship,
                scopes,
                ends_on,
                patient.date_of_birth,
                practice.settings.age_of_majority,
                today,
            )
        except ProxyRuleError as exc:
            raise ValidationFailed(
                fields=[{"path": f"body.{p}", "type": t} for p, t in exc.fields]
            ) from exc

    def _status(self, grant: ProxyGrant, patient: Patient, practice: Practice) -> ProxyStatus:
        return grant_status(
            grant,
            patient.date_of_birth,
            practice.settings.age_of_majority,
            practice.zone,
            self.ctx.now(),
        )

    def _entry(
        self, grant: ProxyGrant, user: User | None, patient: Patient, practice: Practice
    ) -> ProxyEntry:
        return ProxyEntry(
            grant,
            user,
            self._status(grant, patient, practice),
            access_ends_at(
                grant, patient.date_of_birth, practice.settings.age_of_majority, practice.zone
            ),
        )
