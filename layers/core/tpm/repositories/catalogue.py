"""Stored shape of the scheduling catalogue (no PHI): locations and services.

LOCATIONS   <loc id>    a location (office room or telehealth)
SERVICES    <svc id>    a service (CPT code, duration, fee)
A practice has tens of each, so one partition per kind lists them in one query.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, VersionIs, iterate
from tpm.domain.scheduling import Location, Service

_LOCATIONS = "LOCATIONS"
_SERVICES = "SERVICES"


class CatalogueRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    # ---- locations ----------------------------------------------------------------------

    def location(self, location_id: str) -> Location | None:
        item = self.store.get(_LOCATIONS, location_id)
        return None if item is None else Location.model_validate(_fields(item, Location))

    def locations(self) -> list[Location]:
        return [
            Location.model_validate(_fields(i, Location)) for i in iterate(self.store, _LOCATIONS)
        ]

    def location_op(self, location: Location) -> Put:
        item = {"pk": _LOCATIONS, "sk": location.id, **location.model_dump(mode="json")}
        return Put(item, _condition(location.version))

    # ---- services -----------------------------------------------------------------------

    def service(self, service_id: str) -> Service | None:
        item = self.store.get(_SERVICES, service_id)
        return None if item is None else _service(item)

    def services(self) -> list[Service]:
        return [_service(i) for i in iterate(self.store, _SERVICES)]

    def service_op(self, service: Service) -> Put:
        data = service.model_dump(mode="json")
        data["fee"] = service.fee  # Decimal, never a float or a string in the table
        return Put({"pk": _SERVICES, "sk": service.id, **data}, _condition(service.version))


def _condition(version: int) -> Absent | VersionIs:
    return Absent() if version == 1 else VersionIs(version - 1)


def _fields(item: Item, model: type[Location] | type[Service]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in model.model_fields}


def _service(item: Item) -> Service:
    fields = _fields(item, Service)
    fields["fee"] = Decimal(str(fields["fee"])).quantize(Decimal("0.01"))
    return Service.model_validate(fields)
