"""Patients, first slice: create, read, list (by relationship), care team, break-glass,
and the patient's own "who looked at my record" log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from tpm.adapters.store.base import ConditionFailed, Put
from tpm.clock import to_rfc3339
from tpm.domain.patients import Patient
from tpm.errors import AlreadyExists, NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.patients import PatientRepository
from tpm.repositories.sealing import Sealer
from tpm.security.audit import query_events
from tpm.security.audit_chain import Outcome
from tpm.security.policy import Scope
from tpm.security.principal import STAFF_ROLES
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice
from tpm.services.request_auth import require_recent_mfa


@dataclass(frozen=True)
class NewPatient:
    legal_first_name: str
    legal_last_name: str
    date_of_birth: date
    preferred_name: str | None = None
    pronouns: str | None = None
    email: str | None = None
    phone: str | None = None
    timezone: str = "America/Chicago"


@dataclass(frozen=True)
class AccessLogEntry:
    time: str
    staff_name: str
    staff_roles: tuple[str, ...]
    access: str  # the action, e.g. patient.read
    emergency: bool


class PatientService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.patients = PatientRepository(ctx.store, ctx.runtime.cipher)

    def create(self, data: NewPatient, *, add_me_to_care_team: bool) -> Patient:
        ctx = self.ctx
        access = ctx.authorize("patient.create", resource_kind="patient")
        patient = Patient(
            id=new_id("pat"),
            created_at=ctx.now(),
            created_by=ctx.principal.user_id,
            **data.__dict__,
        )
        ops: list[Put] = [self.patients.create_op(patient)]
        if add_me_to_care_team:
            ops.append(
                ctx.relationships.add_member_op(patient.id, ctx.principal.user_id, ctx.now())
            )
        ctx.write(access, lambda: list(ops), "patient", patient.id, patient_id=patient.id)
        return patient

    def get(self, patient_id: str) -> Patient:
        access = self.ctx.authorize(
            "patient.read", resource_kind="patient", resource_id=patient_id, patient_id=patient_id
        )
        patient = self._get(patient_id)
        self.ctx.record(access, "patient", patient_id, patient_id=patient_id)
        return patient

    def list_patients(self, limit: int, cursor: str | None) -> tuple[list[Patient], str | None]:
        ctx = self.ctx
        scopes = ctx.authorize_list("patient.list", resource_kind="patient")
        if Scope.PRACTICE in scopes:
            patients, next_cursor = self.patients.page(limit, cursor)
        else:
            # Care-team scoped: only the caller's own patients (supervisors' supervisee
            # patients come with the supervision views).
            ids, next_cursor = ctx.relationships.patients_of(ctx.principal.user_id, limit, cursor)
            patients = [p for p in (self.patients.get(i) for i in ids) if p is not None]
        # One event for the page (with how many records it showed), not one per row.
        ctx.runtime.audit.record(
            ctx.store, ctx.event("patient.list", "patient", reason_code=f"count_{len(patients)}")
        )
        return patients, next_cursor

    def update_contact(
        self, patient_id: str, version: int, email: str | None, phone: str | None
    ) -> Patient:
        ctx = self.ctx
        access = ctx.authorize(
            "patient.update", resource_kind="patient", resource_id=patient_id, patient_id=patient_id
        )
        patient = self._get(patient_id)
        if patient.version != version:
            raise VersionConflict(current_version=patient.version)
        changed = patient.bump(email=email, phone=phone)
        try:
            ctx.write(
                access,
                lambda: [self.patients.update_op(changed)],
                "patient",
                patient_id,
                patient_id=patient_id,
            )
        except ConditionFailed as exc:
            raise VersionConflict() from exc
        return changed

    # ---- care team ------------------------------------------------------------------------

    def add_to_care_team(self, patient_id: str, user_id: str) -> None:
        ctx = self.ctx
        access = ctx.authorize(
            "patient.care_team.update",
            resource_kind="patient",
            resource_id=patient_id,
            patient_id=patient_id,
        )
        self._get(patient_id)
        member = ctx.users.get(user_id)
        if member is None or not (member.roles & STAFF_ROLES):
            raise ValidationFailed(fields=[{"path": "body.user_id", "type": "not_staff"}])
        try:
            ctx.write(
                access,
                lambda: [ctx.relationships.add_member_op(patient_id, user_id, ctx.now())],
                "patient",
                patient_id,
                patient_id=patient_id,
                reason_code="care_team_add",
            )
        except ConditionFailed as exc:
            raise AlreadyExists("Already on the care team.") from exc

    def remove_from_care_team(self, patient_id: str, user_id: str) -> None:
        ctx = self.ctx
        access = ctx.authorize(
            "patient.care_team.update",
            resource_kind="patient",
            resource_id=patient_id,
            patient_id=patient_id,
        )
        self._get(patient_id)
        try:
            ctx.write(
                access,
                lambda: [ctx.relationships.remove_member_op(patient_id, user_id)],
                "patient",
                patient_id,
                patient_id=patient_id,
                reason_code="care_team_remove",
            )
        except ConditionFailed as exc:
            raise NotFound() from exc

    def care_team(self, patient_id: str) -> list[str]:
        access = self.ctx.authorize(
            "patient.read", resource_kind="patient", resource_id=patient_id, patient_id=patient_id
        )
        self._get(patient_id)
        team = self.ctx.relationships.care_team(patient_id)
        self.ctx.record(
            access, "patient", patient_id, patient_id=patient_id, reason_code="care_team_read"
        )
        return team

    # ---- emergency access -----------------------------------------------------------------

    def break_glass(self, patient_id: str, reason: str) -> tuple[str, str]:
        """Opens a patient outside the care team for a limited time. Needs a reason and a
        recent MFA; every later action under it is flagged; owners/admins are alerted."""
        ctx = self.ctx
        access = ctx.authorize(
            "patient.break_glass",
            resource_kind="patient",
            resource_id=patient_id,
            patient_id=patient_id,
        )
        require_recent_mfa(ctx.runtime, ctx.principal)
        self._get(patient_id)
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        start = ctx.now()
        end = start + timedelta(minutes=practice.settings.break_glass_minutes)
        grant_id = new_id("bgl")
        sealed = Sealer(ctx.runtime.cipher, ctx.practice_id, "break-glass", grant_id).seal(
            "reason", reason
        )
        assert sealed is not None
        alert = Put(
            {
                "pk": "ALERTS",
                "sk": f"{to_rfc3339(start)}#{grant_id}",
                "kind": "break_glass",
                "grant_id": grant_id,
                "user_id": ctx.principal.user_id,
                "patient_id": patient_id,
                "ends_at": to_rfc3339(end),
                "time": to_rfc3339(start),
            }
        )
        grant = ctx.relationships.break_glass_op(
            patient_id, ctx.principal.user_id, grant_id, sealed, start, end
        )
        ctx.write(
            access,
            lambda: [grant, alert],
            "patient",
            patient_id,
            patient_id=patient_id,
            reason_code="break_glass_opened",
        )
        return grant_id, to_rfc3339(end)

    # ---- who accessed my record -------------------------------------------------------------

    def access_log(
        self, patient_id: str, limit: int, cursor: str | None
    ) -> tuple[list[AccessLogEntry], str | None]:
        ctx = self.ctx
        access = ctx.authorize(
            "patient.access_log.read",
            resource_kind="patient",
            resource_id=patient_id,
            patient_id=patient_id,
        )
        self._get(patient_id)
        page = query_events(ctx.store, patient_id=patient_id, limit=limit, cursor=cursor)
        names: dict[str, str] = {}
        entries = []
        for event in page.events:
            if event.outcome is not Outcome.ALLOWED or event.actor_kind != "user":
                continue
            if event.actor_id not in names:
                staff = ctx.users.get(event.actor_id)
                names[event.actor_id] = staff.display_name if staff else "Former staff member"
            entries.append(
                AccessLogEntry(
                    time=event.time,
                    staff_name=names[event.actor_id],
                    staff_roles=event.roles,
                    access=event.action,
                    emergency=event.break_glass,
                )
            )
        ctx.record(
            access, "patient", patient_id, patient_id=patient_id, reason_code="access_log_read"
        )
        return entries, page.next_cursor

    def _get(self, patient_id: str) -> Patient:
        patient = self.patients.get(patient_id)
        if patient is None:
            raise NotFound()
        return patient
