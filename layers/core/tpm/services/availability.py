"""Clinician availability, free slots, and the practice's scheduling rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.availability import MAX_RANGE_DAYS, Availability, Slot, free_slots
from tpm.domain.scheduling import LocationKind, SchedulingRules, Service
from tpm.domain.users import User, UserStatus
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.availability import AvailabilityRepository
from tpm.repositories.catalogue import CatalogueRepository
from tpm.services.catalogue import invalid
from tpm.services.context import ServiceContext
from tpm.services.scheduling import CLINICAL_ROLES

BOOKABLE_CLINICIANS = "scheduling.bookable_clinicians.read"


class AvailabilityService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = AvailabilityRepository(ctx.store)

    # ---- availability -------------------------------------------------------------------

    def get(self, clinician_id: str) -> Availability:
        access = self.ctx.authorize(
            "availability.read", resource_kind="availability", resource_id=clinician_id
        )
        self._clinician(clinician_id)
        found = self.repo.availability(clinician_id)
        self.ctx.record(access, "availability", clinician_id)
        return found

    def update(self, clinician_id: str, version: int, changes: dict[str, Any]) -> Availability:
        """Owners/admins for anyone; a clinician for their own calendar (self scope)."""
        access = self.ctx.authorize(
            "availability.update",
            resource_kind="availability",
            resource_id=clinician_id,
            user_id=clinician_id,
        )
        self._clinician(clinician_id)
        current = self.repo.availability(clinician_id)
        if current.version != version:
            raise VersionConflict(current_version=current.version)
        try:
            changed = Availability.model_validate(
                current.model_dump() | changes | {"version": version + 1}
            )
        except ValidationError as exc:
            raise invalid(exc) from None
        try:
            self.ctx.write(
                access,
                lambda: [self.repo.availability_op(changed)],
                "availability",
                clinician_id,
                reason_code="changed",
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return changed

    def slots(self, clinician_id: str, service_id: str, first: date, last: date) -> list[Slot]:
        """Free starts for `service_id` with this clinician between two local dates. Patients
        see only what they could book online (self-bookable service, listed clinician, the
        notice period); staff see every free slot from now on."""
        ctx = self.ctx
        access = ctx.authorize("slots.read", resource_kind="availability", resource_id=clinician_id)
        if last < first or (last - first).days >= MAX_RANGE_DAYS:
            raise ValidationFailed(
                fields=[{"path": "query.to", "type": "range"}], max_days=MAX_RANGE_DAYS
            )
        catalogue = CatalogueRepository(ctx.store)
        service = catalogue.service(service_id)
        rules = self.repo.rules()
        earliest = ctx.now()
        if ctx.principal.patient_id is not None:
            if (
                service is None
                or not service.self_bookable
                or not rules.self_booking_enabled
                or clinician_id not in rules.self_booking_clinician_ids
            ):
                raise NotFound()
            earliest += timedelta(hours=rules.min_notice_hours)
        if service is None or not service.active:
            raise ValidationFailed(fields=[{"path": "query.service_id", "type": "unknown_service"}])
        found = self.free(clinician_id, service, first, last, earliest, rules)
        ctx.record(access, "availability", clinician_id, reason_code=f"count_{len(found)}")
        return found

    def free(
        self,
        clinician_id: str,
        service: Service,
        first: date,
        last: date,
        earliest: datetime,
        rules: SchedulingRules | None = None,
    ) -> list[Slot]:
        """The free starts themselves, for a caller that has authorised the read (slots
        above; the intake's first-visit offer, tpm.services.intake_appointment)."""
        ctx = self.ctx
        rules = rules or self.repo.rules()
        catalogue = CatalogueRepository(ctx.store)
        availability = self.repo.availability(clinician_id)
        locations = {loc.id: loc for loc in catalogue.locations() if loc.active}
        appointments = AppointmentRepository(ctx.store, ctx.runtime.cipher)
        # A day's windows in UTC can start the evening before (west of UTC) or run past
        # midnight: widen the lock lookup by a day on each side.
        low = earliest.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        low = max(low, _day_start(first) - timedelta(days=1))
        high = _day_start(last) + timedelta(days=2)
        rooms = {
            loc_id: appointments.busy_blocks(f"LOC#{loc_id}", low, high)
            for loc_id, loc in locations.items()
            if loc.kind is LocationKind.OFFICE and _used(availability, loc_id)
        }
        return free_slots(
            availability,
            duration=service.duration,
            first=first,
            last=last,
            holidays=rules.holiday_dates,
            clinician_busy=appointments.busy_blocks(f"CLN#{clinician_id}", low, high),
            room_busy=rooms,
            earliest=earliest,
            allowed_locations=set(locations),
        )

    def bookable_clinicians(self) -> list[User]:
        """The clinicians the calling patient may book online with: those the practice's
        rules list, while online booking is on, who are still active clinical staff (the
        rules may name someone who left). Staff hold no grant (403): they have the users
        routes. Sorted by name so the portal's choice reads in a stable order."""
        ctx = self.ctx
        access = ctx.authorize(
            BOOKABLE_CLINICIANS,
            resource_kind="scheduling_rules",
            patient_id=ctx.principal.patient_id,
        )
        rules = self.repo.rules()
        found: list[User] = []
        if rules.self_booking_enabled:
            for clinician_id in dict.fromkeys(rules.self_booking_clinician_ids):
                user = ctx.users.get(clinician_id)
                if user and user.status is UserStatus.ACTIVE and user.roles & CLINICAL_ROLES:
                    found.append(user)
        found.sort(key=lambda u: (u.display_name.casefold(), u.id))
        ctx.record(access, "scheduling_rules", reason_code=f"count_{len(found)}")
        return found

    def clinicians(self) -> list[User]:
        """The practice's active clinical staff (clinicians and supervisors), by name: the
        staff directory calendars are drawn for. Staff names are not PHI."""
        ctx = self.ctx
        access = ctx.authorize("scheduling.clinicians.read", resource_kind="catalogue")
        found: list[User] = []
        cursor: str | None = None
        while True:
            users, cursor = ctx.users.page(100, cursor)
            found += [
                u for u in users if u.status is UserStatus.ACTIVE and u.roles & CLINICAL_ROLES
            ]
            if cursor is None:
                break
        found.sort(key=lambda u: (u.display_name.casefold(), u.id))
        ctx.record(access, "catalogue", reason_code=f"count_{len(found)}")
        return found

    def _clinician(self, clinician_id: str) -> None:
        user = self.ctx.users.get(clinician_id)
        if user is None or not (user.roles & CLINICAL_ROLES):
            raise NotFound()

    # ---- practice rules -----------------------------------------------------------------

    def rules(self) -> SchedulingRules:
        access = self.ctx.authorize("scheduling.rules.read", resource_kind="scheduling_rules")
        found = self.repo.rules()
        self.ctx.record(access, "scheduling_rules")
        return found

    def update_rules(self, version: int, changes: dict[str, Any]) -> SchedulingRules:
        access = self.ctx.authorize("scheduling.rules.update", resource_kind="scheduling_rules")
        current = self.repo.rules()
        if current.version != version:
            raise VersionConflict(current_version=current.version)
        try:
            changed = SchedulingRules.model_validate(
                current.model_dump() | changes | {"version": version + 1}
            )
        except ValidationError as exc:
            raise invalid(exc) from None
        try:
            self.ctx.write(
                access,
                lambda: [self.repo.rules_op(changed)],
                "scheduling_rules",
                reason_code="changed",
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return changed


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _used(availability: Availability, location_id: str) -> bool:
    return any(location_id in r.location_ids for r in availability.weekly) or any(
        location_id in e.location_ids for e in availability.exceptions
    )
