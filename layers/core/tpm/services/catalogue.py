"""The scheduling catalogue: locations and services. Owners/admins manage it; staff read
it; patients see only the active, self-bookable services. Never deleted: deactivated."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.scheduling import Location, Service
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.catalogue import CatalogueRepository
from tpm.services.context import ServiceContext

READ = "scheduling.catalogue.read"
MANAGE = "scheduling.catalogue.manage"


def invalid(exc: ValidationError) -> ValidationFailed:
    fields = [
        {"path": "body." + ".".join(str(p) for p in e["loc"]), "type": e["type"]}
        for e in exc.errors()
    ]
    return ValidationFailed(fields=fields)


class CatalogueService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = CatalogueRepository(ctx.store)

    # ---- locations ----------------------------------------------------------------------

    def create_location(self, fields: dict[str, Any]) -> Location:
        access = self.ctx.authorize(MANAGE, resource_kind="location")
        try:
            location = Location(id=new_id("loc"), **fields)
        except ValidationError as exc:
            raise invalid(exc) from None
        self.ctx.write(access, lambda: [self.repo.location_op(location)], "location", location.id)
        return location

    def locations(self) -> list[Location]:
        access = self.ctx.authorize(READ, resource_kind="location")
        found = self.repo.locations()
        self.ctx.record(access, "location", reason_code=f"count_{len(found)}")
        return found

    def location(self, location_id: str) -> Location:
        access = self.ctx.authorize(READ, resource_kind="location", resource_id=location_id)
        location = self.repo.location(location_id)
        if location is None:
            raise NotFound()
        self.ctx.record(access, "location", location_id)
        return location

    def update_location(self, location_id: str, version: int, changes: dict[str, Any]) -> Location:
        access = self.ctx.authorize(MANAGE, resource_kind="location", resource_id=location_id)
        current = self.repo.location(location_id)
        if current is None:
            raise NotFound()
        changed = _changed(current, version, changes)
        assert isinstance(changed, Location)
        self._save(access, self.repo.location_op(changed), "location", location_id)
        return changed

    # ---- services -----------------------------------------------------------------------

    def create_service(self, fields: dict[str, Any]) -> Service:
        access = self.ctx.authorize(MANAGE, resource_kind="service")
        try:
            service = Service(id=new_id("svc"), **fields)
        except ValidationError as exc:
            raise invalid(exc) from None
        self.ctx.write(access, lambda: [self.repo.service_op(service)], "service", service.id)
        return service

    def services(self) -> list[Service]:
        access = self.ctx.authorize(READ, resource_kind="service")
        found = [s for s in self.repo.services() if self._visible(s)]
        self.ctx.record(access, "service", reason_code=f"count_{len(found)}")
        return found

    def service(self, service_id: str) -> Service:
        access = self.ctx.authorize(READ, resource_kind="service", resource_id=service_id)
        service = self.repo.service(service_id)
        if service is None or not self._visible(service):
            raise NotFound()
        self.ctx.record(access, "service", service_id)
        return service

    def update_service(self, service_id: str, version: int, changes: dict[str, Any]) -> Service:
        access = self.ctx.authorize(MANAGE, resource_kind="service", resource_id=service_id)
        current = self.repo.service(service_id)
        if current is None:
            raise NotFound()
        changed = _changed(current, version, changes)
        assert isinstance(changed, Service)
        self._save(access, self.repo.service_op(changed), "service", service_id)
        return changed

    # ---- helpers ------------------------------------------------------------------------

    def _visible(self, service: Service) -> bool:
        # Patients see what they could book online; staff see everything.
        return self.ctx.principal.patient_id is None or (service.self_bookable and service.active)

    def _save(self, access: Any, op: Any, kind: str, record_id: str) -> None:
        try:
            self.ctx.write(access, lambda: [op], kind, record_id, reason_code="changed")
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc


def _changed(
    current: Location | Service, version: int, changes: dict[str, Any]
) -> Location | Service:
    if current.version != version:
        raise VersionConflict(current_version=current.version)
    data = current.model_dump() | changes | {"version": version + 1}
    try:
        return type(current).model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from None
