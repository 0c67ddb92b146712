"""Patients: create, read, list (by relationship), partial update, blind-index search,
care team, break-glass, and the patient's own "who looked at my record" log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError

from tpm.adapters.store.base import ConditionFailed, Operation, Put
from tpm.clock import to_rfc3339
from tpm.domain.patients import (
    Address,
    Communication,
    Editor,
    EmergencyContact,
    Guardian,
    Insurance,
    Patient,
    PatientRuleError,
    apply_update,
    check_guardian,
    normalise_date_of_birth,
    normalise_name,
    normalise_phone,
)
from tpm.errors import AlreadyExists, Forbidden, NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.patients import PatientRepository
from tpm.repositories.sealing import Sealer
from tpm.security.audit import query_events
from tpm.security.audit_chain import Outcome
from tpm.security.policy import Scope
from tpm.security.principal import STAFF_ROLES
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice
from tpm.services.rate_limits import enforce
from tpm.services.request_auth import require_recent_mfa

# Abuse limits (tpm.services.rate_limits): searches per user per minute.
SEARCH_LIMIT, SEARCH_WINDOW = 30, 60
SEARCH_RESULTS_MAX = 25


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
    address: Address | None = None
    emergency_contact: EmergencyContact | None = None
    guardian: Guardian | None = None
    insurance: Insurance | None = None
    communication: Communication = field(default_factory=Communication)


@dataclass(frozen=True)
class SearchQuery:
    name: str | None = None
    date_of_birth: date | None = None
    phone: str | None = None


@dataclass(frozen=True)
class SearchResult:
    patients: list[Patient]
    truncated: bool  # more matches than SEARCH_RESULTS_MAX; the caller should narrow


@dataclass(frozen=True)
class AccessLogEntry:
    time: str
    staff_name: str
    staff_roles: tuple[str, ...]
    access: str  # the action, e.g. patient.read
    emergency: bool


def rule_error(exc: PatientRuleError) -> ValidationFailed:
    """A refused change as a 422 with field paths and types (never the values)."""
    return ValidationFailed(fields=[{"path": f"body.{p}", "type": t} for p, t in exc.fields])


class PatientService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.patients = PatientRepository(ctx.store, ctx.runtime.cipher)

    def create(self, data: NewPatient, *, add_me_to_care_team: bool) -> Patient:
        ctx = self.ctx
        access = ctx.authorize("patient.create", resource_kind="patient")
        try:
            patient = Patient(
                id=new_id("pat"),
                created_at=ctx.now(),
                created_by=ctx.principal.user_id,
                **data.__dict__,
            )
            check_guardian(patient, self._practice_today())
        except ValidationError as exc:
            raise rule_error(PatientRuleError.of(exc)) from exc
        except PatientRuleError as exc:
            raise rule_error(exc) from exc
        # Entering a patient puts PHI in the hands of whoever holds the records (AWS for
        # DynamoDB): the practice's agreement with them must be in effect first (the seed's
        # "executed before ePHI is entered"). A local SQLite file has no vendor.
        holder = ctx.runtime.store.vendor
        if holder is not None:
            ctx.outbound.require(holder, carries_phi=True)
        ops: list[Operation] = [*self.patients.create_ops(patient)]
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

    def update(self, patient_id: str, version: int, changes: Mapping[str, Any]) -> Patient:
        """A partial update: `changes` maps field -> new value (nested objects replace the
        old whole; `communication` merges key by key). Patients editing their own record
        may change contact details and reminder preferences only (403 otherwise)."""
        ctx = self.ctx
        access = ctx.authorize(
            "patient.update", resource_kind="patient", resource_id=patient_id, patient_id=patient_id
        )
        editor: Editor = "self" if access.scope is Scope.SELF else "staff"
        patient = self._get(patient_id)
        if patient.version != version:
            raise VersionConflict(current_version=patient.version)
        try:
            changed = apply_update(patient, changes, editor, ctx.now())
            if changes.keys() & {"date_of_birth", "guardian"}:
                check_guardian(changed, self._practice_today())
        except PatientRuleError as exc:
            if any(t == "not_editable" for _, t in exc.fields):
                raise Forbidden(
                    "Patients can change only their contact details and reminder preferences.",
                    fields=[{"path": f"body.{p}", "type": t} for p, t in exc.fields],
                ) from exc
            raise rule_error(exc) from exc
        try:
            ctx.write(
                access,
                lambda: self.patients.update_ops(patient, changed),
                "patient",
                patient_id,
                patient_id=patient_id,
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return changed

    # ---- search -------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResult:
        """Equality search through the blind indexes (one index read per criterion, never a
        scan); several criteria must all match. Care-team roles see only the matches they
        may read. One audit event for the search, with the result count."""
        ctx = self.ctx
        scopes = ctx.authorize_list("patient.search", resource_kind="patient")
        terms = search_terms_of(query)
        if not terms:
            raise ValidationFailed(
                "Search by name, date of birth or phone.",
                fields=[{"path": "body", "type": "no_criteria"}],
            )
        enforce(
            ctx.store,
            ctx.runtime.clock,
            "patient-search",
            ctx.principal.user_id,
            SEARCH_LIMIT,
            SEARCH_WINDOW,
        )
        candidates: list[str] | None = None
        for kind, value in terms:
            ids = self.patients.matching(kind, value)
            matched = set(ids)
            candidates = ids if candidates is None else [i for i in candidates if i in matched]
            if not candidates:
                break
        found: list[Patient] = []
        truncated = False
        for pid in candidates or []:
            if Scope.PRACTICE not in scopes and not self._may_read(pid):
                continue
            if len(found) == SEARCH_RESULTS_MAX:
                truncated = True
                break
            patient = self.patients.get(pid)
            if patient is not None:
                found.append(patient)
        ctx.runtime.audit.record(
            ctx.store, ctx.event("patient.search", "patient", reason_code=f"count_{len(found)}")
        )
        return SearchResult(found, truncated)

    def _may_read(self, patient_id: str) -> bool:
        ctx = self.ctx
        try:
            ctx.authorizer.check(
                ctx.principal, "patient.read", patient_id=patient_id, now=ctx.now()
            )
        except (Forbidden, NotFound):
            return False
        return True

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
                # Kept for the access review after the grant row expires (sealed; not
                # one of the alert view's fields).
                "sealed_reason": sealed,
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

    def _practice_today(self) -> date:
        practice = get_practice(self.ctx.runtime.store, self.ctx.practice_id)
        return self.ctx.now().astimezone(practice.zone).date()

    def _get(self, patient_id: str) -> Patient:
        patient = self.patients.get(patient_id)
        if patient is None:
            raise NotFound()
        return patient


def search_terms_of(query: SearchQuery) -> list[tuple[str, str]]:
    """(index kind, normalised value) for each criterion given, most selective first."""
    terms: list[tuple[str, str]] = []
    if query.phone:
        phone = normalise_phone(query.phone)
        if phone:
            terms.append(("phone", phone))
    if query.name:
        name = normalise_name(query.name)
        if name:
            terms.append(("name", name))
    if query.date_of_birth:
        terms.append(("dob", normalise_date_of_birth(query.date_of_birth)))
    return terms
